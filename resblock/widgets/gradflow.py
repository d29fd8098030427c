"""The gradient-flow explorer of notebook 02: ipywidgets controls wired to ``resblock.gradients_plots``.

Every control change takes the chosen network at initialisation (built once per architecture, its
weights drawn again for a new seed; the plain and the shortcut version share the seed), measures it
with ``resblock.gradients.flow_profile`` on a fixed batch of real images, and redraws one figure:
per-layer gradient norms (left) and per-block activation RMS (right), the plain net
(shortcut_scale = 0) dashed in vermillion (``resblock.style.PLAIN``) against the chosen shortcut_scale.

Stable CSS classes for browser tests (and for anyone styling the notebook):
``resblock-gradflow`` (the whole explorer), ``resblock-gradflow-network``, ``-depth``, ``-shortcut``
(the shortcut_scale slider), ``-activation``, ``-init``, ``-norm``, ``-seed``, ``-figure`` (the Image widget
holding the figure) and ``-status`` (a line of text: the settings, any note, the redraw time).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import html
import io
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from resblock.checks import check_int, check_number
from resblock.env import available_cpus, course_seed, seeded
from resblock.gradients import FlowProfile, flow_profile, strip_batchnorm
from resblock.gradients_plots import draw_note, plot_layer_values
from resblock.models import ACTIVATIONS, INITS, DeepMLP, MLPConfig, ResNet, ResNetConfig, init_linear_
from resblock.style import PLAIN, RESIDUAL
from resblock.train import check_class_labels, check_data

NETWORKS = ("mlp", "conv")
EXPLORER_NORMS = ("none", "batch")
MAX_DEPTH = 500  # the depth slider's maximum (MLP blocks; conv depths above MAX_CONV_DEPTH are capped with a note)
MAX_SEED = 2**31 - 1  # the seed box's maximum
MAX_CONV_DEPTH = 110  # ResNet-110 redraws in about a second here; deeper conv nets are not interactive
MLP_BATCH, CONV_BATCH = 64, 16  # examples per measurement: enough for BatchNorm, small enough to be instant
# The conv nets see the images average-pooled 2x2 to 14x14, as notebook 03's degradation study trains
# them: a quarter of the convolutions' work (one ResNet-56 profile: 196-205 ms at 28x28, 75-78 ms at 14x14,
# one thread). The picture stays the one section 2 shows at 28x28 (seed 1: plain-56's first/last
# conv ratio 10^3.4 there, 10^3.6 here; residual 10^1.4 and 10^1.6).
CONV_POOL = 2
# CONV_BATCH stays 16: a smaller batch is not proportionally faster, and it changes the curves a learner
# sees. Measured (ResNet-56 with BN, 28x28 inputs, seeds 1-5, one thread on 2 shared cores): one profile took 220 ms
# at 16, 174 at 8, 122 at 4; the per-layer gradient norms moved by 0.13-0.23 decades on average at 8 and
# 0.26-0.32 at 4, against 0.05-0.06 between two different batches of 16 (the plain net's log10
# first/last ratio 3.0-3.2 at 16, 3.2-3.5 at 8).


@dataclass(frozen=True)
class ExplorerSettings:
    """What the explorer's controls say; the defaults draw the classic picture (notebook 02)."""

    network: str = "mlp"  # "mlp" (DeepMLP, depth = blocks) or "conv" (the 6n+2 ResNet, depth = layers)
    depth: int = 50
    shortcut_scale: float = 1.0  # scale on the shortcut: 0 plain, 1 residual
    activation: str = "relu"  # MLP only; the conv net uses ReLU as in the paper
    init: str = "default"  # "default" is PyTorch's for the MLP and He et al.'s for the conv net
    norm: str = "none"  # "none" or "batch"; the conv net's "batch" is the paper's BN after every conv
    seed: int = field(default_factory=course_seed)  # the course's seed, $RESBLOCK_SEED

    def __post_init__(self) -> None:
        for name, allowed in (
            ("network", NETWORKS),
            ("activation", tuple(ACTIVATIONS)),
            ("init", INITS),
            ("norm", EXPLORER_NORMS),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        # The controls' own ranges: a value outside them would be clamped by the widget without a word.
        object.__setattr__(
            self, "depth", check_int("depth", self.depth, 1, MAX_DEPTH, what=" (the depth slider's range)")
        )
        object.__setattr__(
            self,
            "shortcut_scale",
            check_number("shortcut_scale", self.shortcut_scale, 0.0, 1.0, what=" (0 plain, 1 residual)"),
        )
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, MAX_SEED))


def conv_depth(depth: int) -> tuple[int, str | None]:
    """The nearest 6n+2 depth to ``depth`` within 8..MAX_CONV_DEPTH, and a note when it had to change."""
    n = min(max(round((depth - 2) / 6), 1), (MAX_CONV_DEPTH - 2) // 6)
    snapped = 6 * n + 2
    if snapped == depth:
        return snapped, None
    why = f" (capped at {MAX_CONV_DEPTH} to stay interactive)" if depth > MAX_CONV_DEPTH else ""
    return snapped, f"conv nets have 6n+2 layers: depth {depth} -> {snapped}{why}"


def build_model(s: ExplorerSettings, shortcut_scale: float) -> nn.Module:
    """The network the settings describe, with the shortcut scaled by ``shortcut_scale``, seeded by ``s.seed``."""
    with seeded(s.seed):  # the explorer's seed, not the learner's random stream
        return _build_model(s, shortcut_scale)


def _build_model(s: ExplorerSettings, shortcut_scale: float) -> nn.Module:
    if s.network == "mlp":
        return DeepMLP(
            MLPConfig(depth=s.depth, shortcut_scale=shortcut_scale, activation=s.activation, norm=s.norm, init=s.init)
        )
    depth, _ = conv_depth(s.depth)
    model = ResNet(ResNetConfig(depth=depth, shortcut=shortcut_scale > 0))
    for block in model.blocks:
        block.shortcut_scale = float(shortcut_scale)  # ResidualBlock computes relu(R(x) + shortcut_scale * shortcut(x))
    _other_conv_init_([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))], s.init)
    if s.norm == "none":
        strip_batchnorm(model)
    return model


def reseed_(model: nn.Module, s: ExplorerSettings) -> nn.Module:
    """Draw a network's weights again, in place, exactly as ``build_model(s, ...)`` would for its seed.

    Building a deep net's modules took about as long as measuring it; a new seed only needs new
    numbers. The draws follow the constructors: each layer's default init in module order, then the
    He init of ResNet's convs (conv nets only), then the chosen init. Norms hold no random numbers.
    A conv net draws from a generator of its own, seeded as build_model seeds PyTorch's global one
    (the same stream), so two conv nets can be re-seeded in two threads at once (_measure_both).
    """
    weighted = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if s.network == "mlp":
        with seeded(s.seed):  # the explorer's seed, not the learner's random stream
            for m in weighted:
                m.reset_parameters()
            if s.init != "default":
                for m in weighted:
                    init_linear_(m, s.init, s.activation)
        return model
    g = torch.Generator().manual_seed(s.seed)
    for m in weighted:  # each constructor's default draws, as in torch's reset_parameters
        if isinstance(m, nn.Conv2d):  # overwritten below: only the draws count, so a scratch tensor takes them
            nn.init.kaiming_uniform_(torch.empty(m.weight.shape), a=math.sqrt(5), generator=g)
        else:
            _draw_(m.weight, lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=g))
        if m.bias is not None:
            bound = 1 / math.sqrt(m.weight[0].numel())  # 1 / sqrt(fan_in)
            with torch.no_grad():
                m.bias.uniform_(-bound, bound, generator=g)
    for m in weighted:
        if isinstance(m, nn.Conv2d):
            _draw_(m.weight, lambda w: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu", generator=g))
    _other_conv_init_(weighted, s.init, g)
    return model


def _other_conv_init_(weighted: list[nn.Module], init: str, generator: torch.Generator | None = None) -> None:
    """The conv net's "xavier" or "small" init, drawn over ResNet's He init on every conv and linear weight."""
    if init in ("xavier", "small"):
        for m in weighted:
            _draw_(
                m.weight,
                (lambda w: nn.init.xavier_normal_(w, generator=generator))
                if init == "xavier"
                else (lambda w: nn.init.normal_(w, std=0.01, generator=generator)),
            )


def _draw_(weight: torch.Tensor, init: Callable[[torch.Tensor], object]) -> None:
    """Apply a random init to ``weight`` as if it were contiguous: a channels-last tensor fills in another order."""
    if weight.is_contiguous():
        with torch.no_grad():
            init(weight)
        return
    fresh = torch.empty(weight.shape, dtype=weight.dtype)
    init(fresh)
    with torch.no_grad():
        weight.copy_(fresh)


class _LRU:
    """A small least-recently-used map: the explorer keeps networks, profiles and SVG frames in one each."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        """The value for ``key`` (now the most recently used), or ``default``."""
        if key not in self._items:
            return default
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key, value) -> None:
        """Keep ``value`` for ``key``, forgetting the least recently used beyond ``maxsize``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run PyTorch on one thread, then restore the count.

    These tensors are tiny (64 x 64 matrices): a second thread saves little, and on a busy
    machine (a classroom server, 2 cores shared) threads that wait for each other made redraws
    5-10x slower in our measurements.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(
    s: ExplorerSettings,
    shortcut_scale: float,
    images: torch.Tensor,
    labels: torch.Tensor,
    model: nn.Module | None = None,
) -> FlowProfile:
    """Profile the network for ``s`` at ``shortcut_scale`` on the batch (what each redraw computes).

    ``model``: a network built by ``build_model(s, a)`` for any ``a`` of the same kind (0, or above 0),
    reused with its shortcut scale set to ``shortcut_scale``; without it a new one is built.
    """
    n = MLP_BATCH if s.network == "mlp" else CONV_BATCH
    if model is None:
        model = build_model(s, shortcut_scale)
    scale = float(shortcut_scale)
    for block in model.blocks:
        if block.shortcut_scale != scale:  # a Module's setattr is slow: set only what changes
            block.shortcut_scale = scale  # read in forward: a rebuilt net would hold the same weights
    x = images[:n]
    if s.network == "conv":
        x = F.avg_pool2d(x, CONV_POOL)
        # channels-last: oneDNN's faster layout for these convolutions (a quarter less time, measured).
        # Converted once: .to() copies every weight again even when they are channels-last already.
        if not all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4):
            model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with _one_thread():
        return flow_profile(model, x, labels[:n])


def settings_notes(s: ExplorerSettings) -> list[str]:
    """Notes on settings that the figure cannot show as asked."""
    notes = []
    if s.network == "conv":
        notes.append(conv_depth(s.depth)[1])
        if s.activation != "relu":
            notes.append(f"the conv net always uses ReLU (activation {s.activation!r} applies to the MLP)")
    return [n for n in notes if n]


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
    decades leave the frame (axes, ticks, labels) as it was on most redraws, so _SVGFrames can reuse it.
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


class _SVGFrames:
    """The figure as SVG, its frame (axes, ticks, labels, titles) drawn once and reused while it stays the same.

    Laying out the axes, ticks and their labels was most of a redraw's drawing time (matplotlib does it
    in Python, artist by artist); the data (lines, legend, notes) is a small part. A frame is keyed by
    all that draws it differently (figure size, each panel's position, limits, scales, ticks and their
    labels, axis labels, title), and the data is drawn on top of it. The result is one SVG document, the
    same elements as figure_svg's; the data comes after the frame, so it lies over the axes' edges.
    """

    _STATE = ("_groupd", "_clipd", "_markers", "_clip_path_ids")  # ids handed out, so none is used twice

    def __init__(self, max_frames: int = 16) -> None:
        self._frames = _LRU(max_frames)  # frame key -> (SVG text, renderer state)
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
            raise ValueError(f"_SVGFrames draws figures at 72 dpi (SVG's points), got dpi={fig.dpi}.")
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


class GradFlowExplorer:
    """Depth, shortcut scale, activation, init, norm and seed controls over one gradient-flow figure (notebook 02)."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        settings: ExplorerSettings | None = None,  # None: the defaults, seeded by $RESBLOCK_SEED as it is then
        debounce_s: float = 0.2,
        cache_size: int = 64,
    ) -> None:
        import ipywidgets as W

        settings = ExplorerSettings() if settings is None else settings
        if not isinstance(settings, ExplorerSettings):
            raise ValueError(
                f"settings must be an ExplorerSettings, got {type(settings).__name__}; e.g. "
                "ExplorerSettings(depth=50), or gradflow_explorer(images, labels, depth=50)."
            )
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(
                f"images must be Fashion-MNIST tensors of shape (N, 1, 28, 28), got "
                f"{tuple(getattr(images, 'shape', ()))}; pass data.train_images[:64]."
            )
        # Checked here, not at the first redraw, where a bad label would read as "could not draw these settings".
        check_data(images, labels, "the explorer's")
        check_class_labels(labels, torch.empty(len(labels), 10), "the explorer's")  # its nets have 10 outputs
        if images.dtype != torch.float32:
            raise ValueError(f"the explorer's images must be float32, got {images.dtype}; pass data.train_images[:64].")
        if images.shape[0] < MLP_BATCH:
            raise ValueError(f"pass at least {MLP_BATCH} images and their labels, got {images.shape[0]} images.")
        self.images, self.labels = images[:MLP_BATCH].contiguous(), labels[:MLP_BATCH].long().contiguous()
        self.debounce_s = float(debounce_s)
        self.n_redraws = 0
        self.last_redraw_ms = float("nan")
        self.note = ""
        self._pending: asyncio.TimerHandle | None = None
        # Profiles are cached by settings, so going back to a setting you have seen is instant; the
        # networks too (a few, by architecture), so that moving the shortcut slider measures without
        # building again, and a new seed re-draws a network's weights instead of building it anew.
        self._profiles = _LRU(cache_size)  # (settings, shortcut_scale) -> FlowProfile
        self._networks = _LRU(4)  # architecture (seed 0) -> (network, its seed)
        self._pool: ThreadPoolExecutor | None = None  # a second thread for the conv nets, made when first needed

        style = {"description_width": "initial"}
        s = settings
        # continuous_update=False: a slider drag sends one value when released, not dozens on the way.
        self.network = W.ToggleButtons(
            options=[("MLP", "mlp"), ("conv 6n+2", "conv")], value=s.network, description="network", style=style
        )
        self.depth = W.IntSlider(
            value=s.depth, min=1, max=MAX_DEPTH, description="depth", continuous_update=False, style=style
        )
        self.shortcut = W.FloatSlider(
            value=s.shortcut_scale,
            min=0.0,
            max=1.0,
            step=0.05,
            description="shortcut scale",
            continuous_update=False,
            readout_format=".2f",
            style=style,
        )
        self.activation = W.Dropdown(
            options=list(ACTIVATIONS), value=s.activation, description="activation", style=style
        )
        self.init = W.Dropdown(options=list(INITS), value=s.init, description="init", style=style)
        self.norm = W.ToggleButtons(options=list(EXPLORER_NORMS), value=s.norm, description="norm", style=style)
        self.seed = W.BoundedIntText(
            value=s.seed, min=0, max=MAX_SEED, description="seed", style=style, layout=W.Layout(width="160px")
        )
        # SVG in the live widget (cheaper to make, see figure_svg and _SVGFrames); PNG for static views (_repr_mimebundle_).
        self.figure_widget = W.Image(format="svg+xml", layout=W.Layout(max_width="100%"))
        self.status = W.HTML()
        self.controls = {
            "network": self.network,
            "depth": self.depth,
            "shortcut": self.shortcut,
            "activation": self.activation,
            "init": self.init,
            "norm": self.norm,
            "seed": self.seed,
        }
        # Tooltips become each control's title, which screen readers announce after its label.
        for control, tip in (
            (self.network, "the network: a deep MLP or a 6n+2 conv net"),
            (
                self.depth,
                "MLP: number of blocks; conv net: number of layers, snapped to 6n+2 (arrow keys change it by one)",
            ),
            (self.shortcut, "the scale s in H(x) = s x + R(x): 0 plain, 1 residual"),
            (self.activation, "the activation inside each block"),
            (self.init, "how the weights are initialised"),
            (self.norm, "normalisation inside each block"),
            (self.seed, "random seed of the initialisation"),
        ):
            control.tooltip = tip
        for name, control in self.controls.items():
            control.add_class(f"resblock-gradflow-{name}")
            control.observe(self._on_change, names="value")
        self.figure_widget.add_class("resblock-gradflow-figure")
        self.status.add_class("resblock-gradflow-status")
        self.box = W.VBox(
            [
                W.HBox([self.network, self.norm]),
                W.HBox([self.depth, self.shortcut]),
                W.HBox([self.activation, self.init, self.seed]),
                self.figure_widget,
                self.status,
            ]
        )
        self.box.add_class("resblock-gradflow")
        self.fig = Figure(figsize=(10, 3.6), dpi=72)
        self.svg = _SVGFrames()  # the live figure's serialiser: a frame is drawn once, the data every time
        self.redraw()

    def _network(self, kind: ExplorerSettings) -> nn.Module:
        """A network for ``kind`` (see network_kind): one of the same architecture is re-seeded, not rebuilt."""
        model, stale = self._take(kind)
        if stale:
            reseed_(model, kind)
            self._networks.put(replace(kind, seed=0), (model, kind.seed))
        return model

    def _take(self, kind: ExplorerSettings) -> tuple[nn.Module, bool]:
        """The network kept for ``kind``'s architecture (built if there is none) and whether it needs re-seeding to ``kind``.

        A network about to be re-seeded is kept with no seed until that is done, so one left half drawn by
        an error is re-seeded next time, not taken for ``kind``'s.
        """
        arch = replace(kind, seed=0)
        model, seed = self._networks.get(arch, (None, None))
        if model is None:
            model, seed = build_model(kind, kind.shortcut_scale), kind.seed
        self._networks.put(arch, (model, seed if seed == kind.seed else None))
        return model, seed != kind.seed

    def _measure(self, s: ExplorerSettings, shortcut_scale: float) -> FlowProfile:
        """The profile of ``s`` at ``shortcut_scale``, from the cache when it was measured before."""
        key = (s, float(shortcut_scale))
        profile = self._profiles.get(key)
        if profile is None:
            model = self._network(self.network_kind(s, shortcut_scale))
            profile = measure(s, shortcut_scale, self.images, self.labels, model=model)
            self._profiles.put(key, profile)
        return profile

    def _measure_both(self, s: ExplorerSettings) -> tuple[FlowProfile, FlowProfile | None]:
        """The plain net's profile and the chosen shortcut_scale's (None at 0): what a redraw shows.

        Two conv nets (plain and residual are two networks) are re-seeded and measured side by side when
        the machine allows two CPUs: each is one thread's work (ResNet-56: 93-95 ms alone, both side by side
        131 ms against 188 ms one after the other, 2 cores; two processes would share better, 0.97 against
        0.7, but a widget lives in one). A network built for the first time is built here, in this thread
        (its constructor draws from PyTorch's one global generator); a conv net's re-seeding draws from a
        generator of its own (reseed_), so it runs in the network's own thread.
        """
        plain_key = (replace(s, shortcut_scale=0.0), 0.0)
        keys = [plain_key] + ([(s, s.shortcut_scale)] if s.shortcut_scale > 0 else [])
        missing = [k for k in keys if k not in self._profiles]
        if len(missing) == 2 and s.network == "conv" and available_cpus() >= 2:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="gradflow")
            kinds = [self.network_kind(*k) for k in missing]
            taken = [self._take(kind) for kind in kinds]

            def reseed_and_measure(i: int) -> FlowProfile:
                (model, stale), kind = taken[i], kinds[i]
                if stale:
                    reseed_(model, kind)
                return measure(*missing[i], self.images, self.labels, model=model)

            with _one_thread():
                first = self._pool.submit(reseed_and_measure, 0)
                try:
                    second = reseed_and_measure(1)
                finally:
                    wait([first])  # even after an error here: the next redraw may re-seed the first's network
            profiles = (first.result(), second)  # the first's error, if it had one, is raised here
            for kind, (model, _), key, profile in zip(kinds, taken, missing, profiles):
                self._networks.put(replace(kind, seed=0), (model, kind.seed))  # now holds kind's weights
                self._profiles.put(key, profile)
        profiles = [self._measure(*k) for k in keys]
        return profiles[0], (profiles[1] if len(profiles) > 1 else None)

    @staticmethod
    def network_kind(s: ExplorerSettings, shortcut_scale: float) -> ExplorerSettings:
        """The settings of the network that ``measure`` can reuse for ``s`` at ``shortcut_scale`` (its shortcut_scale 0 or 1).

        An MLP's weights do not depend on shortcut_scale, so one network serves every shortcut_scale. A conv net at
        shortcut_scale 0 is the plain net of the paper (no projection shortcuts), so it is a network of its own.
        """
        return replace(s, shortcut_scale=0.0 if s.network == "conv" and shortcut_scale == 0 else 1.0)

    def settings(self) -> ExplorerSettings:
        """The settings the controls show now."""
        return ExplorerSettings(
            network=self.network.value,
            depth=int(self.depth.value),
            shortcut_scale=round(float(self.shortcut.value), 4),
            activation=self.activation.value,
            init=self.init.value,
            norm=self.norm.value,
            seed=int(self.seed.value),
        )

    def _on_change(self, _change: dict) -> None:
        # Debounce: in a running kernel, wait until the controls have been still for debounce_s, so
        # a burst of changes (arrow keys held down) costs one redraw. Outside an event loop (plain
        # Python, tests) redraw at once.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.debounce_s <= 0:
            self.redraw()
            return
        if self._pending is not None:
            self._pending.cancel()
        self._pending = loop.call_later(self.debounce_s, self.redraw)

    def redraw(self) -> None:
        """Measure the current settings and redraw the figure; problems become a note, never a traceback."""
        self._pending = None
        t0 = time.perf_counter()
        s = None
        try:
            s = self.settings()
            self.activation.disabled = s.network == "conv"
            plain, chosen = self._measure_both(s)
            draw_explorer(self.fig, s, plain, chosen)
            self.note = "; ".join(settings_notes(s))
        except Exception as e:  # a figure with the reason beats a traceback in a widget callback
            self.fig.clear()
            ax = self.fig.subplots()
            ax.set_axis_off()
            self.note = f"could not draw these settings: {type(e).__name__}: {e}"
            draw_note(ax, self.note)
        self.figure_widget.value = self.svg(self.fig)
        self.n_redraws += 1
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000.0
        what = ", ".join(f"{k}={v}" for k, v in asdict(s).items()) if s else "invalid settings"
        self.status.value = (
            f"<small>{what}"
            + (f" &middot; note: {html.escape(self.note)}" if self.note else "")
            + f" &middot; redraw {self.last_redraw_ms:.0f} ms</small>"
        )

    def summary(self) -> str:
        """Plain text for the settings and the first/last gradient-norm ratio of each curve.

        The ratio is printed after "≈": it is deterministic for a seed and a CPU, but moves with the course
        seed ($RESBLOCK_SEED) and the arithmetic, so nbval's sanitizer masks it (tests/nbval_sanitize.cfg).
        """
        s = self.settings()
        lines = [f"GradFlowExplorer({', '.join(f'{k}={v!r}' for k, v in asdict(s).items())})"]
        for label, a in (("plain", 0.0), (f"shortcut_scale={s.shortcut_scale:g}", s.shortcut_scale)):
            if label != "plain" and a == 0:
                continue
            try:
                v = list(self._measure(replace(s, shortcut_scale=a) if a == 0 else s, a).grad_norms.values())
                lines.append(
                    f"  {label}: first/last layer gradient-norm ratio ≈{v[0] / v[-1]:.2g}"
                    if v[-1]
                    else f"  {label}: last layer gradient is 0"
                )
            except Exception as e:
                lines.append(f"  {label}: {type(e).__name__}")
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        # JupyterLab shows the live widget (its renderer outranks PNG); GitHub, nbviewer without widget
        # state and nbval see the PNG of the current figure and the plain-text summary instead.
        bundle = dict(self.box._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["image/png"] = base64.b64encode(figure_png(self.fig)).decode("ascii")
        bundle["text/plain"] = self.summary()
        return bundle


def gradflow_explorer(images: torch.Tensor, labels: torch.Tensor, **settings) -> GradFlowExplorer:
    """The explorer of notebook 02 on a batch of Fashion-MNIST images; keyword arguments set the start state."""
    return GradFlowExplorer(images, labels, ExplorerSettings(**settings))
