"""Gradient flow, measured (notebook 02): functions that return numbers, never figures.

A residual block computes H(x) = x + R(x), so its Jacobian is dH/dx = I + dR/dx. Through L blocks
the input-output Jacobian is the product of (I + J_l), which expands into a sum over 2^L paths;
a plain stack keeps only one of them, the product of the J_l (He et al., arXiv:1603.05027, eq. 5;
Veit et al., NeurIPS 2016). The functions below measure what that does to real networks at
initialisation: per-layer gradient norms, activation statistics, the split of each block's input
gradient into its shortcut and branch parts, and end-to-end Jacobian spectra.

They work on ``resblock.models.DeepMLP`` and ``resblock.models.ResNet`` (any model whose blocks are
``MLPBlock`` or ``ResidualBlock``/``PlainBlock``). Measurements run in training mode, as at the
first step of training, and leave the model as they found it (mode and BatchNorm running stats).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import BasicBlock
from resblock.models import DeepMLP, MLPBlock
from resblock.train import check_class_labels, on_model_device

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

__all__ = [
    "BlockSplit",
    "FlowProfile",
    "flow_profile",
    "activation_stats",
    "binomial_path_counts",
    "blocks_of",
    "grad_norms_per_layer",
    "gradients_along_line",
    "identity_branch_split",
    "jacobian_singular_values",
    "lag1_autocorrelation",
    "scalar_chain_gradient",
    "split_block_gradient",
    "strip_batchnorm",
    "weighted_layers",
]


# --- the scalar toy --------------------------------------------------------------------------


def scalar_chain_gradient(w: float, depth: int, shortcut: bool = True) -> float:
    """d out / d x for a chain of ``depth`` scalar layers x -> x + w x (shortcut) or x -> w x (plain), by autograd."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"depth must be a whole number of layers >= 0, got {depth!r}.")
    # float64: the point is to watch w**L shrink, not to watch float32 run out of digits first.
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    w_t = torch.tensor(float(w), dtype=torch.float64)
    h = x
    for _ in range(depth):
        h = h + w_t * h if shortcut else w_t * h
    if depth == 0:
        return 1.0
    (g,) = torch.autograd.grad(h, x)
    return float(g)


def binomial_path_counts(depth: int) -> list[int]:
    """How many of the 2^L paths through L residual blocks pass through exactly k branches, k = 0..L."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f"depth must be a whole number of blocks >= 0, got {depth!r}.")
    # (1 + w)^L = sum_k C(L, k) w^k: each term is a path that takes the branch in k blocks
    # and the shortcut in the other L - k (Veit et al. 2016's unraveled view: path lengths are binomial).
    return [math.comb(depth, k) for k in range(depth + 1)]


# --- finding the parts of a network ----------------------------------------------------------


def blocks_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (name, block) pairs of a DeepMLP or ResNet, in forward order."""
    return _blocks_of(model, model.named_modules())


def _blocks_of(model: nn.Module, named_modules: Iterable[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    blocks = getattr(model, "blocks", None)  # DeepMLP's ModuleList, ResNet's list of its stages' blocks
    if blocks is None or not all(isinstance(b, (MLPBlock, BasicBlock)) for b in blocks):
        kinds = sorted({type(b).__name__ for b in blocks}) if blocks is not None else None
        raise ValueError(
            f"{type(model).__name__} has no `.blocks` of MLPBlock/ResidualBlock/PlainBlock"
            + (f" (its blocks are {', '.join(kinds)})" if kinds else "")
            + "; pass a resblock.models.DeepMLP, or a resblock.models.ResNet with block='basic' (the default)."
        )
    names = {m: n for n, m in named_modules}
    return [(names[b], b) for b in blocks]


def weighted_layers(model: nn.Module, projections: bool = False) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv2d layers of a model, by name; the 1x1 shortcut projections only if asked."""
    return _weighted_layers(model.named_modules(), projections)


def _weighted_layers(
    named_modules: Iterable[tuple[str, nn.Module]], projections: bool = False
) -> list[tuple[str, nn.Module]]:
    # The 6n+2 count of He et al. (sec. 4.2) leaves out the projection shortcuts, and so do our
    # per-layer plots, so that a plain and a residual net of the same depth line up layer by layer.
    return [
        (name, m)
        for name, m in named_modules
        if isinstance(m, (nn.Linear, nn.Conv2d)) and (projections or "shortcut" not in name.split("."))
    ]


@contextlib.contextmanager
def _state_restored(model: nn.Module, modules: list[nn.Module] | None = None) -> Iterator[None]:
    """Restore the model's mode and every buffer (BN running statistics) after the block: measuring leaves no trace.

    ``modules``: ``list(model.modules())`` when the caller has it already (walking a deep net is not free).
    """
    modes = [(m, m.training) for m in (model.modules() if modules is None else modules)]
    saved = [(b, b.detach().clone()) for b in model.buffers()]  # BatchNorm updates its buffers in place
    try:
        yield
    finally:
        with torch.no_grad():
            for b, value in saved:
                b.copy_(value)
        for m, training in modes:  # each module's own mode; setting only what changed is cheap on a deep net
            if m.training != training:
                m.train(training)


@contextlib.contextmanager
def _measuring(model: nn.Module, modules: list[nn.Module] | None = None) -> Iterator[None]:
    """Run in training mode (as at step one of training), then restore the mode and every buffer."""
    modules = list(model.modules()) if modules is None else modules
    with _state_restored(model, modules):
        # model.train() sets an attribute on every module (slow on a deep net): only when needed.
        if not all(m.training for m in modules):
            model.train()
        yield


def checked_loss(loss_fn: LossFn, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn(logits, y)``, the labels checked first where the loss is the classification one."""
    if loss_fn is F.cross_entropy:
        y = check_class_labels(y, logits)  # as int64, which cross_entropy requires
    return loss_fn(logits, y)


def _check_batch(x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(
            "x must be a batch of at least 2 examples, shape (batch, ...); got "
            f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}. "
            "BatchNorm needs more than one example per batch."
        )
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape[:1] != x.shape[:1]):
        raise ValueError(
            f"y must hold one label per example in x: x has {x.shape[0]} examples, "
            f"y has shape {tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}."
        )


# --- per-layer gradient norms and activation statistics --------------------------------------


def grad_norms_per_layer(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy
) -> dict[str, float]:
    """{layer name: ||dLoss/dW||} for each weighted layer, input to output, for one batch (notebooks 00, 02)."""
    return flow_profile(model, x, y, loss_fn).grad_norms


def activation_stats(model: nn.Module, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """{block name: mean, std, rms and fraction of zeros of the block's output} for one batch (notebook 02)."""
    _check_batch(x)
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        block.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach()))
        for name, block in blocks_of(model)
    ]
    try:
        with _measuring(model), torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    stats = {}
    for name, out in outputs.items():
        out = out.double()  # a float32 sum of squares overflows long before the values do
        stats[name] = {
            "mean": float(out.mean()),
            "std": float(out.std()),
            "rms": float(out.pow(2).mean().sqrt()),
            "zero_fraction": float((out == 0).double().mean()),
        }
    return stats


@dataclass(frozen=True)
class FlowProfile:
    """Per-layer weight-gradient norms and per-block activation RMS from one forward/backward pass."""

    grad_norms: dict[str, float]  # weighted layer name -> ||dLoss/dW||, input to output
    activation_rms: dict[str, float]  # block name -> RMS of the block's output
    loss: float


def flow_profile(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy) -> FlowProfile:
    """Gradient norms per layer and activation RMS per block in one pass (the explorer of notebook 02)."""
    _check_batch(x, y)
    x, y = on_model_device(model, x, y)
    named_modules = list(model.named_modules())  # walked once, not once per question
    layers = _weighted_layers(named_modules)
    named = _blocks_of(model, named_modules)
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        def hook(_m: nn.Module, _args: tuple, out: torch.Tensor) -> None:
            # Kept and reduced after the pass (one reduction per shape). Safe because no layer after a
            # block changes its output in place (resblock's models use no in-place ops).
            outputs[name] = out.detach()

        return hook

    hooks = [block.register_forward_hook(keep(name)) for name, block in named]
    try:
        with _measuring(model, [m for _, m in named_modules]):
            loss = checked_loss(loss_fn, model(x), y)
            grads = torch.autograd.grad(loss, [m.weight for _, m in layers], allow_unused=True)
    finally:
        for h in hooks:
            h.remove()
    # The explorer redraws on every control change: one conversion to Python floats per profile, not
    # one per layer.
    norms = torch.stack([g.norm() if g is not None else torch.zeros(()) for g in grads]).tolist()
    rms = _rms_each([outputs[name] for name, _ in named])
    return FlowProfile(
        {name: v for (name, _), v in zip(layers, norms)},
        {name: v for (name, _), v in zip(named, rms)},
        float(loss.detach()),
    )


def _rms_each(tensors: list[torch.Tensor]) -> list[float]:
    """The RMS of each tensor, computed in float64, with one conversion to Python floats for all."""
    # float64: a float32 sum of squares overflows long before the values do. One norm per tensor, not
    # one stack per shape: stacking ResNet-56's channels-last block outputs copied them into another
    # layout (12 ms of a 100 ms profile; 1.4 ms this way).
    if not tensors:
        return []
    norms = torch.stack([torch.linalg.vector_norm(t, dtype=torch.float64) for t in tensors])
    sizes = torch.tensor([t.numel() for t in tensors], dtype=torch.float64)
    return (norms / sizes.sqrt()).tolist()


# --- the identity-vs-branch split ------------------------------------------------------------


def split_block_gradient(
    block: nn.Module, x: torch.Tensor, grad_output: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(shortcut part, branch part) of dLoss/dx for one block, given dLoss/dH at its output (notebook 02).

    For H(x) = s x + R(x), s the block's shortcut_scale, the chain rule gives dL/dx = s g + J_R^T g with g = dL/dH: the
    first term arrives through the shortcut, the second through the residual branch. The conv block
    applies a ReLU after the sum (He et al. 2015, Fig. 2), so g is first masked by where that sum was > 0.
    """
    x = x.detach().requires_grad_(True)
    if isinstance(block, MLPBlock):
        shortcut_out = block.shortcut_scale * x
        branch_out = block.residual(x)
        g = grad_output
    elif isinstance(block, BasicBlock):
        branch_out = block.residual(x)
        # A PlainBlock has no shortcut term at all; a ResidualBlock's is shortcut_scale * shortcut(x).
        with_shortcut = block.has_shortcut and block.shortcut_scale != 0.0
        shortcut_out = block.shortcut_scale * block.shortcut(x) if with_shortcut else torch.zeros_like(branch_out)
        g = grad_output * ((branch_out + shortcut_out) > 0)  # the ReLU after the sum
    else:
        raise ValueError(f"expected an MLPBlock or a ResidualBlock, got {type(block).__name__}.")
    (g_branch,) = torch.autograd.grad(branch_out, x, g, retain_graph=True)
    if shortcut_out.requires_grad:
        (g_shortcut,) = torch.autograd.grad(shortcut_out, x, g)
    else:
        g_shortcut = torch.zeros_like(x)
    return g_shortcut, g_branch


@dataclass(frozen=True)
class BlockSplit:
    """The gradient reaching one block's input, and its shortcut and branch parts (norms over the batch)."""

    name: str
    total: float  # ||dL/dx||
    shortcut: float  # ||part through the shortcut||
    branch: float  # ||part through the residual branch||
    shortcut_share: float  # <shortcut part, total> / ||total||^2; the two shares add up to 1

    @property
    def branch_share(self) -> float:
        """The branch part's share of the total (projection onto it); 1 - shortcut_share."""
        return 1.0 - self.shortcut_share


def identity_branch_split(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = F.cross_entropy
) -> list[BlockSplit]:
    """For each block, split dLoss/d(block input) into the part through the shortcut and through the branch (notebook 02)."""
    _check_batch(x, y)
    x, y = on_model_device(model, x, y)
    named = blocks_of(model)
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        def hook(_m: nn.Module, args: tuple, out: torch.Tensor) -> None:
            inputs[name], outputs[name] = args[0], out

        return hook

    hooks = [block.register_forward_hook(keep(name)) for name, block in named]
    try:
        with _measuring(model):
            loss = checked_loss(loss_fn, model(x), y)
            names = [n for n, _ in named]
            grads_out = torch.autograd.grad(loss, [outputs[n] for n in names])
            splits = []
            for (name, block), g_out in zip(named, grads_out):
                g_s, g_b = split_block_gradient(block, inputs[name], g_out)
                total = g_s + g_b
                t2 = float(total.double().pow(2).sum())
                share = float((g_s.double() * total.double()).sum()) / t2 if t2 > 0 else float("nan")
                splits.append(
                    BlockSplit(name, math.sqrt(t2), float(g_s.double().norm()), float(g_b.double().norm()), share)
                )
    finally:
        for h in hooks:
            h.remove()
    return splits


# --- end-to-end Jacobians and shattered gradients --------------------------------------------


def jacobian_singular_values(model: DeepMLP, x: torch.Tensor) -> torch.Tensor:
    """Singular values of d h_L / d h_0, the Jacobian of a DeepMLP's block stack at one example (notebook 02)."""
    if not isinstance(model, DeepMLP):
        raise ValueError(f"jacobian_singular_values takes a resblock.models.DeepMLP, got {type(model).__name__}.")
    if model.config.norm == "batch":
        raise ValueError(
            "batch norm couples the examples of a batch, so one example has no Jacobian of its own; "
            "use norm='none' or norm='layer' here."
        )
    x = x.reshape(1, -1) if x.dim() == 1 else x
    if x.shape[0] != 1:
        raise ValueError(f"pass one example (shape (features,) or (1, features)), got {tuple(x.shape)}.")
    with torch.no_grad():
        h0 = model.stem(x.flatten(1))[0]

    def stack(h: torch.Tensor) -> torch.Tensor:
        h = h.unsqueeze(0)
        for block in model.blocks:
            h = block(h)
        return h[0]

    jac = torch.autograd.functional.jacobian(stack, h0, vectorize=True)  # (width, width)
    return torch.linalg.svdvals(jac.double())


@contextlib.contextmanager
def _batchnorm_frozen_at(model: nn.Module, x: torch.Tensor) -> Iterator[None]:
    """Evaluation mode with every BatchNorm using batch x's mean and unbiased variance, so examples are independent."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    with _state_restored(model):
        try:
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None  # a cumulative average: after one batch, exactly that batch's statistics
            model.train()
            with torch.no_grad():
                model(x)
            model.eval()
            yield
        finally:
            for bn, m in zip(bns, momenta):
                bn.momentum = m


def gradients_along_line(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """d (sum of outputs) / d input at each of ``inputs``, one example at a time (Balduzzi et al. 2017, Fig. 1)."""
    _check_batch(inputs)
    x = inputs.detach().clone().requires_grad_(True)
    # Per-example gradients need examples that do not see each other: BatchNorm is frozen at the
    # statistics of this very batch, as its running averages record them after one training step (the
    # mean, and the unbiased variance: a factor n/(n-1) above the biased one a training-mode pass divides by).
    with _batchnorm_frozen_at(model, x.detach()):
        (g,) = torch.autograd.grad(model(x).sum(), x)
    return g.detach()


def lag1_autocorrelation(values: torch.Tensor) -> float:
    """Correlation between neighbouring entries of a 1-D sequence: ~1 smooth ("brown") noise, ~0 white noise."""
    v = values.detach().double().flatten()
    if v.numel() < 3:
        raise ValueError(f"need at least 3 values for an autocorrelation, got {v.numel()}.")
    v = v - v.mean()
    denom = float((v * v).sum())
    return float((v[1:] * v[:-1]).sum()) / denom if denom > 0 else float("nan")


# --- a net without normalisation ----------------------------------------------------------------


def strip_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` by the identity, in place, and return it: the unnormalised conv net (notebook 02)."""
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"strip_batchnorm takes a torch.nn.Module, e.g. a resblock.models.ResNet; got {type(module).__name__}."
        )
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.Identity())
        else:
            strip_batchnorm(child)
    return module
