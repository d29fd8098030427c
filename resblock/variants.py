"""Residual variants side by side (notebook 07): the nets compared, gradient flow at init, short training runs.

Every variant is measured the same two ways: the gradient that reaches each block's *input* at
initialisation (how well the backward signal flows through the stack), and a short training run
with the course's one training loop, ``resblock.train.fit``, on the same data with the same seed.
Their pictures are in ``resblock.variants_plots``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import AddLayer, dense_block
from resblock.checks import check_bool, check_positive_int
from resblock.env import course_seed, seed_everything
from resblock.gradients import LossFn, checked_loss
from resblock.models import count_parameters
from resblock.train import History, TrainConfig, fit, on_model_device


def _head(channels: int, num_classes: int) -> list[nn.Module]:
    # BN-ReLU before pooling: both nets below end with a raw sum/concatenation, as a pre-activation net does.
    return [
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    ]


def _stem(channels: int, pool: bool) -> nn.Sequential:
    # A stride-2 conv (28x28 -> 14x14), then with ``pool`` a 3x3 max pool with stride 2 (-> 7x7): the
    # shape of DenseNet's ImageNet stem (arXiv:1608.06993, Table 1: a 7x7 stride-2 conv, then the pool),
    # with a 3x3 conv for 28x28 images. Notebook 04's tiny ResNet pools too, after a stride-1 conv.
    # Pooled, one pass over 4,000 images took a third of the time (about 15 s -> 5 s for both nets,
    # 2 cores) and reached higher test accuracy in those 62 steps (seeds 0-2: 0.58-0.63 -> 0.71-0.74).
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size=3, stride=2, padding=1, bias=False),
        nn.MaxPool2d(3, stride=2, padding=1) if pool else nn.Identity(),
    )


def concat_net(
    num_layers: int = 8, growth: int = 12, stem: int = 16, num_classes: int = 10, *, stem_pool: bool = True
) -> nn.Sequential:
    """A one-block DenseNet: conv stem (pooled to 7x7 by default), `num_layers` DenseLayers, BN-ReLU-pool-linear (notebook 07)."""
    out = stem + num_layers * growth
    return nn.Sequential(
        _stem(stem, check_bool("stem_pool", stem_pool)), dense_block(stem, growth, num_layers), *_head(out, num_classes)
    )


def add_net(
    num_layers: int = 8, width: int = 32, num_classes: int = 10, *, stem_pool: bool = True, shortcut: bool = True
) -> nn.Sequential:
    """concat_net's additive twin: the same stem and head, `num_layers` AddLayers x + H(x) at a fixed width.

    ``shortcut=False`` is the plain control: the same layers computing H(x) alone.
    """
    check_positive_int("num_layers", num_layers)  # AddLayer checks `shortcut`
    return nn.Sequential(
        _stem(width, check_bool("stem_pool", stem_pool)),
        *(AddLayer(width, shortcut) for _ in range(num_layers)),
        *_head(width, num_classes),
    )


def block_input_grad_norms(
    model: nn.Module, blocks: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy
) -> list[float]:
    """||dLoss/d(input of each block)|| for one batch in training mode, input to output (notebook 07).

    Measured on a deep copy, so the model's mode and BatchNorm statistics stay as they were.
    """
    if len(blocks) == 0:
        raise ValueError("blocks is empty: pass the model's blocks, e.g. list(model.blocks).")
    if x.shape[0] < 2 or y.shape[:1] != x.shape[:1]:
        raise ValueError(
            f"need a batch of at least 2 examples with one label each; got x {tuple(x.shape)}, y {tuple(y.shape)}."
        )
    index = {id(m): i for i, m in enumerate(model.modules())}
    if any(id(b) not in index for b in blocks):
        raise ValueError("every block must be a submodule of the model.")
    x, y = on_model_device(model, x, y)
    twin = copy.deepcopy(model).train()
    twin_modules = list(twin.modules())
    inputs: list[torch.Tensor | None] = [None] * len(blocks)

    def keep(i: int) -> Callable:
        def hook(_m: nn.Module, args: tuple) -> None:
            inputs[i] = args[0]

        return hook

    hooks = [twin_modules[index[id(b)]].register_forward_pre_hook(keep(i)) for i, b in enumerate(blocks)]
    try:
        loss = checked_loss(loss_fn, twin(x), y)
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, inputs)
    return [float(g.double().norm()) for g in grads]


def weight_grad_norms(
    model: nn.Module, names: Sequence[str], x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy
) -> list[float]:
    """||dLoss/dW|| for the named parameters of any model, one batch in training mode (notebook 07).

    Unlike ``resblock.gradients.grad_norms_per_layer``, which walks the blocks of a ResNet or DeepMLP,
    this takes parameter names, so it works for every variant here (ReZero nets, residual streams).
    Measured on a deep copy, so the model's mode and BatchNorm statistics stay as they were.
    """
    if isinstance(names, str):  # a string is a sequence too: of its characters
        raise ValueError(f"names must be a list of parameter names, e.g. [{names!r}]; got the string {names!r}.")
    params = dict(model.named_parameters())
    missing = [n for n in names if n not in params]
    if missing or not names:
        raise ValueError(f"no parameters named {missing or list(names)}; names look like {list(params)[:3]}.")
    twin = copy.deepcopy(model).train()
    twin_params = dict(twin.named_parameters())
    x, y = on_model_device(model, x, y)
    loss = checked_loss(loss_fn, twin(x), y)
    grads = torch.autograd.grad(loss, [twin_params[n] for n in names], allow_unused=True)
    return [float(g.double().norm()) if g is not None else 0.0 for g in grads]


@dataclass
class RunSummary:
    """One variant's short training run: what it is, how big, how it trained."""

    name: str
    parameters: int
    history: History
    test_acc: float
    seconds: float  # wall time of the run, evaluation included

    @property
    def final_train_loss(self) -> float:
        """Mean training loss over the last 10 steps."""
        tail = self.history.loss[-10:]
        return sum(tail) / len(tail) if tail else float("nan")


def train_each(
    builders: dict[str, Callable[[], nn.Module]],
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    seed: int | None = None,
) -> dict[str, RunSummary]:
    """Build each model with the same seed and train it with ``resblock.train.fit`` on the same data (notebook 07)."""
    if not isinstance(builders, dict) or not builders:
        raise ValueError("builders must be a non-empty dict {name: function that builds a fresh model}.")
    for name, build in builders.items():
        if isinstance(build, nn.Module):
            # A built model is callable too (on images): it would be "called" with nothing and fail deep inside.
            raise ValueError(
                f"builders[{name!r}] is a {type(build).__name__}, not a function that builds one: each variant "
                f"is built fresh with the same seed, so write {{{name!r}: lambda: {type(build).__name__}(...)}}."
            )
        if not callable(build):
            raise ValueError(
                f"builders[{name!r}] must be a function that returns a fresh model, e.g. "
                f"lambda: ResNet(ResNetConfig(depth=8)); got {type(build).__name__}."
            )
    runs = {}
    for name, build in builders.items():
        seed_everything(
            course_seed() if seed is None else seed
        )  # the same init randomness and batch order for every variant
        model = build()
        start = time.perf_counter()
        result = fit(model, images, labels, config, test=test, progress=False)
        runs[name] = RunSummary(
            name, count_parameters(model), result.history, result.test_acc, time.perf_counter() - start
        )
    return runs


def summary_rows(runs: dict[str, RunSummary]) -> str:
    """A fixed-width text table: parameters, final training loss, test accuracy (rounded, for stable output)."""
    width = max(22, *(len(name) + 2 for name in runs))  # the longest name still lines up with the header
    lines = [f"{'variant':<{width}}{'parameters':>11}{'train loss':>12}{'test acc':>10}"]
    for name, r in runs.items():
        lines.append(f"{name:<{width}}{r.parameters:>11,}{r.final_train_loss:>12.2f}{r.test_acc:>10.1%}")
    return "\n".join(lines)
