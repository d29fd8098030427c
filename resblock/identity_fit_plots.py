"""The picture of notebook 01's identity fit: each stack's training loss against step, data in, ``Axes`` out.

The losses come from ``resblock.identity_fit.fit_identity``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from resblock.checks import check_curve_values, check_named_curves, check_number
from resblock.style import GREY, markevery, new_axes, series_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_OTHER_MARKERS = ("D", "^", "v")  # for a second, third... curve of one family


def plot_identity_fit(
    curves: Mapping[str, Sequence[float]], baseline: float | None = None, ax: Axes | None = None
) -> Axes:
    """Training loss against step for each named curve; returns the Axes.

    The y axis is logarithmic above 1e-3 and linear below (matplotlib's "symlog"), so a loss of
    exactly 0 still shows, on the bottom line. ``baseline`` draws a grey dotted reference level.
    Two curves of one family (two residual stacks) share its colour and line, and differ by marker.
    """
    check_named_curves("curves", curves, "{'plain stack': losses, 'residual stack': ...}")
    check_curve_values("curves", curves)
    if baseline is not None:
        if getattr(baseline, "ndim", None) == 0 and hasattr(baseline, "item"):
            baseline = baseline.item()  # a 0-d tensor (a loss without .item()) is one number
        baseline = check_number("baseline", baseline, what=" (the loss of predicting the mean; or None)")
    ax = new_axes(ax, (7, 3.8))
    seen: list[dict] = []
    for i, (label, losses) in enumerate(curves.items()):
        base = series_style(label, i)
        style, repeats = dict(base), seen.count(base)
        if repeats:  # the look of an earlier curve: its legend entry would read the same
            style["marker"] = _OTHER_MARKERS[(repeats - 1) % len(_OTHER_MARKERS)]
        seen.append(base)
        # clip_on=False: a curve at exactly 0 lies on the bottom spine and must not be hidden by it
        ax.plot(
            range(1, len(losses) + 1),
            losses,
            label=label,
            lw=2,
            clip_on=False,
            zorder=3,
            markevery=markevery(len(losses)),
            ms=5,
            **style,
        )
    if baseline is not None:
        ax.axhline(baseline, color=GREY, ls=":", lw=1, label=f"predict the mean ({baseline:.3g})")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss: mean (stack(x) - x)$^2$")
    ax.set_title("Learning the identity map y = x")
    ax.legend(fontsize=8)
    return ax
