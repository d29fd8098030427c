"""Every notebook, run in real JupyterLab in headless Chromium, as a learner runs it.

This is the one run of each notebook in `make test`: each is opened in JupyterLab, Restart Kernel and
Run All, with no cell showing an error (cells tagged `raises-exception` show one on purpose), every
widget view rendered, every checked claim shown held (no ✗, as many ✓ per cell as the committed
notebook), and its outputs, as JupyterLab holds them, compared with the committed ones by nbval's rules
(resblock/nbcompare.py). `make test` starts JupyterLab with RESBLOCK_LAB_ENV="RESBLOCK_SEED=1 OMP_NUM_THREADS=1",
so this is also the run under another seed on one thread, as on Binder. Then the interactive figures
are used like a learner uses them. A screenshot of each notebook goes to `artifacts/screenshots/` (the
path is printed at the end of the session), and each run, outputs and all, to `artifacts/lab-runs/`.
"""

from __future__ import annotations

import json
import time

import pytest
from labdriver import NOTEBOOKS, RUNS

from resblock.nbcompare import output_differences

pytestmark = pytest.mark.browser

NOTEBOOK_NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_runs_clean_in_jupyterlab(name, notebook_runs):
    nb = notebook_runs.run(name)
    # Every checked claim holds here too: make test runs these kernels with another seed, on one thread.
    committed = NOTEBOOKS / f"{name}.ipynb"
    problems = nb.problems(nb.last_state) + nb.claim_problems(nb.last_state, committed)
    # What the learner's run printed, compared with the committed outputs by nbval's rules; the run is
    # kept in artifacts/lab-runs/, to look at beside the committed notebook when they differ.
    ran = nb.notebook_json()
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{name}.ipynb").write_text(json.dumps(ran, indent=1, ensure_ascii=False) + "\n")
    problems += output_differences(ran, committed)
    if problems:
        notebook_runs.close(nb)
        pytest.fail(f"notebooks/{name}.ipynb in JupyterLab:\n" + "\n".join(problems), pytrace=False)
    notebook_runs.keep_for_interactions(name, nb)


# -- learners' interactions -----------------------------------------------------------------------
# Each takes its notebook already run cleanly by the test above (or runs it first) and uses the
# widgets by keyboard and mouse, as a learner does; the CSS classes are the widgets' documented ones.

EXPLORER_NOTEBOOK = "02_gradient_flow"
DASHBOARD_NOTEBOOK = "04_tiny_resnet"
LESION_NOTEBOOK = "05_ensembles_of_paths"


def _img_src(page, css: str) -> str:
    return page.locator(f"{css} img, img{css}").first.get_attribute("src") or ""


def _wait_for(page, what: str, predicate: str, arg, timeout_s: float) -> None:
    """Wait until the JavaScript ``predicate(arg)`` holds; fail naming what the learner did not see."""
    try:
        page.wait_for_function(predicate, arg=arg, timeout=timeout_s * 1000, polling=250)
    except Exception as exc:
        raise AssertionError(f"{what}: not seen within {timeout_s:.0f} s ({type(exc).__name__})") from None


_SRC_CHANGED = """([css, old]) => { const img = document.querySelector(css + ' img') || document.querySelector('img' + css);
  return !!img && !!img.getAttribute('src') && img.getAttribute('src') !== old; }"""


_HAS_TEXT = "([css, text]) => (document.querySelector(css) || {}).textContent?.includes(text)"


def _widget(page, notebook: str, css: str, what: str):
    """The locator of a widget the notebook must show; fails naming the notebook when it is missing."""
    found = page.locator(css)
    if found.count() == 0:
        pytest.fail(f"notebooks/{notebook}.ipynb shows no {what} ({css})")
    return found


def _press(page, css: str, key: str, times: int = 1) -> None:
    """Focus a slider's handle and press a key, as a learner using the keyboard does."""
    handle = page.locator(f"{css} .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        handle.press(key)


@pytest.mark.notebook(EXPLORER_NOTEBOOK)
def test_gradient_flow_explorer_redraws_when_depth_shortcut_and_network_change(notebook_runs, screenshot_dir):
    nb = notebook_runs.take(EXPLORER_NOTEBOOK)
    page = nb.page
    try:
        explorer = _widget(page, EXPLORER_NOTEBOOK, ".resblock-gradflow", "gradient-flow explorer")
        figure, status = ".resblock-gradflow-figure", ".resblock-gradflow-status"
        before = _img_src(page, figure)
        assert before, "the explorer's figure has no image before any change"
        depth_before = page.locator(".resblock-gradflow-depth .noUi-handle").first.get_attribute("aria-valuenow")

        _press(page, ".resblock-gradflow-depth", "ArrowRight", 3)  # depth + 3
        _wait_for(page, "the figure redrawn after moving the depth slider", _SRC_CHANGED, [figure, before], 30)
        depth_after = page.locator(".resblock-gradflow-depth .noUi-handle").first.get_attribute("aria-valuenow")
        assert float(depth_after) == float(depth_before) + 3, f"depth slider went {depth_before} -> {depth_after}"
        depth_shown = f"depth={int(float(depth_after))}"
        _wait_for(page, f"the status line saying {depth_shown}", _HAS_TEXT, [status, depth_shown], 10)

        after_depth = _img_src(page, figure)
        _press(page, ".resblock-gradflow-shortcut", "Home")  # shortcut scale to 0: the plain net
        _wait_for(page, "the figure redrawn after turning the shortcut off", _SRC_CHANGED, [figure, after_depth], 30)
        _wait_for(page, "the status line saying shortcut_scale=0.0", _HAS_TEXT, [status, "shortcut_scale=0.0"], 10)
        off = _img_src(page, figure)
        _press(page, ".resblock-gradflow-shortcut", "End")  # and back on
        _wait_for(page, "the figure redrawn after turning the shortcut back on", _SRC_CHANGED, [figure, off], 30)

        on = _img_src(page, figure)  # the conv net: plain and residual ResNets built and measured
        page.locator(".resblock-gradflow-network button", has_text="conv 6n+2").click()
        _wait_for(page, "the figure redrawn after choosing the conv net", _SRC_CHANGED, [figure, on], 60)
        _wait_for(page, "the status line saying network=conv", _HAS_TEXT, [status, "network=conv"], 10)
        text = page.locator(status).inner_text()
        assert "could not draw" not in text, f"the conv explorer failed: {text}"

        problems = nb.problems(nb.wait_for_widgets())
        assert not problems, "after using the explorer:\n" + "\n".join(problems)
        explorer.first.screenshot(path=str(screenshot_dir / f"{EXPLORER_NOTEBOOK}-explorer-used.png"))
    finally:
        notebook_runs.close(nb)


_PROGRESS = """css => { const bar = document.querySelector(css + ' .progress-bar');
  return bar ? parseFloat(bar.style.width || bar.style.height || '0') : -1; }"""


@pytest.mark.notebook(DASHBOARD_NOTEBOOK)
def test_training_dashboard_starts_shows_progress_and_stops_cleanly(notebook_runs, screenshot_dir):
    nb = notebook_runs.take(DASHBOARD_NOTEBOOK)
    page = nb.page
    try:
        dash = _widget(
            page, DASHBOARD_NOTEBOOK, ".resblock-train-dashboard", "training dashboard"
        ).last  # the interactive one, if the notebook shows more than one
        start = dash.locator("button.resblock-train-start, .resblock-train-start button").first
        stop = dash.locator("button.resblock-train-stop, .resblock-train-stop button").first
        progress = dash.locator(".resblock-train-progress .progress-bar").first
        status = dash.locator(".resblock-train-status").first
        curves = dash.locator("img.resblock-train-curves, .resblock-train-curves img").first
        curves_before = curves.get_attribute("src")

        start.scroll_into_view_if_needed()
        start.click()
        try:
            stop.wait_for(state="visible", timeout=5000)
            page.wait_for_function("el => !el.disabled", arg=stop.element_handle(), timeout=30000)
        except Exception:
            raise AssertionError(f"Stop never became enabled after Start; status: {status.inner_text()!r}") from None

        def width() -> float:
            style = progress.get_attribute("style") or ""
            for part in style.split(";"):
                if part.strip().startswith(("width", "height")):
                    return float(part.split(":")[1].strip().rstrip("%") or 0)
            return 0.0

        def since_reset(values: list[float]) -> list[float]:
            # The bar may still show the notebook's earlier run for a moment: count from its reset.
            return values[values.index(min(values)) :] if values else []

        seen, curve_srcs, deadline = [], {curves_before}, time.monotonic() + 60
        while time.monotonic() < deadline and (len(set(since_reset(seen))) < 3 or len(curve_srcs) < 3):
            seen.append(width())
            curve_srcs.add(curves.get_attribute("src"))
            page.wait_for_timeout(500)
        moved = since_reset(seen)
        assert len(set(moved)) >= 3 and moved == sorted(moved), (
            f"the progress bar did not move forward while training: {moved[:12]}; status {status.inner_text()!r}"
        )
        assert len(curve_srcs) >= 3, "the training curves were not redrawn while training"
        assert "training" in status.inner_text(), f"status during training: {status.inner_text()!r}"

        stop.click()
        try:
            page.wait_for_function("el => !el.disabled", arg=start.element_handle(), timeout=60000)
        except Exception:
            raise AssertionError(f"the run did not end after Stop; status: {status.inner_text()!r}") from None
        try:
            # Each widget's state arrives as its own message: give the rest of the end-of-run state a moment.
            page.wait_for_function("el => el.disabled", arg=stop.element_handle(), timeout=10000)
            page.wait_for_function(
                "el => el.innerText.startsWith('stopped after')", arg=status.element_handle(), timeout=10000
            )
        except Exception:
            pass  # the assertions below say what is wrong
        text = status.inner_text()
        assert text.startswith("stopped after") and "test accuracy" in text, f"status after Stop: {text!r}"
        assert stop.is_disabled(), "Stop is still enabled after the run ended"
        assert width() < 100, "the progress bar is full although the run was stopped early"
        state = nb.wait_for_widgets()
        assert state.kernel == "idle", f"kernel {state.kernel!r} after Stop"
        problems = nb.problems(state)
        assert not problems, "after using the dashboard:\n" + "\n".join(problems)
        dash.screenshot(path=str(screenshot_dir / f"{DASHBOARD_NOTEBOOK}-dashboard-stopped.png"))
    finally:
        notebook_runs.close(nb)


@pytest.mark.notebook(LESION_NOTEBOOK)
def test_lesion_toggles_delete_a_block_and_restore_it(notebook_runs, screenshot_dir):
    nb = notebook_runs.take(LESION_NOTEBOOK)
    page = nb.page
    try:
        widget = _widget(page, LESION_NOTEBOOK, ".resblock-lesion-widget", "lesion widget").last
        readout_css = ".resblock-lesion-accuracy"
        widget.scroll_into_view_if_needed()
        readout = widget.locator(readout_css).first
        toggles = widget.locator(".resblock-lesion-toggle")
        assert toggles.count() >= 9, f"expected one toggle per block, found {toggles.count()}"

        def deleted() -> set[int]:
            # "deleted blocks: 4, 13 | ResNet-56: ..." (textContent: JupyterLab may not lay out off-screen cells)
            text = readout.text_content() or ""
            assert text.startswith("deleted blocks:"), f"the lesion read-out shows {text!r}"
            listed = text.split(":", 1)[1].split("|")[0].strip()
            return set() if listed == "none" else {int(v) for v in listed.split(",")}

        before_text, before = readout.text_content(), deleted()
        block = 4 if 4 not in before else 5  # a block in the first stage, removable in both nets
        toggle = toggles.nth(block)
        toggle.scroll_into_view_if_needed()
        toggle.click()
        _wait_for(
            page,
            f"the read-out changing after deleting block {block}",
            "([css, old]) => (document.querySelector(css) || {}).textContent !== old",
            [readout_css, before_text],
            15,
        )
        assert deleted() == before | {block}, f"deleted blocks {deleted()} after deleting {block} to {before}"
        widget.screenshot(path=str(screenshot_dir / f"{LESION_NOTEBOOK}-block-deleted.png"))

        toggle.click()  # restore it
        _wait_for(
            page,
            f"the read-out back to its first state after restoring block {block}",
            "([css, old]) => (document.querySelector(css) || {}).textContent === old",
            [readout_css, before_text],
            15,
        )
        problems = nb.problems(nb.wait_for_widgets())
        assert not problems, "after using the lesion widget:\n" + "\n".join(problems)
    finally:
        notebook_runs.close(nb)
