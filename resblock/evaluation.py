"""Reading a training run and a trained classifier, in numbers: smoothed curves, confusion matrix, errors (notebook 04).

Their pictures are in ``resblock.evaluation_plots``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def smooth(values: Sequence[float], window: int = 20) -> list[float]:
    """Running mean over the last ``window`` values (the first ones average what there is)."""
    from resblock.checks import check_int

    window = check_int("window", window, low=1, what=" (values averaged)")
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def history_series(history) -> dict[str, tuple[list, list]]:
    """The (x, y) data of every curve ``evaluation_plots.plot_history`` draws, by name, with NaN evaluations left out."""
    if hasattr(history, "history") and hasattr(history, "model"):  # a TrainResult: its history is one attribute in
        raise ValueError("got the result of a training run (a TrainResult); pass its history, `result.history`.")
    steps = list(range(1, history.steps + 1))
    series = {"loss": (steps, list(history.loss)), "loss_smooth": (steps, smooth(history.loss, 20))}
    for name in ("test_loss", "train_acc", "test_acc"):
        pts = [(s, v) for s, v in zip(history.eval_step, getattr(history, name)) if not math.isnan(v)]
        series[name] = ([s for s, _ in pts], [v for _, v in pts])
    return series


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """counts[i, j] = number of images of true class i predicted as class j."""
    from resblock.checks import check_int

    num_classes = check_int("num_classes", num_classes, low=1)
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
