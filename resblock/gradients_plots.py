"""Pictures of gradient flow (notebook 02), the numbers being ``resblock.gradients``: data in, ``Axes`` out.

Each function draws on ``ax`` (or on a new one when ``ax`` is None) and returns it. Values that a
log scale cannot show (0, inf, NaN) are left out of the line and named in a note inside the axes,
so an extreme setting gives a readable figure, not a traceback or a silently empty plot.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes

from resblock.checks import check_named_curves
from resblock.gradients import BlockSplit
from resblock.style import OKABE_ITO, PLAIN, RESIDUAL, markevery, new_axes, series_style

COLOURS = {
    "plain": PLAIN["color"],
    "residual": RESIDUAL["color"],
    "shortcut": OKABE_ITO["green"],
    "branch": OKABE_ITO["purple"],
}


def log_scale_problems(label: str, values: Sequence[float], unit: str = "layer") -> str | None:
    """A sentence naming the entries of ``values`` (each a ``unit``: layer, block...) that a log scale cannot show (0, inf, NaN), or None."""
    v = np.asarray(values, dtype=float)
    parts = []
    for what, mask in (
        ("exactly 0 (float32 underflow)", v == 0),
        ("NaN", np.isnan(v)),
        ("infinite (float32 overflow)", np.isinf(v)),
    ):
        if mask.any():
            idx = np.flatnonzero(mask) + 1
            where = (
                f"{idx[0]}"
                if len(idx) == 1
                else f"{idx[0]}-{idx[-1]}"
                if idx[-1] - idx[0] + 1 == len(idx)
                else f"{len(idx)} of them"
            )
            parts.append(f"{what} at {_plural(unit) if len(idx) > 1 else unit} {where}")
    return f"{label}: " + "; ".join(parts) + " - not drawn" if parts else None


def _plural(unit: str) -> str:
    """'layer' -> 'layers', 'index' -> 'indices' (the units the notes count in)."""
    return {"index": "indices"}.get(unit, unit + "s")


def draw_note(ax: Axes, text: str) -> Axes:
    """Write ``text`` in a box inside ``ax`` (warnings about the data, shown with the figure)."""
    # Wrapped to the Axes' width: matplotlib's wrap=True wraps at the figure's edge, so a note in the right
    # panel of a row ran over its neighbour's space. 8 pt text is about 4.4 pt a character on average.
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    chars = max(20, int(0.85 * width_pt / 4.4))
    text = "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in text.split("\n"))
    ax.text(
        0.02,
        0.03,
        text,
        transform=ax.transAxes,
        fontsize=8,
        va="bottom",
        ha="left",
        bbox={"boxstyle": "round", "facecolor": "#fff3cd", "edgecolor": "#d4a017", "alpha": 0.95},
    )
    return ax


def _plot_log_lines(
    ax: Axes, curves: Mapping[str, Sequence[float]], styles: Mapping[str, dict] | None, unit: str = "layer"
) -> list[str]:
    notes = []
    for i, (label, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        x = np.arange(1, len(v) + 1)
        ok = np.isfinite(v) & (v > 0)
        # the course's style (plain dashed/open, residual solid/filled), overridden key by key by ``styles``
        style = {**series_style(label, i), "markevery": markevery(len(v)), "ms": 4, **(styles or {}).get(label, {})}
        ax.plot(x, np.where(ok, v, np.nan), label=label, **style)
        note = log_scale_problems(label, v, unit)
        if note:
            notes.append(note)
    _plain_log_labels(ax)
    return notes


def decade_label(value: float) -> str:
    """A log axis's tick label in plain text, its exponent as a whole number: 1e10, 1e0, 1e-5, 2e-3."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


class DecadeLocator(ticker.Locator):
    """Ticks at whole decades, every 1, 2, 5, 10, 20, ... decades: at most ``numticks`` of them.

    matplotlib's LogLocator steps by any number of decades (1e2, 1e-7, 1e-16 over 54 decades); a step
    a reader can count in (1e0, 1e-10, 1e-20) reads faster.
    """

    def __init__(self, numticks: int = 7) -> None:
        self.numticks = numticks

    def __call__(self) -> np.ndarray:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        """The decades 10^k in [vmin, vmax], k a multiple of the step; 1, 2, 5 (or 1-9) x 10^k for less than a decade."""
        vmin, vmax = sorted((vmin, vmax))
        if not vmax > 0 or not math.isfinite(vmax):
            return np.array([1.0])
        vmin = vmin if vmin > 0 else vmax * 1e-10  # a log axis's view is positive; this only guards
        lo, hi = math.ceil(math.log10(vmin) - 1e-9), math.floor(math.log10(vmax) + 1e-9)
        if hi - lo >= 1:  # two decades or more in view
            step = next((k for k in (1, 2, 5, 10, 20, 50, 100) if (hi - lo) // k + 1 <= self.numticks), 100)
            return 10.0 ** np.arange(math.ceil(lo / step) * step, hi + 1, step, dtype=float)
        for mantissas in ((1, 2, 5), range(1, 10)):  # a narrow range: still at least two labels
            ticks = [m * 10.0**k for k in range(lo - 1, hi + 1) for m in mantissas]
            inside = np.array([t for t in ticks if vmin * (1 - 1e-9) <= t <= vmax * (1 + 1e-9)])
            if len(inside) >= 2:
                return inside
        return inside


def _plain_log_labels(ax: Axes) -> None:
    """Log y axis labelled 1e-5 in plain text, not with mathtext: parsing $10^{-5}$ took most of a redraw's time."""
    ax.set_yscale("log")
    # Few ticks, no minor ones: a range of 1e-20..1e0 otherwise makes hundreds of tick objects.
    ax.yaxis.set_major_locator(DecadeLocator(numticks=7))
    ax.yaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: decade_label(v)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def plot_layer_values(
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    ylabel: str = "gradient norm ||dL/dW||",
    xlabel: str = "layer (1 = input side)",
    title: str | None = None,
    styles: Mapping[str, dict] | None = None,
    note: str | None = None,
    legend: bool = True,
) -> Axes:
    """One line per curve of per-layer values on a log scale; problems (0, inf, NaN) named in a note."""
    check_named_curves("curves", curves, "{'plain': [...], 'residual': [...]}")
    ax = new_axes(ax)
    # The notes count in the x axis's unit: "block (1 = input side)" -> blocks.
    notes = _plot_log_lines(ax, curves, styles, unit=xlabel.split()[0] if xlabel.strip() else "layer")
    if note:
        notes.insert(0, note)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(6, integer=True))
    if title:
        ax.set_title(title, fontsize=10)
    if legend and any(line.get_label() and not line.get_label().startswith("_") for line in ax.lines):
        ax.legend(fontsize=8, loc="best")
    if notes:
        draw_note(ax, "\n".join(notes))
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_grad_norms(profiles: Mapping[str, Mapping[str, float]], ax: Axes | None = None, **kwargs) -> Axes:
    """Per-layer gradient norms, one line per model: ``{label: {layer name: norm}}`` (notebook 02)."""
    check_named_curves("profiles", profiles, "{'plain': grad_norms_per_layer(plain, x, y), 'residual': ...}")
    for label, norms in profiles.items():
        if not isinstance(norms, Mapping):  # one profile ({layer: norm}) given where {label: profile} goes
            raise ValueError(
                f"profiles[{label!r}] is a {type(norms).__name__}, not a profile {{layer: norm}}: to plot one "
                "profile, name it: plot_grad_norms({'my net': grad_norms_per_layer(...)})."
            )
    return plot_layer_values({label: list(norms.values()) for label, norms in profiles.items()}, ax=ax, **kwargs)


def plot_scalar_toy(depths: Sequence[int], curves: Mapping[str, Sequence[float]], ax: Axes | None = None) -> Axes:
    """The scalar toy: d out/d x against depth L, e.g. (1 + w)^L and w^L, on a log scale (notebook 02)."""
    ax = new_axes(ax)
    for i, (label, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        ax.plot(depths, np.where(v > 0, v, np.nan), label=label, ms=4, **series_style(label, i))
    _plain_log_labels(ax)
    ax.set_xlabel("depth L")
    ax.set_ylabel("d out / d x")
    ax.axhline(1.0, color="black", lw=0.6, ls=":")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def plot_gradient_split(splits: Sequence[BlockSplit], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Per block: the norm of dL/dx and of its parts through the shortcut and the branch (notebook 02)."""
    curves = {
        "total": [s.total for s in splits],
        "through the shortcut": [s.shortcut for s in splits],
        "through the branch": [s.branch for s in splits],
    }
    styles = {
        "total": {"color": "black", "lw": 2, "ls": "-", "marker": None},
        "through the shortcut": {"color": COLOURS["shortcut"], "ls": "-.", "marker": "^"},
        "through the branch": {"color": COLOURS["branch"], "ls": ":", "marker": "s", "mfc": "white"},
    }
    note = None
    if splits and all(s.shortcut == 0 for s in splits):
        # A plain stack: nothing flows through a shortcut it does not have (not float32 underflow).
        del curves["through the shortcut"]
        note = "through the shortcut: 0 at every block (this net has no shortcut) - not drawn"
    return plot_layer_values(
        curves,
        ax=ax,
        ylabel="||dL/d(block input)||",
        xlabel="block (1 = input side)",
        title=title,
        styles=styles,
        note=note,
    )


def plot_split_shares(splits: Sequence[BlockSplit], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Per block: the shortcut's and the branch's share of dL/dx (projections onto it; they add to 1)."""
    ax = new_axes(ax)
    x = np.arange(1, len(splits) + 1)
    ax.plot(
        x,
        [s.shortcut_share for s in splits],
        color=COLOURS["shortcut"],
        ls="-.",
        marker="^",
        ms=4,
        label="shortcut share",
    )
    ax.plot(
        x,
        [s.branch_share for s in splits],
        color=COLOURS["branch"],
        ls=":",
        marker="s",
        mfc="white",
        ms=4,
        label="branch share",
    )
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("block (1 = input side)")
    ax.set_ylabel("share of dL/d(block input)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def plot_singular_values(spectra: Mapping[str, Sequence[float]], ax: Axes | None = None) -> Axes:
    """Singular values of end-to-end Jacobians, largest first, one line per model, log scale (notebook 02)."""
    return plot_layer_values(spectra, ax=ax, ylabel="singular value", xlabel="index (largest first)")


def plot_along_line(xs: Sequence[float], curves: Mapping[str, Sequence[float]], ax: Axes | None = None) -> Axes:
    """Input gradients along a 1-D line of inputs, each curve scaled to unit RMS (Balduzzi et al. 2017, Fig. 1)."""
    ax = new_axes(ax)
    for i, (label, values) in enumerate(curves.items()):
        v = np.asarray(values, dtype=float)
        rms = math.sqrt(float(np.mean(v**2))) or 1.0
        style = {**series_style(label, i), "markevery": markevery(len(v)), "ms": 4}
        ax.plot(xs, v / rms + 4 * i, lw=1, label=label, **style)  # offset so the curves do not overlap
    ax.set_xlabel("input x")
    ax.set_ylabel("d out / d x (scaled, offset)")
    ax.set_yticks([])
    ax.legend(fontsize=8, loc="upper right")
    return ax
