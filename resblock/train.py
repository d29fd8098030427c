"""The one training loop of the course (notebooks 03-06): SGD on in-memory tensors, in a budget of epochs or seconds.

The recipe is the paper's (He et al., arXiv:1512.03385, sec. 4.2: SGD with momentum 0.9, weight decay,
batch 128, BN after every conv) with a one-cycle learning rate (Smith & Topin, arXiv:1708.07120) and
label smoothing (Szegedy et al., arXiv:1512.00567), which train a small net well in a short budget.
For a budget in seconds the schedule is timed by the clock, not by a step count guessed in advance,
because throughput varies by up to 30% between runs on a shared machine. All hyperparameters live
in one place, ``TrainConfig``, with their units.

Safe to stop: the kernel's stop button (KeyboardInterrupt) or ``should_stop`` ends the run cleanly
and keeps the model and history; a loss that becomes NaN or explodes raises ``TrainingDiverged``,
whose message names the likely cause, instead of training on garbage.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Iterator, Union

import torch
import torch.nn.functional as F
from torch import nn

from resblock.checks import check_bool, check_int, check_number
from resblock.env import course_seed, pick_device

DEFAULT_SECONDS = 60.0  # the time budget when neither epochs nor seconds is given
# Images per forward pass when evaluating. Measured for ResNet-8 on 10,000 test images (2 cores):
# batches of 500 raised the peak memory by ~175 MB over training's and took 4.0 s; batches of 200
# added nothing over training's peak and took 2.8 s (smaller batches stay in cache).
EVAL_BATCH = 200


@dataclass
class TrainConfig:
    """Every hyperparameter of a training run, with its unit; defaults are notebook 04's recipe."""

    batch_size: int = 128  # images per SGD step
    lr: float = 0.4  # peak learning rate of the one-cycle schedule (SGD step size, no unit)
    momentum: float = 0.9  # SGD momentum coefficient (He et al. sec. 3.4), Nesterov form
    weight_decay: float = 5e-4  # L2 penalty coefficient added to every parameter's gradient
    label_smoothing: float = 0.1  # probability mass spread uniformly over all classes (arXiv:1512.00567)
    epochs: float | None = None  # budget in passes over the training set (fractions allowed)
    seconds: float | None = None  # budget in seconds of training steps (evaluation and plotting not counted);
    # if neither epochs nor seconds is given the budget is DEFAULT_SECONDS; if both, whichever ends first
    warmup: float = 0.2  # fraction of the budget over which lr rises linearly from 0 to its peak
    final_lr: float = 0.0  # lr at the end of the budget, as a fraction of the peak (linear decay to it)
    augment: bool = False  # random horizontal flips and shifts of up to max_shift pixels, on tensors
    max_shift: int = 2  # pixels, for augment
    seed: int = field(default_factory=course_seed)  # seeds the batch order and augmentation (not the init);
    # the default is the course's seed, $RESBLOCK_SEED
    eval_every: float = 1.0  # evaluate on the test set every this many epochs (and at the end)
    eval_images: int | None = None  # test images used by the evaluations *during* training (None: all);
    # the final evaluation always uses all of them
    eval_batch_size: int = EVAL_BATCH  # images per forward pass when evaluating: changes peak memory and speed, not results
    tta_flip: bool = False  # test-time augmentation: average the logits of each image and its mirror. Off: it
    # *lowered* test accuracy here (0.888 -> 0.841 after 60 s) for a net trained without flips, since all
    # of Fashion-MNIST's shoes face the same way
    channels_last: bool = True  # NHWC memory layout: faster convolutions on CPU (measured, see bench)

    def __post_init__(self) -> None:
        # Each field is checked, and numpy numbers become Python ones (a checkpoint stores them as plain data).
        for name in ("batch_size", "eval_batch_size"):
            setattr(self, name, check_int(name, getattr(self, name), low=1))
        for name in ("epochs", "seconds"):
            value = getattr(self, name)
            if value is not None:
                checked = check_number(name, value, low=0.0, low_open=True, what=" (a training budget; or None)")
                setattr(self, name, value if type(value) in (int, float) else checked)
        self.lr = check_number("lr", self.lr, low=0.0, low_open=True, what=" (try 0.1 to 0.4)")
        for name in ("momentum", "label_smoothing", "warmup"):
            setattr(self, name, check_number(name, getattr(self, name), 0.0, 1.0, high_open=True))
        self.final_lr = check_number("final_lr", self.final_lr, 0.0, 1.0, what=" (a fraction of the peak lr)")
        self.weight_decay = check_number("weight_decay", self.weight_decay, low=0.0)
        self.eval_every = check_number("eval_every", self.eval_every, low=0.0, low_open=True, what=" (in epochs)")
        if self.eval_images is not None:
            self.eval_images = check_int("eval_images", self.eval_images, low=1, what=" (or None for all)")
        self.max_shift = check_int("max_shift", self.max_shift, low=0, what=" (in pixels)")
        self.seed = check_int("seed", self.seed, low=0)
        for name in ("augment", "tta_flip", "channels_last"):  # "no" would count as True
            setattr(self, name, check_bool(name, getattr(self, name)))

    @property
    def time_budget(self) -> float | None:
        """Seconds of training allowed, or None when only an epoch budget applies."""
        if self.seconds is None and self.epochs is None:
            return DEFAULT_SECONDS
        return self.seconds


def _check_positive_int(name: str, value: Any) -> int:
    return check_int(name, value, low=1)


@dataclass
class History:
    """What happened during a run: every step's loss and lr, and each evaluation's losses and accuracies."""

    loss: list[float] = field(default_factory=list)  # training loss of each step (batch mean, label-smoothed)
    lr: list[float] = field(default_factory=list)  # learning rate used at each step
    time: list[float] = field(default_factory=list)  # training-clock seconds at the end of each step
    eval_step: list[int] = field(default_factory=list)  # steps done at each evaluation
    eval_epoch: list[float] = field(default_factory=list)  # epochs done at each evaluation
    eval_time: list[float] = field(default_factory=list)  # training-clock seconds at each evaluation
    train_loss: list[float] = field(default_factory=list)  # mean step loss since the previous evaluation
    train_acc: list[float] = field(default_factory=list)  # accuracy on the (augmented) batches since then
    test_loss: list[float] = field(default_factory=list)  # cross-entropy on the test set (no smoothing); nan without one
    test_acc: list[float] = field(default_factory=list)  # accuracy on the test set; nan without one
    progress: float = 0.0  # fraction of the budget used, 0 to 1
    wall_time: float = 0.0  # seconds from start to end, evaluation and plotting included

    @property
    def steps(self) -> int:
        """Number of SGD steps taken."""
        return len(self.loss)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, for checkpoints (loadable with weights_only=True) and JSON."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Rebuild a History from ``to_dict``'s output."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainResult:
    """The trained model (in eval mode), its optimiser, history, and why the run ended."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    history: History
    config: TrainConfig
    stopped: str  # "budget" (ran to the end), "interrupted" (KeyboardInterrupt) or "stopped" (should_stop)

    @property
    def test_acc(self) -> float:
        """Accuracy on the test set at the last evaluation (nan without a test set)."""
        return self.history.test_acc[-1] if self.history.test_acc else math.nan


class TrainingError(RuntimeError):
    """A run that ended with an error after training began; ``.history`` and ``.model`` hold the run up to that point."""

    def __init__(self, message: str, history: History, model: nn.Module) -> None:
        super().__init__(message)
        self.history = history
        self.model = model


class TrainingDiverged(TrainingError):
    """The loss became NaN or exploded; ``.history`` and ``.model`` hold the run up to that point."""


StopSignal = Union[Callable[[], bool], Any]  # a callable returning True to stop, or a threading.Event


def _wants_stop(should_stop: StopSignal | None) -> bool:
    if should_stop is None:
        return False
    if hasattr(should_stop, "is_set"):
        return bool(should_stop.is_set())
    return bool(should_stop())


# torch 2.13 on an AVX2 CPU with one thread crashed (segfault, "corrupted double-linked list") in the
# backward pass of channels_last convolutions with fewer than 8 channels (ResNet-8 at widths 2 and 4;
# 8 and more ran). Such nets are only toys, and the layout buys nothing at that size: keep them NCHW.
MIN_CHANNELS_LAST = 8


def _channels_last_safe(model: nn.Module) -> bool:
    """False when a convolution has fewer than MIN_CHANNELS_LAST input or output channels (see above)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # A grey image's stem (1 input channel) is fine when its output is wide enough.
    return all(min(c.in_channels, c.out_channels) >= MIN_CHANNELS_LAST
               or (c.in_channels == 1 and c.out_channels >= MIN_CHANNELS_LAST) for c in convs)


def check_data(images: torch.Tensor, labels: torch.Tensor, what: str = "training") -> None:
    """Raise a ValueError saying what to fix unless images are (N, C, H, W) floats and labels (N,) class indices."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError(f"{what} images and labels must be torch tensors, got {type(images)} and {type(labels)}.")
    if images.dim() != 4:
        raise ValueError(
            f"{what} images must have shape (N, channels, height, width), got {tuple(images.shape)}; "
            "add a channel axis with images.unsqueeze(1)."
        )
    if not images.is_floating_point():
        raise ValueError(
            f"{what} images must be floating point, got {images.dtype}; use resblock.data.normalize() on raw bytes."
        )
    if labels.dim() != 1 or labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(f"{what} labels must be a 1-D tensor of class indices, got {labels.dtype} {tuple(labels.shape)}.")
    if len(images) != len(labels):
        raise ValueError(f"{what} images and labels differ in length: {len(images)} images, {len(labels)} labels.")
    if len(labels) == 0:
        raise ValueError(f"{what} set is empty.")
    bad = int((~torch.isfinite(images)).sum())
    if bad:  # would train to a nan loss, then be blamed on the learning rate
        raise ValueError(f"{what} images hold {bad} NaN or infinite values; check how they were made "
                         "(resblock.data.load_fashion_mnist() gives finite, normalised images).")


def _check_labels_fit(labels: torch.Tensor, num_classes: int, what: str) -> None:
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{what} labels must lie in 0..{num_classes - 1} (the model has {num_classes} outputs), "
            f"got values from {lo} to {hi}."
        )


def augment_batch(x: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Flip each image left-right with probability 1/2 and shift it by up to max_shift pixels (zero fill)."""
    n, c, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    if max_shift == 0:
        return x
    s = max_shift
    # Pad once, then crop a differently placed h x w window from each image with one gather.
    padded = F.pad(x, (s, s, s, s))
    dy = torch.randint(0, 2 * s + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]  # (n, 1, h, 1)
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :]  # (n, 1, 1, w)
    x = padded.gather(2, rows.expand(n, c, h, w + 2 * s))
    return x.gather(3, cols.expand(n, c, h, w))


def lr_at(progress: float, config: TrainConfig) -> float:
    """The one-cycle learning rate at a fraction ``progress`` of the budget: linear warm-up, then linear decay."""
    p = min(max(check_number("progress", progress, what=" (a fraction of the budget, 0 to 1)"), 0.0), 1.0)
    if config.warmup > 0 and p < config.warmup:
        return config.lr * p / config.warmup
    decay = (p - config.warmup) / max(1.0 - config.warmup, 1e-12)
    return config.lr * (1.0 - decay * (1.0 - config.final_lr))


def _logits(model: nn.Module, x: torch.Tensor, tta_flip: bool) -> torch.Tensor:
    out = model(x)
    if tta_flip:
        out = 0.5 * (out + model(x.flip(3)))  # the mirror image is as likely a garment as the original
    return out


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (BatchNorm on its running statistics) for the block; its earlier mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.inference_mode()
def predict_logits(
    model: nn.Module, images: torch.Tensor, batch_size: int = EVAL_BATCH, tta_flip: bool = False, channels_last: bool = True
) -> torch.Tensor:
    """The model's logits for every image, in eval mode and in batches (notebooks 04-05)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module instance, got {model!r}.")
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch tensor of shape (N, channels, height, width), got {type(images).__name__}.")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, channels, height, width), got {tuple(images.shape)}.")
    p = next(model.parameters(), None)
    if p is not None and images.dtype != p.dtype:
        fix = ("scale raw bytes with resblock.data.normalize(images)" if not images.is_floating_point()
               else f"convert them with images.to({p.dtype})")
        raise ValueError(f"the images are {images.dtype} but the model's weights are {p.dtype}; {fix}.")
    _check_positive_int("batch_size", batch_size)
    check_bool("tta_flip", tta_flip)
    device = _model_device(model)
    fmt = torch.channels_last if channels_last and _channels_last_safe(model) else torch.contiguous_format
    with eval_mode(model):
        outs = [
            _logits(model, images[i: i + batch_size].to(device).contiguous(memory_format=fmt), tta_flip).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    return torch.cat(outs)


def predict(model: nn.Module, images: torch.Tensor, batch_size: int = EVAL_BATCH, tta_flip: bool = False) -> torch.Tensor:
    """The predicted class of every image (notebook 04)."""
    return predict_logits(model, images, batch_size, tta_flip).argmax(1)


def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = EVAL_BATCH, tta_flip: bool = False
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model on a labelled set, in eval mode (notebooks 03-06)."""
    check_data(images, labels, "evaluation")
    logits = predict_logits(model, images, batch_size, tta_flip)
    _check_labels_fit(labels, logits.shape[1], "evaluation")
    labels = labels.long().cpu()
    loss = F.cross_entropy(logits, labels).item()
    acc = (logits.argmax(1) == labels).float().mean().item()
    return loss, acc


class LiveFigure:
    """Loss and accuracy curves redrawn in place through a display handle, at most every ``interval`` seconds.

    A display handle (``display(fig, display_id=True)`` then ``.update(fig)``) rather than
    ``clear_output``, so nbval sees one output and JupyterLab, nbconvert and Binder all show it.
    """

    def __init__(self, interval: float = 1.0) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        from resblock.evaluation import HistoryCurves

        self.interval = interval
        self.fig = plt.figure(figsize=(10, 3.4))
        self.curves = HistoryCurves(self.fig)  # lines updated in place: a frame costs less than a re-plot
        self.axes = self.curves.axes
        plt.close(self.fig)  # shown only through the handle, not again by the inline backend at cell end
        self.handle = display(self.fig, display_id=True)
        self._last = -math.inf

    def __call__(self, history: History, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self.curves.update(history)
        if self.handle is not None:
            self.handle.update(self.fig)


def _progress_bar(enabled: bool, config: TrainConfig, total_steps: int | None):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    if total_steps is not None and config.time_budget is None:
        return tqdm(total=total_steps, unit="step", leave=True)
    return tqdm(total=round(config.time_budget, 1), unit="s", leave=True, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}")


def fit(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    *,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = True,
    live_plot: bool | Callable[[History], None] = False,
    should_stop: StopSignal | None = None,
    device: torch.device | str | None = None,
) -> TrainResult:
    """Train ``model`` with SGD + one-cycle lr on in-memory tensors within the config's budget (notebooks 03-06).

    ``live_plot=True`` draws loss/accuracy curves in the notebook; a callable gets the History after
    every step and evaluation instead. ``should_stop`` (a callable or threading.Event) is checked
    every step. Ctrl-C / the kernel's stop button ends the run cleanly: the result keeps the model.
    Deterministic for a given seed and model init with an epoch budget; with a budget in seconds the
    number of steps depends on the clock.
    """
    # Every input is checked here, before the first step: a mistake found after an epoch costs the epoch.
    if isinstance(model, type):
        raise ValueError(f"fit takes a model instance, got the class {model.__name__}; "
                         f"build one first, e.g. {model.__name__}({model.__name__}Config()) for a resblock model.")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if next(model.parameters(), None) is None:
        raise ValueError(f"the model ({type(model).__name__}) has no parameters to train.")
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}.")
    check_bool("progress", progress)
    if not (isinstance(live_plot, bool) or callable(live_plot)):
        raise ValueError(f"live_plot must be True, False or a function of the History, got {live_plot!r}.")
    if not (should_stop is None or callable(should_stop) or hasattr(should_stop, "is_set")):
        raise ValueError(f"should_stop must be None, a function returning True to stop, or a threading.Event; "
                         f"got {should_stop!r}.")
    check_data(train_images, train_labels, "training")
    if test is not None:
        if not (isinstance(test, (tuple, list)) and len(test) == 2):
            raise ValueError("test must be a tuple (test_images, test_labels) or None.")
        check_data(*test, "test")
        test = tuple(test)
    weight_dtype = next(model.parameters()).dtype
    for what, images in (("training", train_images), ("test", test[0] if test is not None else None)):
        if images is not None and images.dtype != weight_dtype:
            raise ValueError(f"the {what} images are {images.dtype} but the model's weights are {weight_dtype}; "
                             f"convert the images with images.to({weight_dtype}) (a dtype mismatch, not a shape one).")
    n = len(train_images)
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n} training images; lower batch_size.")
    if config.batch_size < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("batch_size must be at least 2 for a model with BatchNorm, which normalises over the "
                         "batch (one image has no batch statistics); use batch_size >= 2, e.g. 32.")
    if config.augment and config.max_shift >= min(train_images.shape[2:]):
        raise ValueError(f"max_shift ({config.max_shift} pixels) must be smaller than the images "
                         f"({tuple(train_images.shape[2:])}); a shift that large leaves nothing of the image. Try 2.")
    device = pick_device(str(device)) if device is not None else pick_device()
    fmt = torch.channels_last if config.channels_last and _channels_last_safe(model) else torch.contiguous_format
    model.to(device=device, memory_format=fmt)
    train_images = train_images.to(device)
    train_labels = train_labels.to(device).long()

    # One probe forward pass per set: learn the number of classes and explain a shape mismatch before training.
    model.eval()
    with torch.no_grad():
        try:
            num_classes = model(train_images[:2].contiguous(memory_format=fmt)).shape[1]
        except RuntimeError as e:
            raise ValueError(f"the model cannot take images of shape {tuple(train_images.shape[1:])}: {e}") from e
        if test is not None:
            try:
                test_classes = model(test[0][:2].to(device).contiguous(memory_format=fmt)).shape[1]
            except (RuntimeError, ValueError) as e:
                raise ValueError(f"the test images (shape {tuple(test[0].shape[1:])}) do not fit the model, "
                                 f"which trains on {tuple(train_images.shape[1:])}: {e}") from e
            if test_classes != num_classes:  # a model whose output size depends on the input
                raise ValueError(f"the model gives {test_classes} outputs on the test images, {num_classes} on the training ones.")
    _check_labels_fit(train_labels, num_classes, "training")
    if test is not None:
        _check_labels_fit(test[1], num_classes, "test")
        eval_images, eval_labels = test
        if config.eval_images is not None:
            eval_images, eval_labels = eval_images[: config.eval_images], eval_labels[: config.eval_images]

    steps_per_epoch = n // config.batch_size  # drop the last partial batch: equal batches for BN and timing
    total_steps = math.ceil(config.epochs * steps_per_epoch) if config.epochs is not None else None
    seconds = config.time_budget
    eval_interval = max(1, round(config.eval_every * steps_per_epoch))

    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr_at(0.0, config), momentum=config.momentum, nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )
    generator = torch.Generator().manual_seed(config.seed)
    history = History()
    callback = LiveFigure() if live_plot is True else (live_plot or None)
    bar = _progress_bar(progress, config, total_steps)
    log_c = math.log(num_classes)

    clock = 0.0  # training clock: seconds spent in SGD steps only
    wall_start = time.perf_counter()
    run_loss, run_correct, run_seen, run_steps = 0.0, 0, 0, 0
    order = torch.empty(0, dtype=torch.long)
    stopped = "budget"

    def record_eval(final: bool) -> None:
        nonlocal run_loss, run_correct, run_seen, run_steps
        history.eval_step.append(history.steps)
        history.eval_epoch.append(history.steps / steps_per_epoch)
        history.eval_time.append(clock)
        history.train_loss.append(run_loss / max(run_steps, 1) if run_steps else math.nan)
        history.train_acc.append(run_correct / run_seen if run_seen else math.nan)
        if test is not None:
            imgs, labs = (test if final else (eval_images, eval_labels))
            loss, acc = evaluate(model, imgs, labs, config.eval_batch_size, config.tta_flip)
        else:
            loss, acc = math.nan, math.nan
        history.test_loss.append(loss)
        history.test_acc.append(acc)
        run_loss, run_correct, run_seen, run_steps = 0.0, 0, 0, 0

    stage = "a training step"  # what was running, for the message if something raises

    def failed(e: Exception) -> TrainingError:
        history.wall_time = time.perf_counter() - wall_start
        model.eval()
        return TrainingError(
            f"training stopped after {history.steps} steps because {stage} raised {type(e).__name__}: {e}\n"
            "Nothing is lost: this error's .model holds the model as trained so far and its .history the "
            "run's history (catch it with `except TrainingError as err:`).", history, model)

    try:
        model.train()
        while True:
            step = history.steps
            progress_frac = max(
                step / total_steps if total_steps else 0.0, clock / seconds if seconds else 0.0
            )
            if progress_frac >= 1.0:
                break
            stage = "should_stop"
            if _wants_stop(should_stop):
                stopped = "stopped"
                break
            stage = "a training step"
            t0 = time.perf_counter()
            pos = step % steps_per_epoch
            if pos == 0:
                order = torch.randperm(n, generator=generator)
            idx = order[pos * config.batch_size: (pos + 1) * config.batch_size].to(device)
            x, y = train_images[idx], train_labels[idx]
            if config.augment:
                x = augment_batch(x, generator, config.max_shift)
            x = x.contiguous(memory_format=fmt)
            lr = lr_at(progress_frac, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = loss.item()
            run_correct += int((logits.detach().argmax(1) == y).sum())
            dt = time.perf_counter() - t0
            clock += dt

            history.loss.append(loss_value)
            history.lr.append(lr)
            history.time.append(clock)
            run_loss += loss_value
            run_seen += len(y)
            run_steps += 1
            recent = history.loss[-20:]
            if not math.isfinite(loss_value) or (len(recent) == 20 and sum(recent) / 20 > 4 * log_c):
                history.wall_time = time.perf_counter() - wall_start
                model.eval()
                raise TrainingDiverged(
                    f"Training diverged at step {history.steps}: the loss is {loss_value:.3g} "
                    f"(guessing uniformly gives {log_c:.2f}). The likely cause is a learning rate too high "
                    f"for this network (lr={config.lr:g}: try 0.1 or lower, or a longer warmup), or a network "
                    "without normalisation (no BatchNorm after its convolutions), whose activations blow up.",
                    history,
                    model,
                )
            history.progress = min(
                1.0, max(history.steps / total_steps if total_steps else 0.0, clock / seconds if seconds else 0.0)
            )
            if bar is not None:
                done = history.steps if seconds is None else min(clock, seconds)
                if history.steps % 10 == 0:
                    bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
                bar.update(done - bar.n)  # redraws at most every tqdm's mininterval
            if history.steps % eval_interval == 0 and history.progress < 1.0:
                stage = "the evaluation on the test set"
                record_eval(final=False)
                model.train()
            if callback is not None:
                stage = "the live_plot callback"
                callback(history)
    except KeyboardInterrupt:
        stopped = "interrupted"
    except TrainingError:
        raise
    except Exception as e:  # a callback's or a step's error: keep the work done so far on the exception
        raise failed(e) from e
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    already = history.eval_step and history.eval_step[-1] == history.steps and config.eval_images is None
    stage = "the final evaluation on the test set"
    try:
        if not already:  # a stop right after an evaluation needs no second one
            record_eval(final=True)
    except KeyboardInterrupt:  # a second press skips the final evaluation, the model is kept
        stopped = "interrupted"
    except Exception as e:
        raise failed(e) from e
    if stopped == "budget":
        history.progress = 1.0
    history.wall_time = time.perf_counter() - wall_start
    if callback is not None:
        stage = "the live_plot callback"
        try:
            callback(history, force=True) if isinstance(callback, LiveFigure) else callback(history)
        except KeyboardInterrupt:  # a press during the last redraw: the run is over anyway
            stopped = "interrupted"
        except Exception as e:
            raise failed(e) from e
    return TrainResult(model=model, optimizer=optimizer, history=history, config=config, stopped=stopped)


def __getattr__(name: str) -> Any:
    # The checkpoint functions live in resblock.checkpoints (issue 15); notebooks import them from here.
    # Resolved lazily (PEP 562) because resblock.checkpoints itself imports this module.
    if name in ("Checkpoint", "CheckpointError", "load_checkpoint", "save_checkpoint"):
        from resblock import checkpoints

        return getattr(checkpoints, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
