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


def test_the_machine_is_named_first_and_kept_out_of_json(fake_benchmark, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    bench.main(["--only", "fake"])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("machine: ") and "with AVX2 kernels" in first and "threads" in first
    bench.main(["--only", "fake", "--json"])
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"fake_ms", "fake_acc"}  # stdout stays one object of figures
    assert captured.err.startswith("machine: ")


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--repeat", "two"]])  # --only: tests/test_bad_inputs.py
def test_bad_arguments_exit_2_saying_why(argv, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(argv)
    assert info.value.code == 2 and "error:" in capsys.readouterr().err


def test_a_benchmark_that_cannot_run_here_is_skipped_saying_why(fake_benchmark, monkeypatch, capsys):
    def no_gpu():
        raise bench.Skipped("no CUDA GPU here")

    monkeypatch.setitem(bench.BENCHMARKS, "needs_gpu", no_gpu)
    assert bench.main(["--only", "needs_gpu", "fake"]) == 0
    out = capsys.readouterr().out
    assert "needs_gpu: skipped (no CUDA GPU here)" in out and "fake_ms" in out  # the others still run
    assert bench.main(["--only", "needs_gpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {} and "needs_gpu: skipped (no CUDA GPU here)" in captured.err


@pytest.mark.parametrize("name", ["gpu", "notebooks_gpu"])
def test_the_gpu_benchmarks_are_skipped_without_cuda(name, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["--only", name]) == 0
    assert f"{name}: skipped (no CUDA GPU here" in capsys.readouterr().out


class _History:
    """What the bench reads of a History: evaluations (clock, accuracy, epoch), steps and the clock."""

    def __init__(self, accs: list[float], steps: int = 1000, seconds: float = 60.0) -> None:
        self.eval_time = [10.0 * (i + 1) for i in range(len(accs))]
        self.test_acc = accs
        self.eval_epoch = [0.5 * (i + 1) for i in range(len(accs))]
        self.steps, self.time = steps, [seconds]


def test_time_to_a_level_is_the_clock_at_the_first_evaluation_reaching_it():
    h = _History([0.80, 0.921, 0.915, 0.95])
    assert bench._first_at(h, 0.92) == 20.0 and bench._first_at(h, 0.94) == 40.0
    assert bench._first_at(h, 0.96) == float("inf")


def test_the_gpu_figures_are_medians_over_three_seeds(monkeypatch, capsys):
    # The CUDA path with the training replaced by three known histories: figures, medians and the GPU's name.
    import torch

    from resblock import data

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake GPU 80GB")
    monkeypatch.setattr(data, "load_fashion_mnist", lambda: None)
    histories = {0: _History([0.93, 0.95]), 1: _History([0.90, 0.935], steps=2000), 2: _History([0.91, 0.92, 0.941])}
    calls = []

    def train(net, seconds, seed, data, device=None, eval_every=1.0):
        calls.append((seconds, seed, device, eval_every))
        return histories[seed]

    monkeypatch.setattr(bench, "_train_tiny", train)
    figures = bench.BENCHMARKS["gpu"]()
    assert calls == [(60, s, "cuda", 0.5) for s in (0, 1, 2)]
    assert figures["gpu_tiny_resnet_seconds_to_092"] == 20.0  # 10, 20 and 30 s: the median
    assert figures["gpu_tiny_resnet_seconds_to_094"] == 30.0  # 20, inf and 30 s
    assert figures["gpu_tiny_resnet_test_acc_60s"] == 0.941
    assert figures["gpu_tiny_resnet_epochs_in_60s"] == 1.0
    assert figures["gpu_tiny_resnet_train_images_per_s"] == pytest.approx(1000 * 128 / 60)
    assert "gpu: Fake GPU 80GB" in capsys.readouterr().err


def test_the_notebooks_on_a_gpu_are_reported_under_their_own_entry(monkeypatch, tmp_path, capsys):
    # Every notebook run (here: two stand-ins), figures named _gpu, the GPU named in results/bench_notebooks.json
    # beside the CPU entries already there.
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake GPU 80GB")
    (tmp_path / "nb").mkdir()
    for name in ("00_a.ipynb", "01_b.ipynb"):
        (tmp_path / "nb" / name).write_text("{}")
    results = tmp_path / "bench_notebooks.json"
    results.write_text(json.dumps({"2cores": {"figures": {"x": 1}}}))
    monkeypatch.setattr(bench, "NOTEBOOKS_DIR", tmp_path / "nb")
    monkeypatch.setattr(bench, "RESULTS", results)
    seen = []

    def run(notebook, cores=None, env=None):
        seen.append((notebook.name, cores))
        return bench.NotebookRun(seconds=12.5 if notebook.name.startswith("00") else 30.0, peak_rss_mb=900.0)

    monkeypatch.setattr(bench, "_run_or_raise", run)
    assert bench.main(["--only", "notebooks_gpu", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert seen == [("00_a.ipynb", None), ("01_b.ipynb", None)]  # not pinned: every core, and the GPU
    assert figures["course_max_seconds_gpu"] == 30.0 and figures["course_claims_failed_gpu"] == 0
    report = json.loads(results.read_text())
    assert report["gpu"]["gpu"] == "Fake GPU 80GB" and report["gpu"]["figures"] == figures
    assert report["gpu"]["runs"] == 1 and report["gpu"]["command"] == "python -m resblock.bench --only notebooks_gpu"
    assert report["2cores"] == {"figures": {"x": 1}}  # the CPU entries are kept


def test_repeated_notebook_runs_record_the_medians_and_any_failed_claim(monkeypatch, tmp_path, capsys):
    # Three runs of the one-core course: the file holds what is printed (each time the median of the three
    # runs, not the last run's), and a claim that failed in one run of three is counted, not outvoted.
    from resblock import claims

    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "00_a.ipynb").write_text("{}")
    results = tmp_path / "bench_notebooks.json"
    monkeypatch.setattr(bench, "NOTEBOOKS_DIR", tmp_path / "nb")
    monkeypatch.setattr(bench, "RESULTS", results)
    runs = iter([(20.0, True), (50.0, False), (30.0, True)])  # (seconds, did the claim hold?)

    def run(notebook, cores=None, env=None):
        seconds, holds = next(runs)
        with open(env[claims.LOG_VARIABLE], "a") as log:
            log.write(json.dumps({"claim": "a claim", "holds": holds}) + "\n")
        return bench.NotebookRun(seconds=seconds, peak_rss_mb=seconds * 10)

    monkeypatch.setattr(bench, "_run_or_raise", run)
    assert bench.main(["--only", "notebooks_1core", "--repeat", "3"]) == 0
    printed = capsys.readouterr().out
    entry = json.loads(results.read_text())["1core"]
    assert entry["runs"] == 3 and entry["command"].endswith("--only notebooks_1core --repeat 3")
    assert entry["cpu_capability"] == bench.cpu_capability()  # AVX512 or AVX2: the speed depends on it
    figures = entry["figures"]
    assert figures["notebook_00_seconds_1core"] == 30.0 and figures["course_max_seconds_1core"] == 30.0
    assert figures["notebook_00_peak_rss_mb_1core"] == 300.0
    assert figures["course_claims_failed_1core"] == 1
    assert any(line.startswith("course_claims_failed_1core") and line.endswith(" 1  (target < 1: MISSED)")
               for line in printed.splitlines())  # fmt: skip
