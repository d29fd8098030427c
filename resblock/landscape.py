"""Loss landscapes: the loss along random, filter-normalised directions around trained weights (notebook 06).

Li, Xu, Taylor, Studer, Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018
(arXiv:1712.09913). Around trained weights theta they plot
    1-D:  L(theta + a d)            and    2-D:  L(theta + a d + b e)
for random Gaussian directions d, e. A ReLU net with BN is scale-invariant in each filter, so a raw
random direction means something different for a filter of norm 10 than for one of norm 0.1; their
*filter-wise normalisation* (sec. 4) rescales every filter of d to the norm of the matching filter
of theta. Biases and BN parameters get a zero direction (they are left at their trained values), as
in the paper. Everything here is a pure function of (model, directions, data): the model's own
weights are never changed, because each point is evaluated with ``torch.func.functional_call``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from resblock import files
from resblock.checks import ArgumentTypeError, check_bool, check_instance, check_int, check_positive_int, describe
from resblock.env import course_seed
from resblock.train import check_class_labels, check_model, eval_mode

Direction = dict[str, torch.Tensor]

__all__ = [
    "Direction",
    "filter_normalize",
    "random_direction",
    "loss_at",
    "Line",
    "loss_along_direction",
    "Surface",
    "loss_surface",
    "fixed_subset",
    "check_surface",
    "sharpness_ratio",
    "local_minima",
    "results_path",
    "experiment_path",
    "run_experiment",
    "load_results",
]


def _check_tensor(name: str, value: Any, what: str = "") -> torch.Tensor:
    """``value`` if it is a torch tensor; else an ArgumentTypeError (a list or an array: torch.as_tensor)."""
    if isinstance(value, torch.Tensor):
        return value
    fix = f" Use torch.as_tensor({name})." if isinstance(value, (list, tuple, np.ndarray)) else ""
    raise ArgumentTypeError(f"{name} must be a torch tensor{what}, got {describe(value)}.{fix}")


def check_surface(surface: Any, name: str = "surface") -> Surface:
    """``surface`` if it is a Surface; else an error that names the slip (its dict, its loss array, a Line)."""
    if isinstance(surface, np.ndarray):
        raise ArgumentTypeError(
            f"{name} must be a Surface (as loss_surface or load_results returns), got {describe(surface)}: "
            "pass the Surface itself, not its .loss."
        )
    if isinstance(surface, Line):
        raise ArgumentTypeError(
            f"{name} must be a Surface, a 2-D slice (loss_surface), got a Line, a 1-D one (loss_along_direction)."
        )
    return check_instance(name, surface, Surface, "as loss_surface or load_results returns")


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a net's name such as 'plain20' or 'resnet56', got {describe(name)}.")
    return name


def filter_normalize(direction: torch.Tensor, weight: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Rescale each filter (slice along dim 0) of ``direction`` to the norm of the same filter of ``weight`` (Li et al. eq. in sec. 4)."""
    _check_tensor("direction", direction)
    _check_tensor("weight", weight, " (a parameter's values, e.g. model.fc.weight)")
    if direction.shape != weight.shape:
        raise ValueError(
            f"direction and weight must have the same shape, got {tuple(direction.shape)} and {tuple(weight.shape)}."
        )
    if weight.dim() < 2:
        raise ValueError(
            "filter normalisation applies to conv and linear weights (2 or more dims); "
            "biases and BN parameters get a zero direction instead."
        )
    # A conv weight (out, in, kh, kw) has `out` filters; a linear weight (out, in) has `out` rows,
    # each treated as a filter, as in the authors' code.
    d_norm = direction.flatten(1).norm(dim=1)
    w_norm = weight.flatten(1).norm(dim=1)
    scale = (w_norm / (d_norm + eps)).view(-1, *([1] * (weight.dim() - 1)))
    return direction * scale


def random_direction(model: nn.Module, seed: int | None = None, normalize: bool = True) -> Direction:
    """A Gaussian direction in weight space, filter-normalised, with zeros for biases and BN parameters (notebook 06)."""
    check_model(model, finite=False)
    if seed is not None:
        seed = check_int("seed", seed, what=" (or None for the course's seed)")
    check_bool("normalize", normalize)
    generator = torch.Generator().manual_seed(course_seed() if seed is None else seed)  # None: $RESBLOCK_SEED
    out = {}
    for name, p in model.named_parameters():
        w = p.detach().cpu()
        if w.dim() <= 1:  # biases, BN's gamma and beta: left out, as in Li et al.
            out[name] = torch.zeros_like(w)
        else:
            d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
            out[name] = filter_normalize(d, w) if normalize else d
    return out


def _check_direction(model: nn.Module, direction: Direction, name: str = "direction") -> None:
    if not isinstance(direction, Mapping):
        raise ArgumentTypeError(
            f"{name} must be a dict {{parameter name: tensor}}, as random_direction(model) returns; "
            f"got {describe(direction)}."
        )
    params = dict(model.named_parameters())
    missing = [n for n in params if n not in direction]
    extra = [n for n in direction if n not in params]
    if missing or extra:
        raise ValueError(
            f"the direction does not match the model's parameters (missing {missing[:3]}, "
            f"unknown {extra[:3]}); make it with random_direction(model)."
        )
    for n, p in params.items():
        if direction[n].shape != p.shape:
            raise ValueError(f"direction[{n!r}] has shape {tuple(direction[n].shape)}, the parameter {tuple(p.shape)}.")


def _check_coords(name: str, values: Sequence[float]) -> None:
    """Coefficients along a direction: a non-empty list of finite numbers (a nan would map nothing but nan)."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor that needs grad
        raise ValueError(
            f"{name} must be a list of numbers, e.g. np.linspace(-1, 1, 21); got {describe(values)}."
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D list of numbers, e.g. np.linspace(-1, 1, 21); got {describe(values)}."
        )
    if not np.isfinite(arr).all():
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{name} must hold finite numbers only, got {bad.size} that are not: {bad[:3].tolist()}.")


def fixed_subset(
    images: torch.Tensor, labels: torch.Tensor, size: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same ``size`` examples every time (a seeded random choice), for evaluating a landscape."""
    _check_tensor("images", images)
    _check_tensor("labels", labels)
    if len(labels) != len(images):
        raise ValueError(f"images and labels differ in length: {len(images)} images, {len(labels)} labels.")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= len(images):
        raise ValueError(f"size must lie in 1..{len(images)}, got {size!r}.")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:size]
    return images[idx], labels[idx]


@torch.inference_mode()
def loss_at(
    model: nn.Module,
    offsets: Sequence[tuple[float, Direction]],
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 1000,
) -> tuple[float, float]:
    """(cross-entropy, accuracy) at theta + sum of coef * direction, in eval mode; the model itself is unchanged."""
    check_model(model, finite=False)
    if isinstance(offsets, Mapping) or not isinstance(offsets, (list, tuple)):
        one = " (one direction? write [(a, direction)])" if isinstance(offsets, Mapping) else ""
        raise ArgumentTypeError(
            f"offsets must be a list of (coefficient, direction) pairs, e.g. [(0.5, d1), (-0.2, d2)] or [] for the "
            f"trained weights; got {describe(offsets)}{one}."
        )
    for i, pair in enumerate(offsets):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[1], Mapping)):
            raise ArgumentTypeError(
                f"offsets[{i}] must be a pair (coefficient, direction), e.g. (0.5, random_direction(model)); "
                f"got {describe(pair)}."
            )
    _check_tensor("images", images)
    _check_tensor("labels", labels)
    batch_size = check_positive_int("batch_size", batch_size)
    if len(images) == 0:
        raise ValueError("the landscape's images are empty: pass at least one image and its label.")
    if len(labels) != len(images):  # checked whole: each chunk below sees only its own slice
        raise ValueError(
            f"the subset's images and labels differ in length: {len(images)} images, {len(labels)} labels."
        )
    device = next(model.parameters()).device
    params = {}
    for name, p in model.named_parameters():
        w = p.detach()
        for coef, d in offsets:
            if coef:
                w = w + coef * d[name].to(device)
        params[name] = w
    state = {**params, **{n: b for n, b in model.named_buffers()}}
    total, correct = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(device)
            y = labels[i : i + batch_size].to(device)
            logits = functional_call(model, state, (x,))
            y = check_class_labels(y, logits, "the subset's")
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    n = len(images)
    return total / n, correct / n


@dataclass
class Line:
    """Loss and accuracy along one direction: L(theta + a d) for each a in alphas."""

    alphas: np.ndarray
    loss: np.ndarray
    acc: np.ndarray
    seconds: float  # wall time of the evaluation


def loss_along_direction(
    model: nn.Module,
    direction: Direction,
    alphas: Sequence[float],
    images: torch.Tensor,
    labels: torch.Tensor,
) -> Line:
    """The 1-D plot of Li et al.: loss at theta + a d for each a (a = 0 is the trained net) (notebook 06)."""
    check_model(model, finite=False)
    _check_direction(model, direction)
    _check_coords("alphas", alphas)
    t0 = time.perf_counter()
    pts = [loss_at(model, [(float(a), direction)], images, labels) for a in alphas]
    return Line(
        np.asarray(alphas, float),
        np.array([p[0] for p in pts]),
        np.array([p[1] for p in pts]),
        time.perf_counter() - t0,
    )


@dataclass
class Surface:
    """Loss and accuracy on a grid: loss[i, j] = L(theta + alphas[j] d + betas[i] e)."""

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray  # shape (len(betas), len(alphas)): rows follow b, columns a, as matplotlib's contour wants
    acc: np.ndarray
    seconds: float

    def to_dict(self) -> dict:
        """Plain lists, for a JSON results file."""
        return {
            "alphas": self.alphas.tolist(),
            "betas": self.betas.tolist(),
            "loss": self.loss.tolist(),
            "acc": self.acc.tolist(),
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Surface:
        """Rebuild a Surface from ``to_dict``'s output (a results file's "surface")."""
        if not isinstance(d, Mapping):
            raise ArgumentTypeError(f"Surface.from_dict takes the dict to_dict() returns, got {describe(d)}.")
        missing = [k for k in ("alphas", "betas", "loss", "acc", "seconds") if k not in d]
        if missing:
            raise ValueError(
                f"the surface's dict lacks {', '.join(map(repr, missing))}: it is not what to_dict() wrote."
            )
        return cls(np.array(d["alphas"]), np.array(d["betas"]), np.array(d["loss"]), np.array(d["acc"]), d["seconds"])


def loss_surface(
    model: nn.Module,
    d1: Direction,
    d2: Direction,
    alphas: Sequence[float],
    betas: Sequence[float],
    images: torch.Tensor,
    labels: torch.Tensor,
    progress: bool = False,
) -> Surface:
    """The 2-D plot of Li et al.: loss at theta + a d1 + b d2 on the grid alphas x betas (notebook 06)."""
    check_model(model, finite=False)
    _check_direction(model, d1, "d1")
    _check_direction(model, d2, "d2")
    _check_coords("alphas", alphas)
    _check_coords("betas", betas)
    t0 = time.perf_counter()
    loss = np.empty((len(betas), len(alphas)))
    acc = np.empty_like(loss)
    for i, b in enumerate(betas):
        for j, a in enumerate(alphas):
            loss[i, j], acc[i, j] = loss_at(model, [(float(a), d1), (float(b), d2)], images, labels)
        if progress:
            print(f"  row {i + 1}/{len(betas)} done, {time.perf_counter() - t0:.0f} s", flush=True)
    return Surface(np.asarray(alphas, float), np.asarray(betas, float), loss, acc, time.perf_counter() - t0)


def sharpness_ratio(surface: Surface, radius: float = 0.5) -> float:
    """Mean loss within ``radius`` of the centre divided by the centre's loss: a one-number summary of how fast the loss rises."""
    if not (isinstance(radius, (int, float, np.floating)) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a finite number > 0 (in the units of the grid's alphas), got {radius!r}.")
    check_surface(surface)
    a, b = np.meshgrid(surface.alphas, surface.betas)
    inside = np.hypot(a, b) <= radius + 1e-9
    centre = surface.loss[np.argmin(np.abs(surface.betas)), np.argmin(np.abs(surface.alphas))]
    if not math.isfinite(centre) or centre <= 0:
        raise ValueError("the surface has no finite positive loss at its centre.")
    return float(surface.loss[inside].mean() / centre)


def local_minima(surface: Surface) -> int:
    """Grid points lower than all their (up to 8) neighbours: 1 for a bowl, many for a chaotic surface (notebook 06)."""
    check_surface(surface)
    z = surface.loss
    padded = np.pad(z, 1, constant_values=np.inf)
    h, w = z.shape
    neighbours = [
        padded[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj
    ]
    return int(np.all([z < n for n in neighbours], axis=0).sum())


# --- the experiment behind notebook 06's full grids --------------------------------------------------


def results_path(name: str, root: str | Path | None = None) -> Path:
    """results/landscape_NAME.json, the full grid of one net."""
    _check_name(name)
    return Path(root or files.RESULTS_DIR) / f"landscape_{name}.json"


COMMITTED_SUBSET = {20: 500, 56: 250}  # training images of the committed grids, by depth (the 56s cost 2.7x per image)
COMMITTED = {"grid": 21, "span": 1.0, "seeds": (1, 2)}  # the rest of the committed recipe
MAX_GRID = 101  # 101 x 101 points is already hours on a CPU


def experiment_path(
    name: str,
    depth: int,
    grid: int,
    span: float,
    subset: int,
    seeds: tuple[int, int],
    root: str | Path | None = None,
) -> tuple[Path, bool]:
    """Where one net's grid goes: results/landscape_NAME.json for the committed recipe, else a name made from the recipe."""
    _check_name(name)
    if isinstance(depth, bool) or depth not in COMMITTED_SUBSET:
        raise ValueError(f"depth must be one of the study's depths {tuple(COMMITTED_SUBSET)}, got {depth!r}.")
    if not (isinstance(seeds, (tuple, list)) and len(seeds) == 2):
        raise ValueError(f"seeds must be two direction seeds, e.g. (1, 2); got {seeds!r}.")
    if (grid, span, subset, tuple(seeds)) == (
        COMMITTED["grid"],
        COMMITTED["span"],
        COMMITTED_SUBSET[depth],
        COMMITTED["seeds"],
    ):
        return results_path(name, root), True
    tag = f"grid{grid}_span{span:g}_subset{subset}_seeds{seeds[0]}-{seeds[1]}"
    return Path(root or files.RESULTS_DIR) / f"landscape_{name}_{tag}.json", False


def run_experiment(
    names: Sequence[str] | None = None,
    grid: int = 21,
    span: float = 1.0,
    subset: int | None = None,
    seeds: tuple[int, int] = (1, 2),
    root: str | Path | None = None,
    force: bool = False,
) -> dict[str, dict[str, Any]]:
    """Compute and save the 2-D slice of each named study net: ``python -m resblock.experiments landscape``.

    ``subset=None`` takes the committed recipe's (500 images for the 20-layer nets, 250 for the 56-layer
    ones). A recipe other than the committed one is saved under a name derived from it, so that it never
    lands on the file notebook 06 reads; an existing file is replaced only with ``force=True``.
    """
    import json
    import platform

    from resblock.checks import check_number
    from resblock.data import load_fashion_mnist
    from resblock.env import describe_environment
    from resblock.files import check_writable_folder, write_atomic
    from resblock.trained_nets import DEPTHS, checkpoint_path, load_or_train, net_name

    all_names = {net_name(d, s): (d, s) for d in DEPTHS for s in (False, True)}
    if isinstance(names, str):
        names = [names]
    names = list(names or all_names)
    unknown = [n for n in names if not isinstance(n, str) or n not in all_names]
    if unknown:
        raise ValueError(f"unknown nets {unknown}; choose from {sorted(all_names)}.")
    # Every number is checked before any work (a nan span passes `span <= 0` and maps nothing but nan).
    grid = check_int("grid", grid, 3, MAX_GRID, what=" (points per axis)")
    span = check_number("span", span, low=0.0, low_open=True, what=" (the slice covers [-span, span])")
    if subset is not None:
        subset = check_int("subset", subset, 1, 60_000, what=" (training images)")
    if not (isinstance(seeds, (tuple, list)) and len(seeds) == 2):
        raise ValueError(f"seeds must be two direction seeds, e.g. (1, 2); got {seeds!r}.")
    seeds = tuple(check_int("seeds", s, low=0) for s in seeds)
    check_bool("force", force)
    plan = {}
    for name in names:
        depth = all_names[name][0]
        n = subset if subset is not None else COMMITTED_SUBSET[depth]
        path, committed = experiment_path(name, depth, grid, span, n, seeds, root)
        if path.exists() and not force:
            raise ValueError(
                f"{path} exists ({'the committed grid notebook 06 reads' if committed else 'a results file'}); "
                "pass --force (force=True) to replace it, or --out (root=) to write elsewhere."
            )
        if not committed:
            print(
                f"{name}: not the committed recipe, so the grid goes to {path.name} "
                "(notebook 06 keeps reading the committed file).",
                flush=True,
            )
        elif path.exists():
            print(f"{name}: --force: replacing the committed {path}.", flush=True)
        plan[name] = (n, path)
    check_writable_folder(Path(root or files.RESULTS_DIR), "the landscape results")  # before minutes of work, not after
    data = load_fashion_mnist()
    coords = np.linspace(-span, span, grid)
    out = {}
    for name in names:
        depth, shortcut = all_names[name]
        n, path = plan[name]
        images, labels = fixed_subset(data.train_images, data.train_labels, n, seed=0)
        model = load_or_train(depth, shortcut, data)
        d1, d2 = random_direction(model, seeds[0]), random_direction(model, seeds[1])
        print(f"{name}: {grid}x{grid} grid on {n} training images", flush=True)
        surface = loss_surface(model, d1, d2, coords, coords, images, labels, progress=True)
        record = {
            "net": name,
            "depth": depth,
            "shortcut": shortcut,
            "checkpoint": str(checkpoint_path(depth, shortcut).name),
            "surface": surface.to_dict(),
            "subset": {"split": "train", "size": n, "seed": 0},
            "direction_seeds": list(seeds),
            "normalisation": "filter",
            "ignored": "biases and BN parameters (zero direction)",
            "bn_mode": "eval (running statistics of the trained net)",
            "wall_time_s": round(surface.seconds, 1),
            "environment": describe_environment(),
            "host": platform.node(),
            "command": f"python -m resblock.experiments landscape --nets {name} --grid {grid} --span {span:g} --subset {n}",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record) + "\n")
        print(f"{name}: saved {path.name}, {surface.seconds:.0f} s", flush=True)
        out[name] = record
    return out


def load_results(name: str, root: str | Path | None = None) -> tuple[Surface, dict[str, Any]]:
    """The saved full grid of one net (and its record), from results/landscape_NAME.json (notebook 06)."""
    import json

    path = results_path(name, root)
    if not path.is_file():
        raise ValueError(f"no results at {path}; run `python -m resblock.experiments landscape --nets {name}`.")
    try:
        record = json.loads(path.read_text())
        return Surface.from_dict(record["surface"]), record
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path} is not a landscape results file ({type(e).__name__}: {e}); "
            f"make it again with `python -m resblock.experiments landscape --nets {name} --force`."
        ) from None
