"""A ResNet as an ensemble of paths: path lengths, lesion studies, effective paths (notebook 05).

Veit, Wilber, Belongie, "Residual Networks Behave Like Ensembles of Relatively Shallow Networks",
NeurIPS 2016 (arXiv:1605.06431). Unrolling n blocks y_i = y_{i-1} + f_i(y_{i-1}) gives a sum over
2^n paths, each taking the branch f_i or the shortcut in every block (their eq. 3-4); C(n, k) of
them pass through k branches. They showed it three ways, all reproduced here on our nets:
1. lesion: deleting one block at test time barely hurts a ResNet, and ruins a plain net (sec. 4.1);
2. deleting k blocks at random degrades a ResNet smoothly with k, like an ensemble (sec. 4.2);
3. the gradient comes mostly from short paths: per-path gradient magnitude falls fast with the
   path length k, so short paths carry most of the total, C(n, k) x magnitude (sec. 5).

The pictures are in ``resblock.paths_plots``, the lesion toggles in ``resblock.widgets.lesions``.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import BasicBlock, ResidualBlock
from resblock.checks import short_repr
from resblock.env import course_seed
from resblock.gradients import binomial_path_counts
from resblock.models import ResNet, check_images_dtype
from resblock.train import check_class_labels, eval_mode, evaluate

__all__ = [
    "binomial_path_counts",
    "path_length_distribution",
    "all_paths",
    "unrolled_terms",
    "block_names",
    "removable",
    "BranchRemoved",
    "split_lesion",
    "lesioned",
    "lesion_accuracy",
    "block_inputs",
    "accuracy_from",
    "single_lesions",
    "random_lesions",
    "RandomLesions",
    "path_pieces",
    "path_gradient",
    "gradient_by_path_length",
    "PathGradients",
]


# --- counting paths ------------------------------------------------------------------------------


def path_length_distribution(n: int) -> np.ndarray:
    """The fraction of the 2^n paths through n blocks that have length k (k branches taken), k = 0..n."""
    return np.array(binomial_path_counts(n), dtype=float) / 2.0**n


def all_paths(n: int) -> Iterator[tuple[int, ...]]:
    """Every path through n blocks, as a tuple of 0 (shortcut) / 1 (branch) per block: 2^n of them."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 20:
        raise ValueError(f"n must be a whole number of blocks from 0 to 20 (2^n paths are listed), got {n!r}.")
    return itertools.product((0, 1), repeat=n)


def unrolled_terms(branches: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """For linear blocks x -> (I + A_i) x: the product (I + A_n)...(I + A_1) split by path length k = 0..n.

    Term k sums the 2^n paths' matrices that take exactly k branches, so the terms add up to the whole
    product: the unrolled view of Veit et al., eq. 3, made exact for linear branches (notebook 05).
    """
    if not branches:
        raise ValueError("give at least one branch matrix A_i.")
    d = branches[0].shape[0]
    if any(a.shape != (d, d) for a in branches):
        raise ValueError(
            f"every branch must be a square matrix of the same size, got {[tuple(a.shape) for a in branches]}."
        )
    eye = torch.eye(d, dtype=branches[0].dtype)
    terms = [torch.zeros(d, d, dtype=branches[0].dtype) for _ in range(len(branches) + 1)]
    for path in all_paths(len(branches)):
        m = eye
        for take, a in zip(path, branches):  # block 1 acts first, so it sits rightmost in the product
            m = (a if take else eye) @ m
        terms[sum(path)] += m
    return terms


# --- lesion study ----------------------------------------------------------------------------------


def _blocks(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, ResNet):
        raise ValueError(
            f"the lesion study works on resblock.models.ResNet (residual or plain), got {type(model).__name__}."
        )
    return list(model.blocks)


def block_names(model: nn.Module) -> list[str]:
    """Names of the blocks in forward order, e.g. 'layer2.0' (stage 2, first block)."""
    names = {m: n for n, m in model.named_modules()}
    return [names[b] for b in _blocks(model)]


def removable(model: nn.Module) -> list[bool]:
    """Which blocks can be deleted at test time: every residual block; a plain block only where its input and output shapes agree."""
    # A residual block keeps its shortcut when its branch is deleted, so it can always go (a
    # downsampling block keeps its projection). A plain block is the only route; deleting it
    # (replacing it by the identity) works only when it neither strides nor changes channels.
    out = []
    for b in _blocks(model):
        if not b.has_shortcut:
            out.append(b.conv1.stride == (1, 1) and b.conv1.in_channels == b.bn2.num_features)
        else:
            out.append(True)
    return out


class BranchRemoved(nn.Module):
    """A residual block with its branch deleted: relu(shortcut(x)), the path through the shortcut alone (Veit et al. sec. 4.1)."""

    def __init__(self, block: ResidualBlock) -> None:
        super().__init__()
        self.shortcut = block.shortcut
        self.shortcut_scale = block.shortcut_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The block computed relu(R(x) + shortcut_scale * shortcut(x)); with R deleted only this is left. For an
        # identity shortcut x comes out of a ReLU, so relu(x) = x: the block becomes the identity.
        return F.relu(self.shortcut_scale * self.shortcut(x))


def _check_removed(model: nn.Module, removed: Iterable[int], removable_only: bool = True) -> list[int]:
    can = removable(model)
    if isinstance(removed, (int, np.integer, str, bytes)) or not hasattr(removed, "__iter__"):
        example = f"[{int(removed)}]" if isinstance(removed, (int, np.integer)) else "[3] or [0, 5]"
        raise ValueError(
            f"removed must be a list of block indices, e.g. {example} ([] for none), got {short_repr(removed)}."
        )
    items = list(removed)
    bad = [i for i in items if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer))]
    if bad:  # int(1.7) would quietly delete block 1
        raise ValueError(f"removed must hold whole-number block indices (0..{len(can) - 1}), got {bad[0]!r}.")
    out = sorted(set(int(i) for i in items))
    for i in out:
        if not 0 <= i < len(can):
            raise ValueError(f"block index {i} is out of range: the model has {len(can)} blocks (0..{len(can) - 1}).")
        if removable_only and not can[i]:
            raise ValueError(
                f"block {i} ({block_names(model)[i]}) is a plain block that changes the shape (stride or channels), "
                "so it cannot be deleted; pick one of the indices where removable(model) is True."
            )
    return out


def split_lesion(model: nn.Module, removed: Iterable[int]) -> tuple[list[int], list[int]]:
    """The blocks of ``removed`` a lesion deletes, and those it keeps: a plain net's blocks that change the shape."""
    # A plain block that strides or changes channels is the only route through that stage (no shortcut
    # carries x past it), so a lesion of a plain net keeps it; see removable.
    can = removable(model)
    chosen = _check_removed(model, removed, removable_only=False)
    return [i for i in chosen if can[i]], [i for i in chosen if not can[i]]


def lesioned(model: nn.Module, removed: Iterable[int]) -> nn.Module:
    """A copy of the ResNet with the given blocks deleted: a residual block keeps its shortcut, a plain block becomes the identity (notebook 05)."""
    removed = _check_removed(model, removed)
    out = copy.deepcopy(model)
    names = block_names(out)
    for i in removed:
        stage, index = names[i].split(".")
        seq = getattr(out, stage)
        seq[int(index)] = _without(seq[int(index)])
    return out.eval()


def _without(block: nn.Module) -> nn.Module:
    """What is left of a block once deleted: the identity for a plain block, the shortcut for a residual one."""
    return BranchRemoved(block) if block.has_shortcut else nn.Identity()


def lesion_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, removed: Iterable[int] = ()) -> float:
    """Test accuracy of the model with the given blocks deleted (notebook 05)."""
    return evaluate(lesioned(model, removed), images, labels)[1]


def single_lesions(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Accuracy with each block deleted in turn (nan where a plain block cannot be deleted): Veit et al. Fig. 3."""
    # Deleting block i changes nothing before it, so the intact net's input to each block is computed
    # once and each lesioned net runs only from block i on: half the work of evaluating 27 whole nets.
    inputs = block_inputs(model, images)
    return [accuracy_from(model, inputs, [i], labels) if ok else math.nan for i, ok in enumerate(removable(model))]


@torch.inference_mode()
def block_inputs(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The intact net's input to each block (eval mode), to restart a lesioned net from its first deleted block."""
    check_images_dtype(images, model)  # model.stem checks the shape; the dtype would fail inside the conv
    device = next(model.parameters()).device
    inputs = []
    with eval_mode(model):
        h = model.stem(images.to(device))
        for b in _blocks(model):
            inputs.append(h)
            h = b(h)
    return inputs


@torch.inference_mode()
def accuracy_from(model: nn.Module, inputs: list[torch.Tensor], removed: Iterable[int], labels: torch.Tensor) -> float:
    """Accuracy with the blocks ``removed`` deleted, run from the first of them on (``inputs`` from block_inputs)."""
    removed = _check_removed(model, removed)
    blocks = _blocks(model)
    start = removed[0] if removed else len(blocks) - 1
    h = inputs[start]
    with eval_mode(model):
        for i in range(start, len(blocks)):
            h = _without(blocks[i])(h) if i in removed else blocks[i](h)
        logits = model.head(h)
    labels = check_class_labels(labels, logits, "the lesion study's")
    return (logits.argmax(1) == labels.to(logits.device)).float().mean().item()


@dataclass
class RandomLesions:
    """Accuracies with k random (removable) blocks deleted, several draws for each k: Veit et al. Fig. 5(a)."""

    ks: list[int]
    accuracies: list[list[float]]  # accuracies[j] holds one value per draw for ks[j]

    @property
    def mean(self) -> np.ndarray:
        """The mean accuracy over the draws, one per entry of ks."""
        return np.array([np.mean(a) for a in self.accuracies])

    @property
    def std(self) -> np.ndarray:
        """The standard deviation of the accuracy over the draws, one per entry of ks."""
        return np.array([np.std(a) for a in self.accuracies])


def random_lesions(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    ks: Sequence[int],
    draws: int = 3,
    seed: int | None = None,
) -> RandomLesions:
    """Delete k blocks chosen at random among the removable ones, ``draws`` times for each k (notebook 05)."""
    candidates = [i for i, ok in enumerate(removable(model)) if ok]
    if any(not 0 <= k <= len(candidates) for k in ks):
        raise ValueError(f"each k must lie in 0..{len(candidates)} (the number of removable blocks), got {list(ks)}.")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws!r}.")
    rng = random.Random(course_seed() if seed is None else seed)  # None: the course's seed, $RESBLOCK_SEED
    inputs = block_inputs(model, images)  # as in single_lesions: each draw reruns only from its first deleted block
    accs = []
    for k in ks:
        accs.append(
            [accuracy_from(model, inputs, rng.sample(candidates, k), labels) for _ in range(1 if k == 0 else draws)]
        )
    return RandomLesions(list(ks), accs)


# --- effective paths: which lengths carry the gradient ---------------------------------------------


@dataclass
class PathGradients:
    """Gradient magnitude that reaches the first block's input along single paths of each length k (Veit et al. Fig. 6)."""

    n: int  # number of blocks
    per_path: np.ndarray  # mean gradient norm along one path of length k, k = 0..n
    spread: np.ndarray  # standard deviation of that norm over the sampled paths

    @property
    def counts(self) -> np.ndarray:
        """How many paths have each length k = 0..n: C(n, k) (their Fig. 6a)."""
        return np.array(binomial_path_counts(self.n), dtype=float)

    @property
    def total(self) -> np.ndarray:
        """Total gradient magnitude from all paths of length k: C(n, k) x per-path magnitude (their Fig. 6c)."""
        return self.counts * self.per_path


def _check_residual(model: nn.Module) -> list[ResidualBlock]:
    blocks = _blocks(model)
    if any(not (isinstance(b, BasicBlock) and b.has_shortcut) for b in blocks):
        raise ValueError(
            "paths are counted in a residual net of basic blocks: give a ResNet built with shortcut=True and "
            f"block='basic' (the default); this one has {', '.join(sorted({type(b).__name__ for b in blocks}))}."
        )
    return blocks


def path_pieces(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> tuple[list[tuple], torch.Tensor, torch.Tensor]:
    """One eval-mode forward pass, kept as per-block graphs: (pieces, gradient at the last block's output, first block's input).

    Each piece is (block input as a leaf, branch output, shortcut output, ReLU mask), so that a
    backward pass can be routed through the branch or the shortcut of each block separately.
    """
    blocks = _check_residual(model)
    device = next(model.parameters()).device
    x, y = images.to(device), labels.to(device)
    h = model.stem(x).detach()
    first = h
    pieces = []
    for b in blocks:
        inp = h.detach().requires_grad_(True)
        r = b.residual(inp)
        s = b.shortcut_scale * b.shortcut(inp)
        z = r + s
        pieces.append((inp, r, s, (z > 0).to(z.dtype)))
        h = F.relu(z).detach()
    top = h.requires_grad_(True)
    logits = model.head(top)
    # Summed loss: each example's gradient is its own (BN in eval mode couples nothing).
    (g_top,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), top)
    return pieces, g_top, first


def path_gradient(pieces: list[tuple], g_top: torch.Tensor, through: set[int]) -> torch.Tensor:
    """The gradient at the first block's input along one path: the branch in the blocks ``through``, the shortcut elsewhere."""
    g = g_top
    for i in reversed(range(len(pieces))):
        inp, r, s, mask = pieces[i]
        gz = g * mask  # through the ReLU after the addition
        half = r if i in through else s
        if half is inp:  # an identity shortcut: its Jacobian is I
            g = gz
        else:
            (g,) = torch.autograd.grad(half, inp, gz, retain_graph=True)
    return g


def gradient_by_path_length(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, paths_per_length: int = 10, seed: int | None = None
) -> PathGradients:
    """For each k, sample paths through k branches (shortcuts elsewhere) and measure the gradient that reaches the first block's input (notebook 05).

    As in Veit et al. sec. 5: one forward pass, then a backward pass that in k random blocks goes
    only through the residual branch and in the others only through the shortcut, so the gradient
    measured is that of a single path of length k. Here the forward pass is shared: each block's
    branch and shortcut are kept as separate small graphs, and a path's backward pass is a chain of
    vector-Jacobian products through the chosen halves. BN is in eval mode (fixed statistics).
    """
    n = len(_check_residual(model))
    if paths_per_length < 1:
        raise ValueError(f"paths_per_length must be >= 1, got {paths_per_length!r}.")
    rng = random.Random(course_seed() if seed is None else seed)  # None: the course's seed, $RESBLOCK_SEED
    per_path, spread = [], []
    with eval_mode(model):
        with torch.enable_grad():
            pieces, g_top, _ = path_pieces(model, images, labels)
            for k in range(n + 1):
                norms = []
                for _ in range(1 if math.comb(n, k) == 1 else paths_per_length):  # k = 0 and k = n: one path each
                    g = path_gradient(pieces, g_top, set(rng.sample(range(n), k)))
                    norms.extend(g.flatten(1).norm(dim=1).tolist())  # one norm per example
                per_path.append(float(np.mean(norms)))
                spread.append(float(np.std(norms)))
    return PathGradients(n=n, per_path=np.array(per_path), spread=np.array(spread))
