"""`make test`'s runner: nbval and the unit tests, and the browser pass, side by side.

Every notebook runs twice in a `make test`: under nbval with the course's defaults, its outputs
compared with the committed ones, and in JupyterLab as another learner's machine runs it (another
seed, $RESBLOCK_LAB_ENV), its widgets driven in the browser. Both passes give each kernel one thread
(as Binder gives one core), so on a machine with two cores or more they run side by side, and the wall
time is about that of the longer pass, not of both. With one core they run one after the other.

The passes are not pinned to a core each: pinned, the browser pass shared its core between the
kernel, the JupyterLab server and Chromium, and took 12.7 minutes against 8.7 for the other pass
(2-core AMD EPYC); left to the scheduler, Chromium and the server use what the other pass leaves.
Each kernel still computes on one thread, at one core's pace.

    python tests/two_passes.py [PYTEST ARGS FOR THE FIRST PASS ...]

The arguments (the Makefile's nbval options) go to the first pass. The browser pass's output goes to
artifacts/browser-pass.log and is printed when both have ended; the exit status is non-zero if either
pass failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "artifacts" / "browser-pass.log"


def passes(first_args: list[str]) -> list[list[str]]:
    """The two pytest command lines: nbval and the unit tests, then the browser tests."""
    pytest = [sys.executable, "-m", "pytest"]
    return [
        [*pytest, *first_args, "--durations=10", "--ignore=tests/browser", "tests", "notebooks"],
        # no cache plugin: the first pass writes .pytest_cache, and two writers would race
        [*pytest, "-p", "no:cacheprovider", "--durations=10", "tests/browser"],
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: list[str]) -> int:
    """Run both passes (side by side where two cores allow); return 0 only if both passed."""
    first, second = passes(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per kernel in both passes
    LOG.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    if cores() < 2:
        print("one core: the two passes run one after the other", flush=True)
        codes = [subprocess.call(first, cwd=ROOT, env=env), subprocess.call(second, cwd=ROOT, env=env)]
        return 0 if codes == [0, 0] else 1

    print(
        "two passes side by side: nbval and the unit tests (below), and the browser pass "
        f"(its output: {_shown(LOG)}, printed at the end)",
        flush=True,
    )
    with LOG.open("w") as log:
        browser = subprocess.Popen(second, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            code_first = subprocess.Popen(first, cwd=ROOT, env=env).wait()
            if browser.poll() is None:
                print(f"\nwaiting for the browser pass ({_shown(LOG)}) ...", flush=True)
            code_second = browser.wait()
        except KeyboardInterrupt:
            browser.send_signal(signal.SIGINT)  # pytest stops its JupyterLab server and Chromium on SIGINT
            browser.wait()
            raise
    print("\n===== the browser pass =====", flush=True)
    print(LOG.read_text(), end="", flush=True)
    minutes = (time.perf_counter() - started) / 60
    verdict = {0: "passed"}
    print(
        f"\nnbval and unit tests: {verdict.get(code_first, f'FAILED (exit {code_first})')}; "
        f"browser pass: {verdict.get(code_second, f'FAILED (exit {code_second})')}; "
        f"{minutes:.1f} minutes side by side",
        flush=True,
    )
    return 0 if code_first == code_second == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
