"""Notebook 04's training dashboard: choose a ResNet and a budget, press Start, watch it learn, press Stop.

A thin widget over ``resblock.train.fit`` and ``resblock.evaluation_plots.HistoryCurves``. Pressing Start
trains in a background thread, so the kernel stays free to receive the Stop button's click (a
button's click reaches Python only between cell executions). ``run()`` trains in the calling thread
instead, which is what the notebook's own cell (and nbval) does once with the default settings.

CSS classes, for browser tests: ``resblock-train-dashboard`` (the whole box), ``resblock-train-start``,
``resblock-train-stop``, ``resblock-train-progress``, ``resblock-train-status``, ``resblock-train-curves``
(the image of the curves), and one per control: ``resblock-train-depth``, ``resblock-train-width``,
``resblock-train-shortcut``, ``resblock-train-stem-pool``, ``resblock-train-lr``, ``resblock-train-seconds``.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import ipywidgets as widgets

from resblock.checks import check_bool, check_dataset, check_int, check_number
from resblock.evaluation_plots import HistoryCurves
from resblock.models import TINY_RESNET, ResNet, ResNetConfig
from resblock.train import History, TrainConfig, TrainingDiverged, TrainResult, fit

if TYPE_CHECKING:
    from resblock.data import FashionMNIST

DEPTHS = (8, 14, 20, 32, 44, 56)  # 6n + 2
WIDTHS = (8, 16, 32)  # channels of the first stage; the next two stages double it twice
MIN_SECONDS, MAX_SECONDS = 2, 300  # the budget slider's range
LRS = (0.01, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6, 100.0)  # peak learning rates; 100 shows what divergence looks like
MAX_PLOT_SHARE = 0.1  # the live curves take at most this share of a run's wall time (see _on_progress)
SECONDS = 30  # the budget slider's start without a config: notebook 04's budget (its config says 30 s too)


def _curves() -> HistoryCurves:
    """A figure for the dashboard's curves, drawn without pyplot (thread-safe: the run may be in a background thread)."""
    from matplotlib.figure import Figure

    return HistoryCurves(Figure(figsize=(10, 3.4)))


class TrainingDashboard:
    """Controls for depth, width, shortcuts, stem pooling, learning rate and time budget; Start/Stop; live curves (notebook 04)."""

    def __init__(
        self,
        data: FashionMNIST,
        config: TrainConfig | None = None,  # None: TrainConfig(seconds=SECONDS, eval_images=2000)
        depth: int = TINY_RESNET.depth,
        width: int = TINY_RESNET.widths[0],
        shortcut: bool = True,
        stem_pool: bool = TINY_RESNET.stem_pool,
        seconds: int | None = None,  # the budget slider's start; None: config.seconds, else SECONDS
        background: bool = True,
        redraw_interval: float = 1.0,  # seconds at least between frames of the live curves (more if a frame is slow)
    ) -> None:
        if config is None:  # built here, not at import time: its seed follows $RESBLOCK_SEED when the dashboard is made
            config = TrainConfig(seconds=SECONDS, eval_images=2000)  # curves on 2,000 test images, the final on all
        if not isinstance(config, TrainConfig):
            raise ValueError(f"config must be a resblock.train.TrainConfig, got {type(config).__name__}.")
        if config.epochs is not None:
            raise ValueError(
                f"the dashboard trains for a time budget (its seconds slider), but config.epochs={config.epochs!r}; "
                "give config=TrainConfig(seconds=...) or seconds=... instead."
            )
        if seconds is None and config.seconds is not None:
            # the slider's start; 30.0 is 30, but 0.4 is not rounded to a 0 the learner never wrote
            whole = float(config.seconds).is_integer()
            seconds = check_int(
                "config.seconds", int(config.seconds) if whole else config.seconds, MIN_SECONDS, MAX_SECONDS,
                what=" (the dashboard's budget slider takes whole seconds)",
            )  # fmt: skip
        if seconds is None:
            seconds = SECONDS
        for name, value, allowed in (("depth", depth, DEPTHS), ("width", width, WIDTHS)):
            if isinstance(value, bool) or value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
        for name, value in (("shortcut", shortcut), ("stem_pool", stem_pool), ("background", background)):
            check_bool(name, value)
        # The budget slider's range: a value outside it would be clamped by the widget without a word.
        seconds = check_int("seconds", seconds, MIN_SECONDS, MAX_SECONDS, what=" (the budget slider's range)")
        redraw_interval = check_number("redraw_interval", redraw_interval, low=0.0, what=" (seconds)")
        check_dataset("data", data)
        if config.lr not in LRS:
            raise ValueError(f"config.lr must be one of the dashboard's learning rates {LRS}, got {config.lr!r}.")
        self.data = data
        self.config = config
        self.background = background
        self.redraw_interval = redraw_interval
        self.result: TrainResult | None = None
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        style = {"description_width": "110px"}
        self.depth = widgets.Dropdown(options=DEPTHS, value=depth, description="depth (layers)", style=style)
        self.width = widgets.Dropdown(options=WIDTHS, value=width, description="width (channels)", style=style)
        self.shortcut = widgets.Checkbox(value=shortcut, description="shortcut connections", indent=False)
        self.stem_pool = widgets.Checkbox(value=stem_pool, description="max pool after the stem", indent=False)
        self.lr = widgets.SelectionSlider(options=LRS, value=config.lr, description="peak lr", style=style)
        self.seconds = widgets.IntSlider(
            value=seconds, min=MIN_SECONDS, max=MAX_SECONDS, step=1, description="budget (s)", style=style
        )
        self.start_button = widgets.Button(
            description="Start", button_style="success", icon="play", tooltip="train a ResNet with these settings"
        )
        self.stop_button = widgets.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            disabled=True,
            tooltip="stop training; the model trained so far is kept",
        )
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress", style=style)
        self.status = widgets.HTML(value="Press Start to train.")
        self._figure = _curves()  # one figure, its lines updated in place at each redraw
        self.curves = widgets.Image(value=self._figure.png(), format="png")
        for w, cls in (
            (self.depth, "depth"),
            (self.width, "width"),
            (self.shortcut, "shortcut"),
            (self.stem_pool, "stem-pool"),
            (self.lr, "lr"),
            (self.seconds, "seconds"),
            (self.start_button, "start"),
            (self.stop_button, "stop"),
            (self.progress, "progress"),
            (self.status, "status"),
            (self.curves, "curves"),
        ):
            w.add_class(f"resblock-train-{cls}")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        controls = widgets.VBox([self.depth, self.width, self.shortcut, self.stem_pool, self.lr, self.seconds])
        buttons = widgets.VBox([widgets.HBox([self.start_button, self.stop_button]), self.progress, self.status])
        self.widget = widgets.VBox([widgets.HBox([controls, buttons]), self.curves])
        self.widget.add_class("resblock-train-dashboard")

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @property
    def model_config(self) -> ResNetConfig:
        """The ResNet the controls describe."""
        w = self.width.value
        return ResNetConfig(
            depth=self.depth.value,
            shortcut=self.shortcut.value,
            widths=(w, 2 * w, 4 * w),
            stem_pool=self.stem_pool.value,
        )

    @property
    def train_config(self) -> TrainConfig:
        """The training recipe: the dashboard's base config with the chosen lr and time budget."""
        return replace(self.config, lr=self.lr.value, seconds=float(self.seconds.value), epochs=None)

    @property
    def running(self) -> bool:
        """True while a background run is training."""
        return self._thread is not None and self._thread.is_alive()

    def _set_running(self, running: bool) -> None:
        # Each change reaches the browser as its own message: change Stop on the side that never shows
        # both buttons enabled (disable Stop before Start comes back; enable it after Start goes).
        if not running:
            self.stop_button.disabled = True
        for w in (self.depth, self.width, self.shortcut, self.stem_pool, self.lr, self.seconds, self.start_button):
            w.disabled = running
        if running:
            self.stop_button.disabled = False

    def _show(self, history: History) -> None:
        self._figure.update(history)
        self.curves.value = self._figure.png()

    def _on_progress(self, history: History) -> None:
        now = time.perf_counter()
        # Each change of a widget's value is one message to the browser; the tiny net takes dozens of
        # steps a second, so move the bar in steps of 1/200 rather than at every step.
        progress = round(history.progress * 200) / 200
        if progress != self.progress.value:
            self.progress.value = progress
        if now >= self._next_redraw:
            self._show(history)
            loss = sum(history.loss[-20:]) / len(history.loss[-20:])
            self.status.value = f"training: step {history.steps}, loss {loss:.3f}"
            end = time.perf_counter()
            # The training clock stops while the curves are drawn, so drawing adds to the learner's wait.
            # A frame took 0.15-0.3 s on 2 cores: one a second made a 45 s run last 11 s more.
            # Wait at least 9 frames' time between frames: drawing stays under a tenth of the wall time.
            gap = (end - now) * (1 - MAX_PLOT_SHARE) / MAX_PLOT_SHARE
            self._next_redraw = end + max(self.redraw_interval, gap)

    def run(self) -> TrainResult | None:
        """Build the chosen ResNet and train it here, in the calling thread; returns the result (None if it diverged)."""
        self._stop.clear()
        self.error = None
        self.result = None  # a run that diverges leaves no result behind, not the previous one
        self._next_redraw = -float("inf")
        self._set_running(True)
        self.progress.value = 0.0
        self.status.value = "building the model..."
        d = self.data
        try:
            model = ResNet(self.model_config)
            self.result = fit(
                model,
                d.train_images,
                d.train_labels,
                self.train_config,
                test=(d.test_images, d.test_labels),
                progress=False,
                live_plot=self._on_progress,
                should_stop=self._stop,
            )
            h = self.result.history
            self._show(h)
            how = {"budget": "finished", "stopped": "stopped", "interrupted": "interrupted"}[self.result.stopped]
            self.status.value = (
                f"{how} after {h.steps} steps ({h.eval_epoch[-1]:.2f} epochs, {h.time[-1] if h.time else 0:.0f} s "
                f"of training): <b>test accuracy {self.result.test_acc:.3f}</b>"
            )
            return self.result
        except TrainingDiverged as e:
            self.error = e
            self._show(e.history)
            self.status.value = f"<b>stopped: {html.escape(str(e))}</b>"
            return None
        except Exception as e:  # shown in the widget: a background thread's traceback would go nowhere
            self.error = e
            self.status.value = f"<b>error: {type(e).__name__}: {html.escape(str(e))}</b>"
            if threading.current_thread() is not self._thread:  # called in a cell: the cell shows the error
                raise
            return None
        finally:
            self._set_running(False)

    def start(self) -> None:
        """The Start button: train in a background thread (or here when background=False)."""
        if self.running:
            return
        if not self.background:
            self.run()
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="resblock-training", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The Stop button: end the run after the current step, keeping the model and history."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background run has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
