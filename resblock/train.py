"""The one training loop of the course (notebooks 03-06): SGD on in-memory tensors, in a budget of epochs or seconds.

The recipe starts from the paper's (He et al., arXiv:1512.03385, sec. 3.4 and 4.2: SGD with momentum 0.9,
weight decay, batch 128, BN after every conv) and changes what a budget of seconds asks for: a one-cycle
learning rate (Smith & Topin, arXiv:1708.07120) with a higher peak (0.4, not 0.1), the Nesterov form of
momentum, weight decay 5e-4 (the paper's 1e-4 is for 64,000 steps) and label smoothing (Szegedy et al.,
arXiv:1512.00567); together they train a small net well in a short budget (notebook 04 measures it).
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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.checks import check_bool, check_int, check_number, check_positive_int
from resblock.env import course_seed, pick_device
from resblock.models import check_images_dtype, images_shape_fix

DEFAULT_SECONDS = 60.0  # the time budget when neither epochs nor seconds is given
# Images per forward pass when evaluating. Measured for ResNet-8 on 10,000 test images (2 cores):
# batches of 500 raised the peak memory by ~175 MB over training's and took 4.0 s; batches of 200
# added nothing over training's peak and took 2.8 s (smaller batches stay in cache).
EVAL_BATCH = 200


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a training run, with its unit; defaults are notebook 04's recipe."""

    batch_size: int = 128  # images per SGD step
    lr: float = 0.4  # peak learning rate of the one-cycle schedule (SGD step size, no unit)
    momentum: float = 0.9  # SGD momentum coefficient, as in He et al. sec. 3.4 (its Nesterov form is ours)
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
    eval_batch_size: int = (
        EVAL_BATCH  # images per forward pass when evaluating: changes peak memory and speed, not results
    )
    tta_flip: bool = False  # test-time augmentation: average the logits of each image and its mirror. Off: it
    # *lowered* test accuracy here (0.888 -> 0.841 after 60 s) for a net trained without flips, since all
    # of Fashion-MNIST's shoes face the same way
    channels_last: bool = True  # NHWC memory layout: faster convolutions on CPU (measured, see bench)

    def __post_init__(self) -> None:
        # Each field is checked, and numpy numbers become Python ones (a checkpoint stores them as plain data).
        # Frozen (it is fit's default argument, shared by every call): change a copy with dataclasses.replace.
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("batch_size", "eval_batch_size"):
            set_(name, check_positive_int(name, getattr(self, name)))
        for name in ("epochs", "seconds"):
            value = getattr(self, name)
            if value is not None:
                checked = check_number(name, value, low=0.0, low_open=True, what=" (a training budget; or None)")
                set_(name, value if type(value) in (int, float) else checked)
        set_("lr", check_number("lr", self.lr, low=0.0, low_open=True, what=" (try 0.1 to 0.4)"))
        for name in ("momentum", "label_smoothing", "warmup"):
            set_(name, check_number(name, getattr(self, name), 0.0, 1.0, high_open=True))
        set_("final_lr", check_number("final_lr", self.final_lr, 0.0, 1.0, what=" (a fraction of the peak lr)"))
        set_("weight_decay", check_number("weight_decay", self.weight_decay, low=0.0))
        set_("eval_every", check_number("eval_every", self.eval_every, low=0.0, low_open=True, what=" (in epochs)"))
        if self.eval_images is not None:
            set_("eval_images", check_positive_int("eval_images", self.eval_images, what=" (or None for all)"))
        set_("max_shift", check_int("max_shift", self.max_shift, low=0, what=" (in pixels)"))
        set_("seed", check_int("seed", self.seed, low=0))
        for name in ("augment", "tta_flip", "channels_last"):  # "no" would count as True
            set_(name, check_bool(name, getattr(self, name)))

    @property
    def time_budget(self) -> float | None:
        """Seconds of training allowed, or None when only an epoch budget applies."""
        if self.seconds is None and self.epochs is None:
            return DEFAULT_SECONDS
        return self.seconds


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
    # On the first eval_images test images during training, on all of them at the final evaluation:
    test_loss: list[float] = field(default_factory=list)  # cross-entropy (no smoothing); nan without a test set
    test_acc: list[float] = field(default_factory=list)  # accuracy; nan without a test set
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
    def from_dict(cls, d: dict[str, Any]) -> History:
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


def _non_finite_weights(model: nn.Module) -> int:
    """How many of the model's weights are NaN or infinite (what a diverged update leaves)."""
    return sum(int((~torch.isfinite(p)).sum()) for p in model.parameters() if p.is_floating_point())


def check_model(model: Any, what: str = "model", finite: bool = True) -> nn.Module:
    """``model`` if it is a module whose weights are all finite; else a ValueError saying what to pass instead."""
    if isinstance(model, TrainResult):
        raise ValueError(
            f"{what} got the result of a training run (a TrainResult); pass its model, `result.model` "
            "(and `result.history` to plot it)."
        )
    if isinstance(model, type):
        raise ValueError(
            f"{what} must be a model instance, got the class {model.__name__}; build one first, e.g. "
            f"{model.__name__}({_config_class_name(model)})."
        )
    if not isinstance(model, nn.Module):
        raise ValueError(f"{what} must be a torch.nn.Module instance, got {type(model).__name__}.")
    if finite:
        bad = _non_finite_weights(model)
        if bad:
            raise ValueError(
                f"the {what}'s weights hold {bad:,} non-finite values (NaN or infinity): a training run that "
                "diverged leaves them so. Build a fresh model (e.g. ResNet(config)) and train that."
            )
    return model


class TrainingError(RuntimeError):
    """A run that ended with an error after training began; ``.history`` and ``.model`` hold the run up to that point."""

    def __init__(self, message: str, history: History, model: nn.Module) -> None:
        super().__init__(message)
        self.history = history
        self.model = model


# Layers that keep activations at a set scale: a net with none of them can blow up at any learning rate.
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


class TrainingDiverged(TrainingError):
    """The loss became NaN or exploded; ``.history`` and ``.model`` hold the run up to that point."""


StopSignal = Callable[[], bool] | Any  # a callable returning True to stop, or a threading.Event


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
    return all(
        min(c.in_channels, c.out_channels) >= MIN_CHANNELS_LAST
        or (c.in_channels == 1 and c.out_channels >= MIN_CHANNELS_LAST)
        for c in convs
    )


LABEL_DTYPES = (torch.int64, torch.int32, torch.uint8)  # class indices as the course's tools accept them


def check_data(images: torch.Tensor, labels: torch.Tensor, what: str = "training") -> None:
    """Raise a ValueError saying what to fix unless images are (N, C, H, W) floats and labels (N,) class indices."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ValueError(f"{what} images and labels must be torch tensors, got {type(images)} and {type(labels)}.")
    if images.dim() != 4:
        raise ValueError(
            f"{what} images must have shape (N, channels, height, width), got {tuple(images.shape)}; "
            f"{images_shape_fix(tuple(images.shape), name='images')}."
        )
    if not images.is_floating_point():
        raise ValueError(
            f"{what} images must be floating point, got {images.dtype}; use resblock.data.normalize() on raw bytes."
        )
    if labels.dim() != 1 or labels.dtype not in LABEL_DTYPES:
        raise ValueError(
            f"{what} labels must be a 1-D tensor of class indices, got {labels.dtype} {tuple(labels.shape)}."
        )
    if len(images) != len(labels):
        raise ValueError(f"{what} images and labels differ in length: {len(images)} images, {len(labels)} labels.")
    if len(labels) == 0:
        raise ValueError(f"{what} set is empty.")
    # In chunks: on the whole training set, isfinite's temporaries (|x| and two masks) took ~350 MB,
    # a third of notebook 04's peak memory (measured with getrusage).
    bad = sum(int((~torch.isfinite(chunk)).sum()) for chunk in images.split(4096))
    if bad:  # would train to a nan loss, then be blamed on the learning rate
        raise ValueError(
            f"{what} images hold {bad} NaN or infinite values; check how they were made "
            "(resblock.data.load_fashion_mnist() gives finite, normalised images)."
        )


def check_class_labels(labels: Any, logits: torch.Tensor, what: str = "the batch's") -> torch.Tensor:
    """``labels`` if they are one class index per row of ``logits``, each in 0..classes-1; else a ValueError.

    Checked where a loss or an accuracy is taken, so that labels of 10, float labels or a batch of the
    wrong length are named instead of failing inside cross_entropy (or, for an accuracy, giving 0 silently).
    """
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"{what} labels must be a torch tensor of class indices, got {type(labels).__name__}.")
    if labels.dim() == 2 and not labels.is_floating_point():
        raise ValueError(
            f"{what} labels must be one class index per image, got shape {tuple(labels.shape)} (one-hot rows?); "
            "pass labels.argmax(1)."
        )
    if labels.dim() != 1 or labels.dtype not in LABEL_DTYPES:
        raise ValueError(
            f"{what} labels must be a 1-D tensor of class indices (int64, int32 or uint8), got {labels.dtype} "
            f"{tuple(labels.shape)}" + ("; convert with labels.long()." if labels.dim() == 1 else ".")
        )
    if len(labels) != len(logits):
        raise ValueError(f"{what} images and labels differ in length: {len(logits)} images, {len(labels)} labels.")
    if len(labels):
        _check_labels_fit(labels, logits.shape[1], what)
    return labels.long()  # cross_entropy takes int64 targets only


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


def on_model_device(model: nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors on the device of the model's weights (fit moves a model to a GPU where there is one)."""
    device = _model_device(model)
    return tuple(t.to(device) for t in tensors)


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
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = EVAL_BATCH,
    tta_flip: bool = False,
    channels_last: bool = True,
) -> torch.Tensor:
    """The model's logits for every image, in eval mode and in batches (notebooks 04-05)."""
    check_model(model)
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"images must be a torch tensor of shape (N, channels, height, width), got {type(images).__name__}."
        )
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, channels, height, width), got {tuple(images.shape)}.")
    if len(images) == 0:  # an empty selection, e.g. a mask that matched nothing
        raise ValueError("images is empty (0 images): there is nothing to predict; check how they were selected.")
    check_images_dtype(images, model)
    check_positive_int("batch_size", batch_size)
    check_bool("tta_flip", tta_flip)
    device = _model_device(model)
    fmt = torch.channels_last if channels_last and _channels_last_safe(model) else torch.contiguous_format
    with eval_mode(model):
        outs = [
            _logits(model, images[i : i + batch_size].to(device).contiguous(memory_format=fmt), tta_flip).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    return torch.cat(outs)


def predict(
    model: nn.Module, images: torch.Tensor, batch_size: int = EVAL_BATCH, tta_flip: bool = False
) -> torch.Tensor:
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


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    label_smoothing: float = 0.0,
) -> tuple[float, torch.Tensor]:
    """One SGD step on one batch (notebook 04): set the lr, forward, loss, backward, update; returns (loss, logits)."""
    check_optimizer_for(model, optimizer)  # one made for an earlier model would update nothing this one uses
    for group in optimizer.param_groups:  # the schedule: one-cycle lr (arXiv:1708.07120), set before each step
        group["lr"] = lr
    logits = model(x)  # forward
    # Label smoothing (arXiv:1512.00567) keeps the logits from growing without bound on a small training set.
    loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)  # gradients accumulate in .grad: clear the previous step's
    loss.backward()  # backward: autograd fills every parameter's .grad
    optimizer.step()  # SGD with momentum and weight decay (He et al. sec. 3.4)
    return loss.item(), logits.detach()


def check_optimizer_for(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Raise a clear error unless ``optimizer`` updates at least one of ``model``'s trainable parameters."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, such as make_optimizer(model, config) returns; "
            f"got {type(optimizer).__name__}."
        )
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if not any(id(p) in trainable for group in optimizer.param_groups for p in group["params"]):
        # The notebook pitfall: the model's cell was run again (a new model, new parameters) but not the
        # optimizer's, which still holds the old model's parameters; the loss would then never move.
        raise ValueError(
            "the optimizer holds none of this model's trainable parameters: it was made for another model "
            "(was the model's cell run again?). Make it again for this model: make_optimizer(model, config)."
        )


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """SGD with the config's (Nesterov) momentum and weight decay, its lr at the schedule's start."""
    return torch.optim.SGD(
        model.parameters(),
        lr=lr_at(0.0, config),
        momentum=config.momentum,
        nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )


TestSet = tuple[torch.Tensor, torch.Tensor]


def _check_fit_inputs(
    model: Any,
    train_images: Any,
    train_labels: Any,
    config: Any,
    test: Any,
    progress: Any,
    live_plot: Any,
    should_stop: Any,
) -> TestSet | None:
    """Check every input of ``fit`` before the first step: a mistake found after an epoch costs the epoch."""
    check_model(model)
    if next(model.parameters(), None) is None:
        raise ValueError(f"the model ({type(model).__name__}) has no parameters to train.")
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}.")
    check_bool("progress", progress)
    if not (isinstance(live_plot, bool) or callable(live_plot)):
        raise ValueError(f"live_plot must be True, False or a function of the History, got {live_plot!r}.")
    if not (should_stop is None or callable(should_stop) or hasattr(should_stop, "is_set")):
        raise ValueError(
            f"should_stop must be None, a function returning True to stop, or a threading.Event; got {should_stop!r}."
        )
    check_data(train_images, train_labels, "training")
    if test is not None:
        if not (isinstance(test, (tuple, list)) and len(test) == 2):
            raise ValueError("test must be a tuple (test_images, test_labels) or None.")
        check_data(*test, "test")
        test = tuple(test)
    weight_dtype = next(model.parameters()).dtype
    for what, images in (("training", train_images), ("test", test[0] if test is not None else None)):
        if images is not None and images.dtype != weight_dtype:
            raise ValueError(
                f"the {what} images are {images.dtype} but the model's weights are {weight_dtype}; "
                f"convert the images with images.to({weight_dtype}) (a dtype mismatch, not a shape one)."
            )
    n = len(train_images)
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n} training images; lower batch_size.")
    if config.batch_size < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError(
            "batch_size must be at least 2 for a model with BatchNorm, which normalises over the "
            "batch (one image has no batch statistics); use batch_size >= 2, e.g. 32."
        )
    if config.augment and config.max_shift >= min(train_images.shape[2:]):
        raise ValueError(
            f"max_shift ({config.max_shift} pixels) must be smaller than the images "
            f"({tuple(train_images.shape[2:])}); a shift that large leaves nothing of the image. Try 2."
        )
    return test


def _config_class_name(cls: type) -> str:
    """``"ResNetConfig()"`` for a class built from a config (its first argument's type), else ``"..."``."""
    import inspect
    import typing

    try:
        first = next(iter(inspect.signature(cls).parameters.values()))
        hint = typing.get_type_hints(cls.__init__).get(first.name)
    except (StopIteration, TypeError, ValueError, NameError):
        return "..."
    # Only a config dataclass (ResNetConfig, MLPConfig) makes a useful hint: nn.Linear's `int()` would not.
    return f"{hint.__name__}()" if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__") else "..."


def _probe_num_classes(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test: TestSet | None,
    fmt: torch.memory_format,
) -> int:
    """One probe forward pass per set: learn the number of classes and explain a shape mismatch before training."""
    device = train_images.device
    model.eval()
    with torch.no_grad():
        try:
            num_classes = model(train_images[:2].contiguous(memory_format=fmt)).shape[1]
        except (RuntimeError, ValueError) as e:  # the model's own check (a ValueError) names the fix
            raise ValueError(
                f"the model cannot take training images of shape {tuple(train_images.shape[1:])} each: {e}"
            ) from e
        if test is not None:
            try:
                test_classes = model(test[0][:2].to(device).contiguous(memory_format=fmt)).shape[1]
            except (RuntimeError, ValueError) as e:
                raise ValueError(
                    f"the test images (shape {tuple(test[0].shape[1:])}) do not fit the model, "
                    f"which trains on {tuple(train_images.shape[1:])}: {e}"
                ) from e
            if test_classes != num_classes:  # a model whose output size depends on the input
                raise ValueError(
                    f"the model gives {test_classes} outputs on the test images, {num_classes} on the training ones."
                )
    _check_labels_fit(train_labels, num_classes, "training")
    if test is not None:
        _check_labels_fit(test[1], num_classes, "test")
    return num_classes


@dataclass(frozen=True)
class _Budget:
    """How long a run lasts, in steps and/or seconds of the training clock, and how often it evaluates."""

    steps_per_epoch: int
    total_steps: int | None  # None: no epoch budget
    seconds: float | None  # None: no time budget
    eval_interval: int  # steps between evaluations

    @classmethod
    def of(cls, config: TrainConfig, n: int) -> _Budget:
        steps_per_epoch = n // config.batch_size  # drop the last partial batch: equal batches for BN and timing
        return cls(
            steps_per_epoch=steps_per_epoch,
            total_steps=math.ceil(config.epochs * steps_per_epoch) if config.epochs is not None else None,
            seconds=config.time_budget,
            eval_interval=max(1, round(config.eval_every * steps_per_epoch)),
        )

    def used(self, steps: int, clock: float) -> float:
        """Fraction of the budget used after ``steps`` steps and ``clock`` seconds: whichever budget ends first."""
        return max(steps / self.total_steps if self.total_steps else 0.0, clock / self.seconds if self.seconds else 0.0)


class _Batches:
    """The training batches: a fresh shuffle each epoch (seeded), augmented if asked, in the run's memory format."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, fmt: torch.memory_format
    ) -> None:
        self.images, self.labels, self.config, self.fmt = images, labels, config, fmt
        self.generator = torch.Generator().manual_seed(config.seed)  # batch order and augmentation, not the init
        self.order = torch.empty(0, dtype=torch.long)

    def batch(self, step: int, steps_per_epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``step``-th batch (x, y) of the run."""
        pos = step % steps_per_epoch
        if pos == 0:
            self.order = torch.randperm(len(self.images), generator=self.generator)
        size = self.config.batch_size
        idx = self.order[pos * size : (pos + 1) * size].to(self.images.device)
        x, y = self.images[idx], self.labels[idx]
        if self.config.augment:
            x = augment_batch(x, self.generator, self.config.max_shift)
        return x.contiguous(memory_format=self.fmt), y


def _progress_bar(enabled: bool, config: TrainConfig, total_steps: int | None):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    if total_steps is not None and config.time_budget is None:
        return tqdm(total=total_steps, unit="step", leave=True)
    return tqdm(
        total=round(config.time_budget, 1),
        unit="s",
        leave=True,
        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}",
    )


class _Run:
    """The bookkeeping of one run: its history, training clock, totals since the last evaluation, and reporting."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        budget: _Budget,
        test: TestSet | None,
        num_classes: int,
        progress: bool,
        live_plot: bool | Callable[[History], None],
    ) -> None:
        self.model, self.config, self.budget, self.test = model, config, budget, test
        self.eval_set = test
        if test is not None and config.eval_images is not None:  # a subset during training, all at the end
            self.eval_set = (test[0][: config.eval_images], test[1][: config.eval_images])
        self.history = History()
        if live_plot is True:
            from resblock.train_plots import LiveFigure  # matplotlib only when a figure is asked for

            self.callback: Callable[[History], None] | None = LiveFigure()
        else:
            self.callback = live_plot or None
        self.bar = _progress_bar(progress, config, budget.total_steps)
        self.log_c = math.log(num_classes)  # the loss of a uniform guess
        self.clock = 0.0  # training clock: seconds spent in SGD steps only
        self.wall_start = time.perf_counter()
        self.stage = "a training step"  # what was running, for the message if something raises
        self.stopped = "budget"
        self._reset_totals()

    def _reset_totals(self) -> None:
        self.total_loss, self.correct, self.seen, self.steps = 0.0, 0, 0, 0  # since the last evaluation

    def record_step(self, loss: float, lr: float, logits: torch.Tensor, y: torch.Tensor, seconds: float) -> None:
        """Add one step's loss, lr and accuracy to the history and the running totals."""
        self.correct += int((logits.argmax(1) == y).sum())
        self.clock += seconds
        self.history.loss.append(loss)
        self.history.lr.append(lr)
        self.history.time.append(self.clock)
        self.total_loss += loss
        self.seen += len(y)
        self.steps += 1

    def check_divergence(self, loss: float) -> None:
        """Raise TrainingDiverged if the loss is not finite or its mean over 20 steps is 4x a uniform guess's."""
        recent = self.history.loss[-20:]
        mean = sum(recent) / 20 if len(recent) == 20 else math.nan
        if not math.isfinite(loss) or mean > 4 * self.log_c:
            what = (
                f"the loss is {loss:.3g}" if not math.isfinite(loss) else f"the last 20 steps' mean loss is {mean:.3g}"
            )
            self.diverged(what)

    def diverged(self, what: str) -> None:
        """Raise TrainingDiverged, saying ``what`` showed it; the model and the history so far go with it."""
        self.history.wall_time = time.perf_counter() - self.wall_start
        self.model.eval()
        normalised = any(isinstance(m, _NORMS) for m in self.model.modules())
        raise TrainingDiverged(
            f"Training diverged at step {self.history.steps}: {what} (guessing uniformly gives "
            f"{self.log_c:.2f}). The likely cause is a learning rate too high for this network "
            f"(lr={self.config.lr:g}: try {self.config.lr / 4:g} or lower, or a longer warmup)"
            + ("." if normalised else ", or its missing normalisation: without it activations can blow up."),
            self.history,
            self.model,
        )

    def report_progress(self, loss: float) -> None:
        """Update the history's progress fraction and the progress bar."""
        self.history.progress = min(1.0, self.budget.used(self.history.steps, self.clock))
        if self.bar is not None:
            seconds = self.budget.seconds
            done = self.history.steps if seconds is None else min(self.clock, seconds)
            if self.history.steps % 10 == 0:
                self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self.bar.update(done - self.bar.n)  # redraws at most every tqdm's mininterval

    def evaluation_due(self) -> bool:
        """True every eval_interval steps, except at the end (the final evaluation follows)."""
        return self.history.steps % self.budget.eval_interval == 0 and self.history.progress < 1.0

    def evaluate(self, final: bool) -> None:
        """Record the totals since the last evaluation and the test loss/accuracy (all test images if final)."""
        # The last update can leave non-finite weights before any loss shows it: that is divergence too
        # (evaluate would refuse them as a model to rebuild). Checked before the history grows.
        bad = _non_finite_weights(self.model)
        if bad:
            self.diverged(f"{bad:,} weights became NaN or infinite")
        self.stage = "the final evaluation on the test set" if final else "the evaluation on the test set"
        h = self.history
        h.eval_step.append(h.steps)
        h.eval_epoch.append(h.steps / self.budget.steps_per_epoch)
        h.eval_time.append(self.clock)
        h.train_loss.append(self.total_loss / max(self.steps, 1) if self.steps else math.nan)
        h.train_acc.append(self.correct / self.seen if self.seen else math.nan)
        if self.test is not None:
            images, labels = self.test if final else self.eval_set
            loss, acc = evaluate(self.model, images, labels, self.config.eval_batch_size, self.config.tta_flip)
        else:
            loss, acc = math.nan, math.nan
        h.test_loss.append(loss)
        h.test_acc.append(acc)
        self._reset_totals()

    def notify(self) -> None:
        """Hand the history to the live plot or the learner's callback, if any."""
        if self.callback is not None:
            self.stage = "the live_plot callback"
            self.callback(self.history)

    def failed(self, e: Exception) -> TrainingError:
        """The error to raise when ``e`` ended the run: it keeps the model and the history so far."""
        self.history.wall_time = time.perf_counter() - self.wall_start
        self.model.eval()
        return TrainingError(
            f"training stopped after {self.history.steps} steps because {self.stage} raised {type(e).__name__}: {e}\n"
            "Nothing is lost: this error's .model holds the model as trained so far and its .history the "
            "run's history (catch it with `except resblock.train.TrainingError as err:`).",
            self.history,
            self.model,
        )

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def finish(self) -> None:
        """The final evaluation on the whole test set, the wall time, and the last redraw."""
        self.model.eval()
        h = self.history
        already = h.eval_step and h.eval_step[-1] == h.steps and self.config.eval_images is None
        self.stage = "the final evaluation on the test set"
        try:
            if not already:  # a stop right after an evaluation needs no second one
                self.evaluate(final=True)
        except KeyboardInterrupt:  # a second press skips the final evaluation, the model is kept
            self.stopped = "interrupted"
        except TrainingError:  # diverged: it says so itself
            raise
        except Exception as e:
            raise self.failed(e) from e
        if self.stopped == "budget":
            h.progress = 1.0
        h.wall_time = time.perf_counter() - self.wall_start  # also tells a LiveFigure the run is over
        try:
            self.notify()
        except KeyboardInterrupt:  # a press during the last redraw: the run is over anyway
            self.stopped = "interrupted"
        except Exception as e:
            raise self.failed(e) from e


def fit(
    model: nn.Module,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    config: TrainConfig | None = None,
    *,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = True,
    live_plot: bool | Callable[[History], None] = False,
    should_stop: StopSignal | None = None,
    device: torch.device | str | None = None,
) -> TrainResult:
    """Train ``model`` with SGD + one-cycle lr on in-memory tensors within the config's budget (notebooks 03-06).

    ``config=None`` is notebook 04's recipe, ``TrainConfig()``, seeded by $RESBLOCK_SEED as it is then.
    ``live_plot=True`` draws loss/accuracy curves in the notebook; a callable gets the History after
    every step and evaluation instead. ``should_stop`` (a callable or threading.Event) is checked
    every step. Ctrl-C / the kernel's stop button ends the run cleanly: the result keeps the model.
    Deterministic for a given seed and model init with an epoch budget; with a budget in seconds the
    number of steps depends on the clock.
    """
    # 1. Validate every input, then set up: device and memory layout, number of classes, budget, optimiser.
    # The default is built here, not in the signature: its seed is $RESBLOCK_SEED now, not at import.
    config = TrainConfig() if config is None else config
    test = _check_fit_inputs(model, train_images, train_labels, config, test, progress, live_plot, should_stop)
    device = pick_device(str(device)) if device is not None else pick_device()
    fmt = torch.channels_last if config.channels_last and _channels_last_safe(model) else torch.contiguous_format
    model.to(device=device, memory_format=fmt)
    train_images, train_labels = train_images.to(device), train_labels.to(device).long()
    num_classes = _probe_num_classes(model, train_images, train_labels, test, fmt)
    budget = _Budget.of(config, len(train_images))
    optimizer = make_optimizer(model, config)
    batches = _Batches(train_images, train_labels, config, fmt)
    run = _Run(model, config, budget, test, num_classes, progress, live_plot)

    # 2. The loop: batch, step, check divergence, report, evaluate when due; until the budget ends or a stop.
    try:
        model.train()
        while (used := budget.used(run.history.steps, run.clock)) < 1.0:
            run.stage = "should_stop"
            if _wants_stop(should_stop):
                run.stopped = "stopped"
                break
            run.stage = "a training step"
            t0 = time.perf_counter()
            x, y = batches.batch(run.history.steps, budget.steps_per_epoch)
            lr = lr_at(used, config)
            loss, logits = train_step(model, optimizer, x, y, lr, config.label_smoothing)
            run.record_step(loss, lr, logits, y, seconds=time.perf_counter() - t0)
            run.check_divergence(loss)
            run.report_progress(loss)
            if run.evaluation_due():
                run.evaluate(final=False)
                model.train()
            run.notify()
    except KeyboardInterrupt:  # the kernel's stop button: keep what was trained
        run.stopped = "interrupted"
    except TrainingError:
        raise
    except Exception as e:  # a callback's or a step's error: keep the work done so far on the exception
        raise run.failed(e) from e
    finally:
        run.close_bar()

    # 3. The result: a final evaluation on the whole test set, then the model in eval mode with its history.
    run.finish()
    return TrainResult(model=model, optimizer=optimizer, history=run.history, config=config, stopped=run.stopped)
