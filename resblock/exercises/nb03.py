"""Exercises for notebook 03, "The degradation problem": ``from resblock.exercises import nb03 as ex``.

q1 diagnose three pairs of training runs (overfitting, underfitting or neither); q2 predict which of
the four nets ends with the highest training loss (checked against the committed results file);
q3 make a plain block compute the identity, the construction behind He et al.'s argument that a
deeper net need not train worse. Each checker names the mistake an answer looks like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from resblock.blocks import PlainBlock
from resblock.checks import short_repr
from resblock.exercises import Mistake, Question, answer_dict
from resblock.files import RESULTS_DIR
from resblock.models import randomise_batchnorm_

# --- q1: overfitting, underfitting or neither? -------------------------------------------------

CHOICES = ("overfitting", "underfitting", "neither")
SCENARIOS = {  # made-up numbers in the shape of real runs: (deeper or longer run, reference run)
    "A": "Two plain conv nets, same recipe. 56 layers: training loss 1.6, test error 66%. "
    "20 layers: training loss 0.7, test error 25%. What is wrong with the 56-layer net?",
    "B": "One wide net on 1,000 training images. After 200 epochs: training loss 0.001, test error 30%. "
    "After 20 epochs: training loss 0.3, test error 22%. What is wrong with the 200-epoch net?",
    "C": "Two plain conv nets, same recipe. 20 layers: training loss 0.40, test error 11%. "
    "8 layers: training loss 0.45, test error 12%. What is wrong with the 20-layer net?",
}
ANSWERS = {"A": "underfitting", "B": "overfitting", "C": "neither"}
WHY = {
    ("A", "overfitting"): "In A the deeper net's *training* loss is higher: it fits the training data worse, "
    "so it cannot be overfitting (which is fitting the training set well and the test set "
    "badly). That is the degradation problem: underfitting by a net that could do at least as well.",
    ("A", "neither"): "In A the 56-layer net is worse on the training set *and* the test set than a net with a "
    "subset of its capacity: something is wrong. Which way does the training loss point?",
    ("B", "underfitting"): "In B the training loss keeps falling (to 0.001) while the test error rises from 22% to "
    "30%: the net memorises its 1,000 images. Low training loss, high test error is overfitting.",
    ("B", "neither"): "In B the test error got worse (22% -> 30%) while the training loss went to almost 0: "
    "that widening gap has a name.",
    ("C", "overfitting"): "In C the 20-layer net is better on *both* sets: a lower training loss and a lower test "
    "error. Overfitting would show a lower training loss with a *higher* test error.",
    ("C", "underfitting"): "In C the 20-layer net fits the training data better than the 8-layer one (0.40 < 0.45) "
    "and generalises better: nothing is wrong. Depth is not harmful in itself; in He et al.'s "
    "Fig. 6 the trouble shows past 20 layers.",
}


def check_diagnosis(answer: Any) -> str:
    """Checker for q1: a dict {"A": ..., "B": ..., "C": ...} of "overfitting", "underfitting" or "neither"."""
    # "a" is scenario A: the letters are labels, and a lower-case one is not a different answer.
    answer = answer_dict(answer, SCENARIOS, "{'A': 'underfitting', 'B': ..., 'C': ...}", what="scenario")
    for key in SCENARIOS:
        value = answer[key]
        if not isinstance(value, str) or value.strip().lower() not in CHOICES:
            raise Mistake(
                f"scenario {key}: answer one of {', '.join(repr(c) for c in CHOICES)}, got {short_repr(value)}."
            )
        value = value.strip().lower()
        if value != ANSWERS[key]:
            raise Mistake(WHY[(key, value)])
    return (
        "compare *training* losses first: a higher training loss is underfitting, whatever the test "
        "error does; overfitting needs a low training loss and a high test error."
    )


def _scenarios_text() -> str:
    lines = "\n".join(f"- {k}: {v}" for k, v in SCENARIOS.items())
    return (
        "For each scenario, is the net named at the end overfitting, underfitting, or neither? Answer with "
        f"a dict, e.g. `ex.q1.check({{'A': '...', 'B': '...', 'C': '...'}})`.\n\n{lines}"
    )


q1 = Question(
    "Q1 · overfitting or underfitting?",
    _scenarios_text,
    check_diagnosis,
    "Look at the training loss before the test error. Overfitting: the net fits its training data *better* "
    "(lower training loss) and new data worse. Underfitting: it fits even its training data worse.",
    "```python\nex.q1.check({'A': 'underfitting', 'B': 'overfitting', 'C': 'neither'})\n```\n\n"
    "A is He et al.'s degradation: the 56-layer plain net's training loss is higher, so it is not overfitting. "
    "B is overfitting: the training loss falls while the test error rises. C is depth helping: the deeper "
    "net fits its training data better *and* tests better.",
)


# --- q2: which net ends with the highest training loss? ----------------------------------------

RESULTS_FILE = RESULTS_DIR / "degradation.json"
NET_NAMES = ("plain20", "plain56", "resnet20", "resnet56")
WRONG_NET = {
    "plain20": "plain-20 is the *shallowest* plain net, and in He et al.'s Fig. 6 and in our runs it fits its "
    "training data better than plain-56. Fewer layers is not the problem here; the seed blog's "
    "'less layers means a simpler model which is faster to train' would point you this way.",
    "resnet20": "ResNet-20 has as many weighted layers as plain-20 and, with its shortcuts, trains at least "
    "as well. The trouble is depth *without* shortcuts.",
    "resnet56": "ResNet-56 has as many layers as plain-56, but each block only has to learn a residual R(x) "
    "on top of an identity shortcut; in Fig. 6 it trains better than the 20-layer nets, and here it "
    "ends far below plain-56, close to them. Depth alone is not what hurts.",
}


def highest_final_loss(path: str | Path = RESULTS_FILE) -> str:
    """The net with the highest mean final training loss in a degradation results file."""
    from resblock.degradation import final_losses, load_results

    f = final_losses(load_results(path))
    return max(f, key=lambda net: sum(f[net].values()) / len(f[net]))


def check_highest(answer: Any, path: str | Path = RESULTS_FILE) -> str:
    """Checker for q2: the name of the net with the highest final training loss in results/degradation.json."""
    if not isinstance(answer, str):
        raise Mistake(
            f"answer with a net's name as a string, one of {', '.join(NET_NAMES)}; got {type(answer).__name__}."
        )
    name = answer.strip().lower().replace("-", "").replace(" ", "").replace("_", "")
    if name not in NET_NAMES:
        raise Mistake(f"{answer!r} is not one of the four nets; answer one of {', '.join(NET_NAMES)}.")
    truth = highest_final_loss(path)
    if name != truth:
        raise Mistake(WRONG_NET.get(name, f"the results file says {truth}, not {name}."))
    return (
        f"{truth} ends highest in every seed of results/degradation.json: a deeper plain net trains worse "
        "than a shallower one, though it could copy it (see q3)."
    )


q2 = Question(
    "Q2 · the prediction you wrote down",
    "Section 3 asked you to guess, before the live run: which of plain20, plain56, resnet20, resnet56 ends "
    "with the highest training loss? Check the guess you wrote down then (not what the plots showed since) "
    "with `ex.q2.check('...')`; it is checked against the full run, results/degradation.json, the file the "
    "experiment command wrote.",
    check_highest,
    "He et al.'s Fig. 6: on the left (plain nets), the deeper the net the higher its training error; in the "
    "middle (ResNets) the order reverses.",
    "```python\nex.q2.check('plain56')\n```\n\nThe 56-layer plain net: deeper without shortcuts trains worse.",
)


# --- q3: a plain block that computes the identity -----------------------------------------------

PLANES = (4, 8)


def _as_if_trained(block: PlainBlock, seed: int) -> None:
    """Give a block random weights and BN statistics, as a trained block has."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if p.dim() == 1 else 0.0))
    randomise_batchnorm_(block, g)


def _is_identity_kernel(conv: nn.Conv2d) -> bool:
    want = torch.zeros_like(conv.weight)
    for c in range(min(conv.in_channels, conv.out_channels)):
        want[c, c, 1, 1] = 1.0
    return torch.allclose(conv.weight, want)


def _bn_neutral(bn: nn.BatchNorm2d) -> bool:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    return torch.allclose(scale, torch.ones_like(scale), atol=1e-4) and torch.allclose(
        shift, torch.zeros_like(shift), atol=1e-4
    )


def check_make_identity(make_identity: Any) -> str:
    """Checker for q3: make_identity(block) sets a (trained-looking) PlainBlock to x -> x on x >= 0, in eval mode."""
    if not callable(make_identity):
        raise Mistake(f"pass your function itself (`make_identity`), got {type(make_identity).__name__}.")
    for i, planes in enumerate(PLANES):
        block = PlainBlock(planes, planes)
        _as_if_trained(block, seed=i)
        with torch.no_grad():
            make_identity(block)
        for name, kind in (
            ("conv1", nn.Conv2d),
            ("bn1", nn.BatchNorm2d),
            ("conv2", nn.Conv2d),
            ("bn2", nn.BatchNorm2d),
        ):
            if type(getattr(block, name)) is not kind:
                raise Mistake(
                    f"you replaced `block.{name}` with {type(getattr(block, name)).__name__}; keep every "
                    "layer and change only its weights: the point is that the *same* plain architecture "
                    "can compute the identity."
                )
        if any("forward" in vars(m) or m._forward_hooks or m._forward_pre_hooks for m in block.modules()):
            raise Mistake(
                "you changed what the block *does* (a new `forward` or a hook), not its weights: the point is "
                "that the plain block's own computation, relu(bn2(conv2(relu(bn1(conv1(x)))))), can be x."
            )
        block.eval()  # a net is a function in eval mode: BN uses its running statistics
        x = torch.relu(torch.randn(2, planes, 6, 6, generator=torch.Generator().manual_seed(10 + i)))
        with torch.no_grad():
            out = block(x)
        if torch.allclose(out, x, atol=1e-4):
            continue
        for name in ("conv1", "conv2"):
            conv = getattr(block, name)
            if not _is_identity_kernel(conv):
                w = conv.weight.detach()
                centre_ok = all(abs(float(w[c, c, 1, 1]) - 1.0) < 1e-6 for c in range(planes))
                if centre_ok:
                    raise Mistake(
                        f"`{name}` has 1 at the centre of each channel's own kernel, but other weights are "
                        "not 0: a neighbour pixel or another channel leaks in. Zero the rest first."
                    )
                if any(abs(float(w[c, c, 0, 0]) - 1.0) < 1e-6 for c in range(planes)):
                    raise Mistake(
                        f"`{name}`'s 1 sits in a corner of the 3x3 kernel, which shifts the image by a "
                        "pixel; put it at the centre, weight[c, c, 1, 1]."
                    )
                raise Mistake(
                    f"`{name}` does not pass each channel through unchanged: its weight should be 0 "
                    "everywhere except weight[c, c, 1, 1] = 1 for every channel c."
                )
        for name in ("bn1", "bn2"):
            bn = getattr(block, name)
            if not _bn_neutral(bn):
                raise Mistake(
                    f"`{name}` still rescales and shifts: in eval mode BN computes weight * (x - "
                    "running_mean) / sqrt(running_var + eps) + bias, with the statistics the block "
                    "learnt. Set weight 1, bias 0, running_mean 0 and running_var 1 (or 1 - eps)."
                )
        raise Mistake(
            f"for {planes} channels the block's output differs from its input by up to "
            f"{float((out - x).abs().max()):.3g}."
        )
    return (
        "both convolutions pass their input through and both BNs are neutral. On negative inputs the "
        "final ReLU still gives 0: the block is the identity on x >= 0, which is all a ReLU ever passes on."
    )


SOLUTION_Q3 = """```python
def make_identity(block):
    for conv in (block.conv1, block.conv2):
        conv.weight.zero_()
        for c in range(conv.out_channels):
            conv.weight[c, c, 1, 1] = 1.0          # the centre tap passes channel c through
    for bn in (block.bn1, block.bn2):
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)      # sqrt(var + eps) = 1 exactly
```
The package's version is `resblock.degradation.make_identity`; `embed_shallow` uses it to put a trained
plain-20 inside a plain-56 that computes exactly the same function."""

q3 = Question(
    "Q3 · a plain block that does nothing",
    "He et al.'s argument: a deeper net could copy a shallower one and make its extra layers identities, so "
    "its best training loss is no higher. Write `make_identity(block)` that sets the weights of a trained "
    "`PlainBlock` (same channels in and out, stride 1) so that in eval mode `block(x) == x` for every x >= 0 "
    "(the output of a ReLU). Change weights and BN statistics in place; keep every layer. "
    "Check with `ex.q3.check(make_identity)`.",
    check_make_identity,
    "A 3x3 convolution copies its input when each output channel c has weight 1 at the centre of input "
    "channel c's kernel and 0 elsewhere. In eval mode BN computes weight * (x - running_mean) / "
    "sqrt(running_var + eps) + bias: make that x. The ReLUs do nothing to x >= 0.",
    SOLUTION_Q3,
)
