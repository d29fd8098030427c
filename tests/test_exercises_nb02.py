"""Notebook 02's exercises: each reference solution passes; known wrong answers fail naming the mistake."""

import pytest
import torch

from resblock.exercises import nb02 as ex


def _message(question, answer):
    status, message = question.feedback(answer)
    return status, message


# --- q1 -------------------------------------------------------------------------------------------


def test_q1_reference_passes():
    assert ex.q1.feedback(lambda w, L: ((1 + w) ** L, w**L))[0] == "correct"


@pytest.mark.parametrize("wrong, words", [
    (lambda w, L: (w**L, (1 + w) ** L), "swapped"),
    (lambda w, L: (L * (1 + w), L * w), "multiplies"),
    (lambda w, L: (L * (1 + w) ** (L - 1), L * w ** (L - 1)), "with respect to w"),
    (lambda w, L: (1 + w**L, w**L), "2^L paths"),
    (lambda w, L: ((1 + w) ** L, w ** (L - 1)), "plain"),
    (lambda w, L: 3.0, "pair"),
])
def test_q1_known_mistakes_are_named(wrong, words):
    status, message = ex.q1.feedback(wrong)
    assert status == "incorrect" and words in message, message


def test_q1_placeholder_is_todo():
    assert ex.q1.feedback(...)[0] == "todo"


# --- q2 -------------------------------------------------------------------------------------------


def test_q2_measurement_gives_the_expected_verdicts():
    verdicts = {k: v[0] for k, v in ex.measure_stacks().items()}
    assert verdicts == {"A": "vanish", "B": "healthy", "C": "healthy", "D": "explode", "E": "healthy", "F": "explode"}


def test_q2_reference_passes_and_wrong_verdicts_are_named():
    right = {k: v[0] for k, v in ex.measure_stacks().items()}
    assert ex.q2.feedback(right)[0] == "correct"
    wrong = dict(right, D="healthy", F="healthy")  # the folklore answer: "residual fixes it, BN fixes it"
    status, message = ex.q2.feedback(wrong)
    assert status == "incorrect" and "2 of 6" in message and "D: you said 'healthy'" in message
    assert ex.q2.feedback({"A": "vanish"})[0] == "incorrect"
    assert "one of" in ex.q2.feedback(dict(right, A="dies"))[1]
    assert "dict" in ex.q2.feedback(["vanish"])[1]


def test_classify_thresholds():
    assert ex.classify([1e-7, 1.0]) == "vanish"
    assert ex.classify([0.1, 2e3]) == "explode"
    assert ex.classify([0.1, float("nan")]) == "explode"
    assert ex.classify([0.01, 5.0]) == "healthy"


# --- q3 -------------------------------------------------------------------------------------------


def reference_split(block, x, grad_out):
    x = x.detach().requires_grad_(True)
    (g_branch,) = torch.autograd.grad(block.residual(x), x, grad_out)
    return block.alpha * grad_out, g_branch


def test_q3_reference_passes():
    assert ex.q3.feedback(reference_split)[0] == "correct"


def _forgot_alpha(block, x, g):
    return g, reference_split(block, x, g)[1]


def _total_as_branch(block, x, g):
    s, b = reference_split(block, x, g)
    return s, s + b


def _swapped(block, x, g):
    s, b = reference_split(block, x, g)
    return b, s


def _wrong_side(block, x, g):
    s, b = reference_split(block, x, g)
    if block.act.__class__.__name__ == "Identity":
        b = g @ block.linear.weight.detach().T
    return s, b


def _no_activation_derivative(block, x, g):
    return block.alpha * g, g @ block.linear.weight.detach()


@pytest.mark.parametrize("wrong, words", [
    (_forgot_alpha, "alpha * grad_out"),
    (_total_as_branch, "whole gradient"),
    (_swapped, "swapped"),
    (_wrong_side, "wrong side"),
    (_no_activation_derivative, "branch part wrong"),
    (lambda b, x, g: None, "pair of tensors"),
])
def test_q3_known_mistakes_are_named(wrong, words):
    status, message = ex.q3.feedback(wrong)
    assert status in ("incorrect", "todo") and words in message, message


def test_questions_show_hint_and_solution(capsys):
    for q in (ex.q1, ex.q2, ex.q3):
        q.hint()
        q.solution()
    out = capsys.readouterr().out
    assert "autograd" in out and "def split" in out and "'A': 'vanish'" in out
