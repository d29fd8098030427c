"""Notebook 02's exercises: each reference solution passes; known wrong answers fail naming the mistake."""

import re

import pytest
import torch

from resblock.exercises import Mistake
from resblock.exercises import nb02 as ex


def _message(question, answer):
    status, message = question.feedback(answer)
    return status, message


# --- q1 -------------------------------------------------------------------------------------------


def test_q1_measurement_gives_the_expected_verdicts():
    # (0.5)^50, (1.5)^50, (0.5)^50, (1.05)^50 = 11.5, (0.95)^50 = 0.077, (1.5)^50
    verdicts = {k: v[0] for k, v in ex.measure_chains().items()}
    assert verdicts == {"A": "vanish", "B": "explode", "C": "vanish", "D": "healthy", "E": "healthy", "F": "explode"}
    for name, (shortcut, w) in ex.CHAINS.items():  # oracle: the closed form
        assert ex.measure_chains()[name][1] == pytest.approx(((1 + w) if shortcut else w) ** ex.TOY_DEPTH, rel=1e-9)


def test_q1_reference_passes():
    right = {k: v[0] for k, v in ex.measure_chains().items()}
    status, message = ex.q1.feedback(right)
    assert status == "correct" and "1 + w" in message


def test_q1_folklore_answer_is_named():
    # "the shortcut fixes it": every chain with a shortcut called healthy
    right = {k: v[0] for k, v in ex.measure_chains().items()}
    wrong = dict(right, B="healthy", C="healthy")
    status, message = ex.q1.feedback(wrong)
    assert status == "incorrect" and "not a guarantee" in message and "2 of 6" in message, message
    assert "C: you said 'healthy', autograd gives vanish" in message and "0.5^50" in message, message


def test_q1_plain_mistake_names_the_factor():
    right = {k: v[0] for k, v in ex.measure_chains().items()}
    status, message = ex.q1.feedback(dict(right, F="vanish"))
    assert status == "incorrect" and "not a guarantee" not in message and "1.5^50" in message, message


@pytest.mark.parametrize(
    "answer, words",
    [
        (["vanish"], "dict"),
        ({"A": "vanish"}, "missing"),
        ({k: "shrinks" for k in "ABCDEF"}, "one of"),
    ],
)
def test_q1_malformed_answers_say_what_to_give(answer, words):
    status, message = ex.q1.feedback(answer)
    assert status == "incorrect" and words in message, message


@pytest.mark.parametrize("question, measure", [("q1", "measure_chains"), ("q2", "measure_stacks")])
def test_keys_are_letters_in_either_case_and_others_are_named(question, measure):
    q, right = getattr(ex, question), {k: v[0] for k, v in getattr(ex, measure)().items()}
    lower = {f" {k.lower()}": v.upper() for k, v in right.items()}  # the verdicts were already case-blind
    assert q.feedback(lower)[0] == "correct"
    status, message = q.feedback(dict(right, G="vanish"))
    assert status == "incorrect" and "unknown" in message and "'G'" in message and "'A', 'B', 'C'" in message
    status, message = q.feedback(dict(right, a="explode"))
    assert status == "incorrect" and "'A' and 'a' are the same" in message, message
    worded = {k: {"vanish": "vanishes", "explode": "Explodes", "healthy": "stays healthy"}[v] for k, v in right.items()}
    assert q.feedback(worded)[0] == "correct"  # the prompt's own wording


def test_q1_placeholder_is_todo():
    assert ex.q1.feedback(...)[0] == "todo"


def test_toy_verdict_thresholds():
    assert ex.toy_verdict(1e-7) == "vanish" and ex.toy_verdict(-1e-7) == "vanish"
    assert ex.toy_verdict(2e6) == "explode" and ex.toy_verdict(float("inf")) == "explode"
    assert ex.toy_verdict(0.08) == "healthy"


# --- q2 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q2_measurement_gives_the_expected_verdicts(seed):
    # the verdicts hold for the course's seeds, not just one draw
    verdicts = {k: v[0] for k, v in ex.measure_stacks(seed).items()}
    assert verdicts == {"A": "vanish", "B": "healthy", "C": "healthy", "D": "explode", "E": "healthy", "F": "explode"}


def test_q2_follows_the_course_seed(monkeypatch):
    monkeypatch.setenv("RESBLOCK_SEED", "1")
    assert ex.measure_stacks() == ex.measure_stacks(1)


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
    return block.shortcut_scale * grad_out, g_branch


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
    return block.shortcut_scale * g, g @ block.linear.weight.detach()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_forgot_alpha, "shortcut_scale * grad_out"),
        (_total_as_branch, "whole gradient"),
        (_swapped, "swapped"),
        (_wrong_side, "wrong side"),
        (_no_activation_derivative, "branch part wrong"),
        (lambda b, x, g: None, "pair of tensors"),
    ],
)
def test_q3_known_mistakes_are_named(wrong, words):
    status, message = ex.q3.feedback(wrong)
    assert status == "incorrect" and words in message, message  # named as a mistake, not shown as "not yet"


def _local_derivative_only(block, x, g):
    # d(shortcut_scale * x)/dx = shortcut_scale, but the chain rule still multiplies it by grad_out
    return block.shortcut_scale * torch.ones_like(g), reference_split(block, x, g)[1]


def _weight_gradient_as_branch(block, x, g):
    # the gradient through the branch taken with respect to its weight, not to x
    (g_w,) = torch.autograd.grad(block.residual(x), block.linear.weight, g)
    return block.shortcut_scale * g, g_w


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_local_derivative_only, "shortcut part wrong for shortcut_scale = 1.0"),
        (_weight_gradient_as_branch, "each part must have the shape of x, (4, 6); got (4, 6) and (6, 6)"),
        ("split", "pass your function itself (`split`), got str"),
        ((torch.zeros(4, 6), torch.zeros(4, 6)), "pass your function itself (`split`), got tuple"),  # split(...)
    ],
)
def test_q3_more_mistakes_are_named(wrong, words):
    with pytest.raises(Mistake, match=re.escape(words)):
        ex.check_split(wrong)


def test_questions_show_hint_and_solution(capsys):
    for q in (ex.q1, ex.q2, ex.q3):
        q.hint()
        q.solution()
    out = capsys.readouterr().out
    assert "1 + w" in out and "def split" in out and "'A': 'vanish'" in out
