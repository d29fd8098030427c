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
from typing import TYPE_CHECKING, Any

from resblock.checks import ArgumentTypeError, check_positive_int, describe

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

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


def family(label: object) -> str | None:
    """'plain', 'residual' or None: which side of the course's main contrast a series' label names."""
    label = str(label)  # a legend shows a number key (a depth, a seed) as its text; so is it read here
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


def series_style(label: object, index: int = 0) -> dict[str, Any]:
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


def check_axes(name: str, ax: Any, projection: str | None = None) -> Axes:
    """``ax`` if it is one matplotlib Axes (a 3-D one when ``projection="3d"``); else an error saying what to pass.

    The usual slips get their fix: the array that ``plt.subplots(1, 2)`` returns (pass one of its
    Axes), a Figure (pass one of its Axes), a 2-D Axes where a 3-D surface goes.
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

    if isinstance(ax, Axes):
        if projection is not None and ax.name != projection:
            raise ValueError(
                f"{name} must be an Axes with projection={projection!r}, got a {ax.name!r} one; make it with "
                f"fig.add_subplot(projection={projection!r}), or leave {name}=None for a new figure."
            )
        return ax
    if isinstance(ax, FigureBase):
        fix = f"pass one of its Axes, e.g. fig.add_subplot() or fig.axes[0], or leave {name}=None for a new figure."
    elif hasattr(ax, "flat") or isinstance(ax, (list, tuple)):
        fix = f"pass one of them, e.g. axes[0] (axes[0, 0] for a grid), or leave {name}=None for a new figure."
    else:
        fix = f"e.g. one from fig, ax = plt.subplots(), or leave {name}=None for a new figure."
    raise ArgumentTypeError(f"{name} must be one matplotlib Axes, got {describe(ax)}; {fix}")


def check_axes_list(name: str, axes: Any, count: int, example: str) -> list[Axes]:
    """``axes`` as a flat list if it holds at least ``count`` matplotlib Axes (a list, or an array from plt.subplots).

    ``example`` says which Axes go where, e.g. "e.g. plt.subplots(1, 2)[1]: the loss panel, then the accuracy panel".
    """
    from matplotlib.axes import Axes

    flat = list(axes.flat) if hasattr(axes, "flat") else list(axes) if isinstance(axes, (list, tuple)) else None
    if flat is None:
        one = " (one Axes; this figure has several panels)" if isinstance(axes, Axes) else ""
        raise ArgumentTypeError(
            f"{name} must be a list or array of {count} matplotlib Axes ({example}), got {describe(axes)}{one}. "
            f"Or leave {name}=None for a new figure."
        )
    if len(flat) < count:
        raise ValueError(
            f"{name} holds {len(flat)} Axes, {count} are needed ({example}). Or leave {name}=None for a new figure."
        )
    for i, ax in enumerate(flat):
        if not isinstance(ax, Axes):
            raise ArgumentTypeError(f"{name}[{i}] must be a matplotlib Axes, got {describe(ax)}.")
    return flat


def check_figure(name: str, fig: Any) -> FigureBase:
    """``fig`` if it is a matplotlib Figure (or SubFigure); else an error saying how to make one."""
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase

    if isinstance(fig, FigureBase):
        return fig
    fix = f" (its figure is {name}.figure)" if isinstance(fig, Axes) else ""
    raise ArgumentTypeError(
        f"{name} must be a matplotlib Figure, e.g. plt.figure() or matplotlib.figure.Figure(), got {describe(fig)}{fix}."
    )


def on_white(ax: Axes) -> Axes:
    """Give ``ax``'s figure an opaque white background (legible in a dark theme); returns ``ax``."""
    check_axes("ax", ax)
    fig = ax.figure
    fig.patch.set_facecolor("white")
    fig.patch.set_alpha(1.0)
    return ax


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (6.0, 3.5), projection: str | None = None) -> Axes:
    """``ax`` on a white background, or when ``ax`` is None one new figure of ``figsize`` holding one Axes.

    Every single-panel plot function starts with ``ax = new_axes(ax, figsize)``: the caller's panel
    when it passes one, else a figure of its own. ``projection`` is matplotlib's (e.g. "3d"); a
    caller's ``ax`` must have it, and anything but one Axes is refused with what to pass instead.
    """
    if ax is not None:
        return on_white(check_axes("ax", ax, projection))
    import matplotlib.pyplot as plt  # only when a figure is asked for: nothing at import time

    return on_white(plt.figure(figsize=figsize).add_subplot(projection=projection))


def new_axes_grid(nrows: int, ncols: int, figsize: tuple[float, float]) -> np.ndarray:
    """A new figure of ``figsize`` with ``nrows`` x ``ncols`` Axes on a white background, as a 2-D array."""
    nrows, ncols = check_positive_int("nrows", nrows), check_positive_int("ncols", ncols)
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
