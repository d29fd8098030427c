"""The course's figure style: a colour-blind-safe palette, and plain vs residual told apart without colour.

Every plot function in the package takes its colours, line styles and markers from here, so that a
figure reads the same in greyscale, under deuteranopia and in JupyterLab's dark theme:

* colours are Okabe & Ito's palette ("Color Universal Design", 2008), chosen to stay distinct for
  the common forms of colour blindness;
* the course's main contrast, plain vs residual, is also a line style and a marker fill: a plain
  net is dashed with open markers, a residual one solid with filled markers;
* any other set of series differs by line style and marker as well as by colour;
* figures are drawn on an opaque white background, so black text stays readable on a dark page.
"""

from __future__ import annotations

import re
from typing import Any

# Okabe & Ito (2008), https://jfly.uni-koeln.de/color/ ; yellow (#F0E442) is left out: too pale on white.
OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "orange": "#E69F00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "black": "#000000",
}
# The cycle for series that are neither plain nor residual: it starts away from the two colours,
# line styles and markers that mean plain and residual, so a variant never looks like either.
PALETTE = [OKABE_ITO[c] for c in ("green", "orange", "purple", "sky", "black", "blue", "vermillion")]
LINESTYLES = ["-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (3, 1)), (0, (1, 2))]
MARKERS = ["^", "s", "D", "v", "P", "X", "*"]
GREY = "0.55"  # references (chance level, the mean-only loss): grey and dotted, never a series' colour

# Plain vs residual: dashed with open markers vs solid with filled ones (survives greyscale), and
# vermillion vs blue (distinct under deuteranopia and protanopia).
PLAIN = {"color": OKABE_ITO["vermillion"], "ls": "--", "marker": "o", "mfc": "white"}
RESIDUAL = {"color": OKABE_ITO["blue"], "ls": "-", "marker": "o"}

_PLAIN_RE = re.compile(r"\bplain", re.IGNORECASE)
_RESIDUAL_RE = re.compile(r"resnet|residual|shortcut", re.IGNORECASE)


def family(label: str) -> str | None:
    """'plain', 'residual' or None: which side of the course's main contrast a series' label names."""
    plain, residual = bool(_PLAIN_RE.search(label)), bool(_RESIDUAL_RE.search(label))
    if plain and not residual:
        return "plain"
    if residual and not plain:
        return "residual"
    return None


def cycle_style(index: int) -> dict[str, Any]:
    """The ``index``-th series' colour, line style and marker (all three change together)."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "ls": LINESTYLES[index % len(LINESTYLES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def series_style(label: str, index: int = 0) -> dict[str, Any]:
    """Line keywords for a series: plain/residual by its label, else the ``index``-th of the cycle."""
    kind = family(label)
    if kind == "plain":
        return dict(PLAIN)
    if kind == "residual":
        return dict(RESIDUAL)
    return cycle_style(index)


def markevery(n: int, target: int = 12) -> int:
    """Draw about ``target`` markers on a line of ``n`` points, so dense curves stay readable."""
    return max(1, n // target)


def on_white(ax):
    """Give ``ax``'s figure an opaque white background (legible in a dark theme); returns ``ax``."""
    fig = ax.figure
    fig.patch.set_facecolor("white")
    fig.patch.set_alpha(1.0)
    return ax


def new_axes(ax=None, figsize: tuple[float, float] = (6.0, 3.5), projection: str | None = None):
    """``ax`` on a white background, or when ``ax`` is None one new figure of ``figsize`` holding one Axes.

    Every single-panel plot function starts with ``ax = new_axes(ax, figsize)``: the caller's panel
    when it passes one, else a figure of its own. ``projection`` is matplotlib's (e.g. "3d").
    """
    if ax is not None:
        return on_white(ax)
    import matplotlib.pyplot as plt  # only when a figure is asked for: nothing at import time

    return on_white(plt.figure(figsize=figsize).add_subplot(projection=projection))


def new_axes_grid(nrows: int, ncols: int, figsize: tuple[float, float]):
    """A new figure of ``figsize`` with ``nrows`` x ``ncols`` Axes on a white background, as a 2-D array."""
    import matplotlib.pyplot as plt

    axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)[1]
    on_white(axes[0, 0])  # one figure: its background is set once
    return axes


def rc_params() -> dict[str, Any]:
    """rcParams for figures a notebook draws itself: the palette with line styles, and a white background."""
    from cycler import cycler

    n = len(PALETTE)
    return {
        "axes.prop_cycle": cycler(color=PALETTE)
        + cycler(linestyle=[LINESTYLES[i % len(LINESTYLES)] for i in range(n)]),
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.facecolor": "white",
    }
