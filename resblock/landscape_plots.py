"""Pictures of loss landscapes (notebook 06), the numbers being ``resblock.landscape``: data in, Axes out.

The contour levels follow Li et al.'s figures: evenly spaced in loss up to a cap, so that a smooth
bowl shows as even rings and a chaotic surface as a tangle; everything above the cap is one colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from resblock.checks import ArgumentTypeError, check_named, check_number, describe, short_repr
from resblock.landscape import Line, Surface, check_surface
from resblock.style import check_figure, new_axes, series_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import FigureBase


def plot_lines(lines: Mapping[str, Line], ax: Axes | None = None, ylim: tuple[float, float] | None = None) -> Axes:
    """Loss along one filter-normalised direction, one curve per net; a = 0 is the trained net (notebook 06)."""
    check_named("lines", lines, Line, "from each net's name to its Line", "{'plain20': line, 'resnet20': ...}")
    if ylim is not None and (np.ndim(ylim) != 1 or len(ylim) != 2):
        raise ArgumentTypeError(f"ylim must be a pair (bottom, top), e.g. (0, 5), or None; got {describe(ylim)}.")
    ax = new_axes(ax, (5.0, 3.6))
    for j, (name, line) in enumerate(lines.items()):
        ax.plot(line.alphas, line.loss, ms=4, label=name, **series_style(name, j))
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set(xlabel="step a along the direction d", ylabel="cross-entropy", title="1-D slice: L(theta + a d)")
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def contour_levels(cap: float = 5.0, step: float = 0.25) -> np.ndarray:
    """Evenly spaced loss levels from 0 to ``cap``."""
    cap = check_number("cap", cap, low=0.0, low_open=True, what=" (the highest loss level drawn)")
    step = check_number("step", step, low=0.0, low_open=True, what=" (loss between contour levels)")
    if step > cap:  # both are positive numbers now
        raise ValueError(f"need cap > 0 and 0 < step <= cap, got cap={cap!r}, step={step!r}.")
    return np.arange(step, cap + step / 2, step)


def plot_contour(
    surface: Surface, ax: Axes | None = None, title: str = "", cap: float = 5.0, step: float = 0.25, filled: bool = True
) -> Axes:
    """Contour map of a 2-D slice, capped at ``cap`` so that every panel shares a colour scale (notebook 06)."""
    check_surface(surface)
    levels = contour_levels(cap, step)  # checks cap and step before a figure is made
    ax = new_axes(ax, (4.2, 3.6))
    a, b = np.meshgrid(surface.alphas, surface.betas)
    z = np.minimum(surface.loss, cap)
    if filled:
        cs = ax.contourf(a, b, z, levels=np.concatenate([[0], levels]), cmap="viridis", extend="max")
    ax.contour(a, b, z, levels=levels, colors="k", linewidths=0.4)
    ax.plot([0], [0], "P", color="white", mec="black", ms=9)  # the trained net: white edged black reads on any level
    ax.set(xlabel="a (direction d)", ylabel="b (direction e)", title=title, aspect="equal")
    ax._resblock_contour = cs if filled else None  # for a shared colourbar
    return ax


def plot_surface3d(surface: Surface, ax: Axes | None = None, title: str = "", cap: float = 5.0) -> Axes:
    """3-D surface of a 2-D slice, capped at ``cap`` (notebook 06)."""
    check_surface(surface)
    cap = check_number("cap", cap, low=0.0, low_open=True, what=" (the highest loss drawn)")
    ax = new_axes(ax, (4.5, 3.8), projection="3d")
    a, b = np.meshgrid(surface.alphas, surface.betas)
    z = np.minimum(surface.loss, cap)
    ax.plot_surface(a, b, z, cmap="viridis", vmin=0, vmax=cap, linewidth=0, antialiased=True)
    ax.set(xlabel="a", ylabel="b", zlabel="loss", zlim=(0, cap), title=title)
    ax.view_init(elev=35, azim=-60)
    return ax


def plot_landscape_grid(
    surfaces: Mapping[str, Surface],
    names: Sequence[Sequence[str]],
    kind: str = "contour",
    cap: float = 5.0,
    fig: FigureBase | None = None,
) -> list[Axes]:
    """A grid of panels, rows x columns given by ``names`` (e.g. [["plain20", "resnet20"], ["plain56", "resnet56"]])."""
    import matplotlib.pyplot as plt

    if kind not in ("contour", "surface"):
        raise ValueError(f"kind must be 'contour' or 'surface', got {kind!r}.")
    check_named("surfaces", surfaces, Surface, "from each net's name to its Surface", "{'plain20': surface, ...}")
    _check_grid_names(names, surfaces)
    cap = check_number("cap", cap, low=0.0, low_open=True, what=" (the highest loss drawn)")
    if fig is not None:
        check_figure("fig", fig)
    rows, cols = len(names), len(names[0])
    fig = fig or plt.figure(figsize=(4.2 * cols, 3.7 * rows))
    axes = []
    for r, row in enumerate(names):
        for c, name in enumerate(row):
            s = surfaces[name]
            if kind == "contour":
                ax = fig.add_subplot(rows, cols, r * cols + c + 1)
                plot_contour(s, ax, title=name, cap=cap)
            else:
                ax = fig.add_subplot(rows, cols, r * cols + c + 1, projection="3d")
                plot_surface3d(s, ax, title=name, cap=cap)
            axes.append(ax)
    if kind == "contour":
        _label_outer_only(axes, [surfaces[n] for row in names for n in row], rows, cols)
        fig.colorbar(axes[0]._resblock_contour, ax=axes, shrink=0.8, label=f"loss (capped at {cap:g})")
    return axes


def _label_outer_only(axes: list[Axes], grid: list[Surface], rows: int, cols: int) -> None:
    """Where every panel spans the same coordinates, label b on the left column and a on the bottom row only.

    Side by side at equal aspect, a right-hand panel's "b (direction e)" and its ticks sat on its neighbour.
    """
    if all(np.array_equal(s.betas, grid[0].betas) for s in grid):
        for i, ax in enumerate(axes):
            if i % cols:
                ax.set_ylabel("")
                ax.tick_params(labelleft=False)
    if all(np.array_equal(s.alphas, grid[0].alphas) for s in grid):
        for i, ax in enumerate(axes):
            if i // cols < rows - 1:
                ax.set_xlabel("")
                ax.tick_params(labelbottom=False)


def _check_grid_names(names: object, surfaces: Mapping[str, Surface]) -> None:
    """``names`` must be rows of names (a list of lists, all rows as long), each a key of ``surfaces``."""
    eg = "e.g. [['plain20', 'resnet20'], ['plain56', 'resnet56']]"
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise ArgumentTypeError(f"names must be a non-empty list of rows of names, {eg}; got {describe(names)}.")
    for r, row in enumerate(names):
        if isinstance(row, str) or not isinstance(row, (list, tuple)):
            one = f" For one row, write [{list(names)!r}]." if all(isinstance(n, str) for n in names) else ""
            raise ArgumentTypeError(
                f"names must be a list of rows, each a list of names, {eg}; names[{r}] is {describe(row)}.{one}"
            )
        if len(row) != len(names[0]) or not row:
            raise ValueError(
                f"every row of names must hold the same number (>= 1) of names, {eg}; got {short_repr(names)}."
            )
        for name in row:
            if not isinstance(name, str):
                raise ArgumentTypeError(f"names must hold net names (strings), {eg}; got {describe(name)} in row {r}.")
            if name not in surfaces:
                raise ValueError(f"names holds {name!r}, which surfaces lacks; surfaces has {sorted(surfaces)}.")
