"""The training curves: the static plot and the live figure draw exactly the run's data."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from resblock.evaluation import history_series
from resblock.evaluation_plots import HistoryCurves, plot_history
from resblock.train import History


def _history(steps: int, evals: list[int], nan_test_loss: bool = False) -> History:
    h = History()
    for i in range(steps):
        h.loss.append(2.0 / (i + 1))
        h.lr.append(0.1)
        h.time.append(0.05 * i)
    for k, s in enumerate(evals):
        h.eval_step.append(s)
        h.eval_epoch.append(k + 1.0)
        h.train_loss.append(1.0 / (k + 1))
        h.train_acc.append(0.5 + 0.1 * k)
        h.test_loss.append(math.nan if nan_test_loss else 1.2 / (k + 1))
        h.test_acc.append(0.4 + 0.1 * k)
    return h


def _running_mean(values, window):
    return [sum(values[max(0, i - window + 1) : i + 1]) / min(i + 1, window) for i in range(len(values))]


def test_history_series_is_the_runs_data():
    h = _history(30, [10, 30])
    series = history_series(h)
    assert series["loss"] == (list(range(1, 31)), h.loss)
    assert series["loss_smooth"][1] == pytest.approx(_running_mean(h.loss, 20))
    assert series["test_acc"] == ([10, 30], h.test_acc)
    assert series["train_acc"] == ([10, 30], h.train_acc)


def test_nan_evaluations_are_left_out():
    series = history_series(_history(5, [5], nan_test_loss=True))
    assert series["test_loss"] == ([], [])
    assert series["test_acc"] == ([5], [0.4])


def test_plot_history_and_live_curves_draw_the_same_lines():
    h = _history(40, [20, 40])
    axes = plot_history(h)
    static = {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for ax in axes for line in ax.get_lines()
    }
    plt.close("all")
    curves = HistoryCurves(Figure())
    curves.update(h)
    live = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in curves.lines.values()}
    assert static == live
    assert axes[1].get_title() == curves.axes[1].get_title() == "accuracy (test: 0.500)"


def test_live_curves_follow_a_growing_run():
    curves = HistoryCurves(Figure())
    curves.update(History())  # empty: nothing to draw yet, and no error
    assert curves.axes[1].get_title() == "accuracy"
    first = curves.png()
    assert first.startswith(b"\x89PNG")
    curves.update(_history(10, [10]))
    curves.update(_history(200, [100, 200]))
    x, y = curves.lines["loss"].get_data()
    assert list(x) == list(range(1, 201))
    lo, hi = curves.axes[0].get_xlim()
    assert lo <= 1 and hi >= 200  # rescaled to the new data, not stuck at the first frame's limits
    assert curves.png() != first


def test_confusion_matrix_shows_every_count_where_it_belongs():
    """Row i, column j holds the count of class i taken for class j (as notebook 04's text reads it)."""
    import torch

    from resblock.evaluation_plots import plot_confusion_matrix

    counts = torch.tensor([[5, 1, 0], [2, 7, 1], [0, 0, 9]])
    ax = plot_confusion_matrix(counts, ["a", "b", "c"])
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(i, j): str(int(counts[i, j])) for i in range(3) for j in range(3)}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]  # rows: the true class
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    with pytest.raises(ValueError, match=r"counts must be 3x3 for 3 classes, got \(2, 2\)"):
        plot_confusion_matrix(counts[:2, :2], ["a", "b", "c"])
    plt.close("all")


def test_image_grid_titles_each_image_and_hides_the_spare_panels():
    import torch

    from resblock.evaluation_plots import plot_image_grid

    axes = plot_image_grid(torch.zeros(3, 1, 4, 4), ["x", "y", "z"], ncols=2)
    flat = list(axes.flat)
    assert [ax.get_title() for ax in flat] == ["x", "y", "z", ""] and not flat[3].images
    with pytest.raises(ValueError, match="one title per image: 3 images, 2 titles"):
        plot_image_grid(torch.zeros(3, 1, 4, 4), ["x", "y"])
    plt.close("all")


def test_live_figure_redraws_at_most_every_interval_and_always_at_the_end(monkeypatch):
    from resblock import train_plots

    class Handle:
        def __init__(self):
            self.frames = []

        def update(self, fig):  # what JupyterLab would show now: the curves' data at this moment
            self.frames.append([tuple(line.get_ydata()) for line in fig.axes[0].get_lines()])

    handle = Handle()
    shown = []
    monkeypatch.setattr(train_plots, "display", lambda fig, display_id: shown.append(fig) or handle)
    clock = iter([0.0, 0.5, 1.0, 2.0, 2.1])
    monkeypatch.setattr(train_plots.time, "perf_counter", lambda: next(clock))
    live = train_plots.LiveFigure(interval=1.5)
    assert shown == [live.fig] and not plt.fignum_exists(live.fig.number)  # shown once, through the handle only
    h = _history(10, [10])
    live(h)  # t = 0: the first frame
    live(_history(20, [10]))  # t = 0.5: too soon, not drawn
    live(_history(20, [10]), force=True)  # t = 1.0: forced
    live(_history(25, [10]))  # t = 2.0: 1.0 s after the last frame, within the interval: not drawn
    done = _history(30, [10, 30])
    done.wall_time = 3.0  # fit sets it when the run is over: the last frame is always drawn
    live(done)  # t = 2.1
    assert len(handle.frames) == 3
    assert [len(frame[0]) for frame in handle.frames] == [10, 20, 30]  # the loss curve: one point per step
    assert handle.frames[-1][0] == tuple(done.loss)
