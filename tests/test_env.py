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


def test_course_seed_follows_the_environment(monkeypatch):
    from resblock.env import course_seed, seed_everything
    from resblock.train import TrainConfig

    monkeypatch.delenv("RESBLOCK_SEED", raising=False)
    assert course_seed() == 0 and course_seed(2) == 2 and seed_everything() == 0
    monkeypatch.setenv("RESBLOCK_SEED", "5")
    assert course_seed() == 5 and course_seed(1) == 6 and seed_everything() == 5
    assert TrainConfig().seed == 5, "TrainConfig's default seed is the course's"


@pytest.mark.parametrize("value, words", [("abc", "whole number"), ("-1", ">= 0"), ("1.5", "whole number")])
def test_a_bad_course_seed_says_how_to_set_it(monkeypatch, value, words):
    from resblock.env import course_seed

    monkeypatch.setenv("RESBLOCK_SEED", value)
    with pytest.raises(ValueError, match=words):
        course_seed()
