"""Notebooks 05 and 06's exercises: reference solutions pass; known wrong answers fail naming the mistake."""

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from resblock.exercises import nb05, nb06
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

def test_nb05_q1_solution_and_mistakes():
    assert status(nb05.q1, solution_namespace(nb05.q1)["count_paths"])[0] == "correct"
    assert status(nb05.q1, None)[0] == "todo"
    assert_mistake(nb05.q1, lambda n: 2**n, "total number of paths")
    assert_mistake(nb05.q1, lambda n: [math.comb(n, k) for k in range(n)], "n + 1")
    assert_mistake(nb05.q1, lambda n: [math.comb(n, k) / 2**n for k in range(n + 1)], "fractions")
    assert_mistake(nb05.q1, lambda n: [n] * (n + 1), "expected")


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
    assert_mistake(nb05.q2, lambda b: (lambda x: torch.zeros_like(b.shortcut(x))), "all zeros")
    assert_mistake(nb05.q2, lambda b: b.shortcut, "missing the ReLU")
    assert_mistake(nb05.q2, lambda b: b, "nothing was deleted")


# --- notebook 06 -------------------------------------------------------------------------------------

def test_nb06_q1_solution_package_and_mistakes():
    assert status(nb06.q1, solution_namespace(nb06.q1)["filter_normalize"])[0] == "correct"
    assert status(nb06.q1, filter_normalize)[0] == "correct"
    assert_mistake(nb06.q1, lambda d, w: d * w.norm() / d.norm(), "layer-wise")
    assert_mistake(nb06.q1, lambda d, w: d / d.flatten(1).norm(dim=1).view(-1, *[1] * (d.dim() - 1)), "norm 1")
    assert_mistake(nb06.q1, lambda d, w: w.clone(), "weights themselves")

    def along_inputs(d, w):
        dt, wt = d.transpose(0, 1), w.transpose(0, 1)
        return (dt * (wt.flatten(1).norm(dim=1) / dt.flatten(1).norm(dim=1)).view(-1, *[1] * (d.dim() - 1))).transpose(0, 1)

    assert_mistake(nb06.q1, along_inputs, "dim 1")


def test_nb06_q2_solution_package_and_mistakes():
    assert status(nb06.q2, solution_namespace(nb06.q2)["random_direction"])[0] == "correct"
    assert status(nb06.q2, random_direction)[0] == "correct"

    def bn_left_in(model):
        return {n: (filter_normalize(torch.randn_like(p), p.detach()) if p.dim() > 1 else torch.randn_like(p))
                for n, p in model.named_parameters()}

    assert_mistake(nb06.q2, bn_left_in, "BN")
    assert_mistake(nb06.q2, lambda m: {n: p.detach().clone() if p.dim() > 1 else torch.zeros_like(p)
                                       for n, p in m.named_parameters()}, "equals the weights")
    assert_mistake(nb06.q2, lambda m: {n: torch.randn_like(p) if p.dim() > 1 else torch.zeros_like(p)
                                       for n, p in m.named_parameters()}, "filter norms")
    assert_mistake(nb06.q2, lambda m: {"w": torch.zeros(1)}, "parameter names")
