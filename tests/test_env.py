"""Seeding and device choice."""

import pytest
import torch

from resblock.env import describe_environment, pick_device, seed_everything


def test_same_seed_same_numbers():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("RESBLOCK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            pick_device("cuda")


def test_import_does_nothing_heavy():
    import subprocess
    import sys

    code = "import resblock, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_describe_environment_has_versions():
    info = describe_environment()
    assert info["torch"] == torch.__version__ and info["device"]
