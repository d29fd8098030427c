"""The live picture of a training run (notebooks 03-06): loss and accuracy curves redrawn in place."""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
from IPython.display import display

from resblock.evaluation_plots import HistoryCurves
from resblock.train import History


class LiveFigure:
    """Loss and accuracy curves redrawn in place through a display handle, at most every ``interval`` seconds.

    A display handle (``display(fig, display_id=True)`` then ``.update(fig)``) rather than
    ``clear_output``, so nbval sees one output and JupyterLab, nbconvert and Binder all show it.
    The finished run (``history.wall_time`` set by ``fit``) is always drawn.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.fig = plt.figure(figsize=(10, 3.4))
        self.curves = HistoryCurves(self.fig)  # lines updated in place: a frame costs less than a re-plot
        self.axes = self.curves.axes
        plt.close(self.fig)  # shown only through the handle, not again by the inline backend at cell end
        self.handle = display(self.fig, display_id=True)
        self._last = -math.inf

    def __call__(self, history: History, force: bool = False) -> None:
        now = time.perf_counter()
        finished = history.wall_time > 0  # fit sets it only when the run is over: the last frame must show
        if not (force or finished) and now - self._last < self.interval:
            return
        self._last = now
        self.curves.update(history)
        if self.handle is not None:
            self.handle.update(self.fig)
