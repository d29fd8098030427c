"""Reading a training run and a trained classifier, in numbers: smoothed curves, confusion matrix, errors (notebook 04).

Their pictures are in ``resblock.evaluation_plots``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from resblock.train import History

# What history_series reads of a run's History (resblock.train.History).
_HISTORY_FIELDS = ("loss", "steps", "eval_step", "test_loss", "train_acc", "test_acc")


def smooth(values: Sequence[float], window: int = 20) -> list[float]:
    """Running mean over the last ``window`` values (the first ones average what there is)."""
    from resblock.checks import check_int, check_sequence

    window = check_int("window", window, low=1, what=" (values averaged)")
    check_sequence("values", values, "numbers (a curve)", "history.loss", allow_empty=True)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def check_history(history: Any, name: str = "history") -> History:
    """``history`` if it is a run's History (what ``fit(...).history`` holds); else a ValueError saying what to pass."""
    from resblock.checks import ArgumentTypeError, describe

    if hasattr(history, "history") and hasattr(history, "model"):  # a TrainResult: its history is one attribute in
        raise ValueError("got the result of a training run (a TrainResult); pass its history, `result.history`.")
    if all(hasattr(history, f) for f in _HISTORY_FIELDS):
        return history
    fix = "pass `result.history` (result = fit(...)) or load_checkpoint(path).history."
    if isinstance(history, Mapping) and "loss" in history:
        fix = "this looks like History.to_dict()'s output: rebuild it with resblock.train.History.from_dict(d)."
    elif isinstance(history, (list, tuple)):
        fix = "a list of losses is one curve, not a run: " + fix
    raise ArgumentTypeError(f"{name} must be a training run's History, got {describe(history)}; {fix}")


def history_series(history: History) -> dict[str, tuple[list, list]]:
    """The (x, y) data of every curve ``evaluation_plots.plot_history`` draws, by name, with NaN evaluations left out."""
    check_history(history)
    steps = list(range(1, history.steps + 1))
    series = {"loss": (steps, list(history.loss)), "loss_smooth": (steps, smooth(history.loss, 20))}
    for name in ("test_loss", "train_acc", "test_acc"):
        pts = [(s, v) for s, v in zip(history.eval_step, getattr(history, name)) if not math.isnan(v)]
        series[name] = ([s for s, _ in pts], [v for _, v in pts])
    return series


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """counts[i, j] = number of images of true class i predicted as class j."""
    from resblock.checks import ArgumentTypeError, check_int, describe

    num_classes = check_int("num_classes", num_classes, low=1)
    for name, t in (("predicted", predicted), ("labels", labels)):
        if not isinstance(t, torch.Tensor):
            raise ArgumentTypeError(
                f"{name} must be a 1-D tensor of class indices, got {describe(t)}; use torch.as_tensor({name})."
            )
    if predicted.shape != labels.shape or predicted.dim() != 1:
        raise ValueError(
            f"predicted and labels must be 1-D and the same length, got {tuple(predicted.shape)} and {tuple(labels.shape)}."
        )
    for name, t in (("predicted", predicted), ("labels", labels)):
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}.")
    flat = labels.long() * num_classes + predicted.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def misclassified(predicted: torch.Tensor, labels: torch.Tensor, limit: int | None = 16) -> torch.Tensor:
    """Indices of the first ``limit`` images whose prediction is wrong (``limit=None``: all of them)."""
    from resblock.checks import check_int

    if limit is not None:
        limit = check_int("limit", limit, low=0, what=" (how many indices to return; None for all)")
    for name, t in (("predicted", predicted), ("labels", labels)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1:
            raise ValueError(
                f"{name} must be a 1-D tensor of class indices, got "
                f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}."
            )
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted and labels must have the same length, got {len(predicted)} and {len(labels)}.")
    wrong = torch.nonzero(predicted.cpu() != labels.cpu()).flatten()
    return wrong[:limit]
