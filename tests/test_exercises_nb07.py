"""Notebook 07's exercises: reference solutions pass; known wrong answers fail naming the mistake."""

import re

import pytest
import torch

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


# --- q1: predict the gradient profiles -----------------------------------------------------------


def test_q1_answer_key_matches_a_measurement():
    # The oracle: build the six 56-layer nets the notebook builds, measure the first/last gradient ratio
    # on one batch of Fashion-MNIST, and sort it into its group. Two seeds, as the course's seed moves.
    from resblock.data import load_fashion_mnist
    from resblock.env import seed_everything
    from resblock.models import ResNet, ResNetConfig
    from resblock.variants import block_input_grad_norms

    configs = {
        "plain": dict(shortcut=False),
        "basic (post-act.)": dict(),
        "pre-activation": dict(block="preact"),
        "bottleneck": dict(block="bottleneck"),
        "zero-init gamma": dict(zero_init_residual=True),
        "ReZero (no BN)": dict(block="rezero"),
    }
    assert tuple(configs) == nb07.GRADIENT_VARIANTS
    data = load_fashion_mnist()
    for seed in (0, 1):
        x, y = data.train_images[32 * seed : 32 * seed + 32], data.train_labels[32 * seed : 32 * seed + 32]
        measured = {}
        for name, kwargs in configs.items():
            seed_everything(seed)
            net = ResNet(ResNetConfig(depth=56, **kwargs))
            g = block_input_grad_norms(net, list(net.blocks), x, y)
            measured[name] = nb07.ratio_group(g[0] / g[-1])
        assert measured == nb07.EXPECTED_GROUPS, (seed, measured)


def test_q1_solution_passes_and_placeholder_is_todo():
    assert nb07.q1.feedback(dict(nb07.EXPECTED_GROUPS))[0] == "correct"
    assert "thousands" in nb07.q1._text(nb07.q1._solution)
    assert nb07.q1.feedback(...)[0] == "todo"
    assert nb07.q1.feedback({name: ... for name in nb07.GRADIENT_VARIANTS})[0] == "todo"  # the notebook's template


def test_q1_names_each_mistake():
    right = dict(nb07.EXPECTED_GROUPS)
    assert_mistake(nb07.q1, {**right, "pre-activation": "about 1"}, "'pre-activation'", "random")
    assert_mistake(nb07.q1, {**right, "ReZero (no BN)": "tens to hundreds"}, "gate = 0")
    assert_mistake(nb07.q1, {**right, "plain": "tens to hundreds"}, "no shortcut")
    assert_mistake(nb07.q1, {**right, "zero-init gamma": "thousands", "plain": "about 1"}, "1 more to rethink")
    assert_mistake(nb07.q1, {**right, "plain": ...}, "missing: plain")
    assert_mistake(nb07.q1, {**right, "resnet": "about 1"}, "unknown net 'resnet'", "'plain'")
    assert_mistake(nb07.q1, {**right, "plain": "huge"}, "must be one of")
    assert_mistake(nb07.q1, ["plain"], "dict")


def test_ratio_group_boundaries():
    assert nb07.ratio_group(1.0) == nb07.ratio_group(0.5) == "about 1"
    assert nb07.ratio_group(50) == nb07.ratio_group(600) == "tens to hundreds"
    assert nb07.ratio_group(9000) == "thousands"
    with pytest.raises(ValueError, match="positive"):
        nb07.ratio_group(float("nan"))


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


def test_q3_placeholder_is_todo():
    def pre_ln(x, f, ln):
        return ...  # the notebook's template

    assert nb07.q3.feedback(pre_ln)[0] == "todo"
    state, message = nb07.q3.feedback(lambda x, f, ln: None)[:2]
    assert state != "todo" and "return" in message, "a function that returns None is told so, not 'Not yet'"


def test_q3_names_each_mistake():
    assert_mistake(nb07.q3, lambda x, f, ln: ln(x + f(x)), "post-LN")
    assert_mistake(nb07.q3, lambda x, f, ln: f(ln(x)), "stream x is missing")
    assert_mistake(nb07.q3, lambda x, f, ln: ln(x) + f(ln(x)), "normalised")
    assert_mistake(nb07.q3, lambda x, f, ln: x + ln(f(x)), "end of the branch")
    assert_mistake(nb07.q3, lambda x, f, ln: x + f(x), "no LayerNorm")
    assert_mistake(nb07.q3, lambda x, f, ln: x, "differs")
    assert_mistake(nb07.q3, "x + f(ln(x))", "function itself")


def test_q3_right_values_with_the_gradient_cut_are_named():
    # The values match x + f(ln(x)), but the branch and the norm could never learn.
    def no_grad(x, f, ln):
        with torch.no_grad():
            return x + f(ln(x))

    assert_mistake(nb07.q3, no_grad, "no gradient flows", "torch.no_grad() or .detach()")
    assert_mistake(nb07.q3, lambda x, f, ln: x + f(ln(x)).detach(), "the gradient at the branch's", "cuts a path")


def test_case_and_spacing_do_not_make_a_right_answer_wrong():
    groups = {name.upper(): f" {group.title()} " for name, group in nb07.EXPECTED_GROUPS.items()}
    assert nb07.q1.feedback(groups)[0] == "correct"
    names = {n.upper() if i % 2 else f" {n} " for i, n in enumerate(sorted(nb07.identity_at_init()))}
    assert nb07.q2.feedback(names)[0] == "correct", nb07.q2.feedback(names)[1]
    marked = {n: n in nb07.identity_at_init() for n in nb07.CANDIDATES}  # a dict of truth values: the True ones
    assert nb07.q2.feedback(marked)[0] == "correct"


def test_q3_a_function_that_returns_none_is_told_so():
    from resblock.exercises import nb07

    def forgot_return(x, f, ln):
        x + f(ln(x))

    with pytest.raises(nb07.Mistake, match="returned None"):
        nb07.check_pre_ln(forgot_return)
    with pytest.raises(nb07.Mistake, match="shaped like x"):
        nb07.check_pre_ln(lambda x, f, ln: 0.0)
