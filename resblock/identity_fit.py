"""Fitting the identity map with a plain stack and a residual stack (notebook 01).

He et al. (arXiv:1512.03385, sec. 3.1) argue from a construction: a deeper net could copy a
shallower one and make its extra layers the identity, so it should never train worse; that deep
plain nets *do* train worse suggests solvers have trouble approximating the identity with a stack
of nonlinear layers. Here we ask a stack to do just that, y = x, and compare. Every block ends in a
ReLU, so inputs are non-negative (uniform on [0, 1]): the identity is then reachable by both stacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import PlainBlock, ResidualBlock
from resblock.checks import check_positive_int
from resblock.env import course_seed
from resblock.style import GREY, markevery, on_white, series_style


@dataclass(frozen=True)
class IdentityFitConfig:
    """One identity-fitting run; the defaults take a few seconds on 2 CPU cores."""

    blocks: int = 4  # blocks in the stack; each has two 3x3 conv layers, so 8 conv layers
    channels: int = 8  # channels everywhere (in = out, stride 1: every shortcut is the identity)
    size: int = 8  # inputs are channels x size x size
    batch: int = 32  # a fresh random batch each step, so the stack must learn the map, not the data
    steps: int = 300
    lr: float = 1e-2  # Adam's step size

    def __post_init__(self) -> None:
        for name in ("blocks", "channels", "size", "batch", "steps"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}.")


def identity_stack(blocks: int, channels: int, residual: bool, zero_init_residual: bool = False) -> nn.Sequential:
    """A stack of ``blocks`` ResidualBlocks (or their PlainBlock twins) at constant width and size."""
    block = ResidualBlock if residual else PlainBlock
    stack = nn.Sequential(*(block(channels, channels) for _ in range(blocks)))
    if zero_init_residual:
        if not residual:
            raise ValueError("zero_init_residual needs residual=True: a plain block with R = 0 outputs 0, not x.")
        for b in stack:
            # gamma = 0 in each block's last BN makes R(x) = 0, so the block starts as relu(x) = x
            # for x >= 0 (Goyal et al., arXiv:1706.02677, sec. 5.1).
            nn.init.zeros_(b.bn2.weight)
    return stack


def random_inputs(config: IdentityFitConfig, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """A batch of non-negative inputs, uniform on [0, 1]."""
    x = torch.rand(config.batch, config.channels, config.size, config.size, generator=generator)
    return x.to(device)


def identity_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between model(x) and x itself."""
    return F.mse_loss(model(x), x)


def fit_identity(model: nn.Module, config: IdentityFitConfig, seed: int | None = None, device: torch.device | str = "cpu") -> list[float]:
    """Train ``model`` to output its input with Adam; return the training loss at every step."""
    model.to(device).train()
    generator = torch.Generator().manual_seed(course_seed() if seed is None else seed)  # the same batches for every model compared
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = []
    for _ in range(config.steps):
        loss = identity_loss(model, random_inputs(config, generator, device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def plot_identity_fit(curves: dict[str, list[float]], baseline: float | None = None, ax=None):
    """Training loss against step for each named curve; returns the Axes.

    The y axis is logarithmic above 1e-3 and linear below (matplotlib's "symlog"), so a loss of
    exactly 0 still shows, on the bottom line. ``baseline`` draws a dashed reference level.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    on_white(ax)
    for i, (label, losses) in enumerate(curves.items()):
        # clip_on=False: a curve at exactly 0 lies on the bottom spine and must not be hidden by it
        ax.plot(range(1, len(losses) + 1), losses, label=label, lw=2, clip_on=False, zorder=3,
                markevery=markevery(len(losses)), ms=5, **series_style(label, i))
    if baseline is not None:
        ax.axhline(baseline, color=GREY, ls=":", lw=1, label=f"predict the mean ({baseline:.3g})")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss: mean (stack(x) - x)$^2$")
    ax.set_title("Learning the identity map y = x")
    ax.legend(fontsize=8)
    return ax
