"""The degradation experiment (notebook 03): its pieces against oracles, the command end to end, the committed results."""

import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from resblock import degradation as deg  # noqa: E402
from resblock import degradation_plots  # noqa: E402
from resblock.blocks import PlainBlock, ResidualBlock  # noqa: E402
from resblock.exercises import Mistake  # noqa: E402
from resblock.exercises import nb03 as ex  # noqa: E402
from resblock.experiments import main as experiments_main  # noqa: E402
from resblock.models import ResNet, ResNetConfig, randomise_batchnorm_  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"


# --- the pieces ------------------------------------------------------------------------------


def test_final_train_loss_is_the_mean_of_the_last_tenth():
    losses = [float(i) for i in range(100)]
    assert deg.final_train_loss(losses) == sum(range(90, 100)) / 10  # direct computation
    assert deg.final_train_loss([3.0, 1.0], fraction=0.1) == 1.0  # at least one step
    assert deg.final_train_loss(losses, fraction=1.0) == sum(losses) / 100
    with pytest.raises(ValueError, match="empty"):
        deg.final_train_loss([])
    with pytest.raises(ValueError, match="fraction"):
        deg.final_train_loss(losses, fraction=0)


@pytest.mark.parametrize(
    "name, parsed", [("plain56", (56, False)), ("resnet20", (20, True)), ("resnet110", (110, True))]
)
def test_parse_net(name, parsed):
    assert deg.parse_net(name) == parsed


@pytest.mark.parametrize("bad", ["plain", "resnet-20", "ResNet20", "vgg16", ""])
def test_parse_net_rejects_other_names(bad):
    with pytest.raises(ValueError, match="plainD or resnetD"):
        deg.parse_net(bad)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"widths": (8, 16)}, "three positive"),
        ({"pool": 3}, "pool must be"),
        ({"subset": 0}, "subset must be"),
        ({"subset": 100, "batch_size": 128}, "at least one batch"),
        ({"lr": -0.1}, "lr must be"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_config_rejects_bad_values_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        replace(deg.FULL, **change)


def _fake_data(n_train=300, n_test=50):
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(
        train_images=torch.randn(n_train, 1, 28, 28, generator=g),
        train_labels=torch.randint(0, 10, (n_train,), generator=g),
        test_images=torch.randn(n_test, 1, 28, 28, generator=g),
        test_labels=torch.randint(0, 10, (n_test,), generator=g),
    )


def test_prepare_data_takes_a_fixed_subset_and_average_pools():
    data = _fake_data()
    config = replace(deg.LIVE, subset=64, test_images=20)
    x, y, tx, ty = deg.prepare_data(data, config)
    assert x.shape == (64, 1, 14, 14) and y.shape == (64,) and tx.shape == (20, 1, 14, 14) and ty.shape == (20,)
    # Oracle: each pooled pixel is the mean of a 2x2 patch of some training image with the same label.
    first = x[0, 0]
    matches = [
        i
        for i in range(300)
        if torch.allclose(data.train_images[i, 0].reshape(14, 2, 14, 2).mean((1, 3)), first, atol=1e-6)
    ]
    assert len(matches) == 1 and data.train_labels[matches[0]] == y[0]
    x2, *_ = deg.prepare_data(data, config)
    assert torch.equal(x, x2)  # the same images for every net and seed
    x3, *_ = deg.prepare_data(data, replace(config, data_seed=1))
    assert not torch.equal(x, x3)


def test_build_net_is_seeded_and_has_the_named_shape():
    a, b = deg.build_net("plain56", deg.LIVE, seed=3), deg.build_net("plain56", deg.LIVE, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.config.depth == 56 and not a.config.shortcut and a.config.widths == deg.LIVE.widths
    c = deg.build_net("plain56", deg.LIVE, seed=4)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def _scramble_bn(model):
    randomise_batchnorm_(model, torch.Generator().manual_seed(1))


def test_make_identity_turns_a_trained_plain_block_into_the_identity_on_nonnegative_inputs():
    block = PlainBlock(6, 6)
    _scramble_bn(block)
    deg.make_identity(block).eval()
    x = torch.relu(torch.randn(3, 6, 5, 5))
    assert torch.equal(block(x), x)
    with pytest.raises(ValueError, match="PlainBlock"):
        deg.make_identity(ResidualBlock(6, 6))  # relu(x + x) = 2x: not the identity
    with pytest.raises(ValueError, match="stride 1"):
        deg.make_identity(PlainBlock(6, 12))


def test_embed_shallow_gives_a_deeper_plain_net_with_the_same_function():
    torch.manual_seed(0)
    shallow = ResNet(ResNetConfig(depth=20, shortcut=False, widths=(4, 8, 16)))
    _scramble_bn(shallow)
    shallow.eval()
    deep = deg.embed_shallow(shallow, 56)
    assert deep.config.depth == 56 and sum(1 for _ in deep.blocks) == 27
    x = torch.randn(5, 1, 14, 14)
    with torch.no_grad():
        assert torch.allclose(deep(x), shallow(x), atol=1e-5)
    with pytest.raises(ValueError, match="plain net"):
        deg.embed_shallow(ResNet(ResNetConfig(depth=20, shortcut=True)), 56)


# --- the command, end to end on a tiny config -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    """Run the experiment command on a tiny config (1 step per net) for two seeds, as two files."""
    folder = tmp_path_factory.mktemp("degradation")
    paths = []
    for seed in (0, 1):
        out = folder / f"seed{seed}.json"
        argv = [
            "degradation",
            "--preset",
            "live",
            "--seeds",
            str(seed),
            "--subset",
            "64",
            "--epochs",
            "0.5",
            "--width",
            "2",
            "--device",
            "cpu",
            "--workers",
            str(seed + 1),  # one net at a time for seed 0, two side by side for seed 1
            "--out",
            str(out),
        ]
        assert experiments_main(argv) == 0
        paths.append(out)
    merged = folder / "merged.json"
    assert experiments_main(["degradation", "--merge", *map(str, paths), "--out", str(merged)]) == 0
    return paths, merged


def test_command_writes_a_results_file_with_every_field_the_notebook_reads(tiny_results):
    paths, _ = tiny_results
    results = deg.load_results(paths[0])  # raises if a field is missing
    assert set(deg.RESULT_FIELDS) <= set(results)
    assert results["seeds"] == [0] and results["nets"] == list(deg.NETS)
    assert results["config"]["widths"] == [2, 4, 8] and results["config"]["subset"] == 64
    assert results["command"].startswith("python -m resblock.experiments degradation --preset live --seeds 0")
    assert {"python", "torch", "device", "machine"} <= set(results["environment"])
    assert results["wall_time_s"] > 0
    for run in results["runs"]:
        assert set(deg.RUN_FIELDS) <= set(run)
        assert run["steps"] == len(run["step_loss"]) == 1  # 64 images, batch 32, half an epoch
        assert run["final_train_loss"] == pytest.approx(run["step_loss"][-1], abs=1e-4)
        assert 0 <= run["final_test_error"] <= 1 and len(run["test_error"]) == len(run["eval_step"])


def test_merged_file_holds_both_seeds_and_adds_wall_times(tiny_results):
    paths, merged = tiny_results
    parts = [deg.load_results(p) for p in paths]
    results = deg.load_results(merged)
    assert results["seeds"] == [0, 1] and len(results["runs"]) == 8
    assert results["wall_time_s"] == pytest.approx(sum(p["wall_time_s"] for p in parts), abs=0.2)
    assert set(deg.final_losses(results)["plain56"]) == {0, 1}
    with pytest.raises(ValueError, match="more than one file"):
        deg.merge_results([parts[0], parts[0]])
    other = json.loads(json.dumps(parts[1]))
    other["config"]["lr"] = 0.2
    with pytest.raises(ValueError, match="differ in lr"):
        deg.merge_results([parts[0], other])


def test_plots_draw_one_curve_per_net(tiny_results):
    results = deg.load_results(tiny_results[1])
    ax = degradation_plots.plot_training_loss(results, nets=["plain20", "plain56"])
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2  # the mean, and the seeds' range shaded
    ax = degradation_plots.plot_test_error(results)
    assert len(ax.get_lines()) == 4
    ax = degradation_plots.plot_final_losses(results)
    assert len(ax.patches) == 4
    plt.close("all")


def test_load_results_names_what_is_missing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"experiment": "degradation", "config": {}}))
    with pytest.raises(ValueError, match="missing: seeds"):
        deg.load_results(bad)
    with pytest.raises(ValueError, match="python -m resblock.experiments degradation"):
        deg.load_results(tmp_path / "absent.json")


# --- the committed results: the effect holds over seeds ----------------------------------------


@pytest.mark.parametrize("filename, preset", [("degradation.json", deg.FULL), ("degradation_live.json", deg.LIVE)])
def test_committed_results_show_degradation_in_every_seed(filename, preset):
    results = deg.load_results(RESULTS / filename)
    assert deg.config_of(results) == preset  # the file is what the notebook says it is
    assert len(results["seeds"]) >= 3
    assert results["command"].startswith("python -m resblock.experiments degradation")
    assert results["wall_time_s"] > 0 and results["environment"]
    f = deg.final_losses(results)
    for net in deg.NETS:
        assert set(f[net]) == set(results["seeds"])
    for run in results["runs"]:
        assert run["steps"] == len(run["step_loss"]) == preset.steps()
    # He et al. Fig. 6: the deeper plain net trains worse; with shortcuts the deeper net is no longer much
    # worse (notebook 03 does not claim the paper's "better" for runs this short).
    for seed in results["seeds"]:
        assert f["plain56"][seed] > f["plain20"][seed], f"seed {seed}: plain-56 did not train worse than plain-20"
        assert f["plain56"][seed] > f["resnet56"][seed], f"seed {seed}: plain-56 did not train worse than ResNet-56"
        assert f["resnet56"][seed] < 1.25 * f["resnet20"][seed], f"seed {seed}: ResNet-56 ends far above ResNet-20"
    assert all(deg.degradation_per_seed(results).values())


def test_paper_vs_ours_keeps_every_column_apart():
    table = deg.paper_vs_ours({"live run (section 3)": deg.LIVE, "full run (section 7)": deg.FULL}).splitlines()
    header = table[0]
    starts = [header.index(h) for h in ("He et al. (Fig. 6)", "live run (section 3)", "full run (section 7)")]
    for line in table:
        for a, b in zip([0] + starts, starts):
            cell = line[a:b]
            assert cell.endswith("  ") or not cell.strip(), f"a cell runs into the next column: {line!r}"
    lr = next(line for line in table if line.startswith("learning rate"))
    assert "0.05, warm-up then linear to 0  " in lr and lr.rstrip().endswith("0.1, warm-up then linear to 0")


# --- exercises --------------------------------------------------------------------------------


def test_q1_reference_passes_and_each_wrong_diagnosis_names_the_mistake():
    right = dict(ex.ANSWERS)
    assert ex.q1.feedback(right)[0] == "correct"
    for (key, wrong), message in ex.WHY.items():
        status, text = ex.q1.feedback(right | {key: wrong})
        assert status == "incorrect" and text == message
    assert "missing: C" in ex.q1.feedback({"A": "underfitting", "B": "overfitting"})[1]
    assert "answer one of" in ex.q1.feedback(right | {"A": "vanishing gradients"})[1]
    assert ex.q1.feedback(...)[0] == "todo"


def test_q2_is_checked_against_the_committed_results():
    assert ex.highest_final_loss() == "plain56"
    assert ex.q2.feedback("plain56")[0] == "correct"
    assert ex.q2.feedback("plain-56")[0] == "correct"
    assert ex.q2.feedback(" Plain_56 ")[0] == "correct"
    for wrong, message in ex.WRONG_NET.items():
        assert ex.q2.feedback(wrong) == ("incorrect", message)
    assert "not one of the four" in ex.q2.feedback("vgg16")[1]


def _identity_conv_only(block):
    for conv in (block.conv1, block.conv2):
        conv.weight.zero_()
        for c in range(conv.out_channels):
            conv.weight[c, c, 1, 1] = 1.0


def _corner_kernel(block):
    deg.make_identity(block)
    _identity_conv_only(block)  # zeroes the kernels again ...
    for conv in (block.conv1, block.conv2):
        conv.weight.copy_(conv.weight.roll(shifts=(-1, -1), dims=(2, 3)))  # ... and moves each 1 to the corner


def _centre_without_zeroing(block):
    deg.make_identity(block)
    block.conv1.weight.add_(0.01)
    for c in range(block.conv1.out_channels):
        block.conv1.weight[c, c, 1, 1] = 1.0


def _replace_layers(block):
    block.conv1 = torch.nn.Identity()


@pytest.mark.parametrize(
    "wrong, mistake",
    [
        (_identity_conv_only, "`bn1` still rescales"),
        (_corner_kernel, "sits in a corner"),
        (_centre_without_zeroing, "Zero the rest first"),
        (_replace_layers, "you replaced `block.conv1`"),
        (lambda block: None, "`conv1` does not pass each channel through"),
    ],
)
def test_q3_known_wrong_answers_fail_naming_the_mistake(wrong, mistake):
    status, message = ex.q3.feedback(wrong)
    assert status == "incorrect" and mistake in message


def test_q3_reference_passes():
    assert ex.q3.feedback(deg.make_identity)[0] == "correct"


@pytest.mark.parametrize("answer", [["underfitting", "overfitting", "neither"], "underfitting"])
def test_q1_answer_that_is_not_a_dict_is_named(answer):
    with pytest.raises(Mistake, match="answer with a dict"):
        ex.check_diagnosis(answer)


@pytest.mark.parametrize("answer", [56, ["plain56"]])
def test_q2_answer_that_is_not_a_name_is_named(answer):
    with pytest.raises(Mistake, match="answer with a net's name as a string"):
        ex.check_highest(answer)


def test_q2_a_net_with_no_message_of_its_own_gets_the_file_s_verdict(tmp_path):
    # In a results file where plain-56 does not end highest, answering plain56 names the net that does.
    results = json.loads((RESULTS / "degradation.json").read_text())
    for run in results["runs"]:
        if run["net"] == "plain56":
            run["final_train_loss"] = 0.0
    path = tmp_path / "degradation.json"
    path.write_text(json.dumps(results))
    truth = ex.highest_final_loss(path)
    assert truth != "plain56"
    with pytest.raises(Mistake, match=re.escape(f"the results file says {truth}, not plain56.")):
        ex.check_highest("plain56", path)


def test_q1_keys_are_letters_in_either_case_and_nothing_else():
    right = {"A": "underfitting", "B": "overfitting", "C": "neither"}
    assert ex.q1.feedback(right)[0] == "correct"
    assert ex.q1.feedback({k.lower(): v for k, v in right.items()})[0] == "correct"  # "a" is scenario A
    with pytest.raises(Mistake, match=re.escape("unknown scenario 'D': the scenarios are 'A', 'B', 'C'")):
        ex.check_diagnosis({**right, "D": "neither"})
    with pytest.raises(Mistake, match=re.escape("'A' and 'a' are the same scenario: give it once")):
        ex.check_diagnosis({**right, "a": "overfitting"})
    with pytest.raises(Mistake, match=re.escape("unknown scenarios 'scenario A', 'scenario B': the scenarios are")):
        ex.check_diagnosis({"scenario A": "underfitting", "scenario B": "overfitting", "C": "neither"})
    with pytest.raises(Mistake, match=re.escape("fill in every scenario; missing: B")):
        ex.check_diagnosis({"A": "underfitting", "B": ..., "C": "neither"})
    assert ex.q1.feedback({"A": ..., "B": ..., "C": ...})[0] == "todo"


def _replaces_forward(block):
    block.forward = lambda x: x  # the same output, but not from the plain block's layers


def _hooks_conv2(block):
    deg.make_identity(block)
    block.conv2.register_forward_hook(lambda m, i, o: o * 2)  # right weights, but the output is doubled


def _forgot_bn2(block):
    kept = {k: v.clone() for k, v in block.bn2.state_dict().items()}
    deg.make_identity(block)
    block.bn2.load_state_dict(kept)  # bn1 made neutral, bn2 left as trained


def _eps_hard_coded(block):
    deg.make_identity(block)
    for bn in (block.bn1, block.bn2):
        bn.running_var.fill_(1.0 - 1e-4)  # eps taken as 1e-4, not bn.eps (1e-5): each BN is off by 5e-5


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_forgot_bn2, "`bn2` still rescales and shifts"),
        (_eps_hard_coded, "for 4 channels the block's output differs from its input by up to"),
        ("make_identity", "pass your function itself (`make_identity`), got str"),
        (_replaces_forward, "you changed what the block *does* (a new `forward` or a hook), not its weights"),
        (_hooks_conv2, "you changed what the block *does* (a new `forward` or a hook), not its weights"),
    ],
)
def test_q3_more_mistakes_are_named(wrong, words):
    with pytest.raises(Mistake, match=re.escape(words)):
        ex.check_make_identity(wrong)


# --- several nets at once ----------------------------------------------------------------------


def _random_data(n: int = 256) -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(
        train_images=torch.rand(n, 1, 28, 28, generator=g),
        train_labels=torch.randint(0, 10, (n,), generator=g),
        test_images=torch.rand(64, 1, 28, 28, generator=g),
        test_labels=torch.randint(0, 10, (64,), generator=g),
    )


SMALL = replace(deg.LIVE, widths=(2, 4, 8), subset=128, test_images=64, eval_images=64)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_nets_trained_side_by_side_match_one_after_the_other(one_thread):
    # The oracle: the same runs one after another on one thread. Side by side, each net trains on a
    # thread of its own, and its numbers must not change (builds in order, no shared random state).
    data, seen = _random_data(), []
    kwargs = dict(seeds=[0, 1], nets=["plain20", "resnet56", "resnet20"], data=data, device="cpu")
    one = deg.run_degradation(SMALL, workers=1, **kwargs)
    two = deg.run_degradation(
        SMALL, workers=2, on_run=lambda run, model: seen.append((run["net"], run["seed"])), **kwargs
    )

    def numbers(results):
        return [{k: v for k, v in run.items() if k not in ("wall_time_s", "images_per_s")} for run in results["runs"]]

    assert numbers(two) == numbers(one)
    assert [(r["seed"], r["net"]) for r in two["runs"]] == [(s, n) for s in (0, 1) for n in kwargs["nets"]]
    assert sorted(seen) == sorted((r["net"], r["seed"]) for r in one["runs"])  # on_run heard of every run
    assert torch.get_num_threads() == 1  # the caller's thread count is its own


def test_a_stop_ends_every_net_side_by_side_and_says_which(one_thread):
    # The kernel's stop button raises KeyboardInterrupt in the waiting thread (here: in on_run, after
    # the quick plain-20 finished): the deep net still training stops at its next step, no thread is left.
    def stop_now(run, model):
        raise KeyboardInterrupt

    config = replace(SMALL, epochs=25.0)  # 100 steps: plain-56 takes about three times plain-20's time
    threads = threading.active_count()
    with pytest.raises(KeyboardInterrupt) as stopped:
        deg.run_degradation(
            config, seeds=[0], nets=["plain20", "plain56"], data=_random_data(), workers=2, on_run=stop_now
        )
    assert "plain56 (seed 0) was stopped after" in str(stopped.value) and "no record kept" in str(stopped.value)
    assert threading.active_count() == threads


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_count(workers):
    with pytest.raises(ValueError, match="workers must be a whole number"):
        deg.run_degradation(SMALL, data=_random_data(), workers=workers)


# --- the verdict and the bookkeeping, on hand-made results ----------------------------------------


def _hand_results(losses: dict[str, dict[int, float]]) -> dict:
    runs = [
        {"net": net, "seed": s, "final_train_loss": v} for net, by_seed in losses.items() for s, v in by_seed.items()
    ]
    return {"seeds": sorted({s for by_seed in losses.values() for s in by_seed}), "runs": runs}


def test_degradation_needs_plain56_above_both_plain20_and_resnet56():
    results = _hand_results(
        {
            "plain20": {0: 0.5, 1: 0.5, 2: 0.5},
            "plain56": {0: 0.6, 1: 0.6, 2: 0.4},
            "resnet56": {0: 0.7, 1: 0.3, 2: 0.3},
        }
    )
    # seed 0: plain-56 is worse than plain-20 but better than ResNet-56, so no degradation shown
    # seed 1: worse than both (He et al.'s Fig. 6); seed 2: better than plain-20
    assert deg.degradation_per_seed(results) == {0: False, 1: True, 2: False}


def test_the_study_trains_on_plain_cross_entropy():
    c = deg.DegradationConfig().train_config(seed=3)
    assert c.label_smoothing == 0.0 and not c.augment and c.seed == 3


def test_embed_shallow_refuses_a_shallower_target():
    shallow = ResNet(ResNetConfig(depth=20, shortcut=False, widths=(2, 2, 2)))
    with pytest.raises(ValueError, match="at least its own"):
        deg.embed_shallow(shallow, 14)


def test_merge_orders_runs_by_seed_then_net():
    def part(runs):
        return {
            "config": {"lr": 0.1},
            "runs": [{"net": n, "seed": s} for n, s in runs],
            "environment": {},
            "wall_time_s": 1.0,
            "command": "c",
            "created": "2024",
        }

    merged = deg.merge_results(
        [part([("resnet56", 1), ("plain20", 1)]), part([("plain56", 0), ("resnet20", 0), ("plain20", 0)])]
    )
    # oracle: seed first, then the nets in NETS order (plain20, plain56, resnet20, resnet56)
    assert [(r["seed"], r["net"]) for r in merged["runs"]] == [
        (0, "plain20"),
        (0, "plain56"),
        (0, "resnet20"),
        (1, "plain20"),
        (1, "resnet56"),
    ]


def test_run_degradation_refuses_a_config_dict_before_any_work():
    # the same check as build_net's and prepare_data's, so the same message: what came and how to build one
    with pytest.raises(
        ValueError, match=r"config must be a DegradationConfig .*Pass DegradationConfig\(\*\*\{'epochs': 1\}\)"
    ):
        deg.run_degradation({"epochs": 1}, nets=["plain20"], data=object())
