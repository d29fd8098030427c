"""Notebooks 05 and 06's exercises: reference solutions pass; known wrong answers fail naming the mistake."""

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resblock.exercises import Mistake, nb05, nb06
from resblock.landscape import filter_normalize, random_direction
from resblock.paths import BranchRemoved


def solution_namespace(question) -> dict:
    code = "\n".join(re.findall(r"```python\n(.*?)```", question._text(question._solution), flags=re.S))
    ns: dict = {}
    exec(code, ns)
    return ns


def status(question, answer):
    return question.feedback(answer)


def assert_mistake(question, answer, *words):
    s, message = status(question, answer)
    assert s == "incorrect", message
    for w in words:
        assert w in message, message


# --- notebook 05 -------------------------------------------------------------------------------------


def test_nb05_q1_answers_are_computed_from_the_binomial():
    # Oracle: Veit et al. report that the paths of length 5-17 are 0.45% of ResNet-110's paths.
    assert abs(nb05.short_path_share() - 0.0045) < 0.0002
    assert nb05.surviving_share() == 2.0**-10
    assert nb05.answers() == {"share": "under 1%", "survive": "about a thousandth"}


def test_nb05_q1_solution_placeholder_and_mistakes():
    call = re.search(r"ex\.q1\.check\((\{.*?\})\)", nb05.q1._text(nb05.q1._solution)).group(1)
    assert status(nb05.q1, eval(call))[0] == "correct"
    assert status(nb05.q1, {"share": ..., "survive": ...})[0] == "todo"
    assert status(nb05.q1, None)[0] == "todo"
    assert_mistake(nb05.q1, {"share": "most", "survive": "about a thousandth"}, "share", "binomial")
    assert_mistake(nb05.q1, {"share": "about a tenth", "survive": "about a thousandth"}, "thin tail")
    assert_mistake(nb05.q1, {"share": "under 1%", "survive": "about half"}, "survive", "halves")
    assert_mistake(nb05.q1, {"share": "under 1%", "survive": ...}, "missing: survive")
    assert_mistake(nb05.q1, {"share": "few", "survive": "about half"}, "answer one of")
    assert_mistake(nb05.q1, ["under 1%"], "dict")


def test_nb05_q2_solution_package_and_mistakes():
    assert status(nb05.q2, solution_namespace(nb05.q2)["delete_branch"])[0] == "correct"
    assert status(nb05.q2, BranchRemoved)[0] == "correct"
    assert_mistake(nb05.q2, lambda b: nn.Identity(), "shape")

    class KeepBranch(nn.Module):
        def __init__(self, b):
            super().__init__()
            self.b = b

        def forward(self, x):
            return F.relu(self.b.residual(x))

    assert_mistake(nb05.q2, KeepBranch, "deleted the shortcut")

    def zero_in_place(b):
        nn.init.zeros_(b.bn2.weight)
        nn.init.zeros_(b.bn2.bias)
        return b

    assert_mistake(nb05.q2, zero_in_place, "changed the block itself")

    def replace_residual(block):  # the weights untouched, the block lesioned for good
        block.residual = lambda x: 0
        return block

    def replace_forward(block):
        block.forward = lambda x: F.relu(block.shortcut(x))
        return block

    assert_mistake(nb05.q2, replace_residual, "replaced its `residual`")
    assert_mistake(nb05.q2, replace_forward, "changed the block itself")
    assert_mistake(nb05.q2, lambda b: lambda x: torch.zeros_like(b.shortcut(x)), "all zeros")
    assert_mistake(nb05.q2, lambda b: b.shortcut, "missing the ReLU")
    assert_mistake(nb05.q2, lambda b: b, "nothing was deleted")
    assert_mistake(nb05.q2, "delete_branch", "pass your function itself")
    assert_mistake(nb05.q2, lambda b: 3, "should return a module")
    assert_mistake(nb05.q2, lambda b: lambda x: x.tolist(), "expected a tensor")
    assert_mistake(
        nb05.q2, lambda b: lambda x: F.relu(b.shortcut(x)) + 1, "the output differs from relu(block.shortcut(x))"
    )


# --- notebook 06 -------------------------------------------------------------------------------------


def test_nb06_q1_measured_rescalings():
    # Oracle: BN (batch statistics) cancels any positive per-channel scale; ReLU is positively homogeneous.
    assert nb06.unchanged_rescalings() == {"A", "B", "F"}


def test_nb06_q1_solution_placeholder_and_mistakes():
    call = re.search(r"ex\.q1\.check\((\[.*?\])\)", nb06.q1._text(nb06.q1._solution)).group(1)
    assert status(nb06.q1, set(eval(call)))[0] == "correct"
    assert status(nb06.q1, {"a", "b", "f"})[0] == "correct"
    assert status(nb06.q1, {...})[0] == "todo"
    assert status(nb06.q1, None)[0] == "todo"
    assert_mistake(nb06.q1, {"A", "F"}, "left out 1", "B")
    assert_mistake(nb06.q1, {"A", "B", "C", "F"}, "C changes", "sign")
    assert_mistake(nb06.q1, {"A", "B", "D", "F"}, "gamma")
    assert_mistake(nb06.q1, {"A", "B", "E", "F"}, "without BN")
    assert_mistake(nb06.q1, {"A", "B", "F", "Z"}, "not among")
    assert_mistake(nb06.q1, 3, "set of letters")


def diagnose(fn):
    """Run q2's diagnosis on ``fn(d, w)`` for one weight tensor w and one direction d."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 4, 3, 3, generator=g) * torch.linspace(0.1, 3.0, 6).view(-1, 1, 1, 1)
    d = torch.randn(6, 4, 3, 3, generator=g)
    nb06._diagnose(fn(d.clone(), w.clone()), d, w, "probe")


def test_filter_normalize_diagnosis_names_the_mistakes():
    # The diagnosis behind q2's checker, on one tensor: right answers pass, known wrong ones are named.
    diagnose(filter_normalize)
    for wrong, words in (
        (lambda d, w: d * w.norm() / d.norm(), "layer-wise"),
        (lambda d, w: d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1), "norm 1"),
        (lambda d, w: w.clone(), "weights themselves"),
    ):
        try:
            diagnose(wrong)
        except nb06.Mistake as m:
            assert words in str(m), str(m)
        else:
            raise AssertionError(f"{words}: not caught")


@pytest.mark.parametrize(
    "wrong, words",
    [
        # q2's checker never gets here: it names a non-tensor before the diagnosis, and diagnoses each
        # direction against itself, so every filter of it points along d.
        (lambda d, w: d.tolist(), "probe: expected a tensor, got list"),
        # a fresh draw, filter-normalised: right lengths, but not d's direction
        (lambda d, w: filter_normalize(torch.randn_like(d), w), "no longer points along d's filter"),
    ],
)
def test_diagnosis_names_mistakes_q2_cannot_reach(wrong, words):
    with pytest.raises(Mistake, match=re.escape(words)):
        diagnose(wrong)


def _answer(m, weight=lambda w: filter_normalize(torch.randn_like(w), w), other=torch.zeros_like):
    """A q2 answer for model m: ``weight(w)`` for each weight, ``other(p)`` for biases and BN parameters."""
    return {n: weight(p.detach()) if p.dim() > 1 else other(p.detach()) for n, p in m.named_parameters()}


def _flattened_filters(w):
    d = torch.randn_like(w).flatten(1)  # one row per filter, never reshaped back
    return d / d.norm(dim=1, keepdim=True) * w.flatten(1).norm(dim=1, keepdim=True)


def _along_dim1(w):
    d = torch.randn_like(w)
    dims = [i for i in range(w.dim()) if i != 1]  # norms over everything but dim 1: per input channel
    return d * torch.linalg.vector_norm(w, dim=dims, keepdim=True) / torch.linalg.vector_norm(d, dim=dims, keepdim=True)


@pytest.mark.parametrize(
    "wrong, words",
    [
        ("random_direction", "pass your function itself (`random_direction`), got str"),
        (_answer(nb06._probe_model()), "pass your function itself (`random_direction`), got dict"),  # its result
        (lambda m: [torch.randn_like(p) for p in m.parameters()], "return a dict {parameter name: tensor}, got list"),
        # p.detach() shares p's storage: zero_() on it zeroes the model's own biases and BN parameters
        (lambda m: _answer(m, other=torch.Tensor.zero_), "the model's own weights changed"),
        (lambda m: _answer(m, other=lambda b: 0.0), "1.weight: expected a tensor of shape (4,)"),
        (lambda m: _answer(m, other=lambda b: torch.zeros(1)), "1.weight: expected a tensor of shape (4,)"),
        (lambda m: _answer(m, _flattened_filters), "0.weight: the result has shape (4, 18), the weight (4, 2, 3, 3)"),
        (lambda m: _answer(m, _along_dim1), "0.weight: you normalised along dim 1"),
        # the probe's conv has two input channels, so layer-wise is told apart from dim 1 through q2 too
        (lambda m: _answer(m, lambda w: (d := torch.randn_like(w)) * w.norm() / d.norm()), "that is layer-wise"),
    ],
)
def test_nb06_q2_more_mistakes_are_named(wrong, words):
    with pytest.raises(Mistake, match=re.escape(words)):
        nb06.check_random_direction(wrong)


def test_nb06_q2_solution_package_and_mistakes():
    assert status(nb06.q2, solution_namespace(nb06.q2)["random_direction"])[0] == "correct"
    assert status(nb06.q2, random_direction)[0] == "correct"

    def bn_left_in(model):
        return {
            n: (filter_normalize(torch.randn_like(p), p.detach()) if p.dim() > 1 else torch.randn_like(p))
            for n, p in model.named_parameters()
        }

    assert_mistake(nb06.q2, bn_left_in, "BN")
    assert_mistake(
        nb06.q2,
        lambda m: {n: p.detach().clone() if p.dim() > 1 else torch.zeros_like(p) for n, p in m.named_parameters()},
        "equals the weights",
    )
    assert_mistake(
        nb06.q2,
        lambda m: {n: torch.randn_like(p) if p.dim() > 1 else torch.zeros_like(p) for n, p in m.named_parameters()},
        "filter norms",
    )
    assert_mistake(nb06.q2, lambda m: {"w": torch.zeros(1)}, "parameter names")

    def direction(draw):  # filter-normalised, zeros for 1-D parameters, d drawn by ``draw(w)``
        return lambda m: _answer(m, lambda w: filter_normalize(draw(w), w))

    # Each has every filter's norm right, so only what a random direction looks like tells them apart.
    assert_mistake(nb06.q2, direction(torch.rand_like), "both signs")  # uniform on [0, 1)
    assert_mistake(nb06.q2, direction(torch.abs), "both signs")  # |w|
    assert_mistake(nb06.q2, direction(torch.neg), "points along its weight filter")  # -w
    assert_mistake(
        nb06.q2,
        lambda m: {n: [0.0] * p.numel() if p.dim() > 1 else torch.zeros_like(p) for n, p in m.named_parameters()},
        "expected a tensor",
    )


def test_nb05_q1_keys_in_any_case():
    right = nb05.answers()
    assert status(nb05.q1, {k.title(): v for k, v in right.items()})[0] == "correct"  # it was "not answered yet"


def test_nb05_q2_a_new_module_is_run_as_a_lesion_is_at_test_time():
    # A fresh projection loaded with the block's weights is in training mode; the lesion is used in eval mode.
    import copy

    class FreshShortcut(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.shortcut = copy.deepcopy(block.shortcut).train()

        def forward(self, x):
            return F.relu(self.shortcut(x))

    assert status(nb05.q2, FreshShortcut)[0] == "correct"


def test_nb06_q2_a_float64_direction_is_checked_not_crashed_on():
    # NumPy draws in float64: the direction is right, only its precision differs from the weights'.
    def from_numpy(model):
        import numpy as np

        rng = np.random.default_rng(0)
        return {
            n: filter_normalize(torch.from_numpy(rng.standard_normal(p.shape)), p.detach().double())
            if p.dim() > 1
            else torch.zeros_like(p)
            for n, p in model.named_parameters()
        }

    assert status(nb06.q2, from_numpy)[0] == "correct"
