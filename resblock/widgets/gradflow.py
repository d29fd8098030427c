"""The gradient-flow explorer of notebook 02: its controls wired to ``resblock.explorer`` and ``explorer_plots``.

Every control change takes the chosen network at initialisation (built once per architecture, its
weights drawn again for a new seed; the plain and the shortcut version share the seed), measures it
with ``resblock.explorer.measure`` (``resblock.gradients.flow_profile``) on a fixed batch of real images,
and redraws one figure with ``resblock.explorer_plots.draw_explorer``: per-layer gradient norms (left)
and per-block activation RMS (right), the plain net (shortcut_scale = 0) dashed in vermillion
(``resblock.style.PLAIN``) against the chosen shortcut_scale. This module holds the widget
(``GradFlowExplorer``, ``gradflow_explorer``) and its caches of networks and profiles; the names it
defined before those two modules (``ExplorerSettings``, ``build_model``, ``reseed_``, ``draw_explorer``,
``figure_svg``, ...) can still be imported from here.

Stable CSS classes for browser tests (and for anyone styling the notebook):
``resblock-gradflow`` (the whole explorer), ``resblock-gradflow-network``, ``-depth``, ``-shortcut``
(the shortcut_scale slider), ``-activation``, ``-init``, ``-norm``, ``-seed``, ``-figure`` (the Image widget
holding the figure) and ``-status`` (a line of text: the settings, any note, the redraw time).
"""

from __future__ import annotations

import asyncio
import base64
import html
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, replace

import torch
from torch import nn

from resblock.env import available_cpus
from resblock.explorer import (
    CONV_BATCH,
    CONV_POOL,
    EXPLORER_NORMS,
    MAX_DEPTH,
    MAX_SEED,
    MLP_BATCH,
    ExplorerSettings,
    LRUCache,
    build_model,
    conv_depth,
    measure,
    one_thread,
    reseed_,
    settings_notes,
)
from resblock.explorer_plots import SVGFrames, draw_explorer, draw_failure, explorer_figure, figure_png, figure_svg
from resblock.gradients import FlowProfile
from resblock.models import ACTIVATIONS, INITS
from resblock.train import check_class_labels, check_data

# The widget, and the names defined here before resblock.explorer and explorer_plots held them (tests, bench).
__all__ = [
    "GradFlowExplorer",
    "gradflow_explorer",
    "ExplorerSettings",
    "MLP_BATCH",
    "CONV_BATCH",
    "CONV_POOL",
    "conv_depth",
    "build_model",
    "reseed_",
    "measure",
    "draw_explorer",
    "figure_svg",
]


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
        self._profiles = LRUCache(cache_size)  # (settings, shortcut_scale) -> FlowProfile
        self._networks = LRUCache(4)  # architecture (seed 0) -> (network, its seed)
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
        # SVG in the live widget (cheaper to make, see figure_svg and SVGFrames); PNG for static views (_repr_mimebundle_).
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
        self.fig = explorer_figure()
        self.svg = SVGFrames()  # the live figure's serialiser: a frame is drawn once, the data every time
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

            with one_thread():
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
            self.note = f"could not draw these settings: {type(e).__name__}: {e}"
            draw_failure(self.fig, self.note)
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
