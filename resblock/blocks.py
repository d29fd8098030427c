"""Residual blocks and their plain twins (notebook 01).

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", arXiv:1512.03385, Fig. 2:
a block computes H(x) = R(x) + x, where R(x) is the *residual branch* (conv-BN-ReLU-conv-BN) and
x travels unchanged along the *shortcut*. The plain twin has the same layers and no shortcut.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from resblock.checks import check_bool, check_positive_int


def _check_planes(in_planes: int, planes: int, stride: int) -> None:
    """Raise a ValueError that says what to change when a block's shape arguments are invalid."""
    for name, value in (("in_planes", in_planes), ("planes", planes)):
        check_positive_int(name, value, what=" of channels")
    check_positive_int("stride", stride, what=" (1 keeps the size, 2 halves it)")


def projection(in_planes: int, out_planes: int, stride: int, norm: bool = True) -> nn.Module:
    """The projection shortcut: a strided 1x1 convolution, with BN when the block is normalised (option B)."""
    conv = nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=not norm)
    return nn.Sequential(conv, nn.BatchNorm2d(out_planes)) if norm else conv


def needs_projection(in_planes: int, planes: int, stride: int = 1, expansion: int = 1) -> bool:
    """True when the shortcut cannot be the identity: the stride or the channel count changes."""
    return stride != 1 or in_planes != expansion * planes


class BasicBlock(nn.Module):
    """The basic block of He et al. (2015): relu(R(x) + shortcut_scale * shortcut(x)), R = conv-BN-ReLU-conv-BN; relu(R(x)) without the shortcut."""

    expansion = 1  # output channels = expansion * planes (4 in the Bottleneck block)

    def __init__(
        self, in_planes: int, planes: int, stride: int = 1, shortcut: bool = True, shortcut_scale: float = 1.0
    ) -> None:
        super().__init__()
        _check_planes(in_planes, planes, stride)
        if not isinstance(shortcut, bool):
            raise ValueError(f"shortcut must be True (a residual block) or False (its plain twin), got {shortcut!r}.")
        if not 0.0 <= float(shortcut_scale) <= 1.0:
            raise ValueError(
                f"shortcut_scale scales the shortcut: 1.0 is a residual block, 0.0 a plain one; got {shortcut_scale!r}."
            )
        # He et al. (2016, arXiv:1603.05027, sec. 3.1) scale the shortcut by a constant (their lambda):
        # below 1 it shrinks the signal and gradient at every block; notebook 02 slides it from 0 to 1.
        self.has_shortcut = shortcut  # False: the plain twin, the same layers with no shortcut (Fig. 2 vs a plain net)
        self.shortcut_scale = float(shortcut_scale) if shortcut else 0.0
        out = self.expansion * planes
        # The residual branch R(x). bias=False because the BN right after each conv has its own shift.
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        # The shortcut: the identity when shapes agree; otherwise the paper's option B, a 1x1
        # convolution (with stride) and BN that project x to R(x)'s shape (arXiv:1512.03385, sec. 3.3).
        self.shortcut: nn.Module = nn.Identity()
        if shortcut and needs_projection(in_planes, planes, stride, self.expansion):
            self.shortcut = projection(in_planes, out, stride)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x): what the block adds to its (projected) input."""
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def zero_init_branch_(self) -> None:
        """Start R(x) at 0: zero the last BN's gamma (Goyal et al., arXiv:1706.02677; notebook 07)."""
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_shortcut:
            return F.relu(self.residual(x))  # H(x) = R(x): the layers must learn all of H
        return F.relu(self.residual(x) + self.shortcut_scale * self.shortcut(x))  # H(x) = R(x) + x


class ResidualBlock(BasicBlock):
    """The basic block with its shortcut: relu(R(x) + shortcut_scale * shortcut(x)) (notebook 01)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut_scale: float = 1.0) -> None:
        super().__init__(in_planes, planes, stride, shortcut=True, shortcut_scale=shortcut_scale)


class PlainBlock(BasicBlock):
    """The plain twin of ResidualBlock: the same two conv-BN layers, no shortcut: relu(R(x)) (notebooks 01, 03)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__(in_planes, planes, stride, shortcut=False)


# --- The designs that grew from the block (notebook 07) -------------------------------------------


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=bias)


class PreActBlock(nn.Module):
    """The pre-activation block of He et al. (2016): x + R(x), R = conv(relu(bn(conv(relu(bn(x)))))), nothing after the add."""

    expansion = 1
    has_shortcut = True  # as BasicBlock's attribute: code that walks a net's blocks asks this, not the class

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        _check_planes(in_planes, planes, stride)
        # "Identity Mappings in Deep Residual Networks", arXiv:1603.05027, Fig. 1(b)/4(e): BN and ReLU
        # move *before* each conv, so the shortcut path from block to block is a pure identity
        # (no ReLU after the addition), and x_L = x_l + sum of the branches in between (their eq. 4).
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, self.expansion * planes)
        self.shortcut: nn.Module = nn.Identity()
        if needs_projection(in_planes, planes, stride, self.expansion):
            # As in the authors' code, a projection reads the pre-activated input; its BN is the shared bn1.
            self.shortcut = projection(in_planes, self.expansion * planes, stride, norm=False)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x) = conv2(relu(bn2(conv1(relu(bn1(x))))))."""
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))

    def zero_init_branch_(self) -> None:
        """Start R(x) at 0: there is no BN at the end of this branch, so zero its last conv instead."""
        nn.init.zeros_(self.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))  # the pre-activation, shared by the branch and a projection shortcut
        shortcut = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(a)
        return shortcut + self.conv2(F.relu(self.bn2(self.conv1(a))))  # x + R(x): no ReLU after the add


class Bottleneck(nn.Module):
    """The bottleneck block of He et al. (2015): relu(R(x) + x), R = 1x1 (reduce) - 3x3 - 1x1 (expand by 4), each with BN."""

    expansion = 4  # the last 1x1 conv restores 4 * planes channels (arXiv:1512.03385, Fig. 5)
    has_shortcut = True  # as BasicBlock's attribute: code that walks a net's blocks asks this, not the class

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        _check_planes(in_planes, planes, stride)
        out = self.expansion * planes
        # Names as in torchvision's resnet.py (which calls the shortcut `downsample`). The 3x3 conv,
        # working on 4x fewer channels, carries the stride, as in torchvision ("ResNet v1.5").
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut: nn.Module = nn.Identity()
        if needs_projection(in_planes, planes, stride, self.expansion):
            self.shortcut = projection(in_planes, out, stride)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x) = bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))))."""
        r = F.relu(self.bn1(self.conv1(x)))  # 1x1: squeeze to `planes` channels
        r = F.relu(self.bn2(self.conv2(r)))  # 3x3 on the narrow tensor: where the compute saving is
        return self.bn3(self.conv3(r))  # 1x1: back out to 4 * planes

    def zero_init_branch_(self) -> None:
        """Start R(x) at 0: zero the last BN's gamma (torchvision's zero_init_residual does bn3)."""
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual(x) + self.shortcut(x))


class ReZeroBlock(nn.Module):
    """ReZero / SkipInit: x + gate * R(x), gate a learnable scalar that starts at 0; R = conv-ReLU-conv, no BN."""

    expansion = 1
    has_shortcut = True  # as BasicBlock's attribute: code that walks a net's blocks asks this, not the class

    def __init__(self, in_planes: int, planes: int, stride: int = 1, norm: bool = False) -> None:
        super().__init__()
        _check_planes(in_planes, planes, stride)
        check_bool("norm", norm)  # "no" would count as True and add the batch norms
        # Bachlechner et al., "ReZero is All You Need", arXiv:2003.04887, and De & Smith, "Batch
        # Normalization Biases Residual Blocks Towards the Identity Function", arXiv:2002.10444
        # (SkipInit): with the branch gated by a scalar at 0, every block starts as the identity, so
        # a deep net needs no normalisation to keep its signal and gradients in scale. `norm=True`
        # keeps BN in the branch as well. Both papers call the gate alpha; here it is `gate`, because it
        # scales the *branch*, while BasicBlock's shortcut_scale scales the shortcut.
        self.conv1 = _conv3x3(in_planes, planes, stride, bias=not norm)
        self.bn1: nn.Module = nn.BatchNorm2d(planes) if norm else nn.Identity()
        self.conv2 = _conv3x3(planes, planes, bias=not norm)
        self.bn2: nn.Module = nn.BatchNorm2d(planes) if norm else nn.Identity()
        self.gate = nn.Parameter(torch.zeros(()))
        self.shortcut: nn.Module = nn.Identity()
        if needs_projection(in_planes, planes, stride, self.expansion):
            self.shortcut = projection(in_planes, planes, stride, norm=norm)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """R(x) = conv2(relu(conv1(x))), before the gate."""
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def zero_init_branch_(self) -> None:
        """Start the branch at 0: gate is 0 already; set it to 0 again."""
        nn.init.zeros_(self.gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.gate * self.residual(x)  # x + gate R(x), gate = 0 at init


class DenseLayer(nn.Module):
    """DenseNet's layer (Huang et al. 2017): concatenate, don't add: [x, H(x)], H = BN-ReLU-conv3x3 to `growth` channels."""

    def __init__(self, in_planes: int, growth: int) -> None:
        super().__init__()
        _check_planes(in_planes, growth, 1)
        # "Densely Connected Convolutional Networks", arXiv:1608.06993: every layer sees the feature
        # maps of all layers before it, because each appends `growth` new channels to its input.
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = _conv3x3(in_planes, growth)

    def new_features(self, x: torch.Tensor) -> torch.Tensor:
        """H(x) = conv(relu(bn(x))): the `growth` channels this layer adds."""
        return self.conv(F.relu(self.bn(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.new_features(x)], dim=1)  # x kept verbatim, as the first channels


class AddLayer(DenseLayer):
    """DenseLayer's additive twin: x + H(x), H = BN-ReLU-conv3x3 keeping the channel count (H(x) alone without the shortcut)."""

    def __init__(self, planes: int, shortcut: bool = True) -> None:
        super().__init__(planes, planes)
        self.has_shortcut = check_bool("shortcut", shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_shortcut:
            return self.new_features(x)  # the control: the same H, neither added nor appended
        return x + self.new_features(x)  # the same H, added instead of appended


def dense_block(in_planes: int, growth: int, num_layers: int) -> nn.Sequential:
    """`num_layers` DenseLayers; the output has in_planes + num_layers * growth channels."""
    check_positive_int("num_layers", num_layers)
    return nn.Sequential(*(DenseLayer(in_planes + i * growth, growth) for i in range(num_layers)))


BLOCKS: dict[str, type[nn.Module]] = {
    "basic": ResidualBlock,  # post-activation, He et al. 2015
    "preact": PreActBlock,  # He et al. 2016
    "bottleneck": Bottleneck,  # 1x1-3x3-1x1, expansion 4
    "rezero": ReZeroBlock,  # x + gate R(x), gate = 0 at init
}
