"""Exercises for notebook 07, "Residuals everywhere": ``from resblock.exercises import nb07 as ex``.

q1 write a pre-activation block's forward; q2 pick the blocks that are exactly the identity at
initialisation (the answer is computed by building each block, not stored); q3 write one pre-LN
step of a transformer's residual stream. Each checker runs the answer on cases it builds itself
and names the mistake it looks like.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import Bottleneck, DenseLayer, PreActBlock, ResidualBlock, ReZeroBlock
from resblock.exercises import Mistake, Question
from resblock.transformer import MLP, Residual


def _close(a: Any, b: torch.Tensor) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# --- q1: a pre-activation block ------------------------------------------------------------------


def _reference_block(planes: int, seed: int) -> PreActBlock:
    torch.manual_seed(seed)
    block = PreActBlock(planes, planes)
    with torch.no_grad():  # non-trivial BN gammas and betas, so that a swapped order shows
        for bn in (block.bn1, block.bn2):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return block.train()


def check_preact_block(cls: Any) -> str:
    """Checker for q1: ``cls(planes, planes)`` must compute x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise Mistake(f"pass your class itself (`MyPreActBlock`, not an instance), got {type(cls).__name__}.")
    for planes, seed in ((8, 0), (4, 1)):
        ref = _reference_block(planes, seed)
        mine = cls(planes, planes)
        try:
            mine.load_state_dict(ref.state_dict())
        except RuntimeError as e:
            raise Mistake(
                "keep the layers of the skeleton (bn1, conv1, bn2, conv2, with their shapes), so the checker "
                f"can give your block known weights: {str(e).splitlines()[0]}"
            ) from None
        mine.train()
        x = torch.randn(4, planes, 5, 5, generator=torch.Generator().manual_seed(seed))
        x_before = x.clone()
        got = mine(x)
        if not torch.equal(x, x_before):
            raise Mistake("your forward changed its input in place (e.g. `x += ...` or `relu_`): the shortcut "
                          "must carry the original x; write `out = x + ...` instead.")
        if not isinstance(got, torch.Tensor):
            raise Mistake(f"forward returned {type(got).__name__}, expected a tensor.")
        with torch.no_grad():
            a = F.relu(ref.bn1(x))
            want = ref(x)
            r = ref.residual(x)
            wrong = {
                "there is a ReLU after the addition: that is the post-activation block. In the "
                "pre-activation block nothing follows x + R(x), so the shortcut is a pure identity": F.relu(x + r),
                "the shortcut is missing: you return R(x) alone": r,
                "the shortcut carries relu(bn1(x)), the pre-activated input; it must carry x itself "
                "(only a projection shortcut reads the pre-activation)": a + r,
                "the branch is in the post-activation order conv-BN-ReLU; pre-activation puts BN and "
                "ReLU *before* each conv": x + ref.bn2(ref.conv2(F.relu(ref.bn1(ref.conv1(x))))),
                "the ReLUs are missing from the branch: BN-ReLU-conv, twice":
                    x + ref.conv2(ref.bn2(ref.conv1(ref.bn1(x)))),
            }
        if _close(got, want):
            continue
        for mistake, value in wrong.items():
            if _close(got, value):
                raise Mistake(mistake + ".")
        if isinstance(got, torch.Tensor) and got.shape != want.shape:
            raise Mistake(f"the output has shape {tuple(got.shape)}, expected {tuple(want.shape)}.")
        raise Mistake("the output differs from x + conv2(relu(bn2(conv1(relu(bn1(x)))))); compare your forward "
                      "with that formula, layer by layer.")
    return "BN-ReLU-conv twice, then x + R(x) with nothing after it: the identity path is clean."


_Q1_SOLUTION = """```python
import torch.nn.functional as F
from torch import nn

class MyPreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x):
        r = self.conv1(F.relu(self.bn1(x)))
        r = self.conv2(F.relu(self.bn2(r)))
        return x + r  # no ReLU after the addition
```
The package's version, with a projection shortcut as well, is `resblock.blocks.PreActBlock`."""

q1 = Question(
    "Q1 · a pre-activation block",
    "Complete `forward` of `MyPreActBlock` (stride 1, same channels, so the shortcut is the identity): "
    "R(x) = conv2(relu(bn2(conv1(relu(bn1(x)))))) and the block returns x + R(x). "
    "Check it with `ex.q1.check(MyPreActBlock)`.",
    check_preact_block,
    "Two rounds of BN, then ReLU, then conv, starting from x. Then add x itself. He et al. (2016) "
    "removed the ReLU that the 2015 block applies after the addition: do not put one back.",
    _Q1_SOLUTION,
)


# --- q2: which blocks are the identity at init --------------------------------------------------


def _zeroed(block: nn.Module) -> nn.Module:
    block.zero_init_branch_()
    return block


def _pre_ln_zeroed(position: str) -> nn.Module:
    sub = Residual(MLP(16), 16, position)
    nn.init.zeros_(sub.f.fc2.weight)
    nn.init.zeros_(sub.f.fc2.bias)
    return sub


# name -> (builder, why it is or is not the identity). Each builder makes a fresh block of 16 channels.
CANDIDATES: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "basic": (lambda: ResidualBlock(16, 16),
              "a fresh basic block's branch is random, so it adds something to x, and a ReLU follows"),
    "basic, zero-init gamma": (lambda: _zeroed(ResidualBlock(16, 16)),
                               "its branch is 0, but relu(0 + x) clips negative inputs: the identity only "
                               "on inputs >= 0 (which, after a ReLU, is all it sees inside a ResNet)"),
    "bottleneck, zero-init gamma": (lambda: _zeroed(Bottleneck(64, 16)),
                                    "as with the basic block: the ReLU after the addition clips negative inputs"),
    "preact": (lambda: PreActBlock(16, 16), "a fresh pre-activation branch is random, not zero"),
    "preact, zero-init last conv": (lambda: _zeroed(PreActBlock(16, 16)),
                                    "x + 0 with nothing after the addition: the identity on every input"),
    "rezero": (lambda: ReZeroBlock(16, 16), "x + 0 * R(x): the gate alpha starts at 0"),
    "dense layer": (lambda: DenseLayer(16, 16),
                    "it keeps x verbatim but appends new channels: its output is larger than its input"),
    "pre-LN, zero-init last linear": (lambda: _pre_ln_zeroed("pre"),
                                      "x + f(LN(x)) with f = 0 leaves x untouched"),
    "post-LN, zero-init last linear": (lambda: _pre_ln_zeroed("post"),
                                       "LN(x + 0) = LN(x): the LayerNorm on the stream renormalises x even "
                                       "when the branch is silent"),
}


def _input_for(block: nn.Module) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if isinstance(block, Residual):
        return torch.randn(4, 7, 16, generator=g) * 3 + 1  # not already normalised, so LN would show
    channels = next(m for m in block.modules() if isinstance(m, nn.Conv2d)).in_channels
    return torch.randn(4, channels, 5, 5, generator=g)  # both signs, so a ReLU would show


def identity_at_init() -> set[str]:
    """The CANDIDATES that compute exactly x -> x in training mode, found by running each one."""
    found = set()
    for name, (build, _) in CANDIDATES.items():
        torch.manual_seed(0)
        block = build().train()
        x = _input_for(block)
        with torch.no_grad():
            y = block(x)
        if y.shape == x.shape and torch.allclose(y, x, atol=1e-6):
            found.add(name)
    return found


def check_identity_at_init(answer: Any) -> str:
    """Checker for q2: ``answer`` is the set of CANDIDATES names that are exactly the identity at init."""
    if isinstance(answer, str):
        answer = {answer}
    try:
        chosen = set(answer)
    except TypeError:
        raise Mistake(f"answer with a set of names, e.g. {{'rezero'}}; got {type(answer).__name__}.") from None
    unknown = sorted(str(c) for c in chosen if c not in CANDIDATES)
    if unknown:
        raise Mistake(f"{unknown} {'is' if len(unknown) == 1 else 'are'} not among the names; choose from "
                      f"ex.CANDIDATES: {list(CANDIDATES)}.")
    truth = identity_at_init()
    wrong_in = sorted(chosen - truth)
    if wrong_in:
        name = wrong_in[0]
        raise Mistake(f"'{name}' is not the identity on every input: {CANDIDATES[name][1]}.")
    missing = sorted(truth - chosen)
    if missing:
        raise Mistake(f"you left out {len(missing)} that {'is' if len(missing) == 1 else 'are'} the identity; "
                      f"look again at '{missing[0]}'.")
    return ("exactly the blocks with nothing after the addition and a branch that starts at 0. "
            "The post-activation ones are the identity only on non-negative inputs.")


q2 = Question(
    "Q2 · the identity at initialisation",
    "Which of the blocks in `ex.CANDIDATES`, freshly built (in training mode), compute *exactly* the "
    "identity map x -> x on every input of the right shape, negative values included? Answer with a "
    "set of their names: `ex.q2.check({'...', '...'})`.",
    check_identity_at_init,
    "Two things must hold: the branch adds exactly 0 at init, and nothing is applied to the sum "
    "afterwards (a ReLU clips negatives; a LayerNorm rescales). Try one: "
    "`b = ex.CANDIDATES['rezero'][0](); x = torch.randn(2, 16, 5, 5); (b(x) - x).abs().max()`.",
    lambda: "```python\n" + repr(sorted(identity_at_init())) + "\n```\nFound by running each block: "
    "`ex.identity_at_init()`. " + " ".join(f"'{n}': {why}." for n, (_, why) in CANDIDATES.items()),
)


# --- q3: one pre-LN step -------------------------------------------------------------------------


def check_pre_ln(pre_ln: Any) -> str:
    """Checker for q3: ``pre_ln(x, f, ln)`` must return x + f(ln(x))."""
    if not callable(pre_ln):
        raise Mistake(f"pass your function itself (`pre_ln`), got {type(pre_ln).__name__}.")
    torch.manual_seed(0)
    width = 8
    f = MLP(width)
    ln = nn.LayerNorm(width)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
        x = torch.randn(3, 5, width) * 2 + 1
        got = pre_ln(x.clone(), f, ln)
        wrong = {
            "that is post-LN, ln(x + f(x)): the norm sits on the stream itself": ln(x + f(x)),
            "the stream x is missing: you return f(ln(x)), the branch alone": f(ln(x)),
            "you add the *normalised* x: ln(x) + f(ln(x)). The shortcut must carry x itself, untouched, "
            "or the identity path is lost": ln(x) + f(ln(x)),
            "the norm is at the end of the branch, x + ln(f(x)); pre-LN normalises the branch's input":
                x + ln(f(x)),
            "the branch reads x directly: x + f(x) has no LayerNorm at all": x + f(x),
        }
        want = x + f(ln(x))
    if _close(got, want):
        return "x + f(LN(x)): the stream passes through every layer untouched, plus what each branch adds."
    for mistake, value in wrong.items():
        if _close(got, value):
            raise Mistake(mistake + ".")
    raise Mistake("the result differs from x + f(ln(x)).")


q3 = Question(
    "Q3 · one pre-LN step",
    "Write `pre_ln(x, f, ln)`, one residual sublayer of a pre-LN transformer: normalise what goes into "
    "the branch f, and add the branch's output to the stream x. Check it with `ex.q3.check(pre_ln)`.",
    check_pre_ln,
    "Pre-LN: the LayerNorm is applied to the branch's input only; the stream x itself is never normalised "
    "inside the stack.",
    "```python\ndef pre_ln(x, f, ln):\n    return x + f(ln(x))\n```\nCompare `resblock.transformer.Residual`, "
    "whose forward reads the same; post-LN would be `ln(x + f(x))`.",
)
