"""Exercises for notebook 04, "Train a tiny ResNet live": ``from resblock.exercises import nb04 as ex``.

q1 predict the shape after the stem and each stage of the paper's CIFAR ResNet-20; q2 count the
parameters a projection shortcut adds (and an identity one); q3 read the clock-timed one-cycle
schedule for a longer budget; q4 read a confusion matrix the right way round. Each checker computes
the truth from the package (the model itself, ``lr_at``) and names the mistake an answer looks like.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from resblock.checks import short_repr
from resblock.exercises import Mistake, Question, answer_dict, real_number, whole_number
from resblock.models import ResNet, ResNetConfig, count_parameters
from resblock.train import TrainConfig, lr_at


def _require_dict(answer: Any, keys: tuple[str, ...], example: str) -> dict:
    """The answer as a dict with every key (any case); the untouched placeholder (all ...) is "not answered yet"."""
    return answer_dict(answer, keys, example)


# --- q1: the shape after each stage ------------------------------------------------------------

CIFAR_RESNET20 = ResNetConfig(depth=20, in_channels=3, widths=(16, 32, 64), stem_pool=False)
PARTS = ("stem", "stage1", "stage2", "stage3")


def stage_shapes(config: ResNetConfig = CIFAR_RESNET20, size: int = 32) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) after the stem and after each stage, measured by running one image through."""
    model = ResNet(config).eval()
    with torch.no_grad():
        h = model.stem(torch.zeros(1, config.in_channels, size, size))
        shapes = {"stem": tuple(h.shape[1:])}
        for name, stage in zip(PARTS[1:], (model.layer1, model.layer2, model.layer3)):
            h = stage(h)
            shapes[name] = tuple(h.shape[1:])
    return shapes


def check_shapes(answer: Any) -> str:
    """Checker for q1: {"stem": (C, H, W), "stage1": ..., "stage2": ..., "stage3": ...} for a 3x32x32 image."""
    answer = _require_dict(answer, PARTS, "{'stem': (16, 32, 32), 'stage1': (...), ...}")
    truth = stage_shapes()
    got = {}
    for part in PARTS:
        value = answer[part]
        try:  # torch.Size, NumPy or torch integers are whole numbers too
            value = tuple(whole_number(v) for v in value) if isinstance(value, (tuple, list)) else None
        except Mistake:
            value = None
        if value is None:
            raise Mistake(f"{part}: give a tuple of whole numbers (channels, height, width), got {answer[part]!r}.")
        if len(value) == 4:
            raise Mistake(f"{part}: leave out the batch axis; give (channels, height, width), got {tuple(value)}.")
        if len(value) != 3:
            raise Mistake(f"{part}: give three numbers (channels, height, width), got {tuple(value)}.")
        got[part] = value
    if got["stem"] != truth["stem"]:
        if got["stem"][1:] == (16, 16):
            raise Mistake(
                "the stem: this network has no max pool (stem_pool=False, as in the paper's CIFAR nets), "
                "and its 3x3 convolution has stride 1 and padding 1, so the 32x32 size is kept."
            )
        raise Mistake(
            f"the stem is one 3x3 convolution to {truth['stem'][0]} channels (stride 1, padding 1) with "
            f"BN and ReLU; you gave {got['stem']}."
        )
    if got["stage1"] != truth["stage1"]:
        if got["stage1"][1] < truth["stage1"][1] or got["stage1"][0] > truth["stage1"][0]:
            raise Mistake(
                "stage 1 has stride 1 and keeps the stem's 16 channels: its input and output shapes agree, "
                "so all its shortcuts are identities. Only stages 2 and 3 begin with a stride-2 block."
            )
        raise Mistake(f"stage 1: you gave {got['stage1']}; it keeps the stem's shape.")
    for part, before in (("stage2", "stage1"), ("stage3", "stage2")):
        c, h, w = got[part]
        tc, th, tw = truth[part]
        pc, ph, pw = truth[before]
        if (h, w) == (ph, pw) and (h, w) != (th, tw):
            raise Mistake(
                f"{part}: its first block has stride 2, which halves the height and width "
                f"({ph}x{pw} -> {th}x{tw}); you kept {h}x{w}."
            )
        if c == pc and c != tc:
            raise Mistake(
                f"{part}: the stride-2 block also doubles the channels ({pc} -> {tc}), so that each block "
                f"costs about the same; you kept {c}."
            )
        if (c, h, w) != (tc, th, tw):
            raise Mistake(
                f"{part}: you gave {(c, h, w)}; each stage after the first halves the height and width "
                "and doubles the channels of the stage before it."
            )
    return (
        "32x32 at 16 channels, 16x16 at 32, 8x8 at 64: global average pooling then turns the 64 maps into "
        "64 numbers for the linear head. Depth (n blocks per stage) changes none of these shapes."
    )


q1 = Question(
    "Q1 · predict the shapes",
    "He et al.'s ResNet-20 for CIFAR-10 takes colour images of 3x32x32 pixels and has no max pool in its stem: "
    "`ResNetConfig(depth=20, in_channels=3, widths=(16, 32, 64), stem_pool=False)`. Without running it, predict "
    "the shape (channels, height, width) of one image's features after the stem and after each of the three "
    "stages. Check with `ex.q1.check({'stem': (...), 'stage1': (...), 'stage2': (...), 'stage3': (...)})`.",
    check_shapes,
    "Section 1's table shows the plan for a pooled 28x28 net. Here nothing is pooled before stage 1. Stage 1 keeps "
    "its input's shape; stages 2 and 3 each begin with a stride-2 block that halves height and width and doubles "
    "the channels.",
    "```python\nex.q1.check({'stem': (16, 32, 32), 'stage1': (16, 32, 32), 'stage2': (32, 16, 16), "
    "'stage3': (64, 8, 8)})\n```\n\nYou can confirm it with `resblock.exercises.nb04.stage_shapes()`, which runs "
    "one image through the net.",
)


# --- q2: what does a shortcut cost? ------------------------------------------------------------

WIDE = ResNetConfig(depth=8, widths=(32, 64, 128), stem_pool=True)  # the dashboard's width 32
SHORTCUT_KEYS = ("stage2", "stage3", "identity")


def shortcut_parameters(config: ResNetConfig = WIDE) -> dict[str, int]:
    """Parameters of the projection shortcuts into stages 2 and 3 (their first blocks) and of an identity shortcut."""
    model = ResNet(config)
    return {
        "stage2": count_parameters(model.layer2[0].shortcut),
        "stage3": count_parameters(model.layer3[0].shortcut),
        "identity": count_parameters(model.layer1[0].shortcut),
    }


def _projection_mistake(part: str, value: int, c_in: int, c_out: int) -> str | None:
    conv = c_in * c_out
    known = {
        conv: "you counted the 1x1 convolution's weights but not its batch norm, which learns a scale and a shift "
        f"per output channel (2 x {c_out} more).",
        conv + c_out: f"batch norm learns *two* numbers per channel, a scale and a shift (2 x {c_out}).",
        conv + 3 * c_out: "the convolution has no bias (bias=False): the batch norm after it has its own shift, so "
        "a bias would be redundant.",
        conv + 4 * c_out: "BN's running mean and variance are *buffers*, statistics it keeps, not parameters that "
        "SGD learns; count only its scale and shift.",
        # what sum(v.numel() for v in shortcut.state_dict().values()) gives: num_batches_tracked as well
        conv + 4 * c_out + 1: "the state_dict holds BN's buffers too (running mean and variance, and a step "
        "counter): they are statistics, not parameters that SGD learns; count only its scale and shift "
        "(sum(p.numel() for p in m.parameters())).",
        9 * conv + 2 * c_out: "the projection is a 1x1 convolution, not a 3x3 one: one weight per (input, output) "
        "channel pair.",
        9 * conv: "the projection is a 1x1 convolution (one weight per channel pair), followed by a batch norm.",
        c_out * c_out + 2 * c_out: f"the projection maps the stage's *input* channels ({c_in}) to its output "
        f"channels ({c_out}): {c_in} x {c_out} weights.",
        c_in * c_in + 2 * c_in: f"the projection's output has the new stage's {c_out} channels, not {c_in}.",
    }
    if value in known:
        return f"{part} ({c_in} -> {c_out} channels): {known[value]}"
    return None


def check_shortcut_parameters(answer: Any) -> str:
    """Checker for q2: {"stage2": int, "stage3": int, "identity": int} for the width-32 tiny ResNet."""
    answer = _require_dict(answer, SHORTCUT_KEYS, "{'stage2': ..., 'stage3': ..., 'identity': ...}")
    given = answer
    answer = {}
    for key in SHORTCUT_KEYS:
        try:
            answer[key] = whole_number(given[key])  # 2176, 2176.0, np.int64(2176), count_parameters(...)
        except Mistake:
            raise Mistake(f"{key}: give a whole number of parameters, got {given[key]!r}.") from None
    truth = shortcut_parameters()
    if answer["identity"] != truth["identity"]:
        raise Mistake(
            "an identity shortcut has no weights at all: it passes x on unchanged and costs one addition. "
            "That is why a ResNet has (almost) the parameters of its plain twin."
        )
    w = WIDE.widths
    for part, c_in, c_out in (("stage2", w[0], w[1]), ("stage3", w[1], w[2])):
        if answer[part] != truth[part]:
            raise Mistake(
                _projection_mistake(part, answer[part], c_in, c_out)
                or f"{part} ({c_in} -> {c_out} channels): count the 1x1 convolution's weights "
                "(no bias) and its batch norm's scale and shift."
            )
    total = count_parameters(ResNet(WIDE))
    return (
        f"{truth['stage2']:,} + {truth['stage3']:,} = {truth['stage2'] + truth['stage3']:,} parameters, "
        f"{100 * (truth['stage2'] + truth['stage3']) / total:.1f}% of this net's {total:,}. The paper's CIFAR "
        "nets padded with zeros instead (option A) and paid nothing."
    )


q2 = Question(
    "Q2 · what does a shortcut cost?",
    "Widen the tiny ResNet to 32/64/128 channels (the dashboard's width 32: "
    "`ResNetConfig(depth=8, widths=(32, 64, 128), stem_pool=True)`). How many parameters does the projection "
    "shortcut of the first block of stage 2 add? Of stage 3? And how many does the identity shortcut of the "
    "block in stage 1 add? Check with `ex.q2.check({'stage2': ..., 'stage3': ..., 'identity': ...})`.",
    check_shortcut_parameters,
    "A projection shortcut here is a 1x1 convolution without bias, followed by batch norm (section 1). A 1x1 "
    "convolution has one weight per (input channel, output channel) pair; batch norm learns two numbers per "
    "channel.",
    "```python\nex.q2.check({'stage2': 32 * 64 + 2 * 64, 'stage3': 64 * 128 + 2 * 128, 'identity': 0})\n```\n\n"
    "2,176 and 8,448: the convolution's weights plus BN's scale and shift. The identity has no weights. "
    "`resblock.exercises.nb04.shortcut_parameters()` counts them from the model.",
)


# --- q3: the schedule for a longer budget -------------------------------------------------------

BUDGET_S = 30.0  # notebook 04's budget: TrainConfig(seconds=30)
# Notebook 04's recipe (warm-up 0.2, peak 0.4, decay to 0), twice the budget. The seed plays no part in the
# schedule; a fixed one keeps $RESBLOCK_SEED from being read when this module is imported.
LONG = TrainConfig(seconds=2 * BUDGET_S, seed=0)
SCHEDULE_KEYS = ("peak_at_s", "lr_at_30_s")


def schedule_facts(config: TrainConfig = LONG) -> dict[str, float]:
    """When the one-cycle rate peaks (seconds) and its value 30 s in, from ``resblock.train.lr_at``."""
    budget = config.time_budget
    return {"peak_at_s": config.warmup * budget, "lr_at_30_s": lr_at(BUDGET_S / budget, config)}


def check_schedule(answer: Any) -> str:
    """Checker for q3: {"peak_at_s": seconds, "lr_at_30_s": learning rate} for a 60 s budget."""
    answer = _require_dict(answer, SCHEDULE_KEYS, "{'peak_at_s': ..., 'lr_at_30_s': ...}")
    for key in SCHEDULE_KEYS:
        if real_number(answer[key]) is None:
            raise Mistake(f"{key}: give a number, got {answer[key]!r}.")
    answer = {key: real_number(answer[key]) for key in SCHEDULE_KEYS}
    truth = schedule_facts()
    peak, lr_then = float(answer["peak_at_s"]), float(answer["lr_at_30_s"])
    budget, warmup, top = LONG.time_budget, LONG.warmup, LONG.lr
    if abs(peak - truth["peak_at_s"]) > 0.5:
        if abs(peak - warmup) < 1e-6:
            raise Mistake(
                f"peak_at_s is in seconds: the warm-up is {warmup:.0%} *of the budget*, so how many seconds is that?"
            )
        if abs(peak - warmup * BUDGET_S) < 0.5:
            raise Mistake(
                f"the schedule is timed as a fraction of *this* run's budget: with {budget:g} s the warm-up "
                f"lasts {warmup:.0%} of {budget:g} s, not of the notebook's {BUDGET_S:g} s."
            )
        raise Mistake(
            f"the rate climbs for the first {warmup:.0%} of the budget, then falls; you said it peaks at {peak:g} s."
        )
    if abs(lr_then - truth["lr_at_30_s"]) > 1e-3:
        if abs(lr_then - top) < 1e-3:
            raise Mistake("after its peak the rate does not stay up: it falls linearly to 0 at the end of the budget.")
        if abs(lr_then - top * (1 - BUDGET_S / budget)) < 1e-3:  # a straight line from 0 s: halfway, half the rate
            raise Mistake(
                f"halfway through the budget is not halfway down: the decay starts at the peak "
                f"({truth['peak_at_s']:g} s), not at 0 s, so {BUDGET_S:g} s is {BUDGET_S - truth['peak_at_s']:g} s "
                f"into a {budget - truth['peak_at_s']:g} s decay."
            )
        if abs(lr_then) < 1e-3:
            raise Mistake(
                f"with a {budget:g} s budget the rate reaches 0 only at {budget:g} s: the schedule stretches with "
                "the budget."
            )
        raise Mistake(
            f"between the peak and the end the rate falls in a straight line from {top:g} to 0; "
            f"you said {lr_then:g} at {BUDGET_S:g} s."
        )
    return (
        f"the peak comes at {truth['peak_at_s']:g} s and {BUDGET_S:g} s in the rate is still "
        f"{truth['lr_at_30_s']:g}: a schedule timed as a fraction of the budget stretches to any budget, which is "
        "why the notebook sets a time and not a step count."
    )


q3 = Question(
    "Q3 · the schedule for a longer budget",
    "You give the tiny ResNet twice the time: `TrainConfig(seconds=60)`, with the notebook's one-cycle schedule "
    "(warm-up 0.2, peak lr 0.4, decaying linearly to 0 at the end). At what second does the learning rate peak, "
    "and what is it 30 seconds in? Check with `ex.q3.check({'peak_at_s': ..., 'lr_at_30_s': ...})`.",
    check_schedule,
    "The schedule is a function of the *fraction* of the budget used (`lr_at(progress, config)`): up for the first "
    "20%, then a straight line from the peak down to 0 at 100%.",
    "```python\nex.q3.check({'peak_at_s': 0.2 * 60, 'lr_at_30_s': 0.4 * (1 - (30 - 12) / (60 - 12))})\n```\n\n"
    "The peak is at 12 s; 30 s in, 18 of the 48 decay seconds have passed, so the rate is 0.4 x 30/48 = 0.25. "
    "Check it with `lr_at(30 / 60, TrainConfig(seconds=60))`.",
)


# --- q4: reading a confusion matrix ------------------------------------------------------------

CLASSES = ("T-shirt/top", "Shirt", "Coat")
COUNTS = (
    (90, 8, 2),  # row i: the test images of class i; column j: how many were labelled class j
    (15, 60, 25),
    (1, 4, 95),
)
MATRIX_KEYS = ("accuracy", "lowest_recall", "shirt_taken_for")


def _matrix() -> torch.Tensor:
    return torch.tensor(COUNTS, dtype=torch.float64)


def matrix_facts() -> dict[str, Any]:
    """Accuracy, the class with the lowest recall, and what Shirt images are most often called, from COUNTS."""
    m = _matrix()
    recall = m.diagonal() / m.sum(1)
    shirt = CLASSES.index("Shirt")
    row = m[shirt].clone()
    row[shirt] = -1
    return {
        "accuracy": float(m.trace() / m.sum()),
        "lowest_recall": CLASSES[int(recall.argmin())],
        "shirt_taken_for": CLASSES[int(row.argmax())],
    }


def _matrix_text() -> str:
    width = max(len(c) for c in CLASSES) + 2
    head = "true \\ predicted".ljust(width + 4) + "".join(c.rjust(width) for c in CLASSES)
    rows = "\n".join(c.ljust(width + 4) + "".join(str(v).rjust(width) for v in r) for c, r in zip(CLASSES, COUNTS))
    return head + "\n" + rows


def _class_name(key: str, value: Any) -> str:
    by_lower = {c.lower(): c for c in CLASSES}  # 'shirt' is 'Shirt'
    if not isinstance(value, str) or value.strip().lower() not in by_lower:
        raise Mistake(f"{key}: answer one of {', '.join(repr(c) for c in CLASSES)}, got {short_repr(value)}.")
    return by_lower[value.strip().lower()]


def check_matrix(answer: Any) -> str:
    """Checker for q4: {"accuracy": float, "lowest_recall": class, "shirt_taken_for": class} for COUNTS."""
    answer = _require_dict(answer, MATRIX_KEYS, "{'accuracy': ..., 'lowest_recall': '...', 'shirt_taken_for': '...'}")
    acc = real_number(answer["accuracy"])  # a tensor such as counts.trace() / counts.sum() is a number too
    if acc is None:
        raise Mistake(f"accuracy: give a number between 0 and 1, got {answer['accuracy']!r}.")
    if acc > 1:
        raise Mistake("accuracy: give a fraction between 0 and 1, not a percentage or a count.")
    truth = matrix_facts()
    m = _matrix()
    macro_precision = float((m.diagonal() / m.sum(0)).mean())  # 0.820: inside the tolerance, but another measure
    if abs(acc - macro_precision) < 1e-6 and abs(acc - truth["accuracy"]) > 1e-6:
        raise Mistake(
            "that is the mean of the columns' precisions (diagonal over column sum); accuracy is simpler: the "
            "diagonal's sum over all images."
        )
    if abs(acc - truth["accuracy"]) > 0.005:
        shirt = CLASSES.index("Shirt")
        if abs(acc - float(m[shirt, shirt] / m[shirt].sum())) < 0.005:
            raise Mistake("accuracy is over *all* test images: the diagonal's sum over the matrix's sum.")
        t = truth["accuracy"]
        shortened = {round(t, 1), round(t, 2), math.floor(t * 10) / 10, math.floor(t * 100) / 100}
        if any(abs(acc - s) < 1e-9 for s in shortened):  # the right fraction, cut short or rounded too far
            raise Mistake(
                f"accuracy: close, but {acc:g} is more than 0.005 from the diagonal's sum over the total of "
                f"{int(m.sum())}: round it to two or three decimals rather than cutting digits off."
            )
        raise Mistake(
            f"accuracy is the fraction of all images on the diagonal (right answers): its sum over the "
            f"total of {int(m.sum())}; you gave {acc:g}."
        )
    lowest = _class_name("lowest_recall", answer["lowest_recall"])
    if lowest != truth["lowest_recall"]:
        precision = m.diagonal() / m.sum(0)
        if lowest == CLASSES[int(precision.argmin())]:
            raise Mistake(
                "you read down a *column*: a column holds the images the net *called* that class. Recall "
                "is read along a row, the images that *are* that class: diagonal over row sum."
            )
        raise Mistake("recall of a class: of the images that are that class (its row), the fraction on the diagonal.")
    taken = _class_name("shirt_taken_for", answer["shirt_taken_for"])
    if taken != truth["shirt_taken_for"]:
        if taken == "Shirt":
            raise Mistake(
                "the diagonal entry counts the shirts labelled *correctly*; the question asks about the "
                "mistakes, the other entries of the Shirt row."
            )
        raise Mistake(
            "you read the Shirt *column*: those are images the net called 'Shirt'. The Shirt *row* says "
            "what the shirts were called."
        )
    return (
        "rows are the truth, columns the prediction: read a row for recall and for what a class is mistaken "
        "for, a column for what a predicted label really contains."
    )


q4 = Question(
    "Q4 · read a confusion matrix",
    lambda: (
        "A classifier's confusion matrix on 300 test images, laid out as in section 4 (row: the true class, "
        "column: the predicted one):\n\n```\n" + _matrix_text() + "\n```\n\nWhat is its accuracy (a fraction)? Which "
        "class has the lowest recall (the fraction of its own images labelled right)? And what are Shirt images most "
        "often mistaken for? Check with `ex.q4.check({'accuracy': ..., 'lowest_recall': '...', "
        "'shirt_taken_for': '...'})`."
    ),
    check_matrix,
    "Row i, column j counts the images of true class i that were labelled j. The diagonal holds the right answers.",
    "```python\nex.q4.check({'accuracy': (90 + 60 + 95) / 300, 'lowest_recall': 'Shirt', 'shirt_taken_for': 'Coat'})\n"
    "```\n\nShirt's row: 60 of 100 right, recall 0.60; its largest mistake is the 25 labelled Coat. (Reading columns "
    "instead would give Coat and T-shirt/top.)",
)
