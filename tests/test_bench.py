"""The bench's command line: medians over repeated runs, targets printed beside the figures, bad arguments."""

from __future__ import annotations

import json

import pytest

from resblock import bench


@pytest.fixture
def fake_benchmark(monkeypatch):
    """A registered benchmark whose figures come from a list, one dict per run."""
    runs = iter([{"fake_ms": 30.0, "fake_acc": 0.9}, {"fake_ms": 90.0, "fake_acc": 0.95}, {"fake_ms": 40.0}])
    monkeypatch.setitem(bench.BENCHMARKS, "fake", lambda: next(runs))
    monkeypatch.setitem(bench.TARGETS, "fake_ms", ("<", 50.0))
    monkeypatch.setitem(bench.TARGETS, "fake_acc", (">=", 0.92))


def test_repeat_prints_the_median_of_each_figure_over_the_runs(fake_benchmark, capsys):
    assert bench.main(["--only", "fake", "--repeat", "3", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures == {"fake_ms": 40.0, "fake_acc": pytest.approx(0.925)}  # a figure missing from a run is skipped


def test_each_figure_is_printed_with_its_target_and_verdict(fake_benchmark, capsys):
    bench.main(["--only", "fake"])
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("fake_ms") and "(target < 50: ok)" in line for line in lines)
    assert any(line.startswith("fake_acc") and "(target >= 0.92: MISSED)" in line for line in lines)


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--repeat", "two"]])  # --only: tests/test_bad_inputs.py
def test_bad_arguments_exit_2_saying_why(argv, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(argv)
    assert info.value.code == 2 and "error:" in capsys.readouterr().err
