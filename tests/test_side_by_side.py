"""Training runs side by side (resblock.side_by_side): order, stopping, errors, threads; with jobs whose timing we control."""

import threading
import time

import pytest
import torch

from resblock.side_by_side import train_side_by_side, workers_for


def _until_stopped(said: str):
    """A job that trains until told to stop, then says so as train_net does."""

    def job(stop: threading.Event):
        assert stop.wait(timeout=30), "never told to stop"
        raise KeyboardInterrupt(said)

    return job


def test_results_come_in_the_jobs_order_whatever_ends_first():
    ended = []
    jobs = [lambda stop, d=d: time.sleep(d) or d for d in (0.3, 0.0, 0.1)]
    results = train_side_by_side(jobs, workers=3, on_done=lambda i, r: ended.append(i))
    assert results == [0.3, 0.0, 0.1]
    assert ended == [1, 2, 0]  # on_done hears of each run as it ends


def test_each_run_computes_on_one_thread_and_the_caller_keeps_its_own():
    before = torch.get_num_threads()
    assert train_side_by_side([lambda stop: torch.get_num_threads()] * 2, workers=2) == [1, 1]
    assert torch.get_num_threads() == before


def test_a_stop_stops_every_run_and_says_what_they_said():
    # The kernel's stop button raises KeyboardInterrupt in the waiting thread; here on_done does, once
    # the quick run has ended. The other run is still training: it must be told to stop.
    def stop_now(i, result):
        raise KeyboardInterrupt

    threads = threading.active_count()
    with pytest.raises(KeyboardInterrupt, match="deep net was stopped"):
        train_side_by_side([_until_stopped("deep net was stopped"), lambda stop: "quick"], workers=2, on_done=stop_now)
    assert threading.active_count() == threads  # no thread left behind


def test_an_error_in_one_run_stops_the_others_and_is_raised_as_it_is():
    def diverges(stop):
        raise ArithmeticError("the loss became NaN")

    told = threading.Event()

    def waits(stop):
        told.set() if stop.wait(timeout=30) else None

    with pytest.raises(ArithmeticError, match="NaN"):
        train_side_by_side([waits, diverges], workers=2)
    assert told.is_set()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_count(workers):
    with pytest.raises(ValueError, match="workers must be a whole number"):
        train_side_by_side([lambda stop: None], workers=workers)


def test_one_run_at_a_time_on_a_gpu(monkeypatch):
    import resblock.side_by_side as sbs

    monkeypatch.setattr(sbs, "available_cpus", lambda: 4)
    assert workers_for("cpu") == 4
    monkeypatch.setattr(sbs, "pick_device", lambda *a: torch.device("cuda"))
    assert workers_for() == 1
