"""The numbers of notebook 02's gradient-flow explorer: its settings, and its networks built, re-seeded and measured."""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.checks import check_int, check_number
from resblock.env import course_seed, seeded
from resblock.gradients import FlowProfile, flow_profile, strip_batchnorm
from resblock.models import ACTIVATIONS, INITS, DeepMLP, MLPConfig, ResNet, ResNetConfig, init_linear_

NETWORKS = ("mlp", "conv")
EXPLORER_NORMS = ("none", "batch")
MAX_DEPTH = 500  # the depth slider's maximum (MLP blocks; conv depths above MAX_CONV_DEPTH are capped with a note)
MAX_SEED = 2**31 - 1  # the seed box's maximum
MAX_CONV_DEPTH = 110  # ResNet-110 redraws in about a second here; deeper conv nets are not interactive
MLP_BATCH, CONV_BATCH = 64, 16  # examples per measurement: enough for BatchNorm, small enough to be instant
# The conv nets see the images average-pooled 2x2 to 14x14, as notebook 03's degradation study trains
# them: a quarter of the convolutions' work (one ResNet-56 profile: 196-205 ms at 28x28, 75-78 ms at 14x14,
# one thread). The picture stays the one section 2 shows at 28x28 (seed 1: plain-56's first/last
# conv ratio 10^3.4 there, 10^3.6 here; residual 10^1.4 and 10^1.6).
CONV_POOL = 2
# CONV_BATCH stays 16: a smaller batch is not proportionally faster, and it changes the curves a learner
# sees. Measured (ResNet-56 with BN, 28x28 inputs, seeds 1-5, one thread on 2 shared cores): one profile took 220 ms
# at 16, 174 at 8, 122 at 4; the per-layer gradient norms moved by 0.13-0.23 decades on average at 8 and
# 0.26-0.32 at 4, against 0.05-0.06 between two different batches of 16 (the plain net's log10
# first/last ratio 3.0-3.2 at 16, 3.2-3.5 at 8).


@dataclass(frozen=True)
class ExplorerSettings:
    """What the explorer's controls say; the defaults draw the classic picture (notebook 02)."""

    network: str = "mlp"  # "mlp" (DeepMLP, depth = blocks) or "conv" (the 6n+2 ResNet, depth = layers)
    depth: int = 50
    shortcut_scale: float = 1.0  # scale on the shortcut: 0 plain, 1 residual
    activation: str = "relu"  # MLP only; the conv net uses ReLU as in the paper
    init: str = "default"  # "default" is PyTorch's for the MLP and He et al.'s for the conv net
    norm: str = "none"  # "none" or "batch"; the conv net's "batch" is the paper's BN after every conv
    seed: int = field(default_factory=course_seed)  # the course's seed, $RESBLOCK_SEED

    def __post_init__(self) -> None:
        for name, allowed in (
            ("network", NETWORKS),
            ("activation", tuple(ACTIVATIONS)),
            ("init", INITS),
            ("norm", EXPLORER_NORMS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        # The controls' own ranges: a value outside them would be clamped by the widget without a word.
        object.__setattr__(
            self, "depth", check_int("depth", self.depth, 1, MAX_DEPTH, what=" (the depth slider's range)")
        )
        object.__setattr__(
            self,
            "shortcut_scale",
            check_number("shortcut_scale", self.shortcut_scale, 0.0, 1.0, what=" (0 plain, 1 residual)"),
        )
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, MAX_SEED))


def conv_depth(depth: int) -> tuple[int, str | None]:
    """The nearest 6n+2 depth to ``depth`` within 8..MAX_CONV_DEPTH, and a note when it had to change."""
    n = min(max(round((depth - 2) / 6), 1), (MAX_CONV_DEPTH - 2) // 6)
    snapped = 6 * n + 2
    if snapped == depth:
        return snapped, None
    why = f" (capped at {MAX_CONV_DEPTH} to stay interactive)" if depth > MAX_CONV_DEPTH else ""
    return snapped, f"conv nets have 6n+2 layers: depth {depth} -> {snapped}{why}"


def build_model(s: ExplorerSettings, shortcut_scale: float) -> nn.Module:
    """The network the settings describe, with the shortcut scaled by ``shortcut_scale``, seeded by ``s.seed``."""
    with seeded(s.seed):  # the explorer's seed, not the learner's random stream
        return _build_model(s, shortcut_scale)


def _build_model(s: ExplorerSettings, shortcut_scale: float) -> nn.Module:
    if s.network == "mlp":
        return DeepMLP(
            MLPConfig(depth=s.depth, shortcut_scale=shortcut_scale, activation=s.activation, norm=s.norm, init=s.init)
        )
    depth, _ = conv_depth(s.depth)
    model = ResNet(ResNetConfig(depth=depth, shortcut=shortcut_scale > 0))
    for block in model.blocks:
        block.shortcut_scale = float(shortcut_scale)  # ResidualBlock computes relu(R(x) + shortcut_scale * shortcut(x))
    _other_conv_init_([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))], s.init)
    if s.norm == "none":
        strip_batchnorm(model)
    return model


def reseed_(model: nn.Module, s: ExplorerSettings) -> nn.Module:
    """Draw a network's weights again, in place, exactly as ``build_model(s, ...)`` would for its seed.

    Building a deep net's modules took about as long as measuring it; a new seed only needs new
    numbers. The draws follow the constructors: each layer's default init in module order, then the
    He init of ResNet's convs (conv nets only), then the chosen init. Norms hold no random numbers.
    A conv net draws from a generator of its own, seeded as build_model seeds PyTorch's global one
    (the same stream), so two conv nets can be re-seeded in two threads at once (GradFlowExplorer._measure_both).
    """
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if s.network == "mlp":
        with seeded(s.seed):  # the explorer's seed, not the learner's random stream
            for m in weighted:
                m.reset_parameters()
            if s.init != "default":
                for m in weighted:
                    init_linear_(m, s.init, s.activation)
        return model
    g = torch.Generator().manual_seed(s.seed)
    for m in weighted:  # each constructor's default draws, as in torch's reset_parameters
        if isinstance(m, nn.Conv2d):  # overwritten below: only the draws count, so a scratch tensor takes them
            nn.init.kaiming_uniform_(torch.empty(m.weight.shape), a=math.sqrt(5), generator=g)
        else:
            _draw_(m.weight, lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g))
        if m.bias is not None:
            bound = 1 / math.sqrt(m.weight[0].numel())  # 1 / sqrt(fan_in)
            with torch.no_grad():
                m.bias.uniform_(-bound, bound, generator=g)
    for m in weighted:
        if isinstance(m, nn.Conv2d):
            _draw_(m.weight, lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g))
    _other_conv_init_(weighted, s.init, g)
    return model


def _other_conv_init_(weighted: list[nn.Module], init: str, generator: torch.Generator | None = None) -> None:
    """The conv net's "xavier" or "small" init, drawn over ResNet's He init on every conv and linear weight."""
    if init in ("xavier", "small"):
        for m in weighted:
            _draw_(
                m.weight,
                (lambda w: nn.init.xavier_normal_(w, generator=generator))
                if init == "xavier"
                else (lambda w: nn.init.normal_(w, std=0.01, generator=generator)),
            )


def _draw_(weight: torch.Tensor, init: Callable[[torch.Tensor], object]) -> None:
    """Apply a random init to ``weight`` as if it were contiguous: a channels-last tensor fills in another order."""
    if weight.is_contiguous():
        with torch.no_grad():
            init(weight)
        return
    fresh = torch.empty(weight.shape, dtype=weight.dtype)
    init(fresh)
    with torch.no_grad():
        weight.copy_(fresh)


class LRUCache:
    """A small least-recently-used map: the explorer keeps networks, profiles and SVG frames in one each."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value for ``key`` (now the most recently used), or ``default``."""
        if key not in self._items:
            return default
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` for ``key``, forgetting the least recently used beyond ``maxsize``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run PyTorch on one thread, then restore the count.

    These tensors are tiny (64 x 64 matrices): a second thread saves little, and on a busy
    machine (a classroom server, 2 cores shared) threads that wait for each other made redraws
    5-10x slower in our measurements.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(
    s: ExplorerSettings,
    shortcut_scale: float,
    images: torch.Tensor,
    labels: torch.Tensor,
    model: nn.Module | None = None,
) -> FlowProfile:
    """Profile the network for ``s`` at ``shortcut_scale`` on the batch (what each redraw computes).

    ``model``: a network built by ``build_model(s, a)`` for any ``a`` of the same kind (0, or above 0),
    reused with its shortcut scale set to ``shortcut_scale``; without it a new one is built.
    """
    n = MLP_BATCH if s.network == "mlp" else CONV_BATCH
    if model is None:
        model = build_model(s, shortcut_scale)
    scale = float(shortcut_scale)
    for block in model.blocks:
        if block.shortcut_scale != scale:  # a Module's setattr is slow: set only what changes
            block.shortcut_scale = scale  # read in forward: a rebuilt net would hold the same weights
    x = images[:n]
    if s.network == "conv":
        x = F.avg_pool2d(x, CONV_POOL)
        # channels-last: oneDNN's faster layout for these convolutions (a quarter less time, measured).
        # Converted once: .to() copies every weight again even when they are channels-last already.
        if not all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4):
            model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with one_thread():
        return flow_profile(model, x, labels[:n])


def settings_notes(s: ExplorerSettings) -> list[str]:
    """Notes on settings that the figure cannot show as asked."""
    notes = []
    if s.network == "conv":
        notes.append(conv_depth(s.depth)[1])
        if s.activation != "relu":
            notes.append(f"the conv net always uses ReLU (activation {s.activation!r} applies to the MLP)")
    return [n for n in notes if n]
