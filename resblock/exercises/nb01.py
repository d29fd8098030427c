"""Exercises for notebook 01, "The residual idea": ``from resblock.exercises import nb01 as ex``.

q1 write ``forward`` for the repaired block; q2 write the whole block; q3 when a projection is
needed; q4 and q5 the output shape and parameter count of a block; q6 the two meanings of
"residual". The block checkers test behaviour (shapes, a zeroed branch, the input left alone,
gradients) and name the mistake an answer looks like.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import ResidualBlock, needs_projection
from resblock.exercises import Mistake, Question

# (in_planes, planes, stride): same shape, channel change, stride 2, both. Every block answer is
# built and run at each; the first is also where a missing projection cannot hide.
CONFIGS = [(8, 8, 1), (8, 16, 1), (8, 8, 2), (8, 16, 2)]
SIZE = 6  # inputs are 2 x in_planes x 6 x 6; stride 2 gives 3 x 3
LAYERS = ("conv1", "bn1", "conv2", "bn2")


def _where(cfg: tuple[int, int, int]) -> str:
    return "in_planes={}, planes={}, stride={}".format(*cfg)


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


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
    """Make a block, turning the classic construction errors into named mistakes."""
    try:
        return cls(*cfg[:2], stride=cfg[2])
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


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if isinstance(module, nn.Module) else 0


def _modules_of(module: Any, kind: type) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, kind)] if isinstance(module, nn.Module) else []


def _check_structure(block: nn.Module, cfg: tuple[int, int, int]) -> None:
    """The layers the seed names, with the shapes and strides of He et al.'s basic block."""
    in_planes, planes, stride = cfg
    for name, kind in zip(LAYERS, (nn.Conv2d, nn.BatchNorm2d, nn.Conv2d, nn.BatchNorm2d)):
        layer = getattr(block, name, None)
        if not isinstance(layer, kind):
            raise Mistake(
                f"`self.{name}` should be an `nn.{kind.__name__}`, found {type(layer).__name__}. Use the seed's names "
                "conv1, bn1, conv2, bn2 and shortcut, so the checker can look inside your block."
            )
    if not hasattr(block, "shortcut"):
        raise Mistake("your block has no `self.shortcut`; set it to `nn.Sequential()` (the identity) or a projection.")
    c1, c2 = block.conv1, block.conv2
    s = (stride, stride)
    if stride != 1 and c1.stride == (1, 1) and c2.stride == s:
        raise Mistake(
            f"at {_where(cfg)} the stride is on conv2 instead of conv1. The shapes still come out right, but "
            "He et al. (and torchvision) downsample in the block's first conv, so conv1 already works at the "
            "smaller size and conv2 does a quarter of the work. Put `stride=stride` on conv1 and `stride=1` on conv2."
        )
    if c1.stride != s or c2.stride != (1, 1):
        raise Mistake(
            f"at {_where(cfg)} conv1 has stride {c1.stride} and conv2 stride {c2.stride}; the block downsamples "
            f"once, in conv1 (stride={stride}), and conv2 keeps stride 1."
        )
    for name, conv, cin in (("conv1", c1, in_planes), ("conv2", c2, planes)):
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1):
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
    shortcut = block.shortcut
    if shortcut is not None and not isinstance(shortcut, nn.Module):
        raise Mistake(
            f"`self.shortcut` is a {type(shortcut).__name__}, not an nn.Module, so PyTorch does not see the layers "
            "in it (their parameters would never train). Wrap them: `nn.Sequential(conv, bn)`."
        )
    if not needs_projection(in_planes, planes, stride):
        if _params(shortcut):
            raise Mistake(
                f"projection built when not needed: at {_where(cfg)} x already has R(x)'s shape, so the shortcut "
                f"should be the identity, but yours has {_params(shortcut)} parameters. The condition is "
                "`stride != 1 or in_planes != planes`; with an identity shortcut the block can start as the identity."
            )
        return
    if not _params(shortcut):
        raise Mistake(
            f"projection missing when needed: at {_where(cfg)} x has shape (N, {in_planes}, H, W) but R(x) has "
            f"(N, {planes}, H/{stride}, W/{stride}), and your shortcut has no parameters. Build "
            "`nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), "
            "nn.BatchNorm2d(planes))` when `stride != 1 or in_planes != planes`. (Zero-padding the channels, the "
            "paper's option A, is also valid, but this exercise asks for option B, the seed's projection.)"
        )
    convs = _modules_of(shortcut, nn.Conv2d)
    if len(convs) != 1 or convs[0].kernel_size != (1, 1) or convs[0].stride != s or convs[0].out_channels != planes:
        found = ", ".join(f"Conv2d(kernel_size={c.kernel_size}, stride={c.stride}, out={c.out_channels})" for c in convs)
        raise Mistake(
            f"at {_where(cfg)} the projection should be one 1x1 conv with stride {stride} to {planes} channels "
            f"(then BN); found {found or 'no conv'}."
        )
    if not _modules_of(shortcut, nn.BatchNorm2d):
        raise Mistake(
            "the projection shortcut has no BatchNorm: in the paper's option B (and the seed, and torchvision) "
            "the 1x1 conv is followed by `nn.BatchNorm2d(planes)`, so both terms of the sum are normalised alike."
        )


def _randomise_bn(block: nn.Module, generator: torch.Generator) -> None:
    """Give every BN non-trivial gamma, beta and running stats, so that where a ReLU sits shows in eval mode."""
    with torch.no_grad():
        for bn in _modules_of(block, nn.BatchNorm2d):
            n = bn.num_features
            bn.weight.copy_(torch.rand(n, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=generator) * 0.5)
            bn.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            bn.running_var.copy_(torch.rand(n, generator=generator) + 0.5)


class _CallLog:
    """Forward hooks that record which of the block's layers ran, in order, and what the shortcut saw."""

    def __init__(self, block: nn.Module) -> None:
        self.order: list[str] = []
        self.shortcut_inputs: list[torch.Tensor] = []
        self.handles = [getattr(block, n).register_forward_hook(self._log(n)) for n in LAYERS]
        if isinstance(getattr(block, "shortcut", None), nn.Module):
            self.handles.append(block.shortcut.register_forward_pre_hook(self._log_shortcut))

    def _log(self, name: str) -> Callable:
        return lambda module, inputs, output: self.order.append(name)

    def _log_shortcut(self, module: nn.Module, inputs: tuple) -> None:
        self.shortcut_inputs.append(inputs[0])

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _shortcut(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x if block.shortcut is None else block.shortcut(x)


def _branch(block: nn.Module, x: torch.Tensor, variant: str = "paper") -> torch.Tensor:
    """R(x) from the answer's own layers, as the paper builds it or as a known mistake builds it."""
    b = block
    if variant == "no_middle_relu":
        return b.bn2(b.conv2(b.bn1(b.conv1(x))))
    if variant == "relu_before_bn":
        return b.bn2(b.conv2(b.bn1(F.relu(b.conv1(x)))))
    return b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x)))))


def _run(block: nn.Module, x: torch.Tensor, cfg: tuple[int, int, int], log: _CallLog) -> torch.Tensor:
    """Call the block's forward, naming shape errors at the addition."""
    try:
        out = block(x)
    except RuntimeError as e:
        if any(s is not x and s.shape != x.shape for s in log.shortcut_inputs):
            raise Mistake(
                "`self.shortcut` was applied to an intermediate result, not to the block's input: did you reuse "
                "the name `x` for R's layers? Keep the input (`identity = x`) and add `self.shortcut(identity)`."
            ) from None
        if "must match the size" in str(e):
            extra = (
                " Your shortcut does project x, so you probably add `x` itself: add `self.shortcut(x)`."
                if _params(block.shortcut) else " Does your shortcut project x when `stride != 1 or in_planes != planes`?"
            )
            raise Mistake(
                f"at {_where(cfg)} R(x) and the shortcut have different shapes, so they cannot be added "
                f"(PyTorch says: {e}).{extra}"
            ) from None
        raise
    if out is None:
        raise Mistake("`forward` returned None: did you forget `return`?")
    if not isinstance(out, torch.Tensor):
        raise Mistake(f"`forward` should return a tensor, got {type(out).__name__}.")
    return out


def _check_calls(log: _CallLog, cfg: tuple[int, int, int], block: nn.Module, x: torch.Tensor) -> None:
    # Same storage and shape as x (so x.detach() still counts as x here; the gradient check catches that).
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
            raise Mistake(f"`self.{name}` is called {log.order.count(name)} times in one forward pass; each layer runs once.")
    if log.order != list(LAYERS):
        raise Mistake(f"the layers run in the order {' -> '.join(log.order)}; R(x) is conv1 -> bn1 -> ReLU -> conv2 -> bn2.")
    if _params(block.shortcut) and not log.shortcut_inputs:
        raise Mistake(f"at {_where(cfg)} `self.shortcut` is never called: the projection must be applied to x before the add.")


def _name_the_formula(block: nn.Module, x: torch.Tensor, out: torch.Tensor, cfg: tuple[int, int, int]) -> bool:
    """True if out is relu(R(x) + shortcut(x)); otherwise raise the known mistake it matches, or return False."""
    with torch.no_grad():
        R, S = _branch(block, x), _shortcut(block, x)
        expected = F.relu(R + S)
        if out.shape == expected.shape and torch.allclose(out, expected, atol=1e-5):
            return True
        candidates = [
            (F.relu(R), "missing shortcut: your block computes relu(R(x)), a plain block. Add the shortcut: "
                        "relu(R(x) + self.shortcut(x))."),
            (R + S, "no ReLU after the addition: the block computes R(x) + shortcut(x); He et al. apply the "
                    "ReLU after adding, relu(R(x) + shortcut(x))."),
            (F.relu(R) + S, "ReLU before the add instead of after: you apply ReLU to R(x) and then add "
                            "shortcut(x); the paper adds first and applies ReLU to the sum."),
            (F.relu(F.relu(R) + S), "an extra ReLU on the residual branch before the add: then R(x) >= 0, so a "
                                    "block can only add to its input, never subtract. bn2's output goes straight "
                                    "into the sum; the ReLU comes after it."),
            (F.relu(_branch(block, x, "no_middle_relu") + S), "no ReLU between the two convolutions: "
                                                              "R(x) is conv1 -> bn1 -> ReLU -> conv2 -> bn2."),
            (F.relu(_branch(block, x, "relu_before_bn") + S), "ReLU before BN in the branch: the paper's order "
                                                              "is conv -> BN -> ReLU."),
            (F.relu(R + R) if R.shape == S.shape else None, "you add R(x) to itself: the name `x` was reused "
                                                            "for an intermediate result. Keep the input "
                                                            "(`identity = x`) and add `self.shortcut(identity)`."),
            (F.relu(S), "your block ignores the residual branch R(x): it outputs relu(shortcut(x))."),
        ]
        for candidate, message in candidates:
            if candidate is not None and out.shape == candidate.shape and torch.allclose(out, candidate, atol=1e-5):
                raise Mistake(f"at {_where(cfg)}: {message}")
    return False


def _check_zeroed_branch(block: nn.Module, x: torch.Tensor, cfg: tuple[int, int, int]) -> None:
    """With R(x) zeroed (bn2's gamma and beta = 0) a residual block must output relu(shortcut(x))."""
    with torch.no_grad():
        zeroed, sc = block(x), _shortcut(block, x)
    if torch.allclose(zeroed, F.relu(sc), atol=1e-6):
        return
    if torch.count_nonzero(zeroed) == 0:
        raise Mistake(
            f"missing shortcut: at {_where(cfg)}, with the residual branch zeroed your block outputs all zeros, "
            "like a plain block; it should pass relu(shortcut(x)) through. Add `+ self.shortcut(x)`."
        )
    if torch.allclose(zeroed, sc, atol=1e-6):
        raise Mistake(
            f"no ReLU after the addition: at {_where(cfg)}, with the residual branch zeroed your block returns "
            "shortcut(x) unchanged, negative values too; the block ends with relu(R(x) + shortcut(x))."
        )
    raise Mistake(
        f"at {_where(cfg)}, with the residual branch zeroed (bn2's gamma and beta set to 0) your block should "
        "output relu(shortcut(x)), but it outputs something else."
    )


def _check_gradient(block: nn.Module, x: torch.Tensor) -> None:
    """With R(x) zeroed the only way back to x is the shortcut: dH/dx must be relu' * dshortcut/dx."""
    xg = x.clone().requires_grad_(True)
    block(xg).sum().backward()
    xr = x.clone().requires_grad_(True)
    F.relu(_shortcut(block, xr)).sum().backward()
    if xg.grad is None or not torch.allclose(xg.grad, xr.grad, atol=1e-5):
        raise Mistake(
            "no gradient flows back to the input through your shortcut (did you `.detach()` x, use `x.data`, "
            "or compute it under `torch.no_grad()`?). That gradient highway is the point of the shortcut."
        )


def _zero_branch(block: nn.Module) -> None:
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()


def _check_one_config(cls: type, cfg: tuple[int, int, int], generator: torch.Generator) -> None:
    in_planes, planes, stride = cfg
    block = _build(cls, cfg)
    _check_structure(block, cfg)
    x = torch.randn(2, in_planes, SIZE, SIZE, generator=generator)
    x_before = x.clone()

    # 1. Train mode, as in training: it runs, calls each layer once, gives the right shape, leaves x alone.
    log = _CallLog(block)
    try:
        out = _run(block.train(), x, cfg, log)
    finally:
        log.close()
    if not torch.equal(x, x_before):
        raise Mistake(
            "your forward changed its input tensor in place (`x += ...`, `x.relu_()`, `nn.ReLU(inplace=True)` "
            "applied to x, or `out = self.shortcut(x); out += ...` when the shortcut is the identity and "
            "returns x itself). The caller's x is then corrupted. Write `out = out + self.shortcut(x)`."
        )
    _check_calls(log, cfg, block, x)
    side = -(-SIZE // stride)
    if tuple(out.shape) != (2, planes, side, side):
        raise Mistake(f"at {_where(cfg)} the output has shape {tuple(out.shape)}; expected {(2, planes, side, side)}.")

    # 2. Eval mode, random BN statistics so that where each ReLU sits shows: the formula, or a named mistake.
    block.eval()
    _randomise_bn(block, generator)
    with torch.no_grad():
        out = block(x)
    if not _name_the_formula(block, x, out, cfg):
        _zero_branch(block)
        _check_zeroed_branch(block, x, cfg)
        raise Mistake(
            f"at {_where(cfg)} the output differs from relu(R(x) + shortcut(x)) with R(x) = "
            "bn2(conv2(relu(bn1(conv1(x))))); none of the usual mistakes matches."
        )
    # 3. With R zeroed: the output is relu(shortcut(x)) and the gradient reaches x through the shortcut.
    _zero_branch(block)
    _check_zeroed_branch(block, x, cfg)
    _check_gradient(block, x)


def check_basic_block(cls: Any) -> str:
    """Checker for He et al.'s basic block: raise Mistake naming what is wrong with ``cls`` (notebook 01)."""
    if _is_placeholder(cls):
        raise NotImplementedError
    _require_block_class(cls)
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream as it was
        for cfg in CONFIGS:
            torch.manual_seed(0)  # the answer's layers start the same on every check
            _check_one_config(cls, cfg, generator)
    return "your block matches He et al.'s basic block at stride 1 and 2, with and without a channel change."


SOLUTION_Q1 = '''\
The block adds its input (through the shortcut) to what its layers compute, then applies ReLU:
```python
class MyForwardBlock(RepairedBlock):
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))   # conv -> BN -> ReLU
        out = self.bn2(self.conv2(out))         # conv -> BN: this is R(x)
        return F.relu(out + self.shortcut(x))   # H(x) = R(x) + x, then ReLU
```'''

SOLUTION_Q2 = '''\
```python
class MyResidualBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()  # the identity
        if stride != 1 or in_planes != planes:  # x and R(x) differ in shape: project x (option B)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))
```'''

q1 = Question(
    "Q1 forward",
    "Complete `forward` for the repaired block (its `__init__` builds conv1, bn1, conv2, bn2 and shortcut). "
    "Pass the class: `ex.q1.check(MyForwardBlock)`.",
    check_basic_block,
    "R(x) is conv1 -> bn1 -> ReLU -> conv2 -> bn2. Add `self.shortcut(x)` to it, then apply ReLU to the sum. "
    "Do not modify x in place.",
    SOLUTION_Q1,
)

q2 = Question(
    "Q2 the whole block",
    "Write the whole basic block from scratch, with the seed's signature `(in_planes, planes, stride=1)` and its "
    "names conv1, bn1, conv2, bn2, shortcut. Pass the class: `ex.q2.check(MyResidualBlock)`.",
    check_basic_block,
    "Start with `super().__init__()`. The stride goes on conv1; conv2 keeps stride 1. The shortcut is "
    "`nn.Sequential()` unless `stride != 1 or in_planes != planes`, when it is a 1x1 conv (with the stride) plus BN.",
    SOLUTION_Q2,
)


# --- Q3: when is a projection needed? -------------------------------------------------------------

_GRID = [(i, p, s) for i in (8, 16, 32) for p in (8, 16, 32) for s in (1, 2)]


def _check_needs_projection(fn: Any) -> None:
    if not callable(fn):
        raise Mistake(f"pass a function `(in_planes, planes, stride) -> bool`, got {type(fn).__name__}.")
    answers = {}
    for cfg in _GRID:
        value = fn(*cfg)
        if value is Ellipsis:
            raise NotImplementedError
        if value is None:
            raise Mistake("your function returned None: did you forget `return`?")
        if value not in (True, False):
            raise Mistake(f"your function returned {value!r} for {_where(cfg)}; return True or False.")
        answers[cfg] = bool(value)
    wrong = [cfg for cfg in _GRID if answers[cfg] != needs_projection(*cfg)]
    if not wrong:
        return
    patterns = [
        (lambda i, p, s: s != 1, "you only look at the stride: a channel change (in_planes != planes) at stride 1 "
                                 "also needs a projection, or x and R(x) differ in channels."),
        (lambda i, p, s: i != p, "you only look at the channels: stride 2 with in_planes == planes also needs a "
                                 "projection, since R(x) is half the size of x."),
        (lambda i, p, s: s != 1 and i != p, "a projection is needed when the stride OR the channels change, not "
                                            "only when both do: use `or`, not `and`."),
        (lambda i, p, s: not needs_projection(i, p, s), "True and False are swapped: the identity shortcut works "
                                                        "exactly when nothing changes."),
        (lambda i, p, s: True, "always True: a projection everywhere adds parameters, and loses the identity "
                               "shortcut that lets a block start as the identity."),
        (lambda i, p, s: False, "always False: when the stride or the channel count changes, x and R(x) have "
                                "different shapes and cannot be added without a projection."),
    ]
    for pattern, message in patterns:
        if all(answers[cfg] == pattern(*cfg) for cfg in _GRID):
            raise Mistake(message)
    raise Mistake("wrong for " + "; ".join(f"{_where(c)} (you said {answers[c]})" for c in wrong[:3]) + ".")


q3 = Question(
    "Q3 when is a projection needed?",
    "Write `my_needs_projection(in_planes, planes, stride)` returning True when a basic block's shortcut cannot be "
    "the identity. Pass the function: `ex.q3.check(my_needs_projection)`.",
    _check_needs_projection,
    "x and R(x) must have the same shape to be added. What changes R(x)'s shape relative to x?",
    "The stride changes the height and width, `planes` the channels; either one breaks the identity:\n"
    "```python\ndef my_needs_projection(in_planes, planes, stride):\n    return stride != 1 or in_planes != planes\n```",
)


# --- Q4, Q5: output shape and parameter count of one block ------------------------------------------

Q45_BLOCK = (16, 32, 2)  # ResidualBlock(16, 32, stride=2): the first block of a ResNet's second stage
Q45_INPUT = (8, 16, 28, 28)  # a batch of 8 Fashion-MNIST-sized feature maps


def _q45_block() -> ResidualBlock:
    return ResidualBlock(Q45_BLOCK[0], Q45_BLOCK[1], stride=Q45_BLOCK[2])


def _output_shape() -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(_q45_block().eval()(torch.zeros(Q45_INPUT)).shape)


def _check_output_shape(answer: Any) -> None:
    if _is_placeholder(answer):
        raise NotImplementedError
    try:
        shape = tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        raise Mistake(f"give the shape as a tuple of 4 whole numbers, like (N, C, H, W); got {answer!r}.") from None
    right = _output_shape()
    if shape == right:
        return
    n, c, h, w = right
    in_n, in_c, in_h, in_w = Q45_INPUT
    known = {
        (c, h, w): "include the batch dimension first: (N, C, H, W).",
        (n, c, in_h, in_w): "the channels are right but the stride is missing: stride 2 halves height and width.",
        (n, in_c, h, w): "the size is right but the channels are not: the block outputs `planes` channels.",
        (n, in_c, in_h, in_w): "the output is not the input's shape here: this block changes channels and stride.",
        (n, h, w, c): "PyTorch puts channels second: (N, C, H, W).",
        (n, c, h - 1, w - 1): "with padding=1 a 3x3 conv at stride 2 gives ceil(28 / 2) = 14, not 13.",
    }
    raise Mistake(known.get(shape, f"{shape} is not the output shape. Work through conv1 (the stride), then conv2 (stride 1)."))


def _param_counts() -> dict[str, int]:
    """The true count and what known mistakes give, all computed from the block's own layers."""
    block = _q45_block()
    in_planes, planes, _ = Q45_BLOCK
    total = _params(block)
    proj_conv, proj_bn = block.shortcut[0].weight.numel(), _params(block.shortcut[1])
    bn_params = sum(_params(m) for m in _modules_of(block, nn.BatchNorm2d))
    buffers = sum(b.numel() for name, b in block.named_buffers() if "running" in name)
    return {
        "right": total,
        "no_projection": total - _params(block.shortcut),
        "no_bn": total - bn_params,
        "conv_bias": total + 3 * planes,
        "running_stats": total + buffers,
        "proj_3x3": total + 8 * proj_conv,
        "conv2_like_conv1": total - block.conv2.weight.numel() + in_planes * planes * 9,
        "no_projection_bn": total - proj_bn,
    }


def _check_param_count(answer: Any) -> None:
    if _is_placeholder(answer):
        raise NotImplementedError
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise Mistake(f"give a whole number (an int), got {type(answer).__name__} {answer!r}.")
    counts = _param_counts()
    if answer == counts["right"]:
        return
    messages = {
        "no_projection": "you left out the projection shortcut: at stride 2 with a channel change it is a 1x1 conv "
                         "plus BN, and both have parameters.",
        "no_bn": "you left out BatchNorm's parameters: each BN layer learns a scale (gamma) and a shift (beta) per channel.",
        "conv_bias": "the convs have no bias (bias=False): the BN right after each conv has its own shift.",
        "running_stats": "BN's running mean and variance are buffers, updated by statistics, not parameters learned "
                         "by gradient descent; `model.parameters()` leaves them out.",
        "proj_3x3": "the projection is a 1x1 conv, not 3x3.",
        "conv2_like_conv1": "conv2 maps planes -> planes (32 -> 32), not in_planes -> planes.",
        "no_projection_bn": "you counted the projection's conv but not its BatchNorm.",
    }
    for key, message in messages.items():
        if answer == counts[key]:
            raise Mistake(message)
    raise Mistake(f"{answer} is not the count. Add up conv1, bn1, conv2, bn2 and the projection (1x1 conv + BN).")


_Q45_DESCRIPTION = (
    f"`ResidualBlock({Q45_BLOCK[0]}, {Q45_BLOCK[1]}, stride={Q45_BLOCK[2]})` (the first block of a ResNet's second stage)"
)

q4 = Question(
    "Q4 output shape",
    f"What shape does {_Q45_DESCRIPTION} output for an input of shape {Q45_INPUT}? Give a tuple.",
    _check_output_shape,
    "The channels become `planes`. A 3x3 conv with padding 1 and stride s maps a size n to ceil(n / s).",
    lambda: "The channels become planes, and stride 2 halves 28 x 28. Measured:\n"
    f"```python\nfrom resblock import blocks\nblock = blocks.ResidualBlock({Q45_BLOCK[0]}, {Q45_BLOCK[1]}, stride={Q45_BLOCK[2]})\n"
    f"block(torch.zeros{Q45_INPUT}).shape  # {_output_shape()}\n```",
)

q5 = Question(
    "Q5 parameter count",
    f"How many trainable parameters does {_Q45_DESCRIPTION} have? Give an int.",
    _check_param_count,
    "A conv with bias=False has in x out x k x k weights; a BatchNorm2d has 2 per channel (gamma and beta); "
    "this block needs a projection shortcut.",
    lambda: (
        "conv1: 16 x 32 x 3 x 3; bn1: 2 x 32; conv2: 32 x 32 x 3 x 3; bn2: 2 x 32; projection: 16 x 32 x 1 x 1 "
        "conv and 2 x 32 for its BN. PyTorch adds them up for you:\n"
        "```python\nfrom resblock import blocks\n"
        f"sum(p.numel() for p in blocks.ResidualBlock(16, 32, stride=2).parameters())  # {_param_counts()['right']}\n```"
    ),
)


# --- Q6: the two meanings of "residual" --------------------------------------------------------------

Q6_Y, Q6_YHAT = (2.5, 3.0, 5.0), (2.0, 3.5, 5.0)  # statistics: targets and a model's predictions
Q6_X, Q6_H = (1.0, -2.0, 0.5), (1.5, -2.0, 0.0)  # a layer's input and output


def _as_floats(v: Any, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(t) for t in v)
    except (TypeError, ValueError):
        raise Mistake(f"{what} should be 3 numbers, like (0.1, 0.2, 0.3); got {v!r}.") from None
    if len(out) != 3:
        raise Mistake(f"{what} should be 3 numbers, one per entry; got {len(out)}.")
    return out


def _check_two_residuals(answer: Any) -> None:
    if _is_placeholder(answer):
        raise NotImplementedError
    if isinstance(answer, (tuple, list)) and any(_is_placeholder(a) for a in answer):
        raise NotImplementedError
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise Mistake("give a pair: (statistical residuals, R(x)), each 3 numbers.")
    stat, block = _as_floats(answer[0], "the statistical residuals"), _as_floats(answer[1], "R(x)")

    def same(a, b):
        return all(abs(p - q) < 1e-6 for p, q in zip(a, b))

    stat_right = tuple(y - p for y, p in zip(Q6_Y, Q6_YHAT))
    block_right = tuple(h - x for h, x in zip(Q6_H, Q6_X))
    if same(stat, block_right) and same(block, stat_right):
        raise Mistake("the two answers are swapped: first the statistics residuals y - y_hat, then R(x) = H(x) - x.")
    if not same(stat, stat_right):
        if same(stat, tuple(-v for v in stat_right)):
            raise Mistake("statistical residuals: the sign is flipped. A residual is target minus prediction, y - y_hat.")
        raise Mistake("the statistical residuals are off: compute y - y_hat entry by entry.")
    if not same(block, block_right):
        if same(block, tuple(-v for v in block_right)):
            raise Mistake("R(x): the sign is flipped. R(x) = H(x) - x, what the layer adds to its input.")
        if same(block, Q6_H):
            raise Mistake("that is H(x), the whole output; R(x) is what is added to x: H(x) - x.")
        raise Mistake("R(x) is off: compute H(x) - x entry by entry.")


q6 = Question(
    "Q6 two residuals",
    f"(a) A model predicts y_hat = {Q6_YHAT} for targets y = {Q6_Y}: what are the residuals in the statistics "
    f"sense? (b) A layer maps x = {Q6_X} to H(x) = {Q6_H}: what is its residual R(x) in the ResNet sense? "
    "Give the pair `((a1, a2, a3), (b1, b2, b3))`.",
    _check_two_residuals,
    "(a) target minus prediction. (b) what the layer adds to its input.",
    lambda: (
        "(a) y - y_hat, the error a model leaves: "
        f"{tuple(round(y - p, 6) for y, p in zip(Q6_Y, Q6_YHAT))}. (b) R(x) = H(x) - x, a change the layer makes, "
        f"which has nothing to do with a target: {tuple(round(h - x, 6) for h, x in zip(Q6_H, Q6_X))}."
    ),
)

QUESTIONS = (q1, q2, q3, q4, q5, q6)
