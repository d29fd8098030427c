"""Several small training runs at once, one CPU thread each (notebook 03).

The course's nets are small: at a batch of 32 images a second PyTorch thread adds little to one
net's step, because each operation is too short to split well. Two nets trained at once on a thread
each use both cores fully: notebook 03's four nets took 39 s side by side against 80 s one after the
other on 2 cores. Not every small run gains: notebook 07's runs (batch 64, linear layers in the
transformer runs) took as long side by side as one after the other on two threads (13-18 s a cell
either way), with 460 MB more peak memory, so notebook 07 trains one run after another. Each run's
numbers are exactly those of the same run on one thread, provided its randomness is its own: the
caller builds every net first, one after another (initial weights come from PyTorch's one global
generator), and ``fit`` draws the batch order from the run's own generator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

import torch

from resblock.checks import check_int
from resblock.env import available_cpus, pick_device

T = TypeVar("T")
Job = Callable[[threading.Event], T]  # a training run; it stops at its next step once the event is set


def workers_for(device: str | torch.device | None = None) -> int:
    """How many runs to train at once: one per free CPU on the CPU (``env.available_cpus``), one on a GPU."""
    on_cpu = (pick_device(str(device)) if device is not None else pick_device()).type == "cpu"
    return available_cpus() if on_cpu else 1


def train_side_by_side(jobs: Sequence[Job], workers: int, on_done: Callable[[int, T], None] | None = None) -> list[T]:
    """Run ``jobs`` (each called with a stop event) ``workers`` at a time, one thread each; their results in order.

    Jobs start in the order given (put the longest first, so the short ones fill the end).
    ``on_done(index, result)`` is called in this thread as each run ends. A KeyboardInterrupt here (the
    kernel's stop button) sets the stop event, so every run still training ends at its next step,
    and then raises KeyboardInterrupt naming what the stopped jobs said; an error in a job stops the
    others the same way and is raised as it is.
    """
    workers = check_int("workers", workers, 1, what=" (runs to train at once)")
    stop = threading.Event()

    def run(job: Job) -> T:
        torch.set_num_threads(1)  # this worker thread's count (OpenMP keeps one per thread)
        return job(stop)

    results: dict[int, T] = {}
    with ThreadPoolExecutor(min(workers, max(len(jobs), 1)), thread_name_prefix="side-by-side") as pool:
        pending = {pool.submit(run, job): i for i, job in enumerate(jobs)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    results[i] = future.result()
                    if on_done is not None:
                        on_done(i, results[i])
        except KeyboardInterrupt:
            stop.set()  # every run still training ends at its next step
            for future in pending:
                future.cancel()  # and those not started never start
            wait(pending)
            said = [str(f.exception()) for f in pending if not f.cancelled() and f.exception() is not None]
            raise KeyboardInterrupt(
                "; ".join(s for s in said if s) or "stopped; the runs not finished are lost"
            ) from None
        except BaseException:
            stop.set()  # another run failed (e.g. it diverged): stop the rest, then say why
            for future in pending:
                future.cancel()
            raise
    return [results[i] for i in range(len(jobs))]
