"""Fixtures for the browser tests: a JupyterLab server on a temporary copy of the course, and headless Chromium.

The server runs from this Python environment on a free loopback port with a random token, with its
config, data and runtime folders in a temporary directory, and serves a *copy* of `notebooks/`, so
nothing a test does in the browser (running cells, an autosave) can change the committed notebooks.
It is stopped at the end of the session, also when a test fails or the run is interrupted.

Chromium is Debian's (`apt-get install chromium`), driven by Python's `playwright` (`pip install
playwright`); never `playwright install`. When either is missing, the tests skip saying so.
Screenshots go to `artifacts/screenshots/` (or $RESBLOCK_SCREENSHOTS); the path is printed at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from labdriver import NOTEBOOKS, ROOT, SCREENSHOTS, NotebookInLab

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: make test's runner, two_passes.py
from two_passes import variant_env  # noqa: E402

CHROMIUM = os.environ.get("RESBLOCK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
HOW_TO_INSTALL = (
    "install Debian's browser with `apt-get install chromium` (or set $RESBLOCK_CHROMIUM to a Chromium "
    "binary) and the driver with `pip install playwright` (do not run `playwright install`)"
)
SERVER_START_TIMEOUT_S = 90

# Top-level entries of the repository that the served copy does not link to.
_NOT_LINKED = {"notebooks", ".git", ".venv", "artifacts", ".pytest_cache", ".ipynb_checkpoints"}

# JupyterLab settings for the test server: no autosave (the served copy is throwaway anyway) and no
# "get notified about Jupyter news?" toast over the notebook.
_LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def lab_kernel_env() -> dict[str, str]:
    """$RESBLOCK_LAB_ENV ("RESBLOCK_SEED=1 OMP_NUM_THREADS=1"): variables for the server and its kernels.

    `make test` runs the notebooks in JupyterLab as another learner's machine would: another course
    seed, one thread (as on Binder). The notebooks read these variables as in any learner's kernel,
    so the run is a learner's run, and its outputs must still match the committed ones (seed 0).
    """
    try:
        return variant_env(os.environ.get("RESBLOCK_LAB_ENV", ""))  # the runner's parser: one reading of it
    except SystemExit as e:
        raise pytest.UsageError(str(e)) from None


@dataclass
class LabServer:
    """A running JupyterLab server: where it is, its token, and the folder it serves."""

    url: str
    token: str
    root: Path
    log: Path

    def lab_url(self, path: str) -> str:
        """The address a learner would open for ``path`` (relative to the served folder)."""
        return f"{self.url}/lab/tree/{path}?token={self.token}&reset"

    def api(self, method: str, path: str) -> object:
        """Call the server's REST API and return the decoded JSON (None for an empty answer)."""
        req = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels_of(self, path: str) -> None:
        """End the sessions (and kernels) of one notebook, so finished notebooks free their memory."""
        for session in self.api("GET", "sessions"):
            if session.get("path") == path:
                self.api("DELETE", f"sessions/{session['id']}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_copy_of_course(dest: Path) -> None:
    """`dest/notebooks` is a copy; every other top-level entry links to the repository (data, results)."""
    dest.mkdir()
    # A real copy, so a save (or autosave) in the browser can never reach the committed notebooks.
    shutil.copytree(NOTEBOOKS, dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for entry in ROOT.iterdir():
        if entry.name not in _NOT_LINKED:
            (dest / entry.name).symlink_to(entry)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the server then shuts its kernels down), then SIGKILL to the process group if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own group: the server and the kernels it started
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by playwright; skips with install instructions when missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"playwright is not installed: {HOW_TO_INSTALL}")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: {HOW_TO_INSTALL}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    """A JupyterLab server from this environment, serving a temporary copy of the course."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed: pip install -r requirements.txt")
    tmp = tmp_path_factory.mktemp("lab")
    course = tmp / "course"
    _serve_copy_of_course(course)

    env = dict(os.environ)
    env.update(lab_kernel_env())  # the kernels inherit the server's environment
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[var] = str(tmp / sub)
        (tmp / sub).mkdir()
    for name, settings in _LAB_SETTINGS.items():
        target = tmp / "config" / "lab" / "user-settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(settings))

    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
        "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # as root (containers, CI) the server refuses to start without it
    log = tmp / "jupyterlab.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=course, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(url=f"http://127.0.0.1:{port}", token=token, root=course, log=log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {proc.returncode} at start; its log:\n{server.log_tail()}")
            try:
                server.api("GET", "status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not answer on {server.url} within {SERVER_START_TIMEOUT_S} s; "
                        f"its log:\n{server.log_tail()}"
                    )
                time.sleep(0.5)
        yield server
    finally:
        _stop(proc)


RUN_TEST = "test_notebook_runs_clean_in_jupyterlab"  # the per-notebook test in test_notebooks_in_lab.py
RUN_TIMEOUT_S = 240  # each notebook must run in under 2 minutes; twice that is a failure, not slowness


class NotebookRuns:
    """Runs notebooks in fresh tabs and hands a finished one on to the interaction tests that follow it.

    A notebook with interaction tests (marked ``@pytest.mark.notebook(name)``) is run once: its
    clean-run test keeps the tab open and the interaction tests take it, instead of running the
    whole notebook again. Everything still open is closed, kernels included, at the end.
    """

    def __init__(self, browser, server: LabServer, shots: Path, interacting: set[str]):
        self.browser, self.server, self.shots, self.interacting = browser, server, shots, interacting
        self._kept: dict[str, NotebookInLab] = {}

    def run(self, name: str) -> NotebookInLab:
        """Open notebooks/NAME.ipynb in a new tab, Restart Kernel and Run All, screenshot it."""
        if not (NOTEBOOKS / f"{name}.ipynb").exists():
            pytest.skip(f"notebooks/{name}.ipynb is not there yet")
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        nb = NotebookInLab(context.new_page(), self.server, f"notebooks/{name}.ipynb")
        try:
            nb.open()
            nb.restart_and_run_all(timeout_s=RUN_TIMEOUT_S)
            nb.last_state = nb.wait_for_widgets()
        except BaseException:
            self._screenshot_anyway(nb, f"{name}-FAILED.png")
            self.close(nb)
            raise
        nb.screenshot(self.shots / f"{name}.png")
        return nb

    def keep_for_interactions(self, name: str, nb: NotebookInLab) -> bool:
        """Keep a cleanly run notebook open when an interaction test follows; else close it."""
        if name in self.interacting:
            self._kept[name] = nb
            return True
        self.close(nb)
        return False

    def take(self, name: str) -> NotebookInLab:
        """The notebook, already run cleanly; runs it now when its clean-run test did not."""
        nb = self._kept.pop(name, None)
        if nb is None:
            nb = self.run(name)
            problems = nb.problems(nb.last_state)
            if problems:
                self.close(nb)
                pytest.fail("the notebook did not run cleanly, so it cannot be explored:\n" + "\n".join(problems))
        return nb

    def close(self, nb: NotebookInLab) -> None:
        try:
            nb.shutdown()
        finally:
            nb.page.context.close()

    def close_all(self) -> None:
        while self._kept:
            self.close(self._kept.popitem()[1])

    def _screenshot_anyway(self, nb: NotebookInLab, filename: str) -> None:
        try:
            nb.page.screenshot(path=str(self.shots / filename))
        except Exception:  # the page may be gone; the failure itself matters more
            pass


@pytest.fixture(scope="session")
def screenshot_dir(pytestconfig) -> Path:
    """Where each notebook's screenshot goes: emptied of the last session's screenshots (of its notebooks)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chosen = lab_notebooks()  # another pass may be writing the other notebooks' screenshots right now
    for old in SCREENSHOTS.glob("*.png"):
        if chosen is None or any(old.name.startswith(name) for name in chosen):
            old.unlink()
    pytestconfig._resblock_took_screenshots = True
    return SCREENSHOTS


@pytest.fixture(scope="session")
def notebook_runs(browser, lab_server, screenshot_dir, pytestconfig):
    """The session's notebook runner (browser first, so a missing Chromium skips before the server starts)."""
    runs = NotebookRuns(browser, lab_server, screenshot_dir, getattr(pytestconfig, "_resblock_interacting", set()))
    try:
        yield runs
    finally:
        runs.close_all()


def pytest_configure(config):
    config.addinivalue_line("markers", "notebook(name): an interaction test on notebooks/NAME.ipynb after its run")


def lab_notebooks() -> set[str] | None:
    """$RESBLOCK_LAB_NOTEBOOKS ("00_start_here,03_degradation"): the notebooks this session runs; None: all.

    `make test` shares the notebooks between two browser passes, one per core (tests/two_passes.py).
    """
    value = os.environ.get("RESBLOCK_LAB_NOTEBOOKS")
    if value is None:
        return None
    names = {n.strip() for n in value.split(",") if n.strip()}
    unknown = sorted(n for n in names if not (NOTEBOOKS / f"{n}.ipynb").exists())
    if unknown:
        known = ", ".join(sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
        raise pytest.UsageError(f"$RESBLOCK_LAB_NOTEBOOKS names no notebook {unknown}; the notebooks: {known}")
    return names


def _notebook_of(item) -> str | None:
    """The notebook a browser test runs or uses (its clean-run parameter or its notebook marker)."""
    marker = item.get_closest_marker("notebook")
    if marker:
        return marker.args[0]
    callspec = getattr(item, "callspec", None)
    if callspec and getattr(item, "originalname", None) == RUN_TEST:
        return callspec.params.get("name")
    return None


def pytest_collection_modifyitems(config, items):
    """Keep the notebooks of $RESBLOCK_LAB_NOTEBOOKS; put each interaction test right after its notebook's run."""
    chosen = lab_notebooks()
    if chosen is not None:
        dropped = [i for i in items if _notebook_of(i) not in (None, *chosen)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            gone = {id(i) for i in dropped}
            items[:] = [i for i in items if id(i) not in gone]
    followers: dict[str, list] = {}
    for item in items:
        marker = item.get_closest_marker("notebook")
        if marker:
            followers.setdefault(marker.args[0], []).append(item)
    config._resblock_interacting = set(followers)
    moved = {id(item) for group in followers.values() for item in group}
    ordered = []
    for item in items:
        if id(item) in moved:
            continue
        ordered.append(item)
        callspec = getattr(item, "callspec", None)
        if callspec and getattr(item, "originalname", None) == RUN_TEST:
            ordered.extend(followers.pop(callspec.params.get("name"), []))
    for group in followers.values():  # their notebook's run test is absent or deselected
        ordered.extend(group)
    items[:] = ordered


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print where the screenshots are, so CI logs show it."""
    if getattr(config, "_resblock_took_screenshots", False) and lab_kernel_env():
        terminalreporter.section("browser kernels")
        terminalreporter.write_line(
            "JupyterLab's kernels ran with " + " ".join(f"{k}={v}" for k, v in lab_kernel_env().items())
        )
    shots = sorted(SCREENSHOTS.glob("*.png")) if SCREENSHOTS.is_dir() else []
    if shots and getattr(config, "_resblock_took_screenshots", False):
        terminalreporter.section("browser screenshots")
        terminalreporter.write_line(f"{len(shots)} screenshots of the notebooks in JupyterLab: {SCREENSHOTS}")
