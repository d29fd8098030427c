"""The training loop on small real subsets of Fashion-MNIST: it learns, repeats itself, stops safely, saves."""

import copy
import math
import os
import threading
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resblock.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from resblock.data import load_fashion_mnist
from resblock.evaluation import confusion_matrix, misclassified, smooth
from resblock.models import DeepMLP, MLPConfig, ResNet, ResNetConfig
from resblock.train import (
    History,
    TrainConfig,
    TrainingDiverged,
    TrainingError,
    augment_batch,
    evaluate,
    fit,
    lr_at,
    make_optimizer,
    predict,
    predict_logits,
    train_step,
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
    config = TrainConfig(batch_size=64, seconds=0.5)
    h = fit(small_model(), x, y, config, progress=False).history
    starts = [0.0] + h.time[:-1]  # the training clock as each step began
    step = max(b - a for a, b in zip(starts, h.time))
    assert 0.5 <= h.time[-1] < 0.5 + step + 1e-9  # stops at the first step past the budget
    # each step's lr is the schedule's at the clock's fraction of the budget (however slow the machine's steps)
    assert h.lr == pytest.approx([lr_at(t / 0.5, config) for t in starts], rel=1e-12)


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


# --- The loop's bookkeeping, on a tiny linear classifier and synthetic 4x4 images (milliseconds per run) ---


class Recorder(nn.Module):
    """A linear classifier on flattened images that keeps every training forward pass's input and output."""

    def __init__(self, pixels: int = 16, classes: int = 3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(pixels, classes)
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(x.flatten(1))
        if self.training:  # fit's probe and evaluations run in eval mode: only the SGD steps are kept
            self.inputs.append(x.detach().clone())
            self.outputs.append(out.detach().clone())
        return out


def tiny_data(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)


def ids_of(batch: torch.Tensor, images: torch.Tensor) -> list[int]:
    """Which of ``images`` each image of ``batch`` is (random images are all distinct)."""
    flat = images.flatten(1)
    return [int((flat == row).all(1).nonzero()) for row in batch.flatten(1)]


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{"batch_size": 8, "lr": 0.05, "epochs": 2, "warmup": 0.0, **kw})


def test_train_step_returns_the_smoothed_cross_entropy_taken_before_the_update():
    x, y = tiny_data(16)
    model = Recorder().train()
    with torch.no_grad():
        logits = model.fc(x.flatten(1))
    # oracle: torch's cross-entropy with the same smoothing, on the weights before the step
    expected = F.cross_entropy(logits, y, label_smoothing=0.3).item()
    assert abs(expected - F.cross_entropy(logits, y).item()) > 1e-3  # the smoothing shows in the number
    before = model.fc.weight.detach().clone()
    loss, out = train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), x, y, lr=0.5, label_smoothing=0.3)
    assert loss == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(out, logits)
    assert not torch.equal(model.fc.weight, before)  # and the step was taken, with the lr given


def test_train_step_refuses_an_optimizer_made_for_another_model():
    x, y = tiny_data(16)
    old, model = Recorder().train(), Recorder().train()  # the model's cell run again, the optimizer's not
    before = model.fc.weight.detach().clone()
    with pytest.raises(ValueError, match=r"none of this model's trainable parameters.*make_optimizer\(model"):
        train_step(model, torch.optim.SGD(old.parameters(), lr=0.1), x, y, lr=0.5)
    assert torch.equal(model.fc.weight, before)  # refused before any work
    with pytest.raises(TypeError, match="torch.optim.Optimizer.*got list"):
        train_step(model, list(model.parameters()), x, y, lr=0.5)
    # an optimizer over part of the model (the rest frozen or in another optimizer) is a choice, not a mistake
    loss, _ = train_step(model, torch.optim.SGD([model.fc.weight], lr=0.1), x, y, lr=0.5)
    assert math.isfinite(loss) and not torch.equal(model.fc.weight, before)


def test_make_optimizer_takes_the_configs_momentum_and_weight_decay_in_nesterov_form():
    group = make_optimizer(Recorder(), TrainConfig(momentum=0.8, weight_decay=3e-4)).param_groups[0]
    assert group["momentum"] == 0.8 and group["weight_decay"] == 3e-4 and group["nesterov"] is True
    assert group["lr"] == 0.0  # lr_at(0): the warm-up starts from zero
    assert make_optimizer(Recorder(), TrainConfig(momentum=0.0)).param_groups[0]["nesterov"] is False


def test_each_epoch_is_a_fresh_shuffle_of_every_image_in_full_batches():
    x, y = tiny_data(32)
    model = Recorder()
    h = fit(model, x, y, tiny(epochs=2), progress=False).history
    batches = [ids_of(b, x) for b in model.inputs]
    assert h.steps == len(batches) == 8 and all(len(b) == 8 for b in batches)  # 8 steps of 8 images
    epochs = [sum(batches[:4], []), sum(batches[4:], [])]
    # each epoch sees every image exactly once, and the second in another order than the first
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(32))
    assert epochs[0] != epochs[1]


def test_train_acc_is_the_fraction_of_right_answers_on_the_batches_since_the_last_evaluation():
    x, y = tiny_data(32)
    model = Recorder()
    h = fit(model, x, y, tiny(epochs=2, lr=0.5), progress=False).history
    # oracle: the argmax of each step's logits (as the model computed them) against the batch's labels
    right = [(out.argmax(1) == y[ids_of(b, x)]).float() for b, out in zip(model.inputs, model.outputs)]
    expected = [torch.cat(right[:4]).mean().item(), torch.cat(right[4:]).mean().item()]
    assert h.train_acc == pytest.approx(expected) and all(0 <= a <= 1 for a in h.train_acc)


def test_evaluations_during_training_use_the_first_eval_images_and_the_final_one_all():
    x, y = tiny_data(32)
    xt, yt = tiny_data(12, seed=1)
    model = Recorder()
    states = []

    def keep_weights_at_each_evaluation(h):
        if len(h.test_loss) > len(states):
            states.append(copy.deepcopy(model.fc.state_dict()))

    h = fit(
        model,
        x,
        y,
        tiny(epochs=2, eval_images=5),
        test=(xt, yt),
        progress=False,
        live_plot=keep_weights_at_each_evaluation,
    ).history
    assert h.eval_step == [4, 8] and len(states) == 2
    # oracle: evaluate() on the same weights, on the first 5 test images, then on all 12
    for state, (images, labels), loss, acc in zip(states, [(xt[:5], yt[:5]), (xt, yt)], h.test_loss, h.test_acc):
        model.fc.load_state_dict(state)
        assert (loss, acc) == pytest.approx(evaluate(model, images, labels))


def test_a_stop_right_after_an_evaluation_keeps_it_as_the_final_one_and_progress_below_one():
    x, y = tiny_data(32)  # 4 steps per epoch
    xt, yt = tiny_data(12, seed=1)
    seen = []
    result = fit(
        Recorder(),
        x,
        y,
        tiny(epochs=3),
        test=(xt, yt),
        progress=False,
        live_plot=seen.append,
        should_stop=lambda: bool(seen and seen[-1].eval_step),  # stop once the first evaluation is done
    )
    h = result.history
    assert result.stopped == "stopped" and h.steps == 4
    assert h.eval_step == [4] and len(h.test_acc) == len(h.train_acc) == 1  # not evaluated twice
    assert h.progress == pytest.approx(4 / 12)  # a third of the budget, not the whole


def test_tta_flip_averages_the_logits_of_each_image_and_its_mirror():
    x, _ = tiny_data(10)
    model = Recorder().eval()
    with torch.no_grad():  # oracle: the definition, on the left-right mirror (the width axis)
        expected = 0.5 * (model(x) + model(x.flip(3)))
    assert not torch.allclose(expected, model(x).detach(), atol=1e-3)  # the mirror changes the logits
    torch.testing.assert_close(predict_logits(model, x, tta_flip=True), expected)
    assert torch.equal(predict(model, x, tta_flip=True), expected.argmax(1))


def test_a_diverged_run_hands_back_its_model_in_eval_mode():
    x, y = tiny_data(32)
    model = Recorder()

    def break_the_weights(h):
        if h.steps == 2:
            with torch.no_grad():
                model.fc.weight[0, 0] = float("nan")  # the next step's loss is NaN

    with pytest.raises(TrainingDiverged) as info:
        fit(model, x, y, tiny(), progress=False, live_plot=break_the_weights)
    assert info.value.history.steps == 3 and info.value.model is model and not model.training


def test_a_run_ended_by_an_error_hands_back_its_model_in_eval_mode():
    x, y = tiny_data(32)
    model = Recorder()

    def fail_at_step_2(h):
        if h.steps == 2:
            raise ZeroDivisionError("a bug in the learner's callback")

    with pytest.raises(TrainingError, match="ZeroDivisionError") as info:
        fit(model, x, y, tiny(), progress=False, live_plot=fail_at_step_2)
    assert info.value.history.steps == 2 and info.value.model is model and not model.training


def test_a_fractional_epoch_budget_rounds_the_steps_up():
    x, y = tiny_data(64)  # 8 steps per epoch
    h = fit(Recorder(), x, y, tiny(epochs=0.3), progress=False).history
    assert h.steps == 3  # ceil(0.3 * 8) = ceil(2.4)


def test_eval_every_half_an_epoch_evaluates_at_each_half():
    x, y = tiny_data(64)  # 8 steps per epoch
    h = fit(Recorder(), x, y, tiny(epochs=2, eval_every=0.5), progress=False).history
    assert h.eval_epoch == [0.5, 1.0, 1.5, 2.0] and h.eval_step == [4, 8, 12, 16]


def test_augmentation_reaches_every_flip_and_shift():
    n, s = 300, 1
    x = torch.randn(n, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, torch.Generator().manual_seed(0), max_shift=s)
    padded = F.pad(torch.cat([x, x.flip(3)], 1), (s, s, s, s))  # channel 0: original, 1: mirror
    # oracle: brute force over every flip and window; random images match exactly one of them
    chosen = set()
    for i in range(n):
        (match,) = [
            (f, dy, dx)
            for f in (0, 1)
            for dy in range(2 * s + 1)
            for dx in range(2 * s + 1)
            if torch.equal(out[i, 0], padded[i, f, dy : dy + 6, dx : dx + 6])
        ]
        chosen.add(match)
    assert chosen == {(f, dy, dx) for f in (0, 1) for dy in range(2 * s + 1) for dx in range(2 * s + 1)}


def test_loading_weights_that_do_not_fit_the_model_given_is_refused(tmp_path):
    model = small_model()
    path = save_checkpoint(tmp_path / "r8.pt", model, None, History(), TrainConfig())
    # Another architecture with no config to compare: only the weights' names can tell.
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path, model=nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    # ResNet-14 of the same widths has ResNet-8's weights and more
    with pytest.raises(CheckpointError):
        load_checkpoint(path, model=ResNet(replace(SMALL, depth=14)))


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["022", "027"])
def test_a_saved_checkpoint_gets_the_permissions_the_umask_allows(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "m.pt", small_model(), None, History(), TrainConfig())
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # what open() would have made


def test_loading_into_a_model_of_another_config_names_the_difference(tmp_path):
    path = save_checkpoint(
        tmp_path / "plain8.pt", ResNet(replace(SMALL, shortcut=False)), None, History(), TrainConfig()
    )
    with pytest.raises(CheckpointError, match="shortcut=False"):
        load_checkpoint(path, model=ResNet(SMALL))
    with pytest.raises(CheckpointError, match=r"widths=\(8, 16, 32\)"):
        load_checkpoint(path, model=ResNet(replace(SMALL, shortcut=False, widths=(8, 16, 16))))


def test_a_config_saved_with_lists_for_tuples_still_matches(tmp_path):
    # Plain data (a JSON round trip, an older writer) turns the widths tuple into a list: the same config.
    path = save_checkpoint(tmp_path / "r8.pt", small_model(), None, History(), TrainConfig())
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["widths"] = list(payload["model_config"]["widths"])
    torch.save(payload, tmp_path / "listed.pt")
    assert load_checkpoint(tmp_path / "listed.pt", model=ResNet(SMALL)).model.config == SMALL


def test_a_checkpoint_without_a_model_config_asks_for_the_model(tmp_path):
    path = save_checkpoint(tmp_path / "r8.pt", small_model(), None, History(), TrainConfig())
    payload = torch.load(path, weights_only=True)
    payload["model_config"] = None
    torch.save(payload, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="build the model yourself"):
        load_checkpoint(tmp_path / "bare.pt")


def test_a_high_but_finite_loss_is_judged_only_over_20_steps():
    # The mean-loss rule needs 20 steps: a short run that starts far off (a net scaled up 300x) is not divergence.
    x, y = tiny_data(32)
    model = Recorder()
    with torch.no_grad():
        model.fc.weight.mul_(300)
    h = fit(model, x, y, tiny(lr=1e-9), progress=False).history
    assert h.steps == 8 and min(h.loss) > 20 * math.log(3)  # 20x a uniform guess's loss, every step
