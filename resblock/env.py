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


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """CUDA when there is a GPU, else the CPU; ``prefer`` ("cpu", "cuda", "cuda:1", "mps") or $RESBLOCK_DEVICE overrides."""
    if prefer is not None and not isinstance(prefer, (str, torch.device)):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'mps' (or None to choose), got {prefer!r}.")
    source = "device" if prefer else "$RESBLOCK_DEVICE"
    choice = str(prefer or os.environ.get("RESBLOCK_DEVICE", "")).strip()
    if not choice:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise ValueError(
            f"{source} {choice!r} is not a device PyTorch knows; use 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {choice!r} was asked for, but PyTorch sees no CUDA GPU here; use 'cpu'.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {choice!r} was asked for, but PyTorch sees {torch.cuda.device_count()} "
                f"GPU(s), numbered from 0; use 'cuda' or 'cuda:0'."
            )
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(
                f"device {choice!r} (Apple's GPU) was asked for, but it is not available here "
                "(it exists only on Apple silicon Macs); use 'cpu'."
            )
    elif device.type != "cpu":
        raise ValueError(f"{source} {choice!r}: the course runs on 'cpu', 'cuda' or 'mps', not {device.type!r}.")
    return device


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
