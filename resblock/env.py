"""Seeding and device choice, done when asked and never at import time (every notebook's setup cell)."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a notebook gives the same numbers each run."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA when there is a GPU, else the CPU; ``prefer`` ("cpu", "cuda") or $RESBLOCK_DEVICE overrides."""
    choice = prefer or os.environ.get("RESBLOCK_DEVICE")
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for, but PyTorch sees no CUDA GPU here; use 'cpu'.")
        return torch.device(choice)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_environment() -> dict[str, str]:
    """Versions and hardware, for the environment check in notebook 00 and for results files."""
    device = pick_device()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device) + (f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""),
        "cpu_threads": str(torch.get_num_threads()),
        "machine": f"{platform.system()} {platform.machine()}",
    }
