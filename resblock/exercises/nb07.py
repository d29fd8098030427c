"""Exercises for notebook 07, "Residuals everywhere": ``from resblock.exercises import nb07 as ex``.

q1 predict, before section 5 measures it, how much each 56-layer net's gradient grows from the last
block to the first (tests/ check the answer key against measurements); q2 pick the blocks that are
exactly the identity at initialisation (the answer is computed by building each block, not stored);
q3 write one pre-LN step of a transformer's residual stream. Each checker runs the answer on cases it builds itself
and names the mistake it looks like.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from resblock.blocks import Bottleneck, DenseLayer, PreActBlock, ResidualBlock, ReZeroBlock
from resblock.exercises import Mistake, Question, answer_dict, answer_set, spelled
from resblock.transformer import MLP, Residual


def _close(a: Any, b: torch.Tensor) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# --- q1: predict the gradient profiles of section 5 -----------------------------------------------

# The six 56-layer nets of section 5, by the names the notebook uses, and the three answers allowed.
GRADIENT_VARIANTS = ("plain", "basic (post-act.)", "pre-activation", "bottleneck", "zero-init gamma", "ReZero (no BN)")
RATIO_GROUPS = ("thousands", "tens to hundreds", "about 1")


def ratio_group(ratio: float) -> str:
    """The group of a first-block / last-block gradient ratio: "about 1" (< 3), "thousands" (> 2,000), else "tens to hundreds"."""
    if not ratio > 0:
        raise ValueError(f"a ratio of gradient norms is positive, got {ratio!r}.")
    if ratio < 3:
        return "about 1"
    return "thousands" if ratio > 2000 else "tens to hundreds"


# Why each 56-layer net lands in its group at initialisation (notebook 07, section 5). The notebook's
# claims and tests/test_exercises_nb07.py measure these groups, so the key is checked, not trusted.
_WHY = {
    "plain": (
        "thousands",
        "with no shortcut the gradient passes through every layer's Jacobian in turn; with "
        "BatchNorm after each conv each block multiplies it by well over 1 (thousands over 27 blocks "
        "means at least 1.3 a block), and 27 such factors compound (BN alone does not stop it, as notebook 02 showed)",
    ),
    "basic (post-act.)": (
        "tens to hundreds",
        "each block multiplies the gradient by I + (its random branch's "
        "Jacobian), a little more than the identity; over 27 blocks that adds up to tens to "
        "hundreds, far less than without the shortcut, but not level",
    ),
    "pre-activation": (
        "tens to hundreds",
        "its identity path is clean, but at step 0 its branches are random, and "
        "each adds its own Jacobian to the identity: the gradient still grows towards the input",
    ),
    "bottleneck": (
        "tens to hundreds",
        "a bottleneck block is still x + (a random branch) at step 0, like the basic block",
    ),
    "zero-init gamma": (
        "about 1",
        "its branches output exactly 0 at step 0 (gamma = 0), so each block passes the "
        "gradient through unchanged (its input is non-negative, so the ReLU after the addition "
        "does nothing); only the projection shortcuts between stages change it",
    ),
    "ReZero (no BN)": (
        "about 1",
        "gate = 0 multiplies every branch, so each block is exactly x -> x at step 0 and "
        "passes the gradient through unchanged",
    ),
}
EXPECTED_GROUPS = {name: group for name, (group, _) in _WHY.items()}


def check_gradient_groups(answer: Any) -> str:
    """Checker for q1: ``answer`` maps each of GRADIENT_VARIANTS to one of RATIO_GROUPS."""
    answer = answer_dict(answer, GRADIENT_VARIANTS, "{'plain': 'thousands', ...} (names: ex.GRADIENT_VARIANTS)", "net")
    # 'Thousands ' is 'thousands'; anything else is kept as written, for the message below
    answer = {k: spelled(v) if isinstance(v, str) and spelled(v) in RATIO_GROUPS else v for k, v in answer.items()}
    bad = {k: v for k, v in answer.items() if v not in RATIO_GROUPS}
    if bad:
        name, value = next(iter(bad.items()))
        raise Mistake(f"the group for '{name}' is {value!r}; each group must be one of {list(RATIO_GROUPS)}.")
    wrong = [k for k in GRADIENT_VARIANTS if answer[k] != EXPECTED_GROUPS[k]]
    if wrong:
        name = wrong[0]
        more = f" ({len(wrong) - 1} more to rethink after this one)" if len(wrong) > 1 else ""
        raise Mistake(f"'{name}' is not '{answer[name]}' but '{EXPECTED_GROUPS[name]}': {_WHY[name][1]}.{more}")
    return (
        "the plain net in the thousands, the three nets whose blocks start as x + (a random branch) in the tens "
        "to hundreds, and the two that start every block as the identity at about 1. A shortcut alone does not "
        "make the gradient level; a branch that starts at 0 does."
    )


q1 = Question(
    "Q1 · predict the gradient profiles",
    "Before you run section 5's measurement: for each of the six 56-layer nets in `ex.GRADIENT_VARIANTS`, "
    "predict the ratio of the gradient at the first block's input to the gradient at the last block's input, "
    'at initialisation: "thousands", "tens to hundreds" or "about 1" (below 3). Answer with a dict, '
    "e.g. `ex.q1.check({'plain': 'thousands', ...})`.",
    check_gradient_groups,
    "Three questions for each net: is there a shortcut at all? At step 0, does each block's branch output "
    "something random, or exactly 0? If it is x + (something random), the gradient picks up a little at every "
    "block; if it is exactly x -> x, it passes the gradient through unchanged.",
    lambda: (
        "```python\n"
        + repr(EXPECTED_GROUPS).replace("', '", "',\n '")
        + "\n```\n"
        + " ".join(f"'{n}': {why}." for n, (_, why) in _WHY.items())
        + " Section 5 prints the measured ratios, and its checks hold them to these groups."
    ),
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
    "basic": (
        lambda: ResidualBlock(16, 16),
        "a fresh basic block's branch is random, so it adds something to x, and a ReLU follows",
    ),
    "basic, zero-init gamma": (
        lambda: _zeroed(ResidualBlock(16, 16)),
        "its branch is 0, but relu(0 + x) clips negative inputs: the identity only "
        "on inputs >= 0 (which, after a ReLU, is all it sees inside a ResNet)",
    ),
    "bottleneck, zero-init gamma": (
        lambda: _zeroed(Bottleneck(64, 16)),
        "as with the basic block: the ReLU after the addition clips negative inputs",
    ),
    "preact": (lambda: PreActBlock(16, 16), "a fresh pre-activation branch is random, not zero"),
    "preact, zero-init last conv": (
        lambda: _zeroed(PreActBlock(16, 16)),
        "x + 0 with nothing after the addition: the identity on every input",
    ),
    "rezero": (lambda: ReZeroBlock(16, 16), "x + 0 * R(x): the gate starts at 0"),
    "dense layer": (
        lambda: DenseLayer(16, 16),
        "it keeps x verbatim but appends new channels: its output is larger than its input",
    ),
    "pre-LN, zero-init last linear": (lambda: _pre_ln_zeroed("pre"), "x + f(LN(x)) with f = 0 leaves x untouched"),
    "post-LN, zero-init last linear": (
        lambda: _pre_ln_zeroed("post"),
        "LN(x + 0) = LN(x): the LayerNorm on the stream renormalises x even when the branch is silent",
    ),
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
    by_lower = {spelled(k): k for k in CANDIDATES}  # 'ReZero' and 'pre-ln, ...' are the same names
    chosen = answer_set(
        answer,
        CANDIDATES,
        "names (ex.CANDIDATES)",
        "{'rezero'}",
        normalise=lambda s: by_lower.get(spelled(s), s),
    )
    truth = identity_at_init()
    wrong_in = sorted(chosen - truth)
    if wrong_in:
        name = wrong_in[0]
        raise Mistake(f"'{name}' is not the identity on every input: {CANDIDATES[name][1]}.")
    missing = sorted(truth - chosen)
    if missing:
        raise Mistake(
            f"you left out {len(missing)} that {'is' if len(missing) == 1 else 'are'} the identity; "
            f"look again at '{missing[0]}'."
        )
    return (
        "exactly the blocks with nothing after the addition and a branch that starts at 0. "
        "The post-activation ones are the identity only on non-negative inputs."
    )


q2 = Question(
    "Q2 · the identity at initialisation",
    "Which of the blocks in `ex.CANDIDATES`, freshly built (in training mode), compute *exactly* the "
    "identity map x -> x on every input of the right shape, negative values included? Answer with a "
    "set of their names: `ex.q2.check({'...', '...'})`.",
    check_identity_at_init,
    "Two things must hold: the branch adds exactly 0 at init, and nothing is applied to the sum "
    "afterwards (a ReLU clips negatives; a LayerNorm rescales). Try one: "
    "`b = ex.CANDIDATES['rezero'][0](); x = torch.randn(2, 16, 5, 5); (b(x) - x).abs().max()`.",
    lambda: (
        "```python\n" + repr(sorted(identity_at_init())) + "\n```\nFound by running each block: "
        "`ex.identity_at_init()`. " + " ".join(f"'{n}': {why}." for n, (_, why) in CANDIDATES.items())
    ),
)


# --- q3: one pre-LN step -------------------------------------------------------------------------


def _check_gradient_reaches_branch(pre_ln: Callable, f: nn.Module, ln: nn.LayerNorm, x: torch.Tensor) -> None:
    """The right values are not enough: the loss's gradient must reach x, the branch and the norm, or nothing trains."""
    x = x.clone().requires_grad_()
    weights = [*f.parameters(), ln.weight, x]  # the branch first: a cut there also changes x's gradient
    out = pre_ln(x, f, ln)
    if not out.requires_grad:
        raise Mistake(
            "the values are right, but no gradient flows through your result (torch.no_grad() or .detach()): "
            "the branch f and the norm could never learn. Compute x + f(ln(x)) with autograd on."
        )
    got = torch.autograd.grad(out.square().sum(), weights, allow_unused=True)
    want = torch.autograd.grad((x + f(ln(x))).square().sum(), weights)
    names = [*(f"the branch's {n}" for n, _ in f.named_parameters()), "the norm's weight", "x (the stream)"]
    for name, g, w in zip(names, got, want):
        if g is None or not torch.allclose(g, w, atol=1e-4, rtol=1e-4):
            raise Mistake(
                f"the values are right, but the gradient at {name} is {'missing' if g is None else 'wrong'}: "
                "a .detach() or torch.no_grad() cuts a path the loss must reach. Compute x + f(ln(x)) plainly."
            )


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
        if got is Ellipsis:
            raise NotImplementedError  # the notebook's placeholder, `return ...`: "Not yet", not "Incorrect"
        if got is None:
            raise Mistake("your function returned None: did you forget `return x + ...`?")
        if not isinstance(got, torch.Tensor) or got.shape != x.shape:
            raise Mistake(
                f"pre_ln must return a tensor shaped like x, {tuple(x.shape)}; got "
                f"{type(got).__name__}{' ' + str(tuple(got.shape)) if isinstance(got, torch.Tensor) else ''}."
            )
        wrong = {
            "that is post-LN, ln(x + f(x)): the norm sits on the stream itself": ln(x + f(x)),
            "the stream x is missing: you return f(ln(x)), the branch alone": f(ln(x)),
            "you add the *normalised* x: ln(x) + f(ln(x)). The shortcut must carry x itself, untouched, "
            "or the identity path is lost": ln(x) + f(ln(x)),
            "the norm is at the end of the branch, x + ln(f(x)); pre-LN normalises the branch's input": x + ln(f(x)),
            "the branch reads x directly: x + f(x) has no LayerNorm at all": x + f(x),
        }
        want = x + f(ln(x))
    if _close(got, want):
        _check_gradient_reaches_branch(pre_ln, f, ln, x)
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
