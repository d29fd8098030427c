"""Drive one notebook in JupyterLab the way a learner does: open, Restart Kernel and Run All, look.

JupyterLab runs with `--LabApp.expose_app_in_browser=True`, so `window.jupyterapp` is the running
application; the state we wait on and check (kernel status, execution counts, outputs) is read from
its notebook model, and what the learner sees (widget views, error text) from the page itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# $RESBLOCK_NOTEBOOKS_DIR points the tests at another folder of notebooks (for developing the tests).
NOTEBOOKS = Path(os.environ.get("RESBLOCK_NOTEBOOKS_DIR", ROOT / "notebooks")).resolve()
SCREENSHOTS = Path(os.environ.get("RESBLOCK_SCREENSHOTS", ROOT / "artifacts" / "screenshots")).resolve()
RUNS = ROOT / "artifacts" / "lab-runs"  # each notebook as its last run in JupyterLab left it, outputs and all

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_FAILURES = ("Error displaying widget", "Loading widget...")
CLAIM_HELD, CLAIM_FAILED = "\u2713", "\u2717"  # the marks resblock.claims prints before a checked claim


def committed_claims(path: Path) -> list[int]:
    """How many held claims (check marks) each cell of the committed notebook shows, in cell order."""
    import nbformat

    counts = []
    for cell in nbformat.read(path, as_version=4).cells:
        text = ""
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text += out.get("text", "") + "".join(out.get("data", {}).get("text/plain", ""))
        counts.append(text.count(CLAIM_HELD))
    return counts


# Finds the notebook panel for `path` among the main area's tabs (bound in every script below).
_PANEL = """
const app = window.jupyterapp;
const panel = app && app.shell
  ? Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path)
  : undefined;
"""

_READY = f"""path => {{ {_PANEL}
  if (!panel || !panel.context.isReady) return false;
  const s = panel.sessionContext;
  return s.isReady && !!s.session && !!s.session.kernel && s.session.kernel.status === 'idle';
}}"""

_STATE = f"""path => {{ {_PANEL}
  if (!panel) return null;
  const s = panel.sessionContext;
  const kernel = s.session && s.session.kernel ? s.session.kernel.status : 'none';
  const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim());
  const cells = panel.content.widgets.map((cell, index) => {{
    const m = cell.model;
    const code = m.type === 'code';
    const outputs = code ? m.outputs.toJSON() : [];
    const area = code ? cell.node.querySelector('.jp-Cell-outputArea') : null;
    // One .jp-OutputArea-child per output; a rendered widget view holds a .jupyter-widgets element.
    const children = area ? Array.from(area.querySelectorAll(':scope > .jp-OutputArea-child')) : [];
    const isView = outputs.map(o => !!(o.data && o.data['{WIDGET_VIEW}']));
    const prompt = code ? cell.node.querySelector('.jp-InputPrompt') : null;
    return {{
      index, type: m.type, source: m.sharedModel.getSource(), tags: m.getMetadata('tags') || [],
      count: code ? m.executionCount : null,
      running: code && (m.executionState === 'running' || (!!prompt && prompt.textContent.includes('*'))),
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      widgetOutputs: isView.filter(Boolean).length,
      widgetViews: isView.filter((v, i) => v && children[i] && children[i].querySelector('.jupyter-widgets')).length,
      outputText: area ? area.textContent : '',
    }};
  }});
  return {{ kernel, dialogs, cells }};
}}"""


@dataclass
class Cell:
    """One cell as JupyterLab shows it after a run."""

    index: int
    type: str
    source: str
    tags: list[str]
    count: int | None
    running: bool
    errors: list[str]
    widgetOutputs: int  # noqa: N815 (the name the browser side uses)
    widgetViews: int  # noqa: N815
    outputText: str  # noqa: N815

    @property
    def runs(self) -> bool:
        """Whether Run All executes it (JupyterLab skips empty code cells)."""
        return self.type == "code" and bool(self.source.strip())

    @property
    def error_expected(self) -> bool:
        return "raises-exception" in self.tags

    def where(self, notebook: str) -> str:
        first = next((line for line in self.source.splitlines() if line.strip()), "")
        count = f"[{self.count}]" if self.count is not None else "[ ]"
        return f"{notebook}, cell {self.index + 1} {count} `{first[:70]}`"


@dataclass
class LabState:
    kernel: str
    dialogs: list[str]
    cells: list[Cell] = field(default_factory=list)


class NotebookFailure(AssertionError):
    """A notebook did not open, run or render as a learner would need."""


class NotebookInLab:
    """One notebook open in a JupyterLab tab."""

    def __init__(self, page, server, path: str):
        self.page, self.server, self.path = page, server, path

    # -- reading the page --------------------------------------------------------------------
    def state(self) -> LabState:
        raw = self.page.evaluate(_STATE, self.path)
        if raw is None:
            raise NotebookFailure(f"{self.path} is not open in JupyterLab any more")
        return LabState(raw["kernel"], raw["dialogs"], [Cell(**c) for c in raw["cells"]])

    # -- what a learner does -------------------------------------------------------------------
    def open(self, timeout_s: float = 90) -> None:
        """Open the notebook and wait until its kernel is started and idle (and no dialog asks for one)."""
        self.page.goto(self.server.lab_url(self.path))
        self._wait_ready(timeout_s, "open with a started, idle kernel")
        self.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # more room for the notebook

    def _wait_ready(self, timeout_s: float, what: str) -> None:
        try:
            self.page.wait_for_function(_READY, arg=self.path, timeout=timeout_s * 1000, polling=250)
        except Exception as exc:  # playwright's TimeoutError
            dialogs = self.page.evaluate(
                "() => Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim())"
            )
            raise NotebookFailure(
                f"{self.path} did not {what} within {timeout_s:.0f} s ({type(exc).__name__})."
                + (f"\nDialog on screen: {dialogs}" if dialogs else "")
                + f"\nJupyterLab server log (last lines):\n{self.server.log_tail(15)}"
            ) from None

    def restart_and_run_all(self, timeout_s: float = 240) -> LabState:
        """Kernel > Restart Kernel, then Run > Run All Cells; wait until every cell has run (or one failed)."""
        self.page.evaluate(
            f"""async path => {{ {_PANEL}
              app.shell.activateById(panel.id);
              await panel.sessionContext.restartKernel();
            }}""",
            self.path,
        )
        self._wait_ready(60, "restart its kernel")
        # Clear the committed outputs first, so everything checked below comes from this run. Run All
        # is started, not awaited: its promise can hang (RECIPES.md); we poll the model instead.
        self.page.evaluate(
            f"""async path => {{ {_PANEL}
              app.shell.activateById(panel.id);
              await app.commands.execute('notebook:clear-all-cell-outputs');
              app.commands.execute('notebook:run-all-cells');
            }}"""
            , self.path,
        )  # fmt: skip
        return self._wait_until_run_ends(timeout_s)

    def _wait_until_run_ends(self, timeout_s: float) -> LabState:
        start = time.monotonic()
        quiet_since = None
        while True:
            state = self.state()
            if state.kernel in ("dead", "autorestarting", "restarting"):
                raise NotebookFailure(
                    f"{self.path}: the kernel died during Run All (status {state.kernel!r}); out of memory? "
                    f"It was running: {self._running(state)}"
                )
            if state.dialogs:
                raise NotebookFailure(f"{self.path}: a dialog came up during Run All: {state.dialogs}")
            quiet = state.kernel == "idle" and not any(c.running for c in state.cells)
            to_run = [c for c in state.cells if c.runs]
            if quiet and to_run and all(c.count is not None for c in to_run):
                return state
            # An unexpected error stops Run All; between cells JupyterLab can look idle for a moment
            # (after an intended `raises-exception` cell it re-queues the rest), so ask for 3 quiet s.
            stopped = quiet and any(c.errors and not c.error_expected for c in state.cells)
            quiet_since = (quiet_since or time.monotonic()) if stopped else None
            if quiet_since is not None and time.monotonic() - quiet_since > 3:
                return state
            if time.monotonic() - start > timeout_s:
                raise NotebookFailure(
                    f"{self.path} did not finish Run All within {timeout_s:.0f} s (a notebook must run in "
                    f"under 2 minutes); still running or queued: {self._running(state)}"
                )
            time.sleep(0.5)

    def _running(self, state: LabState) -> str:
        running = [c.where(self.path) for c in state.cells if c.running]
        return "; ".join(running[:3]) or "no cell (kernel " + state.kernel + ")"

    def wait_for_widgets(self, timeout_s: float = 30) -> LabState:
        """Give widget views time to render (they appear after the kernel has gone idle)."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state()
            pending = [c for c in state.cells if "Loading widget..." in c.outputText or c.widgetViews < c.widgetOutputs]
            if not pending or time.monotonic() > deadline:
                return state
            time.sleep(0.5)

    def problems(self, state: LabState) -> list[str]:
        """What a learner would see go wrong, one line per cell, naming the notebook and the cell."""
        found = []
        for c in state.cells:
            if c.errors and not c.error_expected:
                found.append(f"{c.where(self.path)} shows an error: {'; '.join(c.errors)}")
            for text in WIDGET_FAILURES:
                if text in c.outputText:
                    found.append(f"{c.where(self.path)} shows {text!r}")
            if c.widgetViews < c.widgetOutputs:
                found.append(f"{c.where(self.path)} rendered {c.widgetViews} of its {c.widgetOutputs} widget views")
            for line in c.outputText.splitlines():
                if CLAIM_FAILED in line:  # resblock.claims prints a claim that did not hold with a cross
                    found.append(f"{c.where(self.path)} shows a claim that did not hold: {line.strip()[:200]}")
        not_run = [c for c in state.cells if c.runs and c.count is None]
        if not_run:
            found.append(
                f"{len(not_run)} cells did not run, from {not_run[0].where(self.path)} on "
                "(Run All stops at the first unexpected error)"
            )
        counts = [c.count for c in state.cells if c.count is not None]
        if counts != sorted(counts) or len(set(counts)) != len(counts):
            found.append(f"{self.path}: cells did not run top to bottom in one kernel (execution counts {counts})")
        return found

    def claim_problems(self, state: LabState, committed: Path) -> list[str]:
        """Cells that show fewer held claims than the committed notebook: a claim that did not run or hold."""
        found = []
        for c, expected in zip(state.cells, committed_claims(committed)):
            shown = c.outputText.count(CLAIM_HELD)
            if shown < expected:
                found.append(
                    f"{c.where(self.path)} shows {shown} held claims (\u2713), the committed notebook {expected}"
                )
        return found

    def notebook_json(self) -> dict:
        """The notebook as JupyterLab would save it now: sources and this run's outputs (nbformat JSON)."""
        return self.page.evaluate(f"path => {{ {_PANEL} return panel.context.model.toJSON(); }}", self.path)

    def screenshot(self, path: Path) -> Path:
        """The whole notebook in one image: the window is made as tall as the notebook first."""
        scroll, visible = self.page.evaluate(
            f"""path => {{ {_PANEL}
              const scroller = panel.content.outerNode;  // the notebook's scrolling element
              scroller.scrollTop = 0;
              return [scroller.scrollHeight, scroller.clientHeight];
            }}""",
            self.path,
        )
        size = self.page.viewport_size
        height = size["height"] - visible + scroll  # menus and toolbars, plus the whole notebook
        # Chromium caps a screenshot at 16384 px; longer notebooks are cut at the bottom.
        self.page.set_viewport_size({"width": size["width"], "height": int(min(height, 16000))})
        self.page.wait_for_timeout(500)  # let the newly visible cells paint
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size(size)
        return path

    def shutdown(self) -> None:
        """Shut the notebook's kernel down (closing a tab alone leaves it running on the server)."""
        self.server.shutdown_kernels_of(self.path)
