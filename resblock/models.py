"""Networks built from blocks: the CIFAR-style 6n+2 ResNet and deep MLP stacks (notebooks 02-07).

The conv net follows He et al., arXiv:1512.03385, section 4.2: a 3x3 conv stem with 16 channels,
three stages of n blocks at 16/32/64 channels, stride 2 at the first block of stages 2 and 3,
global average pooling and a linear head, so 6n + 2 weighted layers in all. ``stem_pool`` adds the
3x3 stride-2 max pool of the paper's ImageNet stem (Table 1), which notebook 04's tiny net uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import BLOCKS, PlainBlock
from resblock.checks import check_bool, check_number, check_positive_int, short_repr

MAX_DEPTH = 1202  # the deepest net of He et al. sec. 4.2 (n = 200): deeper is no longer a course exercise


@dataclass(frozen=True)
class ResNetConfig:
    """The shape of a 6n+2 network; defaults give ResNet-20 for Fashion-MNIST."""

    depth: int = 20  # 6n + 2 weighted layers: 8, 14, 20, 32, 44, 56, 110 (n = 1, 2, 3, 5, 7, 9, 18)
    shortcut: bool = True  # False gives the plain net of the paper's Fig. 6 (same layers, no shortcuts)
    widths: tuple[int, int, int] = (16, 32, 64)  # channels of the three stages (the paper's 16/32/64)
    in_channels: int = 1  # 1 for Fashion-MNIST (1x28x28), 3 for CIFAR-10 (3x32x32)
    num_classes: int = 10
    zero_init_residual: bool = False  # start each R(x) at 0 via its last BN's gamma (Goyal et al., arXiv:1706.02677)
    block: str = "basic"  # a key of resblock.blocks.BLOCKS: "basic", "preact", "bottleneck", "rezero" (notebook 07)
    stem_pool: bool = False  # a 3x3 max pool with stride 2 after the stem's conv, as in the ImageNet ResNets
    # (arXiv:1512.03385, Table 1): the stages then work at 14/7/4 instead of 28/14/7 pixels (notebook 04)

    def __post_init__(self) -> None:
        if not isinstance(self.block, str) or self.block not in BLOCKS:
            raise ValueError(f"block must be one of {tuple(BLOCKS)}, got {self.block!r}.")
        for name in ("shortcut", "zero_init_residual", "stem_pool"):  # "no" would count as True
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))
        if self.block != "basic" and not self.shortcut:
            raise ValueError(f"shortcut=False (the plain net) is only defined for block='basic', not {self.block!r}.")
        depth = self.depth if isinstance(self.depth, (int, np.integer)) and not isinstance(self.depth, bool) else None
        if self.block == "bottleneck":  # 3 weighted layers per block: 9n + 2 (ResNet-164 is n = 18)
            if depth is None or depth < 11 or (depth - 2) % 9 != 0:
                raise ValueError(
                    f"with bottleneck blocks depth must be 9n + 2 with n >= 1 (11, 20, 29, 56, 164, ...), got {self.depth!r}."
                )
        elif depth is None and isinstance(self.depth, (float, np.floating)) and float(self.depth).is_integer():
            raise ValueError(
                f"depth must be a whole number, 6n + 2 (8, 14, 20, ...), got {self.depth!r}: write {int(self.depth)}."
            )
        elif depth is None or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), got {self.depth!r}.")
        if depth > MAX_DEPTH:  # building a deeper net would take minutes and gigabytes before any error
            raise ValueError(f"depth must be at most {MAX_DEPTH} (He et al.'s deepest CIFAR net), got {depth}.")
        object.__setattr__(self, "depth", int(depth))
        widths = self.widths
        if (
            isinstance(widths, (str, bytes))
            or not hasattr(widths, "__len__")
            or len(widths) != 3
            or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1 for w in widths)
        ):
            raise ValueError(
                f"widths must be three positive channel counts, e.g. (16, 32, 64); got {short_repr(widths)}."
            )
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))  # a tuple: the config stays hashable
        for name in ("in_channels", "num_classes"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))

    @property
    def blocks_per_stage(self) -> int:
        """n in 6n + 2 (9n + 2 for bottleneck blocks)."""
        return (self.depth - 2) // (9 if self.block == "bottleneck" else 6)


# Notebook 04's tiny ResNet: ResNet-8 with the max-pooled stem. Pooling in the stem made a training step
# about 3x cheaper on 2 CPU cores (the first stage's 16-channel convolutions at 28x28 pixels were the
# slowest part of the net), so a fixed time budget buys about three times the epochs; in 60 s that
# won more accuracy than the resolution costs (`python -m resblock.bench --only tiny_resnet_accuracy`
# measures both stems).
TINY_RESNET = ResNetConfig(depth=8, stem_pool=True)


class ResNet(nn.Module):
    """The 6n+2 network of He et al. sec. 4.2, residual or plain, for 28x28 or 32x32 images."""

    def __init__(self, config: ResNetConfig = ResNetConfig()) -> None:
        super().__init__()
        _check_config(config, ResNetConfig, "ResNet")
        self.config = config
        self.register_forward_pre_hook(
            _check_input_dtype
        )  # float64 or uint8 images: say so, not "expected scalar type"
        block = BLOCKS[config.block] if config.shortcut else PlainBlock
        w1, w2, w3 = config.widths
        e = block.expansion  # a stage of Bottlenecks outputs 4x its width
        n = config.blocks_per_stage
        preact = config.block == "preact"
        self.conv1 = nn.Conv2d(config.in_channels, w1, kernel_size=3, padding=1, bias=False)
        # A pre-activation net normalises inside each block, so its stem is the conv alone, and a final
        # BN-ReLU follows the last block (He et al., arXiv:1603.05027, sec. 4.1). The paper also applies the
        # first unit's BN-ReLU right after conv1, before the split; here the first block's BN-ReLU acts on
        # its branch only and its identity shortcut carries the conv's output (a difference at that block).
        self.bn1: nn.Module = nn.Identity() if preact else nn.BatchNorm2d(w1)
        self.pool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1) if config.stem_pool else nn.Identity()
        self.layer1 = self._stage(block, w1, w1, n, stride=1)
        self.layer2 = self._stage(block, e * w1, w2, n, stride=2)  # halves the map, doubles the channels
        self.layer3 = self._stage(block, e * w2, w3, n, stride=2)
        self.final_act: nn.Module = nn.Sequential(nn.BatchNorm2d(e * w3), nn.ReLU()) if preact else nn.Identity()
        self.fc = nn.Linear(e * w3, config.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He init, as in the paper (sec. 3.4 cites He et al. 2015, "Delving deep into rectifiers").
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if config.zero_init_residual and config.shortcut:
            for b in self.blocks:
                b.zero_init_branch_()  # R(x) = 0 at init, so each block starts as the identity

    @staticmethod
    def _stage(block: type, in_planes: int, planes: int, n: int, stride: int) -> nn.Sequential:
        out = block.expansion * planes
        layers = [block(in_planes, planes, stride)] + [block(out, planes, 1) for _ in range(n - 1)]
        return nn.Sequential(*layers)

    @property
    def blocks(self) -> list[nn.Module]:
        """The network's blocks in order, stage by stage: a list, as DeepMLP.blocks is a ModuleList.

        A property over the stages rather than a ModuleList of its own, so the parameter names (and the
        committed checkpoints' keys) stay layer1.0.conv1.weight and so on. With ``stem`` and ``head``
        (called the same way on both nets) code that walks a net needs no special case for either.
        """
        return [*self.layer1, *self.layer2, *self.layer3]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The stem: what the first block receives."""
        check_images_shape(x, self.config.in_channels)
        # The identity unless stem_pool: then it halves the map right after the conv, so that BN and ReLU
        # run on a quarter of the pixels too (ReLU commutes with max pooling; BN normalises the pooled map).
        x = self.pool(self.conv1(x))
        if self.config.block != "preact":  # a pre-activation block applies its own BN-ReLU first
            x = F.relu(self.bn1(x))
        return x

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The head: the last block's output to class scores (global average pooling, then the linear layer)."""
        h = self.final_act(h)  # the identity except in a pre-activation net
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def _check_config(config, cls: type, model: str) -> None:
    """A clear error for ``ResNet({'depth': 8})`` and the like: the config must be the dataclass."""
    if not isinstance(config, cls):
        hint = f"{cls.__name__}(**{config!r})" if isinstance(config, dict) else f"{cls.__name__}(depth=...)"
        raise ValueError(f"{model} takes a {cls.__name__}, got {type(config).__name__}; pass {hint}.")


def _check_input_dtype(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook: the input must be a float tensor of the weights' dtype (float32 unless the model was converted)."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{type(module).__name__} takes a tensor of images, got {type(x).__name__}; "
            "convert with torch.as_tensor(x, dtype=torch.float32)."
        )
    check_images_dtype(x, module)


def images_shape_fix(shape: tuple[int, ...], in_channels: int = 1, name: str = "x") -> str:
    """What to do with images ``name`` of ``shape`` to make them a batch (N, in_channels, H, W): one hint, by case."""
    if len(shape) == 2:
        return f"that is one image without batch or channel axes: {name}[None, None] makes it a batch of one"
    if len(shape) == 3 and in_channels == 1:
        return f"add the channel axis: {name}.unsqueeze(1) turns (N, H, W) into (N, 1, H, W)"
    if len(shape) == 3 and shape[0] == in_channels:
        return f"that is one image: {name}.unsqueeze(0) makes it a batch of one"
    if len(shape) == 4 and shape[1] != in_channels:
        return (
            f"the images have {shape[1]} channels and the net takes {in_channels}: build the net with "
            f"ResNetConfig(in_channels={shape[1]}), or give it {in_channels}-channel images"
        )
    if len(shape) > 4:
        return f"remove the extra axes: {name}.reshape(len({name}), {in_channels}, H, W), H and W the images' height and width"
    return f"give a batch of shape (N, {in_channels}, height, width)"


def check_images_shape(x: torch.Tensor, in_channels: int = 1) -> None:
    """Raise a ValueError saying what to fix unless ``x`` is a batch (N, in_channels, H, W)."""
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"expected images of shape (batch, {in_channels}, height, width), got {tuple(x.shape)}; "
            f"{images_shape_fix(tuple(x.shape), in_channels)}."
        )


def check_images_dtype(images: torch.Tensor, model: nn.Module) -> None:
    """The images must have the dtype of the model's weights; if not, say how to convert them."""
    weight = next(model.parameters(), None)
    if weight is not None and images.dtype != weight.dtype:
        fix = (
            "scale raw bytes with resblock.data.normalize(images)"
            if not images.is_floating_point()
            else f"convert them with images.to({weight.dtype})"
        )
        raise ValueError(f"the images are {images.dtype} but the model's weights are {weight.dtype}; {fix}.")


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}
NORMS = ("none", "batch", "layer")
INITS = ("default", "kaiming", "xavier", "small")


@dataclass(frozen=True)
class MLPConfig:
    """A deep stack of fully connected blocks, residual or plain, for studying gradient flow."""

    depth: int = 50  # number of blocks between the input layer and the head
    width: int = 64  # features in every hidden layer
    shortcut_scale: float = 1.0  # scale on the shortcut: 1.0 residual, 0.0 plain, in between a blend
    activation: str = "relu"  # one of ACTIVATIONS
    norm: str = "none"  # "none", "batch" (BatchNorm1d) or "layer" (LayerNorm), before the activation
    init: str = "default"  # "default" (PyTorch's), "kaiming", "xavier" or "small" (std 0.01)
    in_features: int = 784  # a flattened 28x28 image
    num_classes: int = 10

    def __post_init__(self) -> None:
        for name in ("depth", "width", "in_features", "num_classes"):
            object.__setattr__(self, name, check_positive_int(name, getattr(self, name)))
        object.__setattr__(
            self,
            "shortcut_scale",
            check_number("shortcut_scale", self.shortcut_scale, 0.0, 1.0, what=" (0 plain, 1 residual)"),
        )
        for name, allowed in (("activation", tuple(ACTIVATIONS)), ("norm", NORMS), ("init", INITS)):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")


class MLPBlock(nn.Module):
    """One fully connected block: shortcut_scale * x + act(norm(W x + b))."""

    def __init__(self, width: int, shortcut_scale: float, activation: str, norm: str) -> None:
        super().__init__()
        self.shortcut_scale = float(shortcut_scale)
        self.linear = nn.Linear(width, width)
        norms = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
        self.norm: nn.Module = norms[norm](width) if norm in norms else nn.Identity()
        self.act = ACTIVATIONS[activation]()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The branch R(x) = act(norm(W x + b))."""
        return self.act(self.norm(self.linear(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut_scale == 0.0:
            return self.residual(x)  # plain: the layer alone
        return self.shortcut_scale * x + self.residual(x)


class DeepMLP(nn.Module):
    """Input layer, `depth` MLPBlocks of equal width, linear head."""

    def __init__(self, config: MLPConfig = MLPConfig()) -> None:
        super().__init__()
        _check_config(config, MLPConfig, "DeepMLP")
        self.config = config
        self.register_forward_pre_hook(_check_input_dtype)
        self.stem = nn.Linear(config.in_features, config.width)
        self.blocks = nn.ModuleList(
            MLPBlock(config.width, config.shortcut_scale, config.activation, config.norm) for _ in range(config.depth)
        )
        self.head = nn.Linear(config.width, config.num_classes)
        if config.init != "default":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    init_linear_(m, config.init, config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:  # flatten(1) would fail with "Dimension out of range"
            raise ValueError(
                f"expected a batch, shape (N, {self.config.in_features}) or (N, 1, 28, 28), got {tuple(x.shape)}; "
                "for one example use x[None]."
            )
        x = x.flatten(1)
        if x.shape[1] != self.config.in_features:
            raise ValueError(
                f"expected {self.config.in_features} input features per example, got {x.shape[1]} "
                f"(input shape {tuple(x.shape)}); set MLPConfig(in_features=...) to match your data."
            )
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def init_linear_(m: nn.Linear, scheme: str, activation: str) -> None:
    """Draw a Linear layer's weight by ``scheme`` ("kaiming", "xavier" or "small") and zero its bias, in place."""
    if scheme == "kaiming":
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu" if activation == "relu" else "linear")
    elif scheme == "xavier":
        nn.init.xavier_normal_(m.weight)
    elif scheme == "small":
        nn.init.normal_(m.weight, std=0.01)
    nn.init.zeros_(m.bias)


def randomise_batchnorm_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Give every BatchNorm random gamma, beta and running statistics, as a trained net has; returns the model.

    At init BN's running statistics are 0 and 1 and its affine parameters 1 and 0, so in eval mode it is
    (almost) the identity and a check that runs a block in eval mode could not see where a BN sits or
    whether it is used. Tests and exercise checkers use this to make a fresh net look trained.
    """

    def uniform(n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(uniform(n, -0.5, 0.5))
                m.running_var.copy_(uniform(n, 0.5, 2.0))
                if m.affine:
                    m.weight.copy_(uniform(n, 0.5, 1.5))
                    m.bias.copy_(uniform(n, -0.3, 0.3))
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
