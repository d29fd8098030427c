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


def test_the_tiny_resnets_accuracy_figures_are_medians_over_three_seeds(monkeypatch):
    # notebook 04's net for 30 and 60 s from seeds 0-2, then the full-resolution stem once: the figures
    # are what those histories say (median, lowest, highest; time to 0.92 from the 60 s runs only).
    from resblock import data
    from resblock.models import TINY_RESNET

    monkeypatch.setattr(data, "load_fashion_mnist", lambda: "the data")
    histories = {
        (30, 0): _History([0.90, 0.915]), (30, 1): _History([0.91]), (30, 2): _History([0.88, 0.90, 0.92]),
        (60, 0): _History([0.90, 0.921, 0.93]), (60, 1): _History([0.91, 0.915, 0.925]), (60, 2): _History([0.92, 0.94]),
    }  # fmt: skip
    calls = []

    def train(net, seconds, seed, data, device=None, eval_every=1.0):
        calls.append((net, seconds, seed, data))
        return histories[seconds, seed] if net.stem_pool else _History([0.85, 0.9])

    monkeypatch.setattr(bench, "_train_tiny", train)
    figures = bench.BENCHMARKS["tiny_resnet_accuracy"]()
    assert [c[1:] for c in calls] == [(s, seed, "the data") for s in (30, 60) for seed in (0, 1, 2)] + [
        (60, 0, "the data")
    ]
    assert all(c[0] == TINY_RESNET for c in calls[:6]) and calls[6][0].stem_pool is False
    assert calls[6][0].depth == TINY_RESNET.depth and calls[6][0].widths == TINY_RESNET.widths
    assert figures["tiny_resnet_test_acc_30s"] == 0.915
    assert (figures["tiny_resnet_test_acc_30s_min"], figures["tiny_resnet_test_acc_30s_max"]) == (0.91, 0.92)
    assert figures["tiny_resnet_test_acc_60s"] == 0.93
    assert figures["tiny_resnet_epochs_in_30s"] == 1.0 and figures["tiny_resnet_epochs_in_60s"] == 1.5
    assert figures["tiny_resnet_seconds_to_092"] == 20.0  # 20, 30 and 10 s in the 60 s runs
    assert figures["tiny_resnet_test_acc_full_res_stem_60s"] == 0.9
    assert figures["tiny_resnet_epochs_in_full_res_stem_60s"] == 1.0


def _training_flop(model, images) -> float:
    """The oracle for the FLOP counter: 2 FLOPs a multiply-add, three times each conv's and linear layer's
    forward work (forward, gradient of the input, gradient of the weights), less the input gradient of
    the first conv, whose input (the images) needs none."""
    import torch

    macs = []

    def count(module, inputs, output):
        macs.append(output.numel() * module.weight[0].numel())  # each output: one weight slice's multiply-adds

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    handles = [m.register_forward_hook(count) for m in layers]
    with torch.no_grad():
        model(images)
    for handle in handles:
        handle.remove()
    return 2 * (3 * sum(macs) - macs[0])


def test_the_share_of_the_conv_ceiling_is_counted_flops_times_speed_over_the_ceiling(monkeypatch):
    # The training replaced by a known speed and the ceiling's timing by a known time: the FLOPs per
    # image are the layers' own count, and the share is counted FLOPs x images/s over the ceiling.
    from dataclasses import replace
    from types import SimpleNamespace

    import torch

    from resblock import data, train
    from resblock.models import TINY_RESNET, ResNet

    g = torch.Generator().manual_seed(0)
    fake = SimpleNamespace(
        train_images=torch.randn(256, 1, 28, 28, generator=g), train_labels=torch.randint(0, 10, (256,), generator=g)
    )
    monkeypatch.setattr(data, "load_fashion_mnist", lambda: fake)
    speeds = iter([1000.0, 250.0])  # images/s: the tiny net's, then the full-resolution one's
    trained = []

    def fit(model, images, labels, config, progress=True):
        trained.append((model.config.stem_pool, config.seconds))
        steps = 110
        seconds = 128 * (steps - 10) / next(speeds)  # the bench skips the first 10 steps
        history = SimpleNamespace(steps=steps, time=[seconds * (i - 9) / (steps - 10) for i in range(steps)])
        return SimpleNamespace(history=history)

    monkeypatch.setattr(train, "fit", fit)
    monkeypatch.setattr(bench, "median_ms", lambda fn, repeats=10, warmup=2: 100.0)  # the 256-channel conv: 100 ms
    figures = bench.BENCHMARKS["tiny_resnet_throughput"]()
    assert trained == [(True, 15), (False, 15)]
    ceiling = 2 * 32 * 256 * 28 * 28 * 256 * 9 / 0.1 / 1e9  # FLOPs of the conv in 100 ms, GFLOP/s
    assert figures["conv_peak_gflops"] == pytest.approx(ceiling)
    for name, stem_pool, speed in (("tiny_resnet", True, 1000.0), ("resnet8_full_res", False, 250.0)):
        flop = _training_flop(ResNet(replace(TINY_RESNET, stem_pool=stem_pool)), fake.train_images[:1])
        assert figures[f"{name}_train_gflops"] == pytest.approx(flop / 1e9)
        assert figures[f"{name}_train_images_per_s"] == pytest.approx(speed)
        assert figures[f"{name}_train_achieved_gflops"] == pytest.approx(flop * speed / 1e9)
        assert figures[f"{name}_fraction_of_conv_peak"] == pytest.approx(flop * speed / 1e9 / ceiling)
    # pooling in the stem leaves every conv after it a quarter of the pixels
    assert 3.5 < figures["resnet8_full_res_train_gflops"] / figures["tiny_resnet_train_gflops"] < 4


def test_notebook_04s_memory_figure_is_its_run_measured(monkeypatch):
    seen = []

    def run(notebook, cores=None, env=None):
        seen.append(notebook.name)
        return bench.NotebookRun(seconds=41.5, peak_rss_mb=760.0)

    monkeypatch.setattr(bench, "_run_or_raise", run)
    assert bench.BENCHMARKS["notebook_04_memory"]() == {"notebook_peak_rss_mb": 760.0, "notebook_04_seconds": 41.5}
    assert seen == ["04_tiny_resnet.ipynb"] and (bench.NOTEBOOKS_DIR / seen[0]).exists()


def _notebook(path, *sources: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_measured_notebook_run_reports_its_time_peak_memory_and_output(tmp_path):
    # A real kernel: it runs in the notebook's folder, pinned to one core with one thread, and the
    # 300 MB it holds for a second is seen in the peak (the kernel's own memory, not the runner's).
    import nbformat

    notebook = tmp_path / "nb.ipynb"
    _notebook(
        notebook,
        "import os, time\nheld = bytearray(300 * 2**20)\nfor i in range(0, len(held), 4096): held[i] = 1\ntime.sleep(1)",
        "print(os.getcwd(), os.environ['OMP_NUM_THREADS'], os.environ['MARK'], sep='\\n')",
    )
    out = tmp_path / "executed.ipynb"
    run = bench.run_notebook_measured(notebook, cores=1, env={"MARK": "here"}, output=out)
    assert run.error is None and 1.0 <= run.seconds < 60
    assert 300 < run.peak_rss_mb < 2000
    printed = nbformat.read(out, as_version=4).cells[1].outputs[0]["text"]
    assert printed.splitlines() == [str(tmp_path.resolve()), "1", "here"]  # resolved: /tmp may be a link


def test_a_failed_notebook_run_says_what_failed(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    _notebook(notebook, "raise ValueError('the data is missing')")
    run = bench.run_notebook_measured(notebook)
    assert run.error is not None and "the data is missing" in run.error
    with pytest.raises(RuntimeError, match=r"nb\.ipynb failed to run: .*the data is missing"):
        bench._run_or_raise(notebook)


def test_the_explorers_redraw_figures_come_from_its_own_controls():
    # A real explorer (a small MLP, so it is quick): every part of a redraw is timed and the share of
    # reused frames is a percentage. Inside a running event loop, as in a kernel (or in pytest after
    # nbclient's nest_asyncio): a debounced explorer would only schedule its redraws there.
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def in_a_loop():
        return bench._gradflow_redraws(network="mlp", depth=4)

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: this one may already have a loop running
        r = pool.submit(asyncio.run, in_a_loop()).result()
    assert set(r) == {"seed", "shortcut", "measure", "draw", "svg", "svg_new_frame", "frame_reused_pct"}
    assert all(v > 0 for k, v in r.items() if k != "frame_reused_pct")
    assert 0 <= r["frame_reused_pct"] <= 100


def test_the_explorer_benchmark_names_each_nets_figures(monkeypatch):
    seen = []

    def redraws(**settings):
        seen.append(settings)
        ms = 10.0 if settings["network"] == "mlp" else 100.0
        return {
            "seed": ms,
            "shortcut": ms / 2,
            "measure": 1.0,
            "draw": 2.0,
            "svg": 3.0,
            "svg_new_frame": 4.0,
            "frame_reused_pct": 96.0,
        }

    monkeypatch.setattr(bench, "_gradflow_redraws", redraws)
    figures = bench.BENCHMARKS["gradflow"]()
    assert seen == [dict(network="mlp", depth=50), dict(network="conv", depth=56, norm="batch")]  # the nets
    assert (
        figures["gradflow_redraw_ms_median_mlp50"] == 10.0
        and figures["gradflow_redraw_ms_median_conv56_shortcut"] == 50.0
    )
    assert (
        figures["gradflow_svg_new_frame_ms_median_conv56"] == 4.0 and figures["gradflow_frame_reused_pct_mlp50"] == 96.0
    )
    assert {k for k in bench.TARGETS if k.startswith("gradflow_")} <= set(figures)  # every target has its figure


def test_the_lesion_and_landscape_figures_time_the_widgets_own_calls(monkeypatch):
    # The calls are those notebook 05's widget and notebook 06's landscape make, on untrained nets of
    # the study's shape (the checkpoints cost the same to evaluate).
    from resblock import trained_nets

    build = trained_nets.build
    nets = []
    monkeypatch.setattr(
        trained_nets, "build", lambda depth, shortcut: nets.append((depth, shortcut)) or build(depth, shortcut)
    )
    figures = bench.BENCHMARKS["lesion_landscape"]()
    assert nets == [(56, True), (56, False)]
    assert set(figures) == {"lesion_toggle_ms", "landscape_point_resnet56_500img_ms"}
    assert all(v > 0 for v in figures.values())
