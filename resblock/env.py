"""Seeding and device choice, done when asked and never at import time (every notebook's setup cell)."""

from __future__ import annotations

import gc
import os
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

SEED_VARIABLE = "RESBLOCK_SEED"  # the one knob that moves every seed in the course
CGROUP = Path("/sys/fs/cgroup")  # where Linux shows a container its CPU limit


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


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with PyTorch's CPU generator seeded by ``seed``, then give the caller's random stream back.

    A widget or a checker that must draw the same numbers every time seeds the global generator (layers
    draw their initial weights from it); the learner's own stream, say the next ``torch.randn`` in the
    notebook, must not depend on whether they moved a slider or ran a check first.
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}.")
    with torch.random.fork_rng(devices=[]):  # the CPU's generator, which layers draw their weights from
        torch.default_generator.manual_seed(seed)  # not torch.manual_seed: that would reseed a GPU's stream too
        yield


def cpu_limit(cgroup: Path = CGROUP) -> float | None:
    """The CPUs a container's limit allows this process (cgroup v2 ``cpu.max`` or v1's CFS quota); None without one."""
    try:  # cgroup v2: "QUOTA PERIOD", or "max PERIOD" without a limit
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: a quota of -1 means no limit
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may keep busy: the cores it may run on, capped by a container's limit and $OMP_NUM_THREADS."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cpu_limit(cgroup)
    if limit is not None:
        n = min(n, max(1, int(limit)))
    try:  # the learner's (or the tests') stated limit on threads
        n = min(n, max(1, int(os.environ.get("OMP_NUM_THREADS", ""))))
    except ValueError:
        pass
    return n


def match_threads_to_cpus(cgroup: Path = CGROUP) -> int:
    """Cap PyTorch's CPU threads at the CPUs a container's limit allows (unless $OMP_NUM_THREADS says); returns the count.

    Binder and many classroom servers give a learner one CPU's worth of time (a cgroup quota) on a
    machine whose cores PyTorch all sees, so it starts one thread per core. Those threads wait for
    each other at every operation, and under a quota a thread that waits can lose the rest of the
    period (100 ms by default). Measured on 2 cores with one of them busy elsewhere: predicting the
    10,000 test images with the tiny ResNet took 3.1 s on 2 threads against 1.6 s on one (and 14-16 s
    on 2 threads while two other processes ran). One thread per allowed CPU avoids it.
    """
    if os.environ.get("OMP_NUM_THREADS"):  # the learner (or the tests) chose: keep it
        return torch.get_num_threads()
    limit = cpu_limit(cgroup)
    if limit is not None and int(limit) < torch.get_num_threads():
        torch.set_num_threads(max(1, int(limit)))  # a thread beyond the quota only waits for the next period
    return torch.get_num_threads()


_setup_frozen = False


def freeze_setup_objects() -> None:
    """Move every object that exists now out of the garbage collector's sight, once per process.

    Called at the end of a notebook's setup (by ``pick_device``), when what exists is mostly what the
    imports made: with PyTorch, matplotlib and the widgets some 220,000 objects the collector tracks
    (modules, classes, functions, many in reference cycles, which only it frees). It walked them on every
    full collection and again at exit: a kernel ended 2.7-3.2 s after a notebook's last cell (nbclient,
    2026-12-02, 2 cores; 0.4-1.1 s with this), and a learner's Restart Kernel waits for it. ``gc.freeze``
    (Python 3.7+) moves them to a permanent generation that collections skip: CPython's docs describe it
    for a server's long-lived start-up objects before fork, and Instagram used it against the same cost
    ("Dismissing Python Garbage Collection at Instagram", 2017). Objects made later (a learner's
    models, figures, open files) are collected as before, so an unclosed file in a cycle is still flushed
    at exit; frozen objects are still freed by reference counting. Only the first call freezes: a later
    one (``fit`` calls ``pick_device``) would freeze a learner's objects too, and garbage among frozen
    objects is never collected.
    """
    global _setup_frozen
    if not _setup_frozen:
        gc.freeze()
        _setup_frozen = True


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """CUDA when there is a GPU, else the CPU; ``prefer`` ("cpu", "cuda", "cuda:1", "mps") or $RESBLOCK_DEVICE overrides.

    It also prepares the process that computes: PyTorch's CPU threads match the CPUs a container
    allows (``match_threads_to_cpus``), and, on the first call (a notebook's setup), what the imports
    made leaves the garbage collector's sight (``freeze_setup_objects``), so a kernel exits and restarts
    seconds sooner.
    """
    match_threads_to_cpus()
    freeze_setup_objects()
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
