"""The training loop on small real subsets of Fashion-MNIST: it learns, repeats itself, stops safely, saves."""

import math
import threading
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from resblock.checkpoints import load_checkpoint, save_checkpoint
from resblock.data import load_fashion_mnist
from resblock.evaluation import confusion_matrix, misclassified, smooth
from resblock.models import DeepMLP, MLPConfig, ResNet, ResNetConfig
from resblock.train import (
    History,
    TrainConfig,
    TrainingDiverged,
    augment_batch,
    evaluate,
    fit,
    lr_at,
    predict,
)

SMALL = ResNetConfig(depth=8, widths=(8, 16, 32))  # a few ms per step: keeps these tests fast


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets are all per-op overhead: one thread is as fast, and immune to a busy machine's
    OpenMP stalls (two threads on two shared cores slowed a step from 0.03 s to over 1 s here)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return load_fashion_mnist()


@pytest.fixture(scope="module")
def subset(data):
    return data.train_images[:512], data.train_labels[:512], data.test_images[:256], data.test_labels[:256]


def small_model(seed: int = 0) -> ResNet:
    torch.manual_seed(seed)
    return ResNet(SMALL)


def quick(**kw) -> TrainConfig:
    return TrainConfig(**{"batch_size": 64, "lr": 0.2, "epochs": 2, **kw})


def test_training_reduces_the_loss_on_real_images(subset):
    x, y, xt, yt = subset
    model = small_model()
    before, _ = evaluate(model, x, y)
    result = fit(model, x, y, quick(epochs=4), progress=False)
    after, acc = evaluate(result.model, x, y)
    assert result.stopped == "budget"
    assert result.history.steps == 4 * (512 // 64)
    assert after < 0.6 * before, (before, after)
    assert acc > 0.5  # 10 classes: chance is 0.1
    assert not result.model.training  # handed back ready to evaluate


def test_same_seed_same_history(subset):
    x, y, xt, yt = subset
    runs = [fit(small_model(), x, y, quick(augment=True), test=(xt, yt), progress=False).history for _ in range(2)]
    assert runs[0].loss == runs[1].loss
    assert runs[0].test_acc == runs[1].test_acc
    other = fit(small_model(), x, y, quick(augment=True, seed=1), test=(xt, yt), progress=False).history
    assert other.loss != runs[0].loss  # the seed really drives the batch order and augmentation


def test_history_records_each_epoch_and_the_end(subset):
    x, y, xt, yt = subset
    h = fit(small_model(), x, y, quick(epochs=3), test=(xt, yt), progress=False).history
    assert h.eval_epoch == [1.0, 2.0, 3.0]
    assert len(h.test_acc) == len(h.train_loss) == 3 and all(0 <= a <= 1 for a in h.test_acc)
    assert h.progress == 1.0 and h.wall_time >= h.time[-1] > 0
    # the per-epoch training loss is the mean of that epoch's step losses
    assert h.train_loss[1] == pytest.approx(sum(h.loss[8:16]) / 8)
    assert History.from_dict(h.to_dict()) == h


def test_time_budget_is_timed_by_the_clock(subset):
    x, y, _, _ = subset
    h = fit(small_model(), x, y, TrainConfig(batch_size=64, seconds=0.5), progress=False).history
    step = max(b - a for a, b in zip([0.0] + h.time, h.time))
    assert 0.5 <= h.time[-1] < 0.5 + step + 1e-9  # stops at the first step past the budget
    assert h.lr[-1] < 0.2 * 0.4  # the schedule reached its decayed end by the clock


def test_should_stop_ends_the_run_and_keeps_model_and_history(subset):
    x, y, xt, yt = subset
    h_seen = []
    result = fit(
        small_model(),
        x,
        y,
        quick(epochs=10),
        test=(xt, yt),
        progress=False,
        live_plot=h_seen.append,
        should_stop=lambda: len(h_seen) >= 3,
    )
    assert result.stopped == "stopped" and result.history.steps == 3
    assert len(result.history.test_acc) == 1  # the final evaluation still runs
    event = threading.Event()
    event.set()
    assert fit(small_model(), x, y, quick(), progress=False, should_stop=event).history.steps == 0


def test_keyboard_interrupt_ends_the_run_cleanly(subset):
    x, y, xt, yt = subset

    pressed = []

    def press_stop_at_step_5(history):
        if history.steps == 5 and not pressed:
            pressed.append(True)
            raise KeyboardInterrupt

    result = fit(small_model(), x, y, quick(epochs=10), test=(xt, yt), progress=False, live_plot=press_stop_at_step_5)
    assert result.stopped == "interrupted"
    assert result.history.steps == 5 and len(result.history.loss) == 5
    assert math.isfinite(result.test_acc)
    assert isinstance(result.model, ResNet)


def test_huge_learning_rate_stops_with_the_divergence_message(subset):
    x, y, _, _ = subset
    with pytest.raises(TrainingDiverged, match="learning rate too high") as info:
        fit(small_model(), x, y, quick(lr=100.0, warmup=0.0, epochs=5), progress=False)
    assert "try 25 or lower" in str(info.value)  # a quarter of the lr given, whatever it was
    assert "normalisation" not in str(info.value)  # the net has BatchNorm: do not blame its absence
    assert 0 < info.value.history.steps < 5 * 8  # stopped early, history kept


def test_divergence_without_normalisation_names_it(subset):
    x, y, _, _ = subset
    torch.manual_seed(0)
    net = DeepMLP(MLPConfig(depth=4, norm="none"))
    with pytest.raises(TrainingDiverged, match="missing normalisation"):
        fit(net, x, y, quick(lr=100.0, warmup=0.0, epochs=5), progress=False)


def test_weights_gone_non_finite_before_an_evaluation_are_divergence_too(subset):
    # The last update can leave NaN weights before any loss shows it; the evaluation that follows must
    # not fail as "build a fresh model" but stop the run as diverged, with its history consistent.
    x, y, xt, yt = subset
    net = small_model()

    def break_the_weights(history):  # as an update that overflowed would
        if history.steps == 3:
            with torch.no_grad():
                net.fc.weight[0, 0] = float("nan")

    with pytest.raises(TrainingDiverged, match="1 weights became NaN or infinite.*learning rate too high") as info:
        fit(
            net,
            x[:24],
            y[:24],
            quick(epochs=1, batch_size=8),
            test=(xt, yt),
            progress=False,
            live_plot=break_the_weights,
        )
    h = info.value.history
    assert h.steps == 3 and len(h.eval_step) == len(h.test_acc) == 0


def test_checkpoint_round_trips(subset, tmp_path):
    x, y, xt, yt = subset
    result = fit(small_model(), x, y, quick(), test=(xt, yt), progress=False)
    path = save_checkpoint(tmp_path / "ckpt" / "tiny.pt", result.model, result.optimizer, result.history, result.config)
    ckpt = load_checkpoint(path)  # weights_only=True inside: no code runs on load
    assert torch.equal(ckpt.model(xt[:32]), result.model(xt[:32]))
    assert ckpt.model.config == result.model.config
    assert ckpt.history == result.history and ckpt.config == result.config
    assert evaluate(ckpt.model, xt, yt) == evaluate(result.model, xt, yt)
    opt = torch.optim.SGD(ckpt.model.parameters(), lr=0.1, momentum=0.9)
    opt.load_state_dict(ckpt.optimizer_state)  # training can resume from it
    with pytest.raises(ValueError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_keeps_the_pooled_stem_and_reads_older_files_without_it(subset, tmp_path):
    x, y, xt, yt = subset
    torch.manual_seed(0)
    model = ResNet(replace(SMALL, stem_pool=True))
    result = fit(model, x, y, quick(epochs=0.5), progress=False)
    path = save_checkpoint(tmp_path / "pooled.pt", result.model, result.optimizer, result.history, result.config)
    ckpt = load_checkpoint(path)
    assert ckpt.model.config.stem_pool and torch.equal(ckpt.model(xt[:16]), result.model(xt[:16]))
    # A checkpoint written before stem_pool existed has no such key: it is the paper's unpooled stem.
    payload = torch.load(path, weights_only=True)
    del payload["model_config"]["stem_pool"]
    torch.save(payload, tmp_path / "older.pt")
    assert not load_checkpoint(tmp_path / "older.pt").model.config.stem_pool


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (torch.randn(64, 28, 28), torch.zeros(64, dtype=torch.long), "unsqueeze"),
        (torch.randn(64, 1, 28, 28), torch.full((64,), 10), "0..9"),
        (torch.randn(64, 1, 28, 28), torch.full((64,), -1), "0..9"),
        (torch.randn(64, 1, 28, 28), torch.zeros(63, dtype=torch.long), "differ in length"),
        (torch.randn(64, 1, 28, 28), torch.zeros(64), "class indices"),
        (torch.zeros(64, 1, 28, 28, dtype=torch.uint8), torch.zeros(64, dtype=torch.long), "floating point"),
        (torch.randn(32, 1, 28, 28), torch.zeros(32, dtype=torch.long), "larger than the 32"),
        (torch.randn(64, 3, 28, 28), torch.zeros(64, dtype=torch.long), "expected images of shape"),
    ],
)
def test_bad_inputs_are_explained(images, labels, match):
    with pytest.raises(ValueError, match=match):
        fit(small_model(), images, labels, quick(), progress=False)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"seconds": 0}, "budget"),
        ({"epochs": -1}, "budget"),
        ({"seconds": math.inf}, "budget"),
        ({"lr": 0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"warmup": 1.5}, "warmup"),
    ],
)
def test_bad_configs_are_explained(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_default_budget_is_sixty_seconds_and_both_budgets_combine():
    assert TrainConfig().time_budget == 60.0
    assert TrainConfig(epochs=2).time_budget is None
    assert TrainConfig(epochs=2, seconds=5).time_budget == 5


def test_one_cycle_schedule():
    c = TrainConfig(lr=0.4, warmup=0.25, final_lr=0.1)
    assert lr_at(0.0, c) == 0.0
    assert lr_at(0.125, c) == pytest.approx(0.2)
    assert lr_at(0.25, c) == pytest.approx(0.4)
    assert lr_at(1.0, c) == pytest.approx(0.04)
    assert lr_at(0.625, c) == pytest.approx(0.22)  # halfway down the linear decay


def test_augmentation_is_a_flip_and_a_shift_of_each_image(subset):
    x = subset[0][:16]
    s = 2
    out = augment_batch(x, torch.Generator().manual_seed(0), max_shift=s)
    assert out.shape == x.shape
    padded = F.pad(torch.cat([x, x.flip(3)], 1), (s, s, s, s))  # channel 0: original, 1: mirror
    seen_shift = set()
    for i in range(len(x)):
        # oracle: brute force over every flip and shift the augmentation may have chosen
        matches = [
            (f, dy, dx)
            for f in (0, 1)
            for dy in range(2 * s + 1)
            for dx in range(2 * s + 1)
            if torch.equal(out[i, 0], padded[i, f, dy : dy + 28, dx : dx + 28])
        ]
        assert matches, f"image {i} is not a flipped/shifted copy of its input"
        seen_shift.add(matches[0][1:])
    assert len(seen_shift) > 1  # shifts really vary between images


def test_evaluate_and_predict_agree_with_a_direct_computation(subset):
    x, y, xt, yt = subset
    model = small_model().eval()
    with torch.no_grad():
        logits = model(xt)
    loss, acc = evaluate(model, xt, yt, batch_size=100)  # batches of 100 (last one 56) give the same
    assert loss == pytest.approx(F.cross_entropy(logits, yt).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == yt).float().mean().item())
    assert torch.equal(predict(model, xt, batch_size=7), logits.argmax(1))


def test_confusion_matrix_counts_pairs(subset):
    y = subset[1][:200]
    pred = torch.roll(y, 1)
    cm = confusion_matrix(pred, y, 10)
    expected = torch.zeros(10, 10, dtype=torch.long)
    for t, p in zip(y.tolist(), pred.tolist()):
        expected[t, p] += 1
    assert torch.equal(cm, expected)
    assert cm.trace() == (pred == y).sum()
    wrong = misclassified(pred, y, limit=5)
    assert len(wrong) == 5 and all(pred[i] != y[i] for i in wrong)


def test_smooth_is_a_running_mean():
    assert smooth([1.0, 3.0, 5.0, 7.0], window=2) == [1.0, 2.0, 4.0, 6.0]


def test_a_net_narrower_than_8_channels_trains_on_one_thread():
    # torch 2.13 crashed (segfault) in channels_last backward with < 8 channels on one thread; fit keeps such nets NCHW.
    import os
    import subprocess
    import sys

    script = (
        "import torch\n"
        "from resblock.models import ResNet, ResNetConfig\n"
        "from resblock.train import TrainConfig, fit\n"
        "torch.manual_seed(0)\n"
        "x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))\n"
        "r = fit(ResNet(ResNetConfig(depth=8, widths=(2, 2, 2))), x, y, TrainConfig(epochs=3, batch_size=8), progress=False)\n"
        "print('steps', r.history.steps)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0 and "steps 24" in out.stdout, out.stderr[-500:]


def test_the_config_is_frozen_so_the_shared_default_cannot_change():
    # fit's default config is one object shared by every call: changing it in place would leak.
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.lr = 0.1
    assert replace(config, lr=0.1).lr == 0.1 and config.lr == TrainConfig().lr
