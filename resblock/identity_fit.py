"""Fitting the identity map with a plain stack and a residual stack (notebook 01).

He et al. (arXiv:1512.03385, sec. 3.1) argue from a construction: a deeper net could copy a
shallower one and make its extra layers the identity, so it should never train worse; that deep
plain nets *do* train worse suggests solvers have trouble approximating the identity with a stack
of nonlinear layers. Here we ask a stack to do just that, y = x, and compare. Every block ends in a
ReLU, so inputs are non-negative (uniform on [0, 1]): the identity is then reachable by both stacks.
The picture of the losses is ``resblock.identity_fit_plots.plot_identity_fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import PlainBlock, ResidualBlock
from resblock.checks import check_bool, check_number, check_positive_int
from resblock.env import course_seed


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
        # a number above 0 and finite: "0.01" (a string), True and inf are not step sizes
        object.__setattr__(self, "lr", check_number("lr", self.lr, low=0.0, low_open=True, what=" (Adam's step size)"))


def identity_stack(blocks: int, channels: int, residual: bool, zero_init_residual: bool = False) -> nn.Sequential:
    """A stack of ``blocks`` ResidualBlocks (or their PlainBlock twins) at constant width and size."""
    check_bool("residual", residual)  # "no" would count as True
    check_bool("zero_init_residual", zero_init_residual)
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


def random_inputs(
    config: IdentityFitConfig, generator: torch.Generator, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A batch of non-negative inputs, uniform on [0, 1]."""
    x = torch.rand(config.batch, config.channels, config.size, config.size, generator=generator)
    return x.to(device)


def identity_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error between model(x) and x itself."""
    return F.mse_loss(model(x), x)


def fit_identity(
    model: nn.Module, config: IdentityFitConfig, seed: int | None = None, device: torch.device | str = "cpu"
) -> list[float]:
    """Train ``model`` to output its input with Adam; return the training loss at every step."""
    model.to(device).train()
    generator = torch.Generator().manual_seed(
        course_seed() if seed is None else seed
    )  # the same batches for every model compared
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = []
    for _ in range(config.steps):
        loss = identity_loss(model, random_inputs(config, generator, device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
