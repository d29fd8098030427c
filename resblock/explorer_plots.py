"""The picture of notebook 02's gradient-flow explorer: its figure drawn from measured profiles, as PNG or SVG.

``draw_explorer`` draws two panels from the profiles ``resblock.explorer.measure`` takes: per-layer
gradient norms (left) and per-block activation RMS (right), the plain net (shortcut_scale = 0) dashed in
vermillion (``resblock.style.PLAIN``) against the chosen shortcut_scale. ``figure_png`` and ``figure_svg``
serialise a figure whole; ``SVGFrames``, the live widget's serialiser, draws a frame (axes, ticks,
labels) once and reuses it while it stays the same.
"""

from __future__ import annotations

import copy
import io
import math
from functools import lru_cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from resblock.explorer import ExplorerSettings, LRUCache, conv_depth, settings_notes
from resblock.gradients import FlowProfile
from resblock.gradients_plots import draw_note, plot_layer_values
from resblock.style import PLAIN, RESIDUAL


def explorer_figure() -> Figure:
    """The explorer's figure, empty: 10 x 3.6 inches at 72 dpi (SVG's points, as SVGFrames draws it)."""
    return Figure(figsize=(10, 3.6), dpi=72)


def draw_failure(fig: Figure, note: str) -> None:
    """Replace the figure's panels by one without axes that shows ``note`` (why the settings could not be drawn)."""
    fig.clear()
    ax = fig.subplots()
    ax.set_axis_off()
    draw_note(ax, note)


def _empty_panels(fig: Figure) -> list:
    """The figure's two panels with their data, texts and legends removed, made once and then reused.

    Reusing the axes, rather than fig.clear() and new subplots, keeps their axis and tick objects:
    building those was a quarter of a redraw's drawing time.
    """
    if len(fig.axes) != 2:
        fig.clear()
        return list(fig.subplots(1, 2))
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.texts]:
            artist.remove()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.relim()  # forget the removed lines' extent, so the axes fit the new data only
    return fig.axes


def draw_explorer(fig: Figure, s: ExplorerSettings, plain: FlowProfile, chosen: FlowProfile | None) -> None:
    """Draw the explorer's two panels for measured profiles onto ``fig`` (its earlier data removed first)."""
    ax_g, ax_a = _empty_panels(fig)
    label = f"shortcut_scale = {s.shortcut_scale:g}" + (" (residual)" if s.shortcut_scale == 1 else "")
    styles = {
        "plain (shortcut_scale = 0)": PLAIN,
        label: RESIDUAL,
    }  # the course's plain/residual contrast (resblock.style)
    grads = {"plain (shortcut_scale = 0)": list(plain.grad_norms.values())}
    acts = {"plain (shortcut_scale = 0)": list(plain.activation_rms.values())}
    if chosen is not None:
        grads[label] = list(chosen.grad_norms.values())
        acts[label] = list(chosen.activation_rms.values())
    name = f"MLP, {s.depth} blocks" if s.network == "mlp" else f"ResNet-{conv_depth(s.depth)[0]}, 2x2-pooled inputs"
    plot_layer_values(
        grads,
        ax=ax_g,
        title=f"gradient norm per layer at init ({name})",
        styles=styles,
        note="; ".join(settings_notes(s)) or None,
    )
    plot_layer_values(
        acts,
        ax=ax_a,
        ylabel="RMS of block output",
        xlabel="block (1 = input side)",
        title=f"activations ({s.activation if s.network == 'mlp' else 'relu'}, init {s.init}, norm {s.norm})",
        styles=styles,
        legend=False,
    )
    for ax in (ax_g, ax_a):
        _whole_decade_limits(ax)
    # Fixed margins, not tight_layout(): measuring every label's box cost more than the rest of a redraw.
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.91, wspace=0.25)


def _whole_decade_limits(ax) -> None:
    """Set a panel's limits from its lines: x to the layers, the log y axis outward to whole powers of ten.

    Autoscaled limits move with every new seed, and with them every tick; limits that move by whole
    decades leave the frame (axes, ticks, labels) as it was on most redraws, so SVGFrames can reuse it.
    """
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    n = max((len(y) for y in ys), default=1)
    pad = 0.05 * (n - 1) or 0.5  # matplotlib's default 5% margin
    ax.set_xlim(1 - pad, n + pad)
    v = np.concatenate(ys) if ys else np.empty(0)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size:
        # at least a tenth of a decade between the data and the edge, so no marker is cut in half
        lo = max(math.floor(math.log10(v.min()) - 0.1), -300)
        hi = min(math.ceil(math.log10(v.max()) + 0.1), 300)
        ax.set_ylim(10.0**lo, 10.0**hi)


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    # compress_level 1: a slightly larger file, a third of the encoding time of the default 6.
    FigureCanvasAgg(fig).print_png(buf, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def figure_svg(fig: Figure) -> bytes:
    """The figure as SVG bytes, its text left as text for the browser to render."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buf = io.BytesIO()
    # svg.fonttype "none": <text> elements instead of rasterised glyphs or glyph paths. Text was most
    # of a PNG frame's cost; an SVG frame measured 111 ms against 164-231 ms for the PNG (MLP-50, 2 cores).
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "resblock"}):
        FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})
    return buf.getvalue()


_SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "resblock"}  # text as <text>; ids stable from frame to frame


@lru_cache(maxsize=512)
def _svg_text_metrics(text: str, prop, ismath) -> tuple[float, float, float]:
    return _svg_renderer_class()._text_to_path.get_text_width_height_descent(text, prop, ismath)


@lru_cache(maxsize=1)
def _svg_renderer_class() -> type:
    """matplotlib's SVG renderer, remembering text sizes from frame to frame (made on first use: no import-time work).

    matplotlib caches text sizes per renderer, and every SVG is a new renderer: the tick labels and
    titles were measured again on every redraw.
    """
    from matplotlib.backends.backend_svg import RendererSVG
    from matplotlib.textpath import TextToPath

    class Renderer(RendererSVG):
        _text_to_path = TextToPath()  # what RendererSVG measures text with (fixed 72 dpi)

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath == "TeX":
                return super().get_text_width_height_descent(s, prop, ismath)
            return _svg_text_metrics(s, prop.copy(), ismath)  # a copy: FontProperties' hash follows its state

    return Renderer


def _svg_renderer(fig: Figure, out: io.StringIO):
    """An SVG renderer for ``fig`` (drawn at 72 dpi) writing to ``out``."""
    width, height = fig.get_size_inches()
    return _svg_renderer_class()(width * 72, height * 72, out, image_dpi=72, metadata={"Date": None})


class SVGFrames:
    """The figure as SVG, its frame (axes, ticks, labels, titles) drawn once and reused while it stays the same.

    Laying out the axes, ticks and their labels was most of a redraw's drawing time (matplotlib does it
    in Python, artist by artist); the data (lines, legend, notes) is a small part. A frame is keyed by
    all that draws it differently (figure size, each panel's position, limits, scales, ticks and their
    labels, axis labels, title), and the data is drawn on top of it. The result is one SVG document, the
    same elements as figure_svg's; the data comes after the frame, so it lies over the axes' edges.
    """

    _STATE = ("_groupd", "_clipd", "_markers", "_clip_path_ids")  # ids handed out, so none is used twice

    def __init__(self, max_frames: int = 16) -> None:
        self._frames = LRUCache(max_frames)  # frame key -> (SVG text, renderer state)
        self.hits = self.misses = 0

    @staticmethod
    def frame_key(fig: Figure) -> tuple:
        """Everything that draws the figure's frame differently (not its data)."""
        panels = []
        for ax in fig.axes:
            xticks, yticks = tuple(ax.get_xticks()), tuple(ax.get_yticks())
            panels.append(
                (
                    ax.get_position().bounds,
                    ax.get_xlim(),
                    ax.get_ylim(),
                    ax.get_xscale(),
                    ax.get_yscale(),
                    xticks,
                    yticks,
                    tuple(ax.xaxis.get_major_formatter().format_ticks(xticks)),
                    tuple(ax.yaxis.get_major_formatter().format_ticks(yticks)),
                    ax.get_xlabel(),
                    ax.get_ylabel(),
                    ax.get_title(),
                    ax.axison,
                )
            )
        return (tuple(fig.get_size_inches()), fig.dpi, tuple(panels))

    @staticmethod
    def data_artists(fig: Figure) -> list:
        """What changes from redraw to redraw: each panel's lines, notes and legend, in drawing order."""
        artists = []
        for ax in fig.axes:
            legend = [ax.get_legend()] if ax.get_legend() is not None else []
            artists += sorted([*ax.lines, *ax.texts, *legend], key=lambda a: a.get_zorder())
        return artists

    def _draw_frame(self, fig: Figure, data: list) -> tuple[str, dict]:
        from matplotlib.backends.backend_mixed import MixedModeRenderer

        animated = [a.get_animated() for a in data]
        for a in data:
            a.set_animated(True)  # matplotlib leaves animated artists out of a draw (as in blitting)
        try:
            out = io.StringIO()
            renderer = _svg_renderer(fig, out)
            start = out.tell()
            width, height = fig.get_size_inches()
            fig.draw(MixedModeRenderer(fig, width, height, 72, renderer))
            return out.getvalue()[start:], {name: copy.copy(getattr(renderer, name)) for name in self._STATE}
        finally:
            for a, was in zip(data, animated):
                a.set_animated(was)

    def __call__(self, fig: Figure) -> bytes:
        """The figure as SVG bytes (svg.fonttype "none": text left as text for the browser)."""
        import matplotlib

        if fig.dpi != 72:
            raise ValueError(f"SVGFrames draws figures at 72 dpi (SVG's points), got dpi={fig.dpi}.")
        data = self.data_artists(fig)
        with matplotlib.rc_context(_SVG_RC):
            key = self.frame_key(fig)
            frame = self._frames.get(key)
            if frame is None:
                self.misses += 1
                frame = self._draw_frame(fig, data)
                self._frames.put(key, frame)
            else:
                self.hits += 1
            body, state = frame
            out = io.StringIO()
            renderer = _svg_renderer(fig, out)
            for name, value in state.items():
                setattr(renderer, name, copy.copy(value))
            out.write(body)
            for artist in data:
                artist.draw(renderer)
            renderer.finalize()
        return out.getvalue().encode("utf-8")
