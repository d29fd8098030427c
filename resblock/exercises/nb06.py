"""Exercises for notebook 06, "Loss landscape": ``from resblock.exercises import nb06 as ex``.

q1 filter-normalise one random direction tensor; q2 build a whole direction for a model, with
biases and BN parameters left out. The checkers compare filter norms and name the usual mistakes:
layer-wise instead of filter-wise scaling, unit-norm filters, the wrong axis, BN left in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from resblock.exercises import Mistake, Question


def _filter_norms(t: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return t.transpose(0, dim).flatten(1).norm(dim=1)


def _diagnose(got: torch.Tensor, d: torch.Tensor, w: torch.Tensor, where: str) -> None:
    """Raise a Mistake naming what ``got`` looks like, unless it is d filter-normalised to w."""
    if not isinstance(got, torch.Tensor):
        raise Mistake(f"{where}: expected a tensor, got {type(got).__name__}.")
    if got.shape != w.shape:
        raise Mistake(f"{where}: the result has shape {tuple(got.shape)}, the weight {tuple(w.shape)}; keep d's shape.")
    want = _filter_norms(w)
    norms = _filter_norms(got)
    if torch.allclose(norms, want, rtol=1e-4):
        # Right norms; is each filter still pointing along d's filter (a positive rescaling)?
        cos = torch.nn.functional.cosine_similarity(got.flatten(1), d.flatten(1), dim=1)
        if torch.allclose(cos, torch.ones_like(cos), atol=1e-4):
            return
        if torch.allclose(got, w):
            raise Mistake(f"{where}: you returned the weights themselves; keep d's direction, change only each filter's length.")
        raise Mistake(f"{where}: each filter has the right norm but no longer points along d's filter; only rescale d.")
    if torch.allclose(norms, torch.ones_like(norms), rtol=1e-4):
        raise Mistake(f"{where}: every filter has norm 1; scale it to the norm of the matching weight filter, "
                      "||w_i|| / ||d_i||, not 1 / ||d_i||.")
    if got.dim() > 1 and torch.allclose(_filter_norms(got, 1), _filter_norms(w, 1), rtol=1e-4):
        raise Mistake(f"{where}: you normalised along dim 1 (input channels). A filter is one output channel: w[i], dim 0.")
    if abs(float(got.norm()) - float(w.norm())) < 1e-4 * float(w.norm()):
        raise Mistake(f"{where}: the whole tensor has the weight's norm, but its filters do not: that is layer-wise "
                      "normalisation. Li et al. scale each filter (each output channel, w[i]) separately.")
    raise Mistake(f"{where}: the filter norms {norms[:3].tolist()}... should equal the weight's {want[:3].tolist()}....")


def check_filter_normalize(filter_normalize: Any) -> str:
    """Checker for q1: ``filter_normalize(d, w)`` rescales each filter d[i] to the norm of w[i]."""
    if not callable(filter_normalize):
        raise Mistake(f"pass your function itself (`filter_normalize`), got {type(filter_normalize).__name__}.")
    g = torch.Generator().manual_seed(0)
    for shape, what in (((6, 4, 3, 3), "a conv weight (6 filters of 4x3x3)"), ((5, 7), "a linear weight (5 rows)")):
        w = torch.randn(shape, generator=g) * torch.linspace(0.1, 3.0, shape[0]).view(-1, *[1] * (len(shape) - 1))
        d = torch.randn(shape, generator=g)
        d_before = d.clone()
        got = filter_normalize(d.clone(), w.clone())
        _diagnose(got, d_before, w, f"on {what}")
    return "each filter of the direction now has the length of its filter in the trained weights."


q1 = Question(
    "Q1 · filter-wise normalisation",
    "Write `filter_normalize(d, w)` for one weight tensor `w` (conv: out x in x k x k; linear: out x in) and "
    "a random tensor `d` of the same shape: return d with each filter `d[i]` rescaled so that "
    "||d[i]|| = ||w[i]||. Check it with `ex.q1.check(filter_normalize)`.",
    check_filter_normalize,
    "A filter is one output channel, `d[i]`. `d.flatten(1).norm(dim=1)` gives one norm per filter; reshape the "
    "ratio of norms with `.view(-1, *[1] * (d.dim() - 1))` so it broadcasts over the rest of each filter.",
    "```python\ndef filter_normalize(d, w):\n    d_norm = d.flatten(1).norm(dim=1)\n    w_norm = w.flatten(1).norm(dim=1)\n"
    "    return d * (w_norm / d_norm).view(-1, *[1] * (d.dim() - 1))\n```\n"
    "The package's version is `resblock.landscape.filter_normalize`.",
)


def _probe_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3))


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
        raise Mistake(f"the keys should be the model's parameter names {sorted(params)}, got {sorted(got)}; "
                      "loop over model.named_parameters().")
    if any(not torch.equal(v, before[k]) for k, v in model.state_dict().items()):
        raise Mistake("the model's own weights changed; build the direction as new tensors.")
    for name, p in params.items():
        d = got[name]
        if p.dim() <= 1:
            if not isinstance(d, torch.Tensor) or d.shape != p.shape:
                raise Mistake(f"{name}: expected a tensor of shape {tuple(p.shape)}.")
            if torch.count_nonzero(d):
                raise Mistake(f"{name} is a bias or BN parameter, and its direction is not zero: Li et al. leave "
                              "biases and BN parameters out (a zero direction), so only the weights move.")
        else:
            _diagnose(d, d.detach().clone(), p.detach(), name)
    if torch.allclose(got["0.weight"], params["0.weight"].detach()):
        raise Mistake("the direction equals the weights: draw it at random (torch.randn_like), then normalise it.")
    return "biases and BN stay put; every weight filter moves by a step as long as itself."


q2 = Question(
    "Q2 · a whole direction",
    "Write `random_direction(model)` returning a dict {name: tensor} with one entry per "
    "`model.named_parameters()`: a Gaussian tensor, filter-normalised, for each weight with 2 or more "
    "dimensions, and zeros for biases and BN parameters (1-D). Check it with `ex.q2.check(random_direction)`.",
    check_random_direction,
    "`p.dim() <= 1` picks out biases and BN's gamma and beta. For the rest use `torch.randn_like(p)` and your "
    "`filter_normalize` from Q1 (or the package's `resblock.landscape.filter_normalize`).",
    "```python\nimport torch\nfrom resblock.landscape import filter_normalize\n\ndef random_direction(model):\n"
    "    out = {}\n    for name, p in model.named_parameters():\n        w = p.detach()\n"
    "        out[name] = torch.zeros_like(w) if w.dim() <= 1 else filter_normalize(torch.randn_like(w), w)\n"
    "    return out\n```\nThe package's version is `resblock.landscape.random_direction` (seeded).",
)
