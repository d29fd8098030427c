"""Notebook 07's exercises: reference solutions pass; known wrong answers fail naming the mistake."""

import re

import torch
import torch.nn.functional as F
from torch import nn

from resblock.blocks import PreActBlock
from resblock.exercises import nb07
from resblock.transformer import Residual


def solution_namespace(question) -> dict:
    code = "\n".join(re.findall(r"```python\n(.*?)```", question._text(question._solution), flags=re.S))
    ns: dict = {}
    exec(code, ns)
    return ns


def assert_mistake(question, answer, *words):
    status, message = question.feedback(answer)
    assert status == "incorrect", message
    for w in words:
        assert w in message, message


# --- q1: the pre-activation block --------------------------------------------------------------


class Skeleton(solution_namespace(nb07.q1)["MyPreActBlock"]):
    """The notebook's skeleton (the reference solution's layers); subclasses fill in forward the way learners get it wrong."""

    def branch(self, x):
        return self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))

    def forward(self, x):
        raise NotImplementedError


def _variant(forward):
    return type("Attempt", (Skeleton,), {"forward": forward})


def test_q1_solution_and_package_pass():
    assert nb07.q1.feedback(solution_namespace(nb07.q1)["MyPreActBlock"])[0] == "correct"
    assert nb07.q1.feedback(PreActBlock)[0] == "correct"


def test_q1_placeholder_is_todo():
    assert nb07.q1.feedback(Skeleton)[0] == "todo"
    assert nb07.q1.feedback(None)[0] == "todo"


def test_q1_names_each_mistake():
    assert_mistake(nb07.q1, _variant(lambda s, x: F.relu(x + s.branch(x))), "ReLU after the addition")
    assert_mistake(nb07.q1, _variant(lambda s, x: s.branch(x)), "shortcut is missing")
    assert_mistake(nb07.q1, _variant(lambda s, x: F.relu(s.bn1(x)) + s.branch(x)), "carries relu(bn1(x))")
    assert_mistake(nb07.q1, _variant(lambda s, x: x + s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))), "post-activation order")
    assert_mistake(nb07.q1, _variant(lambda s, x: x + s.conv2(s.bn2(s.conv1(s.bn1(x))))), "ReLUs are missing")

    def in_place(s, x):
        x += s.branch(x.clone())
        return x

    assert_mistake(nb07.q1, _variant(in_place), "in place")
    assert_mistake(nb07.q1, PreActBlock(8, 8), "class itself")

    class Renamed(nn.Module):
        def __init__(self, in_planes, planes):
            super().__init__()
            self.norm = nn.BatchNorm2d(in_planes)

        def forward(self, x):
            return x

    assert_mistake(nb07.q1, Renamed, "keep the layers of the skeleton")
    assert_mistake(nb07.q1, _variant(lambda s, x: 2 * x + s.branch(x)), "differs from")


# --- q2: the identity at init --------------------------------------------------------------------


def test_q2_truth_is_computed_and_matches_the_definitions():
    assert nb07.identity_at_init() == {"preact, zero-init last conv", "rezero", "pre-LN, zero-init last linear"}
    assert nb07.q2.feedback(set(nb07.identity_at_init()))[0] == "correct"
    assert nb07.q2.feedback(list(nb07.identity_at_init()))[0] == "correct"


def test_q2_names_each_mistake():
    right = nb07.identity_at_init()
    assert_mistake(nb07.q2, right | {"basic, zero-init gamma"}, "clips negative inputs")
    assert_mistake(nb07.q2, right | {"post-LN, zero-init last linear"}, "renormalises")
    assert_mistake(nb07.q2, right | {"dense layer"}, "appends new channels")
    assert_mistake(nb07.q2, {"rezero"}, "left out 2")
    assert_mistake(nb07.q2, {"resnet"}, "not among the names")
    assert_mistake(nb07.q2, 3, "set of names")
    assert nb07.q2.feedback(...)[0] == "todo"


def test_q2_a_relu_after_the_add_is_caught_on_negative_inputs():
    # The oracle: relu(x) = x only where x >= 0, so the candidate inputs must include negatives.
    build, _ = nb07.CANDIDATES["basic, zero-init gamma"]
    x = nb07._input_for(build())
    assert (x < 0).any()


# --- q3: one pre-LN step -------------------------------------------------------------------------


def test_q3_solution_and_package_pass():
    assert nb07.q3.feedback(solution_namespace(nb07.q3)["pre_ln"])[0] == "correct"

    def with_package(x, f, ln):
        sub = Residual(f, x.shape[-1], "pre")
        sub.ln = ln
        return sub(x)

    assert nb07.q3.feedback(with_package)[0] == "correct"


def test_q3_names_each_mistake():
    assert_mistake(nb07.q3, lambda x, f, ln: ln(x + f(x)), "post-LN")
    assert_mistake(nb07.q3, lambda x, f, ln: f(ln(x)), "stream x is missing")
    assert_mistake(nb07.q3, lambda x, f, ln: ln(x) + f(ln(x)), "normalised")
    assert_mistake(nb07.q3, lambda x, f, ln: x + ln(f(x)), "end of the branch")
    assert_mistake(nb07.q3, lambda x, f, ln: x + f(x), "no LayerNorm")
    assert_mistake(nb07.q3, lambda x, f, ln: x, "differs")
    assert_mistake(nb07.q3, "x + f(ln(x))", "function itself")
