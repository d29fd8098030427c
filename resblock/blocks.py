"""Residual blocks and their plain twins (notebook 01).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, Fig. 2:
a block computes H(x) = R(x) + x, where R(x) is the *residual branch* (conv-BN-ReLU-conv-BN) and
x travels unchanged along the *shortcut*. The plain twin has the same layers and no shortcut.
"""

from __future__ import annotations

from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn


def _check_planes(in_planes: int, planes: int, stride: int) -> None:
    """Raise a ValueError that says what to change when a block's shape arguments are invalid."""
    for name, value in (("in_planes", in_planes), ("planes", planes)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive whole number of channels, got {value!r}.")
    if not isinstance(stride, Integral) or isinstance(stride, bool) or stride < 1:
        raise ValueError(
            f"stride must be a positive whole number (1 keeps the size, 2 halves it), got {stride!r}."
        )


def needs_projection(in_planes: int, planes: int, stride: int = 1, expansion: int = 1) -> bool:
    """True when the shortcut cannot be the identity: the stride or the channel count changes."""
    return stride != 1 or in_planes != expansion * planes


class ResidualBlock(nn.Module):
    """The basic block of He et al. (2015): relu(R(x) + alpha * shortcut(x)), R = conv-BN-ReLU-conv-BN."""

    expansion = 1  # output channels = expansion * planes (4 in the Bottleneck block)

    def __init__(self, in_planes: int, planes: int, stride: int = 1, alpha: float = 1.0) -> None:
        super().__init__()
        _check_planes(in_planes, planes, stride)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(
                f"alpha scales the shortcut: 1.0 is a residual block, 0.0 a plain one; got {alpha!r}."
            )
        self.alpha = float(alpha)
        out = self.expansion * planes
        # The residual branch R(x). bias=False because the BN right after each conv has its own shift.
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        # The shortcut: the identity when shapes agree; otherwise the paper's option B, a 1x1
        # convolution (with stride) and BN that project x to R(x)'s shape (arXiv:1512.03385, sec. 3.3).
        self.shortcut: nn.Module = nn.Identity()
        if self._has_shortcut() and needs_projection(in_planes, planes, stride, self.expansion):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, out, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out),
            )

    def _has_shortcut(self) -> bool:
        return True

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x): what the block adds to its (projected) input."""
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.alpha * self.shortcut(x))  # H(x) = R(x) + x


class PlainBlock(ResidualBlock):
    """The plain twin of ResidualBlock: the same two conv-BN layers, no shortcut: relu(R(x))."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, planes, stride, alpha=0.0)

    def _has_shortcut(self) -> bool:
        return False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x))  # H(x) = R(x): the layers must learn all of H
