"""Exercises for notebook 06, "Loss landscape": ``from resblock.exercises import nb06 as ex``.

q1 predict which rescalings of the weights a net does not notice (the reason directions are
filter-normalised); q2 build a whole filter-normalised direction for a model, with biases and BN
parameters left out. The q2 checker compares filter norms and names the usual mistakes: layer-wise
instead of filter-wise scaling, unit-norm filters, the wrong axis, BN left in.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resblock.exercises import Mistake, Question, answer_set


def _filter_norms(t: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return t.transpose(0, dim).flatten(1).norm(dim=1)


def _diagnose(got: torch.Tensor, d: torch.Tensor, w: torch.Tensor, where: str) -> None:
    """Raise a Mistake naming what ``got`` looks like, unless it is d filter-normalised to w."""
    if not isinstance(got, torch.Tensor):
        raise Mistake(f"{where}: expected a tensor, got {type(got).__name__}.")
    if got.shape != w.shape:
        raise Mistake(f"{where}: the result has shape {tuple(got.shape)}, the weight {tuple(w.shape)}; keep d's shape.")
    if not got.is_floating_point():
        raise Mistake(f"{where}: the direction holds {got.dtype} values; a direction is real numbers, like the weight.")
    want = _filter_norms(w)
    norms = _filter_norms(got)
    if torch.allclose(norms, want, rtol=1e-4):
        # Right norms; is each filter still pointing along d's filter (a positive rescaling)?
        cos = torch.nn.functional.cosine_similarity(got.flatten(1), d.flatten(1), dim=1)
        if torch.allclose(cos, torch.ones_like(cos), atol=1e-4):
            return
        if torch.allclose(got, w):
            raise Mistake(
                f"{where}: you returned the weights themselves; keep d's direction, change only each filter's length."
            )
        raise Mistake(f"{where}: each filter has the right norm but no longer points along d's filter; only rescale d.")
    if torch.allclose(norms, torch.ones_like(norms), rtol=1e-4):
        raise Mistake(
            f"{where}: every filter has norm 1; scale it to the norm of the matching weight filter, "
            "||w_i|| / ||d_i||, not 1 / ||d_i||."
        )
    if got.dim() > 1 and torch.allclose(_filter_norms(got, 1), _filter_norms(w, 1), rtol=1e-4):
        raise Mistake(
            f"{where}: you normalised along dim 1 (input channels). A filter is one output channel: w[i], dim 0."
        )
    if abs(float(got.norm()) - float(w.norm())) < 1e-4 * float(w.norm()):
        raise Mistake(
            f"{where}: the whole tensor has the weight's norm, but its filters do not: that is layer-wise "
            "normalisation. Li et al. scale each filter (each output channel, w[i]) separately."
        )
    raise Mistake(
        f"{where}: the filter norms {norms[:3].tolist()}... should equal the weight's {want[:3].tolist()}...."
    )


# --- q1: predict which rescalings a net does not notice (why directions are filter-normalised) ------


def _bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    )


def _plain_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3, bias=False))


def _scale_filters(conv: nn.Conv2d, factors: list[float]) -> None:
    conv.weight.mul_(torch.tensor(factors).view(-1, 1, 1, 1))


# name: (builds the net, rescales it in place, why the output does or does not change)
RESCALINGS = {
    "A": (
        "conv -> BN -> ReLU -> linear: multiply every filter of the conv by 10",
        _bn_net,
        lambda m: m[0].weight.mul_(10.0),
        "BN divides each channel by its own standard deviation over the batch, so the 10 cancels",
    ),
    "B": (
        "conv -> BN -> ReLU -> linear: multiply filter 0 of the conv by 10 and filter 1 by 3",
        _bn_net,
        lambda m: _scale_filters(m[0], [10.0, 3.0, 1.0, 1.0]),
        "BN normalises each channel separately, so each filter's own factor cancels: the invariance is per filter",
    ),
    "C": (
        "conv -> BN -> ReLU -> linear: multiply filter 0 of the conv by -1",
        _bn_net,
        lambda m: _scale_filters(m[0], [-1.0, 1.0, 1.0, 1.0]),
        "BN removes a positive scale only; a sign flip turns the normalised channel upside down before the ReLU",
    ),
    "D": (
        "conv -> BN -> ReLU -> linear: multiply BN's weight (gamma) by 10",
        _bn_net,
        lambda m: m[1].weight.mul_(10.0),
        "gamma is applied after the normalisation, so nothing divides it out",
    ),
    "E": (
        "conv -> ReLU -> linear, no BN: multiply every filter of the conv by 10",
        _plain_net,
        lambda m: m[0].weight.mul_(10.0),
        "without BN nothing divides the 10 out: the output is 10 times larger",
    ),
    "F": (
        "conv -> ReLU -> linear, no BN: multiply the conv by 10 and the linear layer by 0.1",
        _plain_net,
        lambda m: (m[0].weight.mul_(10.0), m[3].weight.mul_(0.1)),
        "relu(10 z) = 10 relu(z) for a positive factor, and the linear layer's 0.1 undoes it",
    ),
}


def unchanged_rescalings() -> set[str]:
    """The RESCALINGS after which the net's output is the same (BN in training mode), found by running each one."""
    x = torch.randn(8, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    found = set()
    for name, (_, build, rescale, _) in RESCALINGS.items():
        net = build().train()  # BN normalises with the batch's statistics, as during training
        with torch.no_grad():
            before = net(x)
            rescale(net)
            after = net(x)
        if torch.allclose(before, after, rtol=1e-4, atol=1e-4):
            found.add(name)
    return found


def describe_rescalings() -> str:
    """The rescalings of question 1 as a Markdown list, one '- letter: what it does' per line."""
    return "\n".join(f"- {k}: {v[0]}" for k, v in RESCALINGS.items())


def check_unchanged(answer: Any) -> str:
    """Checker for q1: the set of RESCALINGS names that leave the output unchanged."""
    chosen = answer_set(answer, RESCALINGS, "letters", "{'A'}", normalise=str.upper)
    truth = unchanged_rescalings()
    wrong_in = sorted(chosen - truth)
    if wrong_in:
        k = wrong_in[0]
        raise Mistake(f"{k} changes the output: {RESCALINGS[k][3]}.")
    missing = sorted(truth - chosen)
    if missing:
        k = missing[0]
        raise Mistake(f"you left out {len(missing)} that the net does not notice; look again at {k}.")
    return (
        "a BN net ignores the length of each filter (and a ReLU net without BN lets one layer's scale move "
        "into the next). So a step of fixed size means nothing on its own: it is large for a short filter and "
        "negligible for a long one. Li et al. therefore measure each filter's step against that filter's own "
        "norm: filter-wise normalisation."
    )


q1 = Question(
    "Q1 · which rescalings does the net not notice?",
    lambda: (
        "Each line builds a small net (BN, where there is one, in training mode: it normalises with the "
        "batch's own statistics) and rescales some of its weights. Predict, before running anything, after which "
        "rescalings the net's output on a batch is the same as before (up to rounding):\n\n"
        + describe_rescalings()
        + "\n\nAnswer with a set of letters: `ex.q1.check({'...', '...'})`. The checker builds each net and measures it."
    ),
    check_unchanged,
    "Ask what comes after the weights that were rescaled. BN subtracts each channel's mean and divides by its "
    "standard deviation: which factors does that cancel, and which not (think of the sign)? A ReLU satisfies "
    "relu(c z) = c relu(z) only for c > 0.",
    lambda: (
        "```python\nex.q1.check(" + repr(sorted(unchanged_rescalings())) + ")\n```\n\nFound by running each "
        "one: `ex.unchanged_rescalings()`. " + " ".join(f"{k}: {v[3]}." for k, v in RESCALINGS.items())
    ),
)


def _probe_model() -> nn.Module:
    torch.manual_seed(0)
    # Two input channels, not one: with one, normalising along dim 1 is layer-wise normalisation, and the
    # checker could not tell those two mistakes apart.
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)
    )


def check_random_direction(random_direction: Any) -> str:
    """Checker for q2: ``random_direction(model)`` returns {name: tensor}, filter-normalised, zeros for 1-D parameters."""
    if not callable(random_direction):
        raise Mistake(f"pass your function itself (`random_direction`), got {type(random_direction).__name__}.")
    model = _probe_model()
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
        model[4].bias.uniform_(-1, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    got = random_direction(model)
    if not isinstance(got, dict):
        raise Mistake(f"return a dict {{parameter name: tensor}}, got {type(got).__name__}.")
    params = dict(model.named_parameters())
    if set(got) != set(params):
        raise Mistake(
            f"the keys should be the model's parameter names {sorted(params)}, got {sorted(got)}; "
            "loop over model.named_parameters()."
        )
    if any(not torch.equal(v, before[k]) for k, v in model.state_dict().items()):
        raise Mistake("the model's own weights changed; build the direction as new tensors.")
    # A direction drawn with NumPy is float64: compared in the weights' precision, not refused for its dtype.
    got = {
        k: v.to(params[k].dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in got.items()
    }
    for name, p in params.items():
        d = got[name]
        if p.dim() <= 1:
            if not isinstance(d, torch.Tensor) or d.shape != p.shape:
                raise Mistake(f"{name}: expected a tensor of shape {tuple(p.shape)}.")
            if torch.count_nonzero(d):
                raise Mistake(
                    f"{name} is a bias or BN parameter, and its direction is not zero: Li et al. leave "
                    "biases and BN parameters out (a zero direction), so only the weights move."
                )
        elif not isinstance(d, torch.Tensor):
            raise Mistake(f"{name}: expected a tensor of shape {tuple(p.shape)}, got {type(d).__name__}.")
        else:  # any direction will do here (it is random): check its filters' lengths
            _diagnose(d, d.detach().clone(), p.detach(), name)
    if torch.allclose(got["0.weight"], params["0.weight"].detach()):
        raise Mistake("the direction equals the weights: draw it at random (torch.randn_like), then normalise it.")
    weights = [(got[name].detach(), p.detach()) for name, p in params.items() if p.dim() > 1]
    if all(bool((d >= 0).all()) for d, _ in weights):
        raise Mistake(
            "every entry of the direction is >= 0, and a random direction has both signs: draw it from a "
            "Gaussian, torch.randn_like(p) (torch.rand_like is uniform on [0, 1); abs() drops the signs)."
        )
    cosines = torch.cat([F.cosine_similarity(d.flatten(1), w.flatten(1), dim=1).abs() for d, w in weights])
    if torch.allclose(cosines, torch.ones_like(cosines), atol=1e-4):
        raise Mistake(
            "each filter of the direction points along its weight filter (or against it): that is the weights "
            "rescaled, not a random direction. Draw d with torch.randn_like(p), then filter-normalise it."
        )
    return "biases and BN stay put; every weight filter moves by a step as long as itself."


q2 = Question(
    "Q2 · a whole direction",
    "Write `random_direction(model)` returning a dict {name: tensor} with one entry per "
    "`model.named_parameters()`: a Gaussian tensor, filter-normalised, for each weight with 2 or more "
    "dimensions, and zeros for biases and BN parameters (1-D). Check it with `ex.q2.check(random_direction)`.",
    check_random_direction,
    "`p.dim() <= 1` picks out biases and BN's gamma and beta. For the rest use `torch.randn_like(p)` and "
    "the package's `resblock.landscape.filter_normalize` (its source is printed in section 2).",
    "```python\nimport torch\nfrom resblock.landscape import filter_normalize\n\ndef random_direction(model):\n"
    "    out = {}\n    for name, p in model.named_parameters():\n        w = p.detach()\n"
    "        out[name] = torch.zeros_like(w) if w.dim() <= 1 else filter_normalize(torch.randn_like(w), w)\n"
    "    return out\n```\nThe package's version is `resblock.landscape.random_direction` (seeded).",
)
