"""Pictures of a ResNet as an ensemble of paths (notebook 05): data in, matplotlib ``Axes`` out.

The numbers behind them (path counts, lesion accuracies, gradient per path length) are ``resblock.paths``'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from resblock.checks import (
    check_curve_values,
    check_instance,
    check_int,
    check_mapping,
    check_named,
    check_named_curves,
    check_sequence,
)
from resblock.paths import PathGradients, RandomLesions, path_length_distribution
from resblock.style import (
    GREY,
    PALETTE,
    check_axes_list,
    cycle_style,
    family,
    new_axes,
    new_axes_grid,
    on_white,
    series_style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_BLOCKS = 1000  # the fractions divide by 2^n, which overflows a float past n = 1023


def _check_accuracies(name: str, values: object, nets: Sequence[str], what: str) -> Mapping[str, float]:
    """``values``: a dict {net: accuracy} with an entry for each of ``nets``."""
    check_mapping(name, values, f"from each net's name to its {what}, e.g. {{'plain20': 0.9, 'resnet20': 0.92}}")
    missing = [n for n in nets if n not in values]
    if missing:
        raise ValueError(f"{name} has no entry for {missing}: give the {what} of every net ({list(nets)}).")
    return values


__all__ = [
    "plot_path_length_distribution",
    "plot_single_lesions",
    "plot_random_lesions",
    "plot_path_gradients",
    "plot_lesion_accuracies",
]


def plot_path_length_distribution(ns: Sequence[int] = (3, 9, 27), ax: Axes | None = None) -> Axes:
    """Fraction of paths of each length for n blocks, one curve per n (notebook 05)."""
    check_sequence("ns", ns, "block counts, one curve each", "(3, 9, 27)")
    ns = [check_int(f"ns[{i}]", n, 0, MAX_BLOCKS, what=" (blocks)") for i, n in enumerate(ns)]
    ax = new_axes(ax, (5.0, 3.4))
    for j, n in enumerate(ns):
        ax.plot(
            range(n + 1), path_length_distribution(n), ms=4, label=f"n = {n} blocks ({2**n:,} paths)", **cycle_style(j)
        )
    ax.set(
        xlabel="path length k (branches passed through)", ylabel="fraction of paths", title="path lengths are binomial"
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_single_lesions(
    results: Mapping[str, Sequence[float]], baselines: Mapping[str, float], ax: Axes | None = None
) -> Axes:
    """Accuracy with each single block deleted, one line per net, its intact accuracy dash-dotted (notebook 05)."""
    check_named_curves("results", results, "{'plain20': single_lesions(plain, x, y), 'resnet20': ...}")
    check_curve_values("results", results)
    _check_accuracies("baselines", baselines, list(results), "intact accuracy (lesion_accuracy(net, x, y))")
    ax = new_axes(ax, (8.0, 3.4))
    for j, (name, accs) in enumerate(results.items()):
        idx = [i for i, a in enumerate(accs) if not math.isnan(a)]
        look = series_style(name, j)
        ax.plot(idx, [accs[i] for i in idx], ms=4, label=f"{name}: one block deleted", **look)
        ax.axhline(baselines[name], color=look["color"], ls="-.", lw=1, label=f"{name}: intact")
    ax.axhline(0.1, color=GREY, ls=":", lw=1, label="chance (10 classes)")
    ax.set(
        xlabel="index of the deleted block",
        ylabel="test accuracy",
        ylim=(0, 1),
        title="deleting one block at test time",
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def plot_random_lesions(results: Mapping[str, RandomLesions], ax: Axes | None = None) -> Axes:
    """Mean accuracy (and spread) against the number of blocks deleted at random, one line per net (notebook 05)."""
    check_named(
        "results",
        results,
        RandomLesions,
        "from each net's name to its RandomLesions",
        "{'resnet20': random_lesions(...)}",
    )
    ax = new_axes(ax, (5.0, 3.4))
    for j, (name, r) in enumerate(results.items()):
        ax.errorbar(r.ks, r.mean, yerr=r.std, ms=4, capsize=3, label=name, **series_style(name, j))
    ax.axhline(0.1, color=GREY, ls=":", lw=1, label="chance")
    ax.set(xlabel="blocks deleted at random", ylabel="test accuracy", ylim=(0, 1), title="deleting several blocks")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def plot_path_gradients(
    pg: PathGradients, axes: Sequence[Axes] | np.ndarray | None = None
) -> Sequence[Axes] | np.ndarray:
    """Three panels: how many paths of each length, the gradient one such path carries, and their product (notebook 05)."""
    check_instance("pg", pg, PathGradients, "as gradient_by_path_length returns")
    if axes is None:
        axes = new_axes_grid(1, 3, (13, 3.4))[0]
    panels = check_axes_list("axes", axes, 3, "e.g. plt.subplots(1, 3)[1]: one panel each for (a), (b) and (c)")
    on_white(panels[0])
    ks = np.arange(pg.n + 1)
    panels[0].bar(ks, pg.counts / pg.counts.sum(), color=PALETTE[0])
    panels[0].set(xlabel="path length k", ylabel="fraction of paths", title=f"(a) path lengths, n = {pg.n}")
    panels[1].semilogy(ks, pg.per_path, "o-", ms=3, color=PALETTE[1])
    panels[1].set(xlabel="path length k", ylabel="gradient norm at the input", title="(b) gradient along one path")
    share = pg.total / pg.total.sum()
    panels[2].bar(ks, share, color=PALETTE[2])
    panels[2].set(xlabel="path length k", ylabel="share of total gradient", title="(c) paths x gradient per path")
    for ax in panels:
        ax.grid(alpha=0.3)
    return axes


def plot_lesion_accuracies(
    accuracies: Mapping[str, float],
    intact: Mapping[str, float],
    n_images: int,
    n_deleted: int,
    ax: Axes | None = None,
) -> Axes:
    """One bar per net: its accuracy with blocks deleted over its intact accuracy (grey); the lesion toggles' figure (notebook 05)."""
    _check_accuracies("accuracies", accuracies, [], "accuracy with blocks deleted")
    _check_accuracies("intact", intact, list(accuracies), "intact accuracy")
    n_images = check_int("n_images", n_images, low=0, what=" (test images the accuracies are measured on)")
    n_deleted = check_int("n_deleted", n_deleted, low=0, what=" (blocks deleted)")
    ax = new_axes(ax, (6.0, 2.4))
    labels = list(accuracies)
    ax.barh(labels, [intact[k] for k in labels], color="0.85", label="intact")
    looks = [series_style(k, j) for j, k in enumerate(labels)]  # plain nets hatched: readable without colour
    ax.barh(
        labels,
        [accuracies[k] for k in labels],
        height=0.5,
        color=[s["color"] for s in looks],
        label="with deletions",
        hatch=["//" if family(k) == "plain" else "" for k in labels],
        edgecolor="black",
        lw=0.5,
    )
    ax.axvline(0.1, color=GREY, ls=":", lw=1)
    ax.set(xlim=(0, 1), xlabel=f"accuracy on {n_images} test images", title=f"{n_deleted} block(s) deleted")
    # beside the bars, not over them: a ResNet's bar reaches 0.9 of the axis, where "lower right" sat
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax
