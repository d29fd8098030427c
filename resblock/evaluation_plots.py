"""Pictures of a training run and a trained classifier (notebook 04): data in, matplotlib ``Axes`` out.

The numbers behind them are ``resblock.evaluation``'s (``history_series``, ``confusion_matrix``), so
the dashboard and the notebooks draw the same figures and tests can check the data behind them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from resblock.checks import ArgumentTypeError, check_positive_int, check_sequence, describe
from resblock.evaluation import history_series
from resblock.style import OKABE_ITO, check_axes_list, check_figure, new_axes, new_axes_grid, on_white

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

    from resblock.train import History

# name in history_series -> (panel, format, line style keywords). Train is solid (its accuracy with
# filled circles), test dashed with open squares, so the two read apart without colour (resblock.style).
_TRAIN, _TEST = OKABE_ITO["blue"], OKABE_ITO["orange"]
_CURVES = {
    "loss": (0, "-", {"color": "0.8", "lw": 0.6, "label": "train loss (each step)"}),
    "loss_smooth": (0, "-", {"color": _TRAIN, "lw": 1.2, "label": "train loss (mean of 20)"}),
    "test_loss": (0, "s--", {"color": _TEST, "lw": 1.2, "mfc": "white", "label": "test loss"}),
    "train_acc": (1, "o-", {"color": _TRAIN, "lw": 1.2, "label": "train (running)"}),
    "test_acc": (1, "s--", {"color": _TEST, "lw": 1.2, "mfc": "white", "label": "test"}),
}


def _accuracy_title(history: History) -> str:
    if history.test_acc and not math.isnan(history.test_acc[-1]):
        return f"accuracy (test: {history.test_acc[-1]:.3f})"
    return "accuracy"


def _style_panels(ax_loss: Axes, ax_acc: Axes) -> None:
    on_white(ax_loss)
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", title="accuracy")
    ax_acc.grid(alpha=0.3)


def plot_history(history: History, axes: Sequence[Axes] | np.ndarray | None = None) -> Sequence[Axes] | np.ndarray:
    """Two panels: training loss per step (smoothed) with train/test loss per evaluation; accuracies per evaluation."""
    series = history_series(history)  # checks ``history`` before any figure is made
    if axes is None:
        axes = new_axes_grid(1, 2, (10, 3.4))[0]
    panels = check_axes_list("axes", axes, 2, "e.g. plt.subplots(1, 2)[1]: the loss panel, then the accuracy panel")
    _style_panels(*panels[:2])
    for name, (x, y) in series.items():
        panel, fmt, style = _CURVES[name]
        if x:
            panels[panel].plot(x, y, fmt, **style)
    panels[1].set_title(_accuracy_title(history))
    for ax, where in zip(panels, ("upper right", "lower right")):
        if ax.get_lines():
            ax.legend(loc=where, fontsize=8)
    return axes


class HistoryCurves:
    """plot_history's two panels on one figure, with the lines updated in place rather than redrawn.

    A live figure is redrawn many times during a run; reusing the lines, the legends and a fixed
    layout (no ``tight_layout`` per frame) costs about a third less than clearing and re-plotting
    (measured on 2 cores: ~150 ms against ~230 ms per PNG frame, most of the rest is text rendering).
    """

    def __init__(self, fig: FigureBase) -> None:
        """Two panels on ``fig`` (a matplotlib Figure, e.g. ``matplotlib.figure.Figure(figsize=(10, 3.4))``), no data yet."""
        self.fig = check_figure("fig", fig)
        self.axes = fig.subplots(1, 2)
        fig.subplots_adjust(left=0.07, right=0.985, bottom=0.15, top=0.9, wspace=0.22)
        _style_panels(*self.axes)
        self.lines = {}
        for name, (panel, fmt, style) in _CURVES.items():
            (self.lines[name],) = self.axes[panel].plot([], [], fmt, **style)
        self.axes[0].legend(loc="upper right", fontsize=8)
        self.axes[1].legend(loc="lower right", fontsize=8)

    def update(self, history: History) -> None:
        """Show ``history``: new data for every line, axes rescaled to it."""
        for name, (x, y) in history_series(history).items():
            self.lines[name].set_data(x, y)
        for ax in self.axes:
            ax.relim()
            ax.autoscale_view()
        self.axes[1].set_title(_accuracy_title(history))

    def png(self, dpi: int = 80) -> bytes:
        """The figure as PNG bytes."""
        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()


def plot_confusion_matrix(counts: torch.Tensor | np.ndarray, classes: Sequence[str], ax: Axes | None = None) -> Axes:
    """The confusion matrix as a heat map with the count in each cell; rows true class, columns predicted."""
    try:
        counts = torch.as_tensor(counts)  # a NumPy array of counts is as good
    except (TypeError, ValueError, RuntimeError):
        raise ArgumentTypeError(
            f"counts must be a square table of counts (a tensor or array), as confusion_matrix(predicted, labels, "
            f"num_classes) returns; got {describe(counts)}."
        ) from None
    check_sequence("classes", classes, "class names, one per row of counts", "data.classes", single=False)
    k = len(classes)
    if tuple(counts.shape) != (k, k):
        raise ValueError(
            f"counts must be {k}x{k} for {k} classes, got {tuple(counts.shape)}; make it with "
            f"confusion_matrix(predicted, labels, {k})."
        )
    ax = new_axes(ax, (6.5, 5.5))
    c = counts.cpu().numpy()
    # Log colour scale would hide the diagonal's size; row-normalise so each true class reads as a rate.
    rates = c / c.sum(axis=1, keepdims=True).clip(min=1)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(c[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class", title="confusion matrix (counts; colour: row share)")
    return ax


def plot_image_grid(
    images: torch.Tensor, titles: Sequence[str], ncols: int = 8, axes: Sequence[Axes] | np.ndarray | None = None
) -> Sequence[Axes] | np.ndarray:
    """Show (N, 1, H, W) images in a grid with a title above each; returns the array of Axes."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a batch of shape (N, 1, height, width), got {shape}; one image is images[i:i + 1], "
            "not images[i]."
        )
    ncols = check_positive_int("ncols", ncols)
    n = len(images)
    check_sequence("titles", titles, "titles, one per image", "[data.classes[i] for i in labels]", allow_empty=True)
    if len(titles) != n:
        raise ValueError(f"need one title per image: {n} images, {len(titles)} titles.")
    if axes is None:
        nrows = max(1, math.ceil(n / ncols))
        axes = new_axes_grid(nrows, ncols, (1.6 * ncols, 1.9 * nrows))
        flat = list(axes.flat)
    else:
        flat = check_axes_list("axes", axes, n, "one per image, e.g. plt.subplots(2, 8)[1] for 16 images")
    for ax in flat:
        on_white(ax).axis("off")
    for ax, img, title in zip(flat, images, titles):
        ax.imshow(img[0].detach().cpu().numpy(), cmap="gray_r")  # numpy: matplotlib warns on a tensor
        if hasattr(title, "item") and getattr(title, "ndim", None) == 0:
            title = title.item()  # a label tensor shows as 3, not "tensor(3)"
        ax.set_title(str(title), fontsize=7)
    return axes
