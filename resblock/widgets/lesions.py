"""Notebook 05's lesion toggles: one button per block; pressing it deletes that block in every net and re-measures.

A thin widget over ``resblock.paths`` (the lesions and their accuracies) and
``resblock.paths_plots.plot_lesion_accuracies`` (the bars). Veit et al. (NeurIPS 2016, sec. 4.1):
deleting a block at test time barely hurts a ResNet and ruins a plain net.

CSS classes, for browser tests: ``resblock-lesion-widget`` (the whole box), ``resblock-lesion-toggle``
(each block's button) and ``resblock-lesion-accuracy`` (the read-out of every net's accuracy). The
figure is shown through a display handle below the box, so the default state is a static image in
any renderer (GitHub, nbviewer, the site).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from resblock.paths import accuracy_from, block_inputs, block_names, removable, split_lesion
from resblock.paths_plots import plot_lesion_accuracies
from resblock.style import new_axes


class LesionToggles:
    """One toggle per block over several nets with the same blocks; accuracies re-measured on a fixed subset (notebook 05)."""

    def __init__(
        self, models: dict[str, nn.Module], images: torch.Tensor, labels: torch.Tensor, removed: Iterable[int] = ()
    ) -> None:
        if not isinstance(models, dict) or not models:
            raise ValueError("give at least one model by name, e.g. {'ResNet-56': resnet, 'plain-56': plain}.")
        first = next(iter(models.values()))
        names = block_names(first)
        for label, m in models.items():
            if block_names(m) != names:
                raise ValueError(f"all models must have the same blocks; {label!r} differs from the first.")
        if isinstance(removed, (int, np.integer, str, bytes)) or not hasattr(removed, "__iter__"):
            raise ValueError(f"removed must be a list of block indices, e.g. [13] ([] for none), got {removed!r}.")
        removed = {int(i) if isinstance(i, np.integer) else i for i in removed}  # np.int64(13) is block 13
        bad = [i for i in removed if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(names)]
        if bad:
            raise ValueError(
                f"removed must hold block indices 0..{len(names) - 1} (the nets have {len(names)} blocks), "
                f"got {sorted(bad, key=str)}."
            )
        self.models = models
        self.labels = labels
        self._removable = {label: removable(m) for label, m in models.items()}
        # The intact nets' input to every block, computed once: each toggle reruns a net only from its first deleted block.
        self._inputs = {label: block_inputs(m, images) for label, m in models.items()}
        self.intact = {label: accuracy_from(m, self._inputs[label], [], labels) for label, m in models.items()}
        self.toggles = []
        for i, name in enumerate(names):
            # A plain net cannot lose a block that changes the shape (no shortcut to carry x past it): say so.
            kept = [label for label in models if not self._removable[label][i]]
            t = widgets.ToggleButton(
                value=i in removed,
                description=str(i),
                tooltip=f"delete block {i} ({name})"
                + (f"; {', '.join(kept)} keeps it: it changes the shape" if kept else ""),
                layout=widgets.Layout(width="34px", padding="0"),
            )
            t.add_class("resblock-lesion-toggle")
            self.toggles.append(t)
        self.readout = widgets.HTML()
        self.readout.add_class("resblock-lesion-accuracy")
        import matplotlib.pyplot as plt

        self.ax = new_axes(figsize=(6, 2.4))
        self.figure = self.ax.figure
        plt.close(self.figure)  # shown only through the display handle, not again by the inline backend
        self._handle = None
        for t in self.toggles:
            t.observe(self.redraw, names="value")
        self.redraw()
        self.widget = widgets.VBox(
            [
                widgets.HTML("Click a block to delete it (again to restore it):"),
                widgets.HBox(self.toggles, layout=widgets.Layout(flex_flow="row wrap")),
                self.readout,
            ]
        )
        self.widget.add_class("resblock-lesion-widget")

    @property
    def deleted(self) -> list[int]:
        """The blocks whose toggle is pressed, in order."""
        return [i for i, t in enumerate(self.toggles) if t.value]

    def measure(self) -> dict[str, float]:
        """Each net's accuracy with the pressed blocks deleted (a plain net keeps the blocks that change the shape)."""
        accs = {}
        for label, m in self.models.items():
            deleted, _kept = split_lesion(m, self.deleted)
            accs[label] = accuracy_from(m, self._inputs[label], deleted, self.labels)
        return accs

    def _kept_note(self, label: str, chosen: list[int]) -> str:
        """'; keeps 9: it changes the shape' for the pressed blocks that ``label``'s net cannot lose, else ''."""
        _deleted, kept = split_lesion(self.models[label], chosen)
        if not kept:
            return ""
        return f"; keeps {', '.join(map(str, kept))}: {'it changes' if len(kept) == 1 else 'they change'} the shape"

    def redraw(self, _change: dict | None = None) -> None:
        """Re-measure and update the read-out and the figure."""
        accs = self.measure()
        chosen = self.deleted
        self.readout.value = (
            "deleted blocks: "
            + (", ".join(map(str, chosen)) or "none")
            + " &nbsp;|&nbsp; "
            + " &nbsp;|&nbsp; ".join(
                f"<b>{html.escape(label)}</b>: {accs[label]:.3f} (intact {self.intact[label]:.3f}"
                + self._kept_note(label, chosen)
                + ")"
                for label in self.models
            )
        )
        self.ax.clear()
        plot_lesion_accuracies(accs, self.intact, len(self.labels), len(chosen), ax=self.ax)
        self.figure.tight_layout()
        if self._handle is not None:
            self._handle.update(self.figure)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
        self._handle = display(self.figure, display_id=True)
