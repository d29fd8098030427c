"""Seeding and device choice, done when asked and never at import time (every notebook's setup cell)."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch


SEED_VARIABLE = "RESBLOCK_SEED"  # the one knob that moves every seed in the course


def course_seed(offset: int = 0) -> int:
    """The course's seed, $RESBLOCK_SEED (default 0), plus ``offset`` for a second independent draw.

    Every random choice in the notebooks and the package defaults derives from this one number, so a
    learner (or the robustness sweep, ``make claims``) can re-run the whole course with another seed
    and see which results hold. Saved results (``results/``) were made with the seeds they record.
    """
    raw = os.environ.get(SEED_VARIABLE, "0").strip() or "0"
    try:
        base = int(raw)
    except ValueError:
        raise ValueError(
            f"${SEED_VARIABLE} must be a whole number such as 0, 1 or 2, got {raw!r}; "
            f"unset it or set it with, for example, `export {SEED_VARIABLE}=1`."
        ) from None
    if base < 0:
        raise ValueError(f"${SEED_VARIABLE} must be >= 0, got {base}.")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset must be a whole number >= 0, got {offset!r}.")
    return base + int(offset)


def seed_everything(seed: int | None = None) -> int:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); ``None`` takes the course's seed, $RESBLOCK_SEED."""
    if seed is None:
        seed = course_seed()
    if isinstance(seed, np.integer):
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
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
