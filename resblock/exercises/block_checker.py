"""A checker for He et al.'s basic residual block that names the mistake a learner's block makes (notebook 01).

``check_basic_block(cls)`` builds the learner's class at four shapes (same shape, channel change,
stride 2, both) and probes what it does, rather than how it is written:

1. structure: the branch's layers (conv1, bn1, conv2, bn2, the seed's names), their strides, kernels
   and channels; the shortcut, found as ``self.shortcut`` or torchvision's ``self.downsample`` (a
   module, a function, ``None``, or no attribute when ``forward`` adds x itself);
2. a training-mode forward, timed (:data:`FORWARD_SECONDS`): which layers run and in what order, what
   the shortcut saw, whether x was changed in place, the output's shape;
3. probes in inference mode. With bn2's scale at 0 and its shift at a large constant c, the branch
   outputs exactly c, every ReLU around it lets it through, and ``block(x) - c`` *is* what the shortcut
   carries. Two values of c give how many times the branch enters the sum. The shortcut must be the
   identity where shapes agree, and where they do not either a projection (1x1 conv with the stride,
   then BN: the paper's option B, the seed's) or a parameter-free shortcut (subsample by the stride,
   zero-pad the new channels: option A, which He et al. used on CIFAR-10, sec. 4.2);
4. the formula relu(R(x) + shortcut(x)) with R built from the block's own layers, then a list of known
   wrong formulas (ReLU before the add, no final ReLU, ...); a block that matches none is described
   by what the probes found, not just "something else";
5. the gradient with the branch switched off: it must reach x through the shortcut.

Any legitimate way of writing the block passes: ``F.relu`` or an ``nn.ReLU`` module, ``out = out +
shortcut`` or ``out += shortcut(x)`` on a new tensor, a shortcut module or function, convs with or
without bias (the success message notes what differs from the paper).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import needs_projection
from resblock.env import seeded
from resblock.exercises import Mistake, call_with_time_limit
from resblock.models import randomise_batchnorm_

# (in_planes, planes, stride): same shape, channel change, stride 2, both. Every block answer is
# built and run at each; the first is also where a missing projection cannot hide.
CONFIGS = [(8, 8, 1), (8, 16, 1), (8, 8, 2), (8, 16, 2)]
SIZE = 6  # inputs are 2 x in_planes x 6 x 6; stride 2 gives 3 x 3
LAYERS = ("conv1", "bn1", "conv2", "bn2")
SHORTCUT_NAMES = ("shortcut", "downsample")  # the seed's name, and torchvision's
FORWARD_SECONDS = 5.0  # one forward on a 2 x 8 x 6 x 6 batch takes milliseconds; 5 s means a loop or a sleep
BUILD_SECONDS = 5.0
PROBE = 100.0  # bn2's shift in the probes: larger than anything the shortcut carries, so relu(c + s) = c + s
ATOL = 1e-4


def _where(cfg: tuple[int, int, int]) -> str:
    return "in_planes={}, planes={}, stride={}".format(*cfg)


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


def _close(a: Any, b: Any, atol: float = ATOL) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and isinstance(b, torch.Tensor)
        and a.shape == b.shape
        and torch.allclose(a, b, atol=atol, rtol=1e-4)
    )


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if isinstance(module, nn.Module) else 0


def _modules_of(module: Any, kind: type) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)] if isinstance(module, nn.Module) else []


# --- 1. the class and its structure ----------------------------------------------------------------------


def _require_block_class(answer: Any) -> None:
    if isinstance(answer, nn.Module):
        raise Mistake(
            f"pass the class itself (`{type(answer).__name__}`), not a block made from it "
            f"(`{type(answer).__name__}(8, 8)`): the checker builds blocks of several shapes."
        )
    if not (inspect.isclass(answer) and issubclass(answer, nn.Module)):
        raise Mistake(f"expected a class that subclasses `nn.Module`, got {type(answer).__name__} {answer!r}.")
    try:
        sig = inspect.signature(answer)
        for args, kwargs in (((8, 8), {}), ((8, 16), {"stride": 2})):
            sig.bind(*args, **kwargs)
    except TypeError:
        raise Mistake(
            f"`{answer.__name__}` takes {sig}; a block must take `(in_planes, planes, stride=1)`, the "
            "seed's signature, so that `Block(16, 16)` and `Block(16, 32, stride=2)` both work."
        ) from None
    if answer.forward is nn.Module.forward:
        raise Mistake(
            f"`{answer.__name__}` has no `forward` method, so PyTorch cannot call it (the seed's "
            "snippet stops before its `forward`, too). Add `def forward(self, x):` returning relu(R(x) + shortcut(x))."
        )


def _build(cls: type, cfg: tuple[int, int, int]) -> nn.Module:
    """Make a block (timed), turning the classic construction errors into named mistakes."""
    try:
        return call_with_time_limit(
            cls,
            *cfg[:2],
            stride=cfg[2],
            seconds=BUILD_SECONDS,
            what=f"building your block, `{cls.__name__}({cfg[0]}, {cfg[1]}, stride={cfg[2]})`,",
        )
    except AttributeError as e:
        if "before Module.__init__() call" in str(e):
            raise Mistake(
                "`__init__` assigns layers before calling `super().__init__()`: nn.Module must set "
                "itself up first (PyTorch says: " + str(e) + "). Make `super().__init__()` the first line."
            ) from None
        raise
    except NameError as e:
        if "BasicBlock" in str(e):
            raise Mistake(
                "`super(BasicBlock, self)` names a class that does not exist here: this is the seed's "
                "bug (its class is called ResidualBlock). Write `super().__init__()`, which needs no names."
            ) from None
        raise
    except TypeError as e:
        if "super(type, obj)" in str(e):
            raise Mistake(
                "`super(X, self)` names a class that is not this one (the seed's `super(BasicBlock, self)` "
                "bug). Write `super().__init__()`."
            ) from None
        raise


def _shortcut_of(block: nn.Module) -> tuple[str | None, Any]:
    """(attribute name, value) of the block's shortcut; (None, None) when forward must add x itself."""
    for name in SHORTCUT_NAMES:
        if name in block._modules or hasattr(block, name):
            return name, getattr(block, name)
    return None, None


def _check_structure(block: nn.Module, cfg: tuple[int, int, int]) -> None:
    """The layers the seed names, with the shapes and strides of He et al.'s basic block."""
    in_planes, planes, stride = cfg
    for name, kind in zip(LAYERS, (nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d)):
        layer = getattr(block, name, None)
        if isinstance(layer, kind):
            continue
        if kind is nn.BatchNorm2d and not _modules_of(block, nn.BatchNorm2d):
            raise Mistake(
                "batch normalisation missing: your block has no `nn.BatchNorm2d`. He et al. put BN right after "
                "each convolution and before the activation (sec. 3.4); without it R(x) is not normalised and a "
                "deep stack is hard to train. Add `self.bn1 = nn.BatchNorm2d(planes)` and `self.bn2` likewise."
            )
        raise Mistake(
            f"`self.{name}` should be an `nn.{kind.__name__}`, found {type(layer).__name__}. Use the seed's names "
            "conv1, bn1, conv2, bn2 and shortcut, so the checker can look inside your block."
        )
    c1, c2 = block.conv1, block.conv2
    s = (stride, stride)
    if stride != 1 and c1.stride == (1, 1) and c2.stride == s:
        raise Mistake(
            f"wrong stride: at {_where(cfg)} the stride is on conv2 instead of conv1. The shapes still come out "
            "right, but He et al. (and torchvision) downsample in the block's first conv: conv1 then computes "
            "a quarter of the outputs it would at stride 1 (conv2's cost is the same either way), so the block "
            "costs less for the same shapes. Put `stride=stride` on conv1 and `stride=1` on conv2."
        )
    if c1.stride != s or c2.stride != (1, 1):
        raise Mistake(
            f"wrong stride: at {_where(cfg)} conv1 has stride {c1.stride} and conv2 stride {c2.stride}; the block "
            f"downsamples once, in conv1 (stride={stride}), and conv2 keeps stride 1."
        )
    for name, conv, cin in (("conv1", c1, in_planes), ("conv2", c2, planes)):
        same = conv.padding == "same" and conv.stride == (1, 1)  # Keras's habit: at stride 1 it is padding=1
        if conv.kernel_size != (3, 3) or (conv.padding != (1, 1) and not same):
            raise Mistake(
                f"`{name}` has kernel_size {conv.kernel_size} and padding {conv.padding}; the basic block uses 3x3 "
                "convs with padding=1, so the size changes only by the stride."
            )
        if (conv.in_channels, conv.out_channels) != (cin, planes):
            raise Mistake(
                f"at {_where(cfg)} `{name}` maps {conv.in_channels} -> {conv.out_channels} channels; it should map "
                f"{cin} -> {planes} (conv1: in_planes -> planes, conv2: planes -> planes)."
            )
    for name in ("bn1", "bn2"):
        if getattr(block, name).num_features != planes:
            raise Mistake(
                f"at {_where(cfg)} `{name}` normalises {getattr(block, name).num_features} channels, but the conv "
                f"before it outputs {planes}: use `nn.BatchNorm2d(planes)`."
            )
    _check_shortcut_structure(block, cfg)


def _check_shortcut_structure(block: nn.Module, cfg: tuple[int, int, int]) -> None:
    in_planes, planes, stride = cfg
    name, shortcut = _shortcut_of(block)
    if not isinstance(shortcut, nn.Module):
        # A 1x1 conv under another name (self.skip, self.proj) is a projection the checker cannot find.
        elsewhere = [
            attr
            for attr, m in block.named_children()
            if attr not in LAYERS and any(isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1) for c in m.modules())
        ]
        if elsewhere:
            raise Mistake(
                f"your projection seems to be `self.{elsewhere[0]}`; name it `self.shortcut` (as the seed does; "
                "torchvision calls it `downsample`), a module used as `self.shortcut(x)` in forward, so that the "
                "block and the checker find it."
            )
    if shortcut is not None and not isinstance(shortcut, nn.Module) and not callable(shortcut):
        raise Mistake(
            f"`self.{name}` is a {type(shortcut).__name__}, not an nn.Module, so PyTorch does not see the layers "
            "in it (their parameters would never train). Wrap them: `nn.Sequential(conv, bn)`."
        )
    if not needs_projection(in_planes, planes, stride):
        if _params(shortcut):
            raise Mistake(
                f"a projection where none is needed: at {_where(cfg)} x already has R(x)'s shape, so the shortcut "
                f"should be the identity, but yours has {_params(shortcut)} parameters. The condition is "
                "`stride != 1 or in_planes != planes`. (Projections everywhere are the paper's option C: slightly "
                "better on ImageNet, but they cost parameters and lose the identity that lets a block start as x.)"
            )
        return
    if not _params(shortcut):
        return  # parameter-free where shapes change: it may be option A; the probes decide
    convs = _modules_of(shortcut, nn.Conv2d)
    if (
        len(convs) != 1
        or convs[0].kernel_size != (1, 1)
        or convs[0].stride != (stride, stride)
        or convs[0].out_channels != planes
    ):
        found = ", ".join(
            f"Conv2d(kernel_size={c.kernel_size}, stride={c.stride}, out={c.out_channels})" for c in convs
        )
        raise Mistake(
            f"at {_where(cfg)} the projection should be one 1x1 conv with stride {stride} to {planes} channels "
            f"(then BN); found {found or 'no conv'}."
        )
    if not _modules_of(shortcut, nn.BatchNorm2d):
        raise Mistake(
            "the projection shortcut has no BatchNorm: in the paper's option B (and the seed, and torchvision) "
            "the 1x1 conv is followed by `nn.BatchNorm2d(planes)`, so both terms of the sum are normalised alike."
        )


# --- 2. one forward in training mode ------------------------------------------------------------------------


class _CallLog:
    """Forward hooks that record which of the block's layers ran, in order, and what the shortcut saw."""

    def __init__(self, block: nn.Module) -> None:
        self.order: list[str] = []
        self.shortcut_inputs: list[torch.Tensor] = []
        self.handles = [getattr(block, n).register_forward_hook(self._log(n)) for n in LAYERS]
        _, shortcut = _shortcut_of(block)
        if isinstance(shortcut, nn.Module):
            self.handles.append(shortcut.register_forward_pre_hook(self._log_shortcut))

    def _log(self, name: str) -> Callable:
        return lambda module, inputs, output: self.order.append(name)

    def _log_shortcut(self, module: nn.Module, inputs: tuple) -> None:
        self.shortcut_inputs.append(inputs[0])

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _forward(block: nn.Module, x: torch.Tensor) -> Any:
    """block(x), stopped with a message naming the call after FORWARD_SECONDS."""
    return call_with_time_limit(
        block, x, seconds=FORWARD_SECONDS, what="your `forward`", on=f"on a batch of shape {tuple(x.shape)}"
    )


def _run(block: nn.Module, x: torch.Tensor, cfg: tuple[int, int, int], log: _CallLog) -> torch.Tensor:
    """Call the block's forward, naming shape errors at the addition."""
    name, shortcut = _shortcut_of(block)
    try:
        out = _forward(block, x)
    except RuntimeError as e:
        if any(s is not x and s.shape != x.shape for s in log.shortcut_inputs):
            raise Mistake(
                f"`self.{name}` was applied to an intermediate result, not to the block's input: did you reuse "
                f"the name `x` for R's layers? Keep the input (`identity = x`) and add `self.{name}(identity)`."
            ) from None
        if "must match the size" in str(e) and needs_projection(*cfg) and not _params(shortcut):
            in_planes, planes, stride = cfg
            shapes = _shapes(block, shortcut, x)
            if shapes is not None and shapes[0] != tuple(x.shape):
                raise Mistake(
                    f"at {_where(cfg)} your parameter-free shortcut maps x of shape {tuple(x.shape)} to {shapes[0]}, "
                    f"but R(x) has shape {shapes[1]}. Option A subsamples by the block's own stride "
                    "(`x[:, :, ::stride, ::stride]`, which keeps everything at stride 1) and pads `planes - in_planes` "
                    "zero channels. (CIFAR ResNet code often hard-codes `::2` and `planes // 4` on each side, which fits "
                    "only a block that both halves the size and doubles the channels.)"
                ) from None
            raise Mistake(
                f"projection missing when needed: at {_where(cfg)} x has shape (N, {in_planes}, H, W) but R(x) has "
                f"(N, {planes}, H/{stride}, W/{stride}), so they cannot be added (PyTorch says: {e}). When "
                "`stride != 1 or in_planes != planes` build the seed's projection (option B), "
                "`nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), "
                "nn.BatchNorm2d(planes))`, or the paper's option A (subsample by the stride, zero-pad the new channels)."
            ) from None
        if "must match the size" in str(e):
            extra = (
                " Your shortcut does project x, so you probably add `x` itself: add `self.shortcut(x)`."
                if _params(shortcut)
                else " Does your shortcut project x when `stride != 1 or in_planes != planes`?"
            )
            raise Mistake(
                f"at {_where(cfg)} R(x) and the shortcut have different shapes, so they cannot be added "
                f"(PyTorch says: {e}).{extra}"
            ) from None
        raise
    except TypeError as e:
        if "unsupported operand" in str(e) and any(
            k in str(e) for k in ("Sequential", "Identity", "Module", "function")
        ):
            raise Mistake(
                "you add the shortcut itself, not what it computes: call it on the input, `self.shortcut(x)` "
                f"(PyTorch says: {e})."
            ) from None
        raise
    if out is Ellipsis:
        raise NotImplementedError  # `return ...`: not answered yet
    if out is None:
        raise Mistake("`forward` returned None: did you forget `return`?")
    if not isinstance(out, torch.Tensor):
        raise Mistake(f"`forward` should return a tensor, got {type(out).__name__}.")
    return out


def _shapes(block: nn.Module, shortcut: Any, x: torch.Tensor) -> tuple[tuple, tuple] | None:
    """(shape of shortcut(x), shape of R(x)) where both can be computed, else None."""
    try:
        with torch.no_grad():
            s = (
                x
                if shortcut is None
                else call_with_time_limit(shortcut, x, seconds=FORWARD_SECONDS, what="your shortcut")
            )
            return tuple(s.shape), tuple(_branch(block, x).shape)
    except Exception:  # the shortcut itself fails: the caller's message stands
        return None


def _check_calls(log: _CallLog, cfg: tuple[int, int, int], block: nn.Module, x: torch.Tensor) -> None:
    # Same storage and shape as x (so x.detach() still counts as x here; the gradient check catches that).
    if any(
        s.shape == x.shape and s.data_ptr() != x.data_ptr() and torch.equal(s, F.relu(x)) for s in log.shortcut_inputs
    ):
        raise Mistake(
            "the shortcut carries relu(x), not x: a ReLU is applied to the input before the shortcut takes it "
            "(`x = F.relu(x)` at the top of forward?). The post-activation block applies ReLU inside R and after "
            "the sum only; the shortcut takes the block's input as it is."
        )
    if any(s.data_ptr() != x.data_ptr() or s.shape != x.shape for s in log.shortcut_inputs):
        raise Mistake(
            "`self.shortcut` was applied to an intermediate result, not to the block's input x (did you reuse "
            "the name `x`?): the shortcut carries the block's *input* past the layers. Keep the input "
            "(`identity = x`) and add `self.shortcut(identity)`."
        )
    for name in LAYERS:
        if name not in log.order:
            raise Mistake(f"`self.{name}` is never used in `forward`; R(x) is bn2(conv2(relu(bn1(conv1(x))))).")
        if log.order.count(name) > 1:
            raise Mistake(
                f"`self.{name}` is called {log.order.count(name)} times in one forward pass; each layer runs once."
            )
    if log.order == ["bn1", "conv1", "bn2", "conv2"]:
        raise Mistake(
            "your layers run BN -> conv, BN -> conv: that is the pre-activation block of He et al.'s second paper "
            "(2016, notebook 07). This exercise asks for the original basic block: conv1 -> bn1 -> ReLU -> conv2 -> "
            "bn2, then add the shortcut, then ReLU."
        )
    if log.order != list(LAYERS):
        raise Mistake(
            f"the layers run in the order {' -> '.join(log.order)}; R(x) is conv1 -> bn1 -> ReLU -> conv2 -> bn2."
        )
    _, shortcut = _shortcut_of(block)
    if _params(shortcut) and not log.shortcut_inputs:
        raise Mistake(
            f"at {_where(cfg)} `self.shortcut` is never called: the projection must be applied to x before the add."
        )


# --- 3. probes: what the shortcut carries, how often the branch is added -----------------------------------


def _with_branch(block: nn.Module, x: torch.Tensor, value: float) -> torch.Tensor:
    """The block's output when R(x) is the constant ``value`` (bn2's gamma 0, beta ``value``), bn2 restored after."""
    bn2 = block.bn2
    saved = bn2.weight.detach().clone(), bn2.bias.detach().clone()
    try:
        with torch.no_grad():
            bn2.weight.zero_()
            bn2.bias.fill_(value)
            return _forward(block, x)
    finally:
        with torch.no_grad():
            bn2.weight.copy_(saved[0])
            bn2.bias.copy_(saved[1])


def _coefficient_at(
    block: nn.Module, x: torch.Tensor, probe: float, smallest: float
) -> tuple[float | None, torch.Tensor | None]:
    """(k, s) as in _branch_coefficient, from the constants +-probe; |k| <= ``smallest`` counts as 0."""
    flat = None
    for c in (probe, -probe):
        low, high = _with_branch(block, x, c), _with_branch(block, x, 2 * c)
        if low.shape != high.shape:
            return None, None
        slope = (high - low) / c
        k = slope.mean().item()
        if not torch.allclose(slope, torch.full_like(slope, k), atol=1e-3):
            return None, None
        # Not 0: a sigmoid, tanh or clamp gives a slope of ~0 here; a scaled branch (0.1 * R, (R + x) / 2)
        # gives its scale, which the caller names.
        if abs(k) > smallest:
            return k, low - k * c
        flat = low
    return 0.0, flat


def _branch_coefficient(block: nn.Module, x: torch.Tensor) -> tuple[float | None, torch.Tensor | None]:
    """(k, s): the block's output is k * R(x) + s for a large constant R (k = 1 and s = shortcut(x) if right).

    A positive constant passes every ReLU when the branch is added; a negative one when it is subtracted.
    k = 0 when the output does not follow R at all; None when it follows it some other way.
    """
    k, s = _coefficient_at(block, x, PROBE, smallest=0.05)
    if not k:
        # A branch scaled far down (0.01 * R) is cut by the ReLU where the shortcut is below -100k, so it
        # looks like "some other function" at PROBE: a 100x larger constant passes the ReLU and names the
        # scale. Only the coefficient is taken from it (float32 at 1e4 cannot give s to ATOL).
        big, s_big = _coefficient_at(block, x, 100 * PROBE, smallest=1e-3)
        if big and abs(big) <= 0.05:
            return big, s_big
    return k, s


def _option_a(x: torch.Tensor, planes: int, stride: int, channel_offset: int, pool: bool) -> torch.Tensor:
    """He et al.'s option A: subsample by the stride (or average-pool), zero channels around x's."""
    y = F.avg_pool2d(x, stride, ceil_mode=True) if pool and stride > 1 else x[:, :, ::stride, ::stride]
    extra = planes - x.shape[1]
    return F.pad(y, (0, 0, 0, 0, channel_offset, extra - channel_offset))


def _match_option_a(s: torch.Tensor, x: torch.Tensor, planes: int, stride: int) -> Callable | None:
    """The option-A shortcut function that gives ``s``, if one does (any placement of the zero channels)."""
    extra = planes - x.shape[1]
    if extra < 0:
        return None
    for pool in (False, True):
        for offset in range(extra + 1):
            candidate = _option_a(x, planes, stride, offset, pool)
            if _close(s, candidate):
                return lambda z, o=offset, p=pool: _option_a(z, planes, stride, o, p)
    return None


def _parameter_free_shortcut(s: torch.Tensor, x: torch.Tensor, cfg: tuple[int, int, int]) -> Callable:
    """Where the shape changes and the shortcut has no parameters it must be option A: return it, or name the mistake."""
    in_planes, planes, stride = cfg
    found = _match_option_a(s, x, planes, stride)
    if found is not None:
        return found
    for factor, message in (
        (
            0.5,
            "shortcut added twice: with the residual branch switched off your block outputs "
            "relu(2 * shortcut(x)); add it once.",
        ),
        (-1.0, "you subtract the shortcut: H(x) = R(x) + x, add it."),
    ):
        if _match_option_a(s * factor, x, planes, stride) is not None:
            raise Mistake(f"at {_where(cfg)}: {message}")
    if torch.count_nonzero(s.abs() > ATOL) == 0:
        raise Mistake(
            f"missing shortcut: at {_where(cfg)}, with the residual branch switched off, your block passes nothing "
            "of x on, like a plain block. Where the shape changes, project x (option B) or subsample and zero-pad it "
            "(option A), and add it: relu(R(x) + shortcut(x))."
        )
    sub = x[:, :, ::stride, ::stride]
    if planes % in_planes == 0 and _close(s, sub.repeat(1, planes // in_planes, 1, 1)):
        raise Mistake(
            f"at {_where(cfg)} your parameter-free shortcut repeats x's channels to fill the new ones; the paper's "
            "option A pads the new channels with zeros (the shortcut then adds no parameters and no copies)."
        )
    raise Mistake(
        f"projection missing when needed: at {_where(cfg)} x has shape (N, {in_planes}, H, W) but R(x) has "
        f"(N, {planes}, H/{stride}, W/{stride}), and your shortcut has no parameters and is not the paper's "
        "option A (subsample by the stride, pad the new channels with zeros). Build option B, the seed's "
        "projection: `nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), "
        "nn.BatchNorm2d(planes))` when `stride != 1 or in_planes != planes`."
    )


def _bn2_sees_the_shortcut(block: nn.Module, x: torch.Tensor, want: torch.Tensor) -> bool:
    """Whether bn2's input is conv2's output plus the shortcut: BatchNorm after the addition, not before it."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        block.conv2.register_forward_hook(lambda m, i, o: seen.setdefault("conv2", o.detach())),
        block.bn2.register_forward_pre_hook(lambda m, i: seen.setdefault("bn2", i[0].detach())),
    ]
    try:
        with torch.no_grad():
            _forward(block, x)
    finally:
        for h in handles:
            h.remove()
    conv2, bn2 = seen.get("conv2"), seen.get("bn2")
    return conv2 is not None and not _close(bn2, conv2) and _close(bn2, conv2 + want)


def _name_shortcut(
    s: torch.Tensor, want: torch.Tensor, x: torch.Tensor, cfg: tuple[int, int, int], block: nn.Module
) -> None:
    """The shortcut carried ``s`` where it should carry ``want``: raise the mistake that explains it."""
    at = f"at {_where(cfg)}, with the residual branch switched off,"
    if _bn2_sees_the_shortcut(block, x, want):
        raise Mistake(
            f"BatchNorm after the addition: at {_where(cfg)} your bn2 normalises R(x) + shortcut(x), so x does not "
            "reach the output unchanged (BN rescales it with R). He et al. put BN inside the branch, before the "
            "sum: relu(bn2(conv2(...)) + self.shortcut(x))."
        )
    if torch.count_nonzero(s.abs() > ATOL) == 0:
        raise Mistake(
            f"missing shortcut: {at} your block passes nothing of x on, like a plain block; it should output "
            "relu(shortcut(x)). Add the shortcut: relu(R(x) + self.shortcut(x))."
        )
    if _close(s, 2 * want):
        raise Mistake(
            f"shortcut added twice: {at} your block outputs relu(2 * shortcut(x)). Add `self.shortcut(x)` once "
            "(`out += identity` and `out = out + self.shortcut(x)` together add it twice)."
        )
    if _close(s, -want):
        raise Mistake(
            f"you subtract the shortcut: {at} your block outputs relu(-shortcut(x)). H(x) = R(x) + x: add it."
        )
    if s.shape == x.shape and _close(s, F.relu(x)) and not _close(want, F.relu(x)):
        raise Mistake(
            f"{at} the shortcut carries relu(x), not x: a ReLU is applied to the input before the shortcut takes "
            "it (or in place on x). The post-activation block applies ReLU inside R and after the sum only."
        )
    raise Mistake(
        f"{at} your block should output relu(shortcut(x)), but it passes on something else: the shortcut must "
        "carry x unchanged (or its projection, where the shape changes) straight to the sum."
    )


# --- 4. the formula, known wrong formulas, a diagnosis for the rest ----------------------------------------


def _branch(block: nn.Module, x: torch.Tensor, variant: str = "paper") -> torch.Tensor:
    """R(x) from the answer's own layers, as the paper builds it or as a known mistake builds it."""
    b = block
    if variant == "no_middle_relu":
        return b.bn2(b.conv2(b.bn1(b.conv1(x))))
    if variant == "relu_before_bn":
        return b.bn2(b.conv2(b.bn1(F.relu(b.conv1(x)))))
    return b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))


def _name_the_formula(
    block: nn.Module, x: torch.Tensor, out: torch.Tensor, S: torch.Tensor, cfg: tuple[int, int, int]
) -> bool:
    """True if out is relu(R(x) + S); otherwise raise the known mistake it matches, or return False."""
    with torch.no_grad():
        R = _branch(block, x)
        if _close(out, F.relu(R + S), 1e-5):
            return True
        candidates = [
            (
                F.relu(R),
                "missing shortcut: your block computes relu(R(x)), a plain block. Add the shortcut: "
                "relu(R(x) + self.shortcut(x)).",
            ),
            (
                R + S,
                "no ReLU after the addition: the block computes R(x) + shortcut(x); He et al. apply the "
                "ReLU after adding, relu(R(x) + shortcut(x)).",
            ),
            (
                F.relu(R) + S,
                "ReLU before the add instead of after: you apply ReLU to R(x) and then add "
                "shortcut(x); the paper adds first and applies ReLU to the sum.",
            ),
            (
                F.relu(F.relu(R) + S),
                "an extra ReLU on the residual branch before the add: then R(x) >= 0, so a "
                "block can only add to its input, never subtract. bn2's output goes straight "
                "into the sum; the ReLU comes after it.",
            ),
            (
                F.relu(_branch(block, x, "no_middle_relu") + S),
                "no ReLU between the two convolutions: R(x) is conv1 -> bn1 -> ReLU -> conv2 -> bn2.",
            ),
            (
                F.relu(_branch(block, x, "relu_before_bn") + S),
                "ReLU before BN in the branch: the paper's order is conv -> BN -> ReLU.",
            ),
            (F.relu(R + 2 * S), "shortcut added twice: your block computes relu(R(x) + 2 shortcut(x)). Add it once."),
            (
                F.relu(R + R) if R.shape == S.shape else None,
                "you add R(x) to itself: the name `x` was reused "
                "for an intermediate result. Keep the input "
                "(`identity = x`) and add `self.shortcut(identity)`.",
            ),
            (F.relu(S), "your block ignores the residual branch R(x): it outputs relu(shortcut(x))."),
        ]
        for candidate, message in candidates:
            if candidate is not None and _close(out, candidate, 1e-5):
                raise Mistake(f"at {_where(cfg)}: {message}")
    return False


def _sensitivity(block: nn.Module, x: torch.Tensor) -> list[str]:
    """The branch layers whose parameters the output does not depend on (each nudged in turn)."""
    dead = []
    with torch.no_grad():
        base = _forward(block, x)
        for name in LAYERS:
            layer = getattr(block, name)
            saved = [p.detach().clone() for p in layer.parameters()]
            for p in layer.parameters():
                p.add_(0.5)
            moved = _forward(block, x)
            for p, v in zip(layer.parameters(), saved):
                p.copy_(v)
            if _close(moved, base, 1e-7):
                dead.append(name)
    return dead


def _diagnose_branch(block: nn.Module, x: torch.Tensor, cfg: tuple[int, int, int]) -> None:
    """The shortcut is right and R enters once, yet the output is not relu(R + S): say where to look."""
    dead = _sensitivity(block, x)
    if dead:
        raise Mistake(
            f"at {_where(cfg)} your block's output does not change when the parameters of "
            f"{', '.join('`' + d + '`' for d in dead)} change: that layer runs, but its result is lost on the way "
            "(overwritten, or a later step ignores it). R(x) is bn2(conv2(relu(bn1(conv1(x)))))."
        )
    raise Mistake(
        f"at {_where(cfg)} the shortcut is right (with the branch switched off your block outputs relu(shortcut(x))) "
        "and R(x) enters the sum once, yet the output is not relu(R(x) + shortcut(x)) with R(x) = "
        "bn2(conv2(relu(bn1(conv1(x))))): look inside R, at the activation (ReLU, not another function) and what "
        "happens between conv1 and bn2."
    )


# --- 5. the gradient with the branch off ---------------------------------------------------------------------


def _check_gradient(block: nn.Module, x: torch.Tensor, shortcut: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """With R(x) zeroed the only way back to x is the shortcut: dH/dx must be relu' * dshortcut/dx."""
    bn2 = block.bn2
    with torch.no_grad():
        bn2.weight.zero_()
        bn2.bias.zero_()
    xg = x.clone().requires_grad_(True)
    _forward(block, xg).sum().backward()
    xr = x.clone().requires_grad_(True)
    F.relu(shortcut(xr)).sum().backward()
    if xg.grad is None or not torch.allclose(xg.grad, xr.grad, atol=1e-5):
        raise Mistake(
            "no gradient flows back to the input through your shortcut (did you `.detach()` x, use `x.data`, "
            "or compute it under `torch.no_grad()`?). That gradient highway is the point of the shortcut."
        )


# --- the whole check -----------------------------------------------------------------------------------------


def _check_one_config(cls: type, cfg: tuple[int, int, int], generator: torch.Generator) -> set[str]:
    in_planes, planes, stride = cfg
    notes: set[str] = set()
    block = _build(cls, cfg)
    _check_structure(block, cfg)
    x = torch.randn(2, in_planes, SIZE, SIZE, generator=generator)
    x_before = x.clone()

    # 2. Train mode, as in training: it runs, calls each layer once, gives the right shape, leaves x alone.
    log = _CallLog(block)
    try:
        out = _run(block.train(), x, cfg, log)
    finally:
        log.close()
    if not torch.equal(x, x_before):
        raise Mistake(
            "your forward changed its input tensor in place (`x += ...`, `x.relu_()`, `nn.ReLU(inplace=True)` "
            "applied to x, or `out = self.shortcut(x); out += ...` when the shortcut is the identity and "
            "returns x itself). The caller's x is then corrupted. Add out of place: `out = R + self.shortcut(x)`, "
            "R the branch's output."
        )
    _check_calls(log, cfg, block, x)
    side = -(-SIZE // stride)
    if tuple(out.shape) != (2, planes, side, side):
        raise Mistake(f"at {_where(cfg)} the output has shape {tuple(out.shape)}; expected {(2, planes, side, side)}.")

    # 3. Eval mode, random BN statistics (so where each ReLU sits shows); probe the shortcut and the branch.
    block.eval()
    randomise_batchnorm_(block, generator)  # so that where a ReLU sits shows in eval mode
    name, module = _shortcut_of(block)
    k, s = _branch_coefficient(block, x)
    if k is None:
        raise Mistake(
            f"at {_where(cfg)} your block's output does not follow R(x) one to one: R(x) should enter the sum "
            "once, as it is, relu(R(x) + shortcut(x)). Look for a function other than ReLU applied to the branch "
            "or to the sum."
        )
    if abs(k) < 1e-3 and not _close(_forward(block, x), _with_branch(block, x, 0.0)):
        raise Mistake(
            f"at {_where(cfg)} your block's output stops following R(x) when R(x) is large: something other "
            "than ReLU (a sigmoid, a tanh, a clamp) is applied to the branch or to the sum. The block is "
            "relu(R(x) + shortcut(x)); ReLU passes any positive value through unchanged."
        )
    if abs(k) < 1e-3:
        raise Mistake(
            f"at {_where(cfg)} your block ignores the residual branch R(x): its output does not change when R(x) "
            "does (R is computed, then lost). Add it to the shortcut: relu(R(x) + self.shortcut(x))."
        )
    if abs(k - 1) > 1e-3:
        if abs(k + 1) < 1e-3:
            raise Mistake(f"at {_where(cfg)} your block subtracts R(x): H(x) = R(x) + x, the branch is added.")
        if abs(k - 2) < 1e-3:
            raise Mistake(
                f"at {_where(cfg)} your block adds R(x) twice: did you reuse the name `x` for an intermediate "
                "result, so that the shortcut adds R(x) again? Keep the input (`identity = x`) and add `self.shortcut(identity)`."
            )
        raise Mistake(
            f"at {_where(cfg)} your block adds R(x) {k:.3g} times; H(x) = R(x) + x adds it once, unscaled. "
            "(Averaging the sum, or scaling the branch down as some very deep nets do, is not He et al.'s block.)"
        )

    if not needs_projection(in_planes, planes, stride):
        shortcut_fn: Callable = lambda z: z
    elif _params(module):
        shortcut_fn = module
    else:
        shortcut_fn = _parameter_free_shortcut(s, x, cfg)
        notes.add("option A")
    with torch.no_grad():
        want = shortcut_fn(x)
    if not _close(s, want):
        _name_shortcut(s, want, x, cfg, block)

    # 4. The formula with the shortcut the block should have, a known wrong one, or a diagnosis.
    with torch.no_grad():
        out = _forward(block, x)
    if not _name_the_formula(block, x, out, want, cfg):
        _diagnose_branch(block, x, cfg)

    # 5. With R zeroed the gradient reaches x through the shortcut.
    _check_gradient(block, x, shortcut_fn)
    if block.conv1.bias is not None or block.conv2.bias is not None:
        notes.add("bias")
    if name is None:
        notes.add("inline")
    return notes


NOTES = {
    "option A": "Your shortcut is the paper's option A (subsample, zero-pad the new channels): no parameters, as "
    "He et al. used on CIFAR-10, so the residual net has exactly its plain twin's parameters. The seed and "
    "torchvision use option B, a 1x1 projection, which learns how to mix the channels and did slightly "
    "better on ImageNet (Table 3).",
    "bias": "Your convs have a bias: it works, but it is redundant, since the BN right after each conv subtracts "
    "the mean and adds its own shift (beta); `bias=False` saves the parameters.",
    "inline": "Your block has no `self.shortcut` attribute and adds x in `forward`: fine where the shortcut is "
    "the identity.",
}


def check_basic_block(cls: Any) -> str:
    """Checker for He et al.'s basic block: raise Mistake naming what is wrong with ``cls`` (notebook 01)."""
    if _is_placeholder(cls):
        raise NotImplementedError
    _require_block_class(cls)
    generator = torch.Generator().manual_seed(0)
    notes: set[str] = set()
    for cfg in CONFIGS:
        with seeded(0):  # the answer's layers start the same on every check; the notebook's stream is kept
            notes |= _check_one_config(cls, cfg, generator)
    praise = "your block matches He et al.'s basic block at stride 1 and 2, with and without a channel change."
    return " ".join([praise] + [NOTES[n] for n in ("option A", "bias", "inline") if n in notes])
