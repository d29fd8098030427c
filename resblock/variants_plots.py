"""Pictures of the residual variants side by side (notebook 07): data in, matplotlib ``Axes`` out.

The profiles and runs they draw come from ``resblock.variants``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from resblock.checks import check_curve_values, check_named, check_named_curves
from resblock.evaluation import smooth
from resblock.style import markevery, new_axes, series_style
from resblock.train import TrainResult
from resblock.variants import RunSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_profiles(
    profiles: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    ylabel: str = "gradient norm",
    xlabel: str = "block (input → output)",
) -> Axes:
    """One line per variant of a per-block quantity on a log scale; returns the Axes (notebook 07)."""
    check_named_curves("profiles", profiles, "{'basic': profile, 'pre-activation': ...}")
    check_curve_values("profiles", profiles)
    ax = new_axes(ax, (6, 3.5))
    for i, (name, values) in enumerate(profiles.items()):
        ax.plot(
            range(1, len(values) + 1),
            values,
            markersize=4,
            markevery=markevery(len(values)),
            label=name,
            **series_style(name, i),
        )
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def plot_losses(runs: Mapping[str, RunSummary | TrainResult], ax: Axes | None = None, window: int = 10) -> Axes:
    """Smoothed training loss against step, one line per run; returns the Axes (notebook 07)."""
    check_named(
        "runs", runs, (RunSummary, TrainResult), "from each variant's name to its run", "train_each(builders, ...)"
    )
    losses = {name: smooth(run.history.loss, window) for name, run in runs.items()}  # checks window first
    ax = new_axes(ax, (6, 3.5))
    for i, (name, run) in enumerate(runs.items()):
        loss = losses[name]
        ax.plot(
            range(1, len(loss) + 1),  # steps count from 1, as in every other training plot
            loss,
            label=f"{name} ({run.test_acc:.0%})",
            markevery=markevery(len(loss)),
            ms=4,
            **series_style(name, i),
        )
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (mean of {window} steps)")
    ax.legend(fontsize=8, title="variant (test acc.)", title_fontsize=8)
    return ax
