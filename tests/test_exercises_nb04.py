"""Notebook 04's exercises: reference solutions pass; known wrong answers fail naming the mistake."""

import re
from pathlib import Path

import pytest
import torch

from resblock.exercises import nb04
from resblock.models import ResNet, count_parameters
from resblock.train import lr_at


def solution_answer(question):
    """The answer inside the solution's ``ex.qN.check(...)`` call, evaluated."""
    code = "\n".join(re.findall(r"```python\n(.*?)```", question._text(question._solution), flags=re.S))
    found = re.search(r"check\((.*)\)\s*$", code.strip(), flags=re.S)
    assert found, code
    return eval(found.group(1))


def assert_mistake(question, answer, *words):
    status, message = question.feedback(answer)
    assert status == "incorrect", message
    for w in words:
        assert w in message, message


@pytest.mark.parametrize("question", [nb04.q1, nb04.q2, nb04.q3, nb04.q4], ids=lambda q: q.name)
def test_reference_solution_passes(question):
    status, message = question.feedback(solution_answer(question))
    assert status == "correct", message


@pytest.mark.parametrize("question", [nb04.q1, nb04.q2, nb04.q3, nb04.q4], ids=lambda q: q.name)
def test_placeholder_is_not_yet(question):
    keys = {nb04.q1: nb04.PARTS, nb04.q2: nb04.SHORTCUT_KEYS, nb04.q3: nb04.SCHEDULE_KEYS, nb04.q4: nb04.MATRIX_KEYS}
    assert question.feedback(dict.fromkeys(keys[question], ...))[0] == "todo"
    assert question.feedback(...)[0] == "todo"
    assert "Q" in repr(question) and question.prompt


# --- q1: shapes, checked against the model itself ----------------------------------------------

RIGHT_SHAPES = {"stem": (16, 32, 32), "stage1": (16, 32, 32), "stage2": (32, 16, 16), "stage3": (64, 8, 8)}


def test_q1_truth_comes_from_the_model():
    assert nb04.stage_shapes() == RIGHT_SHAPES
    # an oracle independent of stage_shapes: the whole net's features before the head
    net = ResNet(nb04.CIFAR_RESNET20)
    assert net.fc.in_features == RIGHT_SHAPES["stage3"][0]


def test_q1_names_each_mistake():
    def wrong(**parts):
        return RIGHT_SHAPES | parts

    assert_mistake(nb04.q1, wrong(stem=(16, 16, 16), stage1=(16, 16, 16)), "no max pool")
    assert_mistake(nb04.q1, wrong(stage1=(16, 16, 16)), "stage 1 has stride 1")
    assert_mistake(nb04.q1, wrong(stage2=(32, 32, 32)), "its first block has stride 2")
    assert_mistake(nb04.q1, wrong(stage2=(16, 16, 16)), "the stride-2 block also doubles the channels")
    assert_mistake(nb04.q1, wrong(stage3=(64, 4, 4)), "each stage after the first")
    assert_mistake(nb04.q1, wrong(stage3=(1, 64, 8, 8)), "batch axis")
    assert_mistake(nb04.q1, wrong(stage3="64x8x8"), "tuple of whole numbers")
    assert_mistake(nb04.q1, wrong(stage3=(64, 8)), "give three numbers (channels, height, width)")
    assert_mistake(nb04.q1, wrong(stem=(32, 32, 32)), "the stem is one 3x3 convolution to 16 channels")
    assert_mistake(nb04.q1, wrong(stage1=(8, 32, 32)), "stage 1: you gave (8, 32, 32)")
    assert_mistake(nb04.q1, {"stem": (16, 32, 32), "stage1": ...}, "missing: stage1, stage2, stage3")
    assert_mistake(nb04.q1, [(16, 32, 32)], "dict")


# --- q2: shortcut parameters ---------------------------------------------------------------------


def test_q2_truth_is_conv_weights_plus_bn_scale_and_shift():
    truth = nb04.shortcut_parameters()
    assert truth == {"stage2": 32 * 64 + 2 * 64, "stage3": 64 * 128 + 2 * 128, "identity": 0}
    net = ResNet(nb04.WIDE)
    plain = ResNet(nb04.WIDE.__class__(**{**nb04.WIDE.__dict__, "shortcut": False}))
    assert count_parameters(net) - count_parameters(plain) == truth["stage2"] + truth["stage3"]


def test_q2_names_each_mistake():
    right = {"stage2": 2176, "stage3": 8448, "identity": 0}
    assert_mistake(nb04.q2, right | {"stage2": 2048}, "but not its batch norm")
    assert_mistake(nb04.q2, right | {"stage2": 2048 + 4 * 64 + 1}, "the state_dict holds BN's buffers too")
    assert_mistake(nb04.q2, right | {"stage3": 8192 + 128}, "*two* numbers per channel")
    assert_mistake(nb04.q2, right | {"stage2": 2048 + 3 * 64}, "no bias")
    assert_mistake(nb04.q2, right | {"stage3": 8192 + 4 * 128}, "buffers")
    assert_mistake(nb04.q2, right | {"stage2": 9 * 2048 + 128}, "1x1 convolution, not a 3x3")
    assert_mistake(nb04.q2, right | {"stage3": 128 * 128 + 256}, "*input* channels (64)")
    assert_mistake(nb04.q2, right | {"identity": 2176}, "no weights at all")
    assert_mistake(nb04.q2, right | {"stage2": 1234}, "count the 1x1 convolution's weights")
    assert_mistake(nb04.q2, right | {"stage2": 2176.5}, "whole number")
    assert_mistake(nb04.q2, right | {"stage2": True}, "whole number")


# --- q3: the schedule -----------------------------------------------------------------------------


def test_q3_truth_matches_lr_at():
    facts = nb04.schedule_facts()
    assert nb04.LONG.time_budget == 2 * nb04.BUDGET_S == 60
    assert facts["peak_at_s"] == pytest.approx(12.0)
    assert facts["lr_at_30_s"] == pytest.approx(lr_at(0.5, nb04.LONG)) == pytest.approx(0.25)
    assert lr_at(facts["peak_at_s"] / 60, nb04.LONG) == pytest.approx(nb04.LONG.lr)  # it does peak there


def test_q3_names_each_mistake():
    right = {"peak_at_s": 12, "lr_at_30_s": 0.25}
    assert_mistake(nb04.q3, right | {"peak_at_s": 6}, "not of the notebook's 30 s")
    assert_mistake(nb04.q3, right | {"peak_at_s": 0.2}, "in seconds")
    assert_mistake(nb04.q3, right | {"peak_at_s": 20}, "first 20%")
    assert_mistake(nb04.q3, right | {"lr_at_30_s": 0.4}, "does not stay up")
    assert_mistake(nb04.q3, right | {"lr_at_30_s": 0.2}, "not halfway down")
    assert_mistake(nb04.q3, right | {"lr_at_30_s": 0.0}, "only at 60 s")
    assert_mistake(nb04.q3, right | {"lr_at_30_s": 0.3}, "straight line")
    assert_mistake(nb04.q3, right | {"lr_at_30_s": "0.25"}, "give a number")


# --- q4: the confusion matrix ---------------------------------------------------------------------


def test_q4_truth_from_the_counts():
    assert nb04.matrix_facts() == pytest.approx(
        {"accuracy": 245 / 300, "lowest_recall": "Shirt", "shirt_taken_for": "Coat"}
    )
    assert "T-shirt/top" in nb04.q4.prompt and "95" in nb04.q4.prompt


def test_q4_names_each_mistake():
    right = {"accuracy": 245 / 300, "lowest_recall": "Shirt", "shirt_taken_for": "Coat"}
    assert_mistake(nb04.q4, right | {"lowest_recall": "Coat"}, "down a *column*")  # the lowest precision
    assert_mistake(nb04.q4, right | {"shirt_taken_for": "T-shirt/top"}, "Shirt *column*")
    assert_mistake(nb04.q4, right | {"shirt_taken_for": "Shirt"}, "labelled *correctly*")
    assert_mistake(nb04.q4, right | {"accuracy": 0.6}, "over *all* test images")
    assert_mistake(nb04.q4, right | {"accuracy": 81.7}, "not a percentage")
    assert_mistake(nb04.q4, right | {"accuracy": 0.7}, "fraction of all images on the diagonal")
    for cut_short in (0.81, 0.8):  # 245/300 = 0.8167 truncated, or to one decimal: the idea was right
        assert_mistake(nb04.q4, right | {"accuracy": cut_short}, "close, but")
    macro_precision = (
        torch.as_tensor(nb04.COUNTS, dtype=torch.float64).diag() / torch.as_tensor(nb04.COUNTS).sum(0)
    ).mean()
    assert_mistake(nb04.q4, right | {"accuracy": macro_precision.item()}, "mean of the columns' precisions")
    for miscounted in (0.83, 0.799):  # near, but not the fraction shortened: the general message
        assert_mistake(nb04.q4, right | {"accuracy": miscounted}, "fraction of all images on the diagonal")
    for rounded in (0.82, 0.817, 0.8167):
        assert nb04.q4.feedback(right | {"accuracy": rounded})[0] == "correct"
    assert_mistake(nb04.q4, right | {"lowest_recall": "Dress"}, "answer one of")
    assert_mistake(nb04.q4, right | {"lowest_recall": "T-shirt/top"}, "recall of a class: of the images that are")


def test_keys_and_class_names_in_any_case():
    facts = nb04.matrix_facts()
    shouted = {k.title(): (v.lower() if isinstance(v, str) else v) for k, v in facts.items()}
    assert nb04.q4.feedback(shouted)[0] == "correct"  # it was "not answered yet"
    assert nb04.q1.feedback({k.upper(): v for k, v in nb04.stage_shapes().items()})[0] == "correct"
    status, message = nb04.q2.feedback({"stage_2": 1, "stage3": 2, "identity": 0})
    assert status == "incorrect" and "unknown entry 'stage_2'" in message


def test_numbers_from_numpy_or_torch_are_numbers():
    # What a learner computes with the course's tools: tensors, NumPy scalars, torch.Size, whole floats.
    import numpy as np
    import torch

    shapes = {part: torch.Size(shape) for part, shape in nb04.stage_shapes().items()}
    assert nb04.q1.feedback(shapes)[0] == "correct"
    assert nb04.q1.feedback({k: tuple(np.int64(v) for v in s) for k, s in shapes.items()})[0] == "correct"
    params = nb04.shortcut_parameters()
    assert nb04.q2.feedback({k: np.int64(v) for k, v in params.items()})[0] == "correct"
    assert nb04.q2.feedback({k: float(v) for k, v in params.items()})[0] == "correct"
    schedule = nb04.schedule_facts()
    assert nb04.q3.feedback({k: np.float32(v) for k, v in schedule.items()})[0] == "correct"
    counts = torch.as_tensor(nb04.COUNTS)
    facts = nb04.matrix_facts() | {"accuracy": counts.trace() / counts.sum()}
    assert nb04.q4.feedback(facts)[0] == "correct"
    assert "give a number" in nb04.q4.feedback(facts | {"accuracy": torch.tensor([0.8, 0.9])})[1]


def test_q3_doubles_the_budget_the_notebook_trains_for():
    source = (Path(__file__).resolve().parents[1] / "notebooks" / "04_tiny_resnet.ipynb").read_text()
    assert f"config = TrainConfig(seconds={nb04.BUDGET_S:g})" in source, "Q3 must double notebook 04's own budget"
