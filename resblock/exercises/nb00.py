"""Exercise for notebook 00, "Start here": ``from resblock.exercises import nb00 as ex``.

q1 asks what residual blocks changed, before notebooks 01-03 show it: the learner commits to one of
four statements, and each wrong one is answered with the evidence against it.
"""

from __future__ import annotations

from typing import Any

from resblock.checks import short_repr
from resblock.exercises import Mistake, Question

STATEMENTS = {
    "a": "Before residual blocks, no network much deeper than twenty layers could be trained at all.",
    "b": "Residual blocks work because they fix vanishing gradients, which plain networks cannot avoid.",
    "c": "With residual blocks, deeper networks kept getting better, where deeper plain networks trained worse.",
    "d": "Residual networks have fewer parameters than plain ones of the same depth, so they train faster.",
}
ANSWER = "c"

WHY_NOT = {
    "a": "deep nets did train before: highway networks (Srivastava, Greff, Schmidhuber 2015), with gated shortcuts, "
    "trained hundreds of layers earlier in 2015, and He et al.'s own plain nets with batch norm trained at 34 "
    "and 56 layers. They trained *worse* than shallower ones, which is the degradation problem of notebook 03.",
    "b": "the teaser's dotted line (He init) is a plain net whose gradients do not vanish: He initialisation (and batch "
    "norm) already keep them alive, and He et al. (sec. 4.1) call the degradation of deep plain nets "
    "'unlikely to be caused by vanishing gradients'. Notebook 02 measures both.",
    "d": "an identity shortcut adds no parameters and (almost) no computation (He et al., sec. 3.2): a residual "
    "net and its plain twin have the same layers, so the same parameter count.",
}


def check_statement(answer: Any) -> str:
    """Checker for q1: the letter of the statement the papers support."""
    if not isinstance(answer, str) or answer.strip().lower().strip("().") not in STATEMENTS:
        raise Mistake(f"answer with one letter, {', '.join(repr(k) for k in STATEMENTS)}; got {short_repr(answer)}.")
    letter = answer.strip().lower().strip("().")  # 'c', 'C)', '(c)' and 'c.' are one answer
    if letter != ANSWER:
        raise Mistake(f"({letter}) is folklore, not what the papers show: {WHY_NOT[letter]}")
    return (
        "He et al. (2015) trained residual nets of 152 layers on ImageNet and over 1,000 on CIFAR-10; on CIFAR-10 "
        "their error fell from 20 to 110 layers, while plain nets got worse from 20 to 56. Notebook 03 "
        "reproduces the plain side of that on Fashion-MNIST."
    )


q1 = Question(
    "Q1 · what did residual blocks change?",
    "Before the next notebooks show it, commit to one statement. Which one do the papers support?\n\n```\n"
    + "\n".join(f"({k}) {v}" for k, v in STATEMENTS.items())
    + "\n```\n\nAnswer with its letter, e.g. `ex.q1.check('a')`.",
    check_statement,
    "Two of the wrong statements are folklore the teaser above already contradicts (look at the dotted line, He init, "
    "and count what a shortcut x + R(x) adds to a layer); the third ignores networks trained before "
    "December 2015.",
    "`ex.q1.check('c')`. (a) deep nets trained before ResNets, only worse; (b) He init and batch norm already "
    "keep a plain net's gradients from vanishing; (d) an identity shortcut adds no parameters.",
)
