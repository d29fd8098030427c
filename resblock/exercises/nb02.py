"""Exercises for notebook 02, "Gradient flow": ``from resblock.exercises import nb02 as ex``.

q1 predict which scalar chains vanish, explode or stay healthy (the shortcut is no guarantee);
q2 say which stacks vanish or explode (checked against a measurement made on the spot, under the
course's seed); q3 split one block's input gradient into shortcut and branch parts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import torch

from resblock.env import course_seed
from resblock.exercises import Mistake, Question, answer_dict, spelled
from resblock.gradients import grad_norms_per_layer, scalar_chain_gradient, split_block_gradient
from resblock.models import DeepMLP, MLPBlock, MLPConfig

# --- q1: does the shortcut stop vanishing? (the scalar toy) ------------------------------------------

TOY_DEPTH = 50
CHAINS = {  # stack: (with the shortcut?, w); each of the TOY_DEPTH layers maps x to x + w x or to w x
    "A": (False, 0.5),
    "B": (True, 0.5),
    "C": (True, -0.5),
    "D": (True, 0.05),
    "E": (True, -0.05),
    "F": (False, 1.5),
}
TOY_VANISH_BELOW, TOY_EXPLODE_ABOVE = 1e-6, 1e6  # |d out / d x| after TOY_DEPTH layers (q1's prompt says so)


def describe_chains() -> str:
    """The chains of q1 in words."""
    return "\n".join(
        f"{name}: {'with the shortcut, x -> x + w x' if sc else 'plain, x -> w x':32s} w = {w:g}"
        for name, (sc, w) in CHAINS.items()
    )


def toy_verdict(gradient: float) -> str:
    """'vanish' below 1e-6, 'explode' above 1e6 (in absolute value), else 'healthy'."""
    g = abs(gradient)
    if not math.isfinite(g) or g > TOY_EXPLODE_ABOVE:
        return "explode"
    return "vanish" if g < TOY_VANISH_BELOW else "healthy"


def measure_chains() -> dict[str, tuple[str, float]]:
    """{chain: (verdict, d out / d x)}, measured with autograd (nothing random: no seed)."""
    out = {}
    for name, (shortcut, w) in CHAINS.items():
        g = scalar_chain_gradient(w, TOY_DEPTH, shortcut)
        out[name] = (toy_verdict(g), g)
    return out


def _why_chain(name: str) -> str:
    shortcut, w = CHAINS[name]
    factor = 1 + w if shortcut else w
    g = factor**TOY_DEPTH
    text = (
        f"each layer multiplies the gradient by {'1 + w' if shortcut else 'w'} = {factor:g}, "
        f"so {TOY_DEPTH} layers give {factor:g}^{TOY_DEPTH} = {g:.2g}"
    )
    if shortcut and toy_verdict(g) != "healthy":
        text += " (the shortcut adds 1 to each factor; it does not hold the product at 1)"
    return text


_VERDICT_FORMS = {  # the prompt's wording ("vanishes", "stays healthy") is the same answer
    **{w: "vanish" for w in ("vanish", "vanishes", "vanishing", "vanished")},
    **{w: "explode" for w in ("explode", "explodes", "exploding", "exploded")},
    **{w: "healthy" for w in ("healthy", "stays healthy")},
}


def _check_verdict_dict(answer: Any, keys, what: str) -> dict:
    """``answer`` with its keys as in ``keys`` (a letter in either case) and each verdict one of VERDICTS.

    Every key must get a verdict (q1's chains, q2's stacks); unknown or doubled keys are named.
    """
    answer = answer_dict(answer, keys, "{'A': 'vanish', ...}", what)
    forms = {k: _VERDICT_FORMS.get(spelled(v)) if isinstance(v, str) else None for k, v in answer.items()}
    bad = {k: answer[k] for k, v in forms.items() if v is None}
    if bad:
        raise Mistake(f"each verdict must be one of {VERDICTS}; got {bad}.")
    return forms


def check_chain_verdicts(answer: Any) -> str:
    """Checker for q1: a dict {chain: 'vanish' | 'explode' | 'healthy'} that agrees with autograd."""
    answer = _check_verdict_dict(answer, CHAINS, "chain")
    wrong = [
        f"{name}: you said {answer[name]!r}, autograd gives {verdict} ({_why_chain(name)})."
        for name, (verdict, _g) in measure_chains().items()
        if answer[name].strip().lower() != verdict
    ]
    if wrong:
        folklore = [
            n
            for n, (sc, _w) in CHAINS.items()
            if sc and answer[n].strip().lower() == "healthy" and measure_chains()[n][0] != "healthy"
        ]
        lead = "A shortcut is not a guarantee: " if folklore else ""
        raise Mistake(f"{lead}{len(wrong)} of {len(CHAINS)} verdicts disagree with autograd. " + " ".join(wrong))
    return (
        "all six agree with autograd. The shortcut turns each factor w into 1 + w: that helps when the "
        "branch is small, but 50 factors of 1 + w still shrink or grow geometrically unless each is close to 1."
    )


def _verdicts_solution(measured: dict, names: Iterable[str], why: Callable[[str], str]) -> str:
    """A solution: the measured verdicts as a dict a learner can paste, then one reason per name."""
    verdicts = repr({k: v[0] for k, v in measured.items()})
    return "```python\n" + verdicts + "\n```\n\n" + "\n\n".join(f"{k}: {why(k)}." for k in names)


q1 = Question(
    "Q1 · does the shortcut stop vanishing?",
    lambda: (
        f"Each chain has {TOY_DEPTH} scalar layers. Predict, without running anything, whether d out/d x "
        "vanishes (below 1e-6 in size), explodes (above 1e6) or stays healthy (in between):\n\n```\n"
        + describe_chains()
        + "\n```\n\n"
        "Answer with a dict, e.g. `ex.q1.check({'A': 'vanish', 'B': 'healthy', ...})`. The checker runs each "
        "chain through autograd and compares."
    ),
    check_chain_verdicts,
    "One layer's local derivative is 1 + w with the shortcut and w without; the chain rule multiplies the "
    f"{TOY_DEPTH} of them. Work out the factor for each chain, then ask whether its {TOY_DEPTH}th power is tiny, "
    "huge or moderate (0.95^50 ≈ 0.08, 1.05^50 ≈ 11).",
    lambda: _verdicts_solution(measure_chains(), CHAINS, _why_chain),
)


# --- q2: which stacks vanish or explode -------------------------------------------------------------

STACKS = {
    "A": dict(depth=20, shortcut_scale=0.0, activation="sigmoid"),
    "B": dict(depth=20, shortcut_scale=1.0, activation="sigmoid"),
    "C": dict(depth=50, shortcut_scale=0.0, activation="relu", init="kaiming"),
    "D": dict(depth=50, shortcut_scale=1.0, activation="relu", init="kaiming"),
    "E": dict(depth=50, shortcut_scale=1.0, activation="relu", init="small"),
    "F": dict(depth=50, shortcut_scale=0.0, activation="relu", norm="batch"),
}
VERDICTS = ("vanish", "explode", "healthy")
VANISH_BELOW, EXPLODE_ABOVE = 1e-6, 1e3  # per-layer weight-gradient norms; healthy nets sit near 0.01-10


def describe_stacks() -> str:
    """The stacks of q2 in words."""
    lines = []
    for name, kw in STACKS.items():
        kind = "residual (shortcut_scale = 1)" if kw["shortcut_scale"] else "plain"
        lines.append(
            f"{name}: {kind}, {kw['depth']} blocks, {kw['activation']}, init {kw.get('init', 'default')}, "
            f"norm {kw.get('norm', 'none')}"
        )
    return "\n".join(lines)


def classify(norms: list[float]) -> str:
    """'explode' if a layer's gradient norm is above 1e3 or not finite, 'vanish' if one is below 1e-6, else 'healthy'."""
    if any(not math.isfinite(v) or v > EXPLODE_ABOVE for v in norms):
        return "explode"
    return "vanish" if min(norms) < VANISH_BELOW else "healthy"


def measure_stacks(seed: int | None = None) -> dict[str, tuple[str, float, float]]:
    """{stack: (verdict, smallest, largest per-layer gradient norm)} at init on a random batch; seed: the course's."""
    return _measure_stacks(course_seed() if seed is None else seed)


@lru_cache(maxsize=4)
def _measure_stacks(seed: int) -> dict[str, tuple[str, float, float]]:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(64, 784, generator=g), torch.randint(0, 10, (64,), generator=g)
    out = {}
    for name, kw in STACKS.items():
        torch.manual_seed(seed)
        norms = list(grad_norms_per_layer(DeepMLP(MLPConfig(**kw)), x, y).values())
        out[name] = (classify(norms), min(norms), max(norms))
    return out


WHY = {
    "A": "sigmoid's derivative is at most 1/4, so a plain product of 20 of them shrinks the gradient",
    "B": "sigmoid's small derivative makes each branch's J small, and the shortcut turns each factor into I + J, close to I",
    "C": "He (Kaiming) init scales each layer so that a ReLU keeps the signal's size: the plain stack's gradient "
    "norms stay within a small factor of each other at initialisation (PyTorch's default init would shrink them)",
    "D": "without normalisation each block adds its branch's variance: activations and gradients grow exponentially",
    "E": "small branch weights keep every block close to the identity",
    "F": "batch norm stops the vanishing, but a deep plain ReLU stack with BN has gradients that grow toward the input",
}


def check_verdicts(answer: Any) -> str:
    """Checker for q2: a dict {stack: 'vanish' | 'explode' | 'healthy'} that agrees with the measurement."""
    answer = _check_verdict_dict(answer, STACKS, "stack")
    measured = measure_stacks()
    wrong = []
    for name, (verdict, lo, hi) in measured.items():
        if answer[name].strip().lower() != verdict:
            wrong.append(
                f"{name}: you said {answer[name]!r}, measured {verdict} (per-layer gradient norms "
                f"from {lo:.2g} to {hi:.2g}): {WHY[name]}."
            )
    if wrong:
        raise Mistake(f"{len(wrong)} of {len(STACKS)} verdicts disagree with the measurement. " + " ".join(wrong))
    return "all six agree with the measurement."


q2 = Question(
    "Q2 · vanish, explode or healthy?",
    lambda: (
        "Predict for each stack whether its per-layer gradient norms at initialisation vanish (some "
        "below 1e-6), explode (some above 1e3, or inf/NaN) or stay healthy:\n\n```\n" + describe_stacks() + "\n```\n\n"
        "Answer with a dict, e.g. `ex.q2.check({'A': 'vanish', 'B': 'healthy', ...})`. The checker builds "
        "each stack and measures it."
    ),
    check_verdicts,
    "Ask two questions per stack: does each layer's factor shrink the gradient (plain stacks multiply J's), "
    "and does anything stop the forward activations from growing (a residual stack without "
    "normalisation adds variance in every block)? Growth toward the input counts as well as shrinking: "
    "section 5's plain stacks with batch norm grew by orders of magnitude. Try a stack in the explorer above.",
    lambda: _verdicts_solution(measure_stacks(), STACKS, WHY.__getitem__),
)


# --- q3: the identity-vs-branch split for one block -------------------------------------------------


def _cases() -> list[tuple[MLPBlock, torch.Tensor, torch.Tensor]]:
    cases = []
    for i, (shortcut_scale, act) in enumerate([(1.0, "tanh"), (0.5, "relu"), (0.3, "linear"), (0.0, "tanh")]):
        torch.manual_seed(100 + i)
        block = MLPBlock(6, shortcut_scale, act, "none").double()
        with torch.no_grad():
            block.linear.weight.add_(0.5 * torch.randn(6, 6, dtype=torch.float64))  # not symmetric-looking
        cases.append((block, torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 6, dtype=torch.float64)))
    return cases


def check_split(split: Any) -> str:
    """Checker for q3: ``split(block, x, grad_out)`` returns (shortcut part, branch part) of dLoss/dx."""
    if not callable(split):
        raise Mistake(f"pass your function itself (`split`), got {type(split).__name__}.")
    for block, x, g in _cases():
        got = split(block, x.clone(), g.clone())
        try:
            g_s, g_b = got
            g_s, g_b = torch.as_tensor(g_s).detach().double(), torch.as_tensor(g_b).detach().double()
        except (TypeError, ValueError):
            raise Mistake(
                f"split returned {type(got).__name__}; return a pair of tensors (shortcut part, branch part)."
            ) from None
        want_s, want_b = split_block_gradient(block, x, g)
        if g_s.shape != x.shape or g_b.shape != x.shape:
            raise Mistake(
                f"each part must have the shape of x, {tuple(x.shape)}; got {tuple(g_s.shape)} and {tuple(g_b.shape)}."
            )
        a = block.shortcut_scale
        if torch.allclose(g_s, want_s) and torch.allclose(g_b, want_b):
            continue
        if torch.allclose(g_s, want_b) and torch.allclose(g_b, want_s) and not torch.allclose(want_s, want_b):
            raise Mistake("the parts are swapped: return (shortcut part, branch part).")
        if a not in (0.0, 1.0) and torch.allclose(g_s, g):
            raise Mistake(
                f"with shortcut_scale = {a} the shortcut carries shortcut_scale * x, so its part of the gradient is shortcut_scale * grad_out, not grad_out."
            )
        if torch.allclose(g_b, want_s + want_b):
            raise Mistake(
                "your branch part is the whole gradient (shortcut + branch); keep only what flows through R(x)."
            )
        if block.act.__class__.__name__ == "Identity":
            w = block.linear.weight.detach()
            if torch.allclose(g_b, g @ w.T) and not torch.allclose(g @ w.T, g @ w):
                raise Mistake(
                    "the branch part multiplies grad_out by W^T on the wrong side: for R(x) = x W^T + b "
                    "(rows are examples) the vector-Jacobian product is grad_out @ W."
                )
        if not torch.allclose(g_s, want_s):
            raise Mistake(f"shortcut part wrong for shortcut_scale = {a}: it should be shortcut_scale * grad_out.")
        if not torch.allclose(g_b, want_b):
            raise Mistake(
                f"branch part wrong for a {block.act.__class__.__name__} block: it should be "
                "J_R(x)^T grad_out, e.g. torch.autograd.grad(block.residual(x), x, grad_out)."
            )
    return (
        "shortcut part + branch part = dLoss/dx; the shortcut part is exactly shortcut_scale * grad_out, whatever the "
        "branch does (in a block with a ReLU after the sum, grad_out would first be masked by that ReLU)."
    )


q3 = Question(
    "Q3 · split one block's gradient",
    "An `MLPBlock` computes H(x) = shortcut_scale * x + R(x) with `block.shortcut_scale` and `block.residual(x)`. Given the "
    "gradient `grad_out` = dLoss/dH, write `split(block, x, grad_out)` returning the pair (part of dLoss/dx "
    "through the shortcut, part through the branch R). Check with `ex.q3.check(split)`.",
    check_split,
    "The chain rule for a sum: dL/dx = shortcut_scale * grad_out + J_R^T grad_out. For the second term, make x "
    "require grad, compute `block.residual(x)` and call `torch.autograd.grad(r, x, grad_out)`.",
    "```python\nimport torch\n\ndef split(block, x, grad_out):\n    x = x.detach().requires_grad_(True)\n"
    "    r = block.residual(x)\n    (g_branch,) = torch.autograd.grad(r, x, grad_out)\n"
    "    return block.shortcut_scale * grad_out, g_branch\n```",
)
