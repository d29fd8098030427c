"""Exercises for notebook 01, "The residual idea": ``from resblock.exercises import nb01 as ex``.

q1 predict what a plain and a residual block output with their branch switched off (an input with a
negative entry); q2 write the whole block; q3 when a projection is needed; q4 and q5 the output shape
and parameter count of a block; q6 predict whether an in-place ``+=`` corrupts the caller's x. The
block checker (``resblock.exercises.block_checker``) tests behaviour and names the mistake; the
prediction checkers compute the true answer from the package's blocks, never a stored one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import PlainBlock, ResidualBlock, needs_projection
from resblock.checks import short_repr
from resblock.env import seeded
from resblock.exercises import Mistake, Question, answer_dict, python_scalar, whole_number
from resblock.exercises.block_checker import (  # noqa: F401 (public names of this module since notebook 01's first version)
    CONFIGS,
    LAYERS,
    SIZE,
    _modules_of,
    _params,
    _where,
    check_basic_block,
)


def _is_placeholder(value: Any) -> bool:
    return value is None or value is Ellipsis


def _as_floats(v: Any, what: str, n: int = 3) -> tuple[float, ...]:
    if isinstance(v, torch.Tensor) or hasattr(v, "__array__"):  # a block's output, as a tensor or NumPy array
        v = torch.as_tensor(v).flatten().tolist()
    try:
        out = tuple(float(t) for t in v)
    except (TypeError, ValueError):
        raise Mistake(f"{what} should be {n} numbers, like (0.1, 0.2, 0.3); got {short_repr(v)}.") from None
    if len(out) != n:
        raise Mistake(f"{what} should be {n} numbers, one per entry; got {len(out)}.")
    return out


# --- Q1: switch the branch off, predict the output ----------------------------------------------------

Q1_X = (-1.0, 0.5, 2.0)  # one channel, one row of three pixels; one entry negative


def branch_off_outputs() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """What PlainBlock(1, 1) and ResidualBlock(1, 1) output for Q1_X with R(x) = 0 (bn2's gamma and beta 0)."""
    x = torch.tensor(Q1_X).reshape(1, 1, 1, 3)
    outputs = []
    with torch.random.fork_rng(devices=[]):
        for cls in (PlainBlock, ResidualBlock):
            block = cls(1, 1).eval()
            with torch.no_grad():
                block.bn2.weight.zero_()
                block.bn2.bias.zero_()
                outputs.append(tuple(round(v, 6) for v in block(x).flatten().tolist()))
    return outputs[0], outputs[1]


def _check_branch_off(answer: Any) -> str:
    if _is_placeholder(answer):
        raise NotImplementedError
    if isinstance(answer, (tuple, list)) and any(_is_placeholder(a) for a in answer):
        raise NotImplementedError
    if (isinstance(answer, torch.Tensor) or hasattr(answer, "__array__")) and len(answer) == 2:
        answer = tuple(answer)  # the two outputs stacked: one row each
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        raise Mistake("give a pair: (what the plain block outputs, what the residual block outputs), each 3 numbers.")
    plain, residual = (
        _as_floats(answer[0], "the plain block's output"),
        _as_floats(answer[1], "the residual block's output"),
    )
    right_plain, right_residual = branch_off_outputs()

    def same(a, b):
        return all(abs(p - q) < 1e-6 for p, q in zip(a, b))

    if same(plain, right_residual) and same(residual, right_plain) and not same(plain, right_plain):
        raise Mistake("the two answers are swapped: first the plain block, then the residual one.")
    if not same(plain, right_plain):
        if same(plain, Q1_X) or same(plain, tuple(max(v, 0.0) for v in Q1_X)):
            raise Mistake(
                "the plain block: with R(x) = 0 it computes relu(R(x)) = relu(0), whatever x was. It has no "
                "path for x: a plain block with nothing learned forgets its input."
            )
        raise Mistake("the plain block computes relu(R(x)); with R(x) = 0, what is left?")
    if not same(residual, right_residual):
        if same(residual, Q1_X):
            raise Mistake(
                "the residual block: the ReLU comes after the addition, relu(R(x) + x) = relu(x) when R = 0, so "
                "the negative entry does not survive. (In notebook 01 the inputs were non-negative, which is why "
                "the output equalled x there.)"
            )
        if same(residual, right_plain):
            raise Mistake("the residual block keeps its shortcut when R = 0: it computes relu(0 + x).")
        raise Mistake("the residual block computes relu(R(x) + x); with R(x) = 0, apply that to each entry.")
    return (
        "a residual block with its branch off is relu(x): the identity for x >= 0, which every block's ReLU output is."
    )


q1 = Question(
    "Q1 predict: the branch switched off",
    f"Both blocks have their residual branch switched off (bn2's scale and shift set to 0, so R(x) = 0). "
    f"They get one channel holding x = {Q1_X}. Predict, without running them, what `blocks.PlainBlock(1, 1)` and "
    "`blocks.ResidualBlock(1, 1)` output. Give the pair `((p1, p2, p3), (r1, r2, r3))`.",
    _check_branch_off,
    "Write each block's formula with R(x) = 0: the plain one is relu(R(x)), the residual one relu(R(x) + x). "
    "Where is the ReLU?",
    lambda: (
        "The plain block outputs relu(0) = 0 everywhere: nothing of x is left. The residual block outputs "
        "relu(0 + x) = relu(x): x itself where x >= 0, 0 where it is negative (the ReLU comes after the add). Run it:\n"
        "```python\nfrom resblock import blocks\n"
        f"x = torch.tensor({Q1_X}).reshape(1, 1, 1, 3)\n"
        "for block in (blocks.PlainBlock(1, 1).eval(), blocks.ResidualBlock(1, 1).eval()):\n"
        "    nn.init.zeros_(block.bn2.weight); nn.init.zeros_(block.bn2.bias)\n"
        f"    print(block(x).flatten().tolist())  # {list(branch_off_outputs()[0])}, then {list(branch_off_outputs()[1])}\n```"
    ),
)


# --- Q2: the whole block ------------------------------------------------------------------------------

SOLUTION_Q2 = """\
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
        return F.relu(out + self.shortcut(x))  # a new tensor: x itself is never modified
```
Option A (the paper's CIFAR-10 choice) passes too: replace the projection by a function that subsamples
x by the stride and pads the new channels with zeros, e.g. `F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, 0, planes - in_planes))`."""

q2 = Question(
    "Q2 the whole block",
    "Write the whole basic block from scratch, with the seed's signature `(in_planes, planes, stride=1)` and its "
    "names conv1, bn1, conv2, bn2, shortcut. Pass the class: `ex.q2.check(MyResidualBlock)`.",
    check_basic_block,
    "Start with `super().__init__()`. The stride goes on conv1; conv2 keeps stride 1. R(x) is conv1 -> bn1 -> ReLU "
    "-> conv2 -> bn2; add the shortcut, then apply ReLU to the sum, on a new tensor (never modify x in place). "
    "The shortcut is the identity unless `stride != 1 or in_planes != planes`; then a 1x1 conv (with the stride) "
    "plus BN (option B), or the paper's option A.",
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
        (
            lambda i, p, s: s != 1,
            "you only look at the stride: a channel change (in_planes != planes) at stride 1 "
            "also needs a projection, or x and R(x) differ in channels.",
        ),
        (
            lambda i, p, s: i != p,
            "you only look at the channels: stride 2 with in_planes == planes also needs a "
            "projection, since R(x) is half the size of x.",
        ),
        (
            lambda i, p, s: s != 1 and i != p,
            "a projection is needed when the stride OR the channels change, not "
            "only when both do: use `or`, not `and`.",
        ),
        (
            lambda i, p, s: not needs_projection(i, p, s),
            "True and False are swapped: the identity shortcut works exactly when nothing changes.",
        ),
        (
            lambda i, p, s: True,
            "always True: a projection everywhere adds parameters, and loses the identity "
            "shortcut that lets a block start as the identity.",
        ),
        (
            lambda i, p, s: False,
            "always False: when the stride or the channel count changes, x and R(x) have "
            "different shapes and cannot be added without a projection.",
        ),
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
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise Mistake(f"give the shape as a tuple of 4 whole numbers, like (N, C, H, W); got {short_repr(answer)}.")
    values = list(answer)
    for v in values:
        if isinstance(v, float) and not float(v).is_integer():
            raise Mistake(
                f"{short_repr(v)} is not a whole number, and a feature map has a whole number of rows and columns: a 3x3 conv "
                "with padding 1 and stride s maps a size n to ceil(n / s) (PyTorch rounds (n + 2 - 3) / s down, then adds 1)."
            )
    shape = tuple(whole_number(v, "each entry of the shape") for v in values)
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
    raise Mistake(
        known.get(shape, f"{shape} is not the output shape. Work through conv1 (the stride), then conv2 (stride 1).")
    )


def _param_counts() -> dict[str, int]:
    """The true count and what known mistakes give, all computed from the block's own layers."""
    block = _q45_block()
    in_planes, planes, _ = Q45_BLOCK
    total = _params(block)
    proj_conv, proj_bn = block.shortcut[0].weight.numel(), _params(block.shortcut[1])
    bn_params = sum(_params(m) for m in _modules_of(block, nn.BatchNorm2d))
    buffers = sum(b.numel() for name, b in block.named_buffers() if "running" in name)
    counters = sum(1 for name, _ in block.named_buffers() if name.endswith("num_batches_tracked"))
    return {
        "right": total,
        "no_projection": total - _params(block.shortcut),
        "no_bn": total - bn_params,
        "conv_bias": total + 3 * planes,
        "running_stats": total + buffers,
        "state_dict": total + buffers + counters,  # every entry of block.state_dict(), a step counter per BN too
        "proj_3x3": total + 8 * proj_conv,
        "conv2_like_conv1": total - block.conv2.weight.numel() + in_planes * planes * 9,
        "no_projection_bn": total - proj_bn,
    }


def _check_param_count(answer: Any) -> None:
    if _is_placeholder(answer):
        raise NotImplementedError
    answer = whole_number(answer, "the parameter count")
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
        "state_dict": "the state_dict holds BN's buffers too (running mean and variance, and a step counter): "
        "statistics, not parameters learned by gradient descent. Count `block.parameters()`.",
        "proj_3x3": "the projection is a 1x1 conv, not 3x3.",
        "conv2_like_conv1": "conv2 maps planes -> planes (32 -> 32), not in_planes -> planes.",
        "no_projection_bn": "you counted the projection's conv but not its BatchNorm.",
    }
    for key, message in messages.items():
        if answer == counts[key]:
            raise Mistake(message)
    raise Mistake(f"{answer} is not the count. Add up conv1, bn1, conv2, bn2 and the projection (1x1 conv + BN).")


_Q45_DESCRIPTION = f"`ResidualBlock({Q45_BLOCK[0]}, {Q45_BLOCK[1]}, stride={Q45_BLOCK[2]})` (the first block of a ResNet's second stage)"

q4 = Question(
    "Q4 output shape",
    f"What shape does {_Q45_DESCRIPTION} output for an input of shape {Q45_INPUT}? Give a tuple.",
    _check_output_shape,
    "The channels become `planes`. A 3x3 conv with padding 1 and stride s maps a size n to ceil(n / s).",
    lambda: (
        "The channels become planes, and stride 2 halves 28 x 28. Measured:\n"
        f"```python\nfrom resblock import blocks\nblock = blocks.ResidualBlock({Q45_BLOCK[0]}, {Q45_BLOCK[1]}, stride={Q45_BLOCK[2]})\n"
        f"block(torch.zeros{Q45_INPUT}).shape  # {_output_shape()}\n```"
    ),
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


# --- Q6: predict what `out += ...` does to x ----------------------------------------------------------

Q6_CASES = {"identity": (8, 8), "projection": (8, 16)}  # (in_planes, planes) at stride 1


class _InPlaceBlock(ResidualBlock):
    """The forward of Q6: start from the shortcut's output and add R(x) to it in place."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shortcut(x)
        out += self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out)


def x_unchanged_after_inplace_add() -> dict[str, bool]:
    """For each Q6 case: is the caller's x still what it was after one call of the in-place forward? (measured)"""
    result = {}
    with seeded(0):
        for case, (in_planes, planes) in Q6_CASES.items():
            x = torch.randn(2, in_planes, 5, 5)
            before = x.clone()
            with torch.no_grad():
                _InPlaceBlock(in_planes, planes).eval()(x)
            result[case] = torch.equal(x, before)
    return result


Q6_FORWARD = """\
def forward(self, x):
    out = self.shortcut(x)
    out += self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(out)"""


def _check_inplace(answer: Any) -> str:
    if _is_placeholder(answer):
        raise NotImplementedError
    example = '`{"identity": True or False, "projection": True or False}`'
    answer = answer_dict(answer, Q6_CASES, example, "case")
    answer = {key: python_scalar(value) for key, value in answer.items()}  # np.True_, (x == before).all()
    for key, value in answer.items():
        if not isinstance(value, bool):
            raise Mistake(f"{key!r}: answer True (x is unchanged) or False (x was modified), got {value!r}.")
    truth = x_unchanged_after_inplace_add()
    if answer == truth:
        return (
            "`nn.Identity` (and an empty `nn.Sequential`) returns x itself, so `out += ...` writes into the "
            "caller's x; a projection returns a new tensor. Write `out = R + self.shortcut(x)`."
        )
    if answer["identity"] != truth["identity"]:
        raise Mistake(
            "the identity shortcut: `nn.Identity()(x)` returns the very same tensor object (`out is x` is True), "
            "not a copy. So `out += R` adds R into x's own memory: the caller's x is overwritten."
        )
    raise Mistake(
        "the projection shortcut computes a new tensor (a conv and a BN output), so `out += R` changes only that "
        "new tensor and x is left as it was. That is why the bug hides: the block with a projection is fine."
    )


q6 = Question(
    "Q6 predict: does `out += ...` change x?",
    "A learner writes this forward for the basic block (the rest of the block is the package's):\n"
    f"```python\n{Q6_FORWARD}\n```\n"
    "After `y = block(x)`, is the caller's `x` unchanged? Predict for a block whose shortcut is the identity "
    "(`ResidualBlock(8, 8)`) and one with a projection (`ResidualBlock(8, 16)`): "
    '`{"identity": True or False, "projection": True or False}`.',
    _check_inplace,
    "What does an identity shortcut return: a copy of x, or x itself? And what does `+=` do to the tensor on its left?",
    lambda: (
        "The identity shortcut returns x itself, so `out += ...` modifies the caller's x in place; the projection "
        f"returns a new tensor, so x is safe there. Measured: {x_unchanged_after_inplace_add()}. The fix is to make "
        "a new tensor: `out = R + self.shortcut(x)`. In a network the damage is real: x may still be needed, by "
        "autograd for the backward pass or by the code that called the block."
    ),
)

QUESTIONS = (q1, q2, q3, q4, q5, q6)
