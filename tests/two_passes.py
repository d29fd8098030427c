"""`make test`'s runner: every test in two passes, side by side where there are two cores.

Every notebook runs once in a `make test`, as a learner runs it: opened in JupyterLab in a real
browser, Restart Kernel and Run All, every widget driven; its outputs are then compared with the
committed ones by nbval's rules (resblock/nbcompare.py), so nbval need not run it again. The
kernels run as another learner's machine does ($RESBLOCK_LAB_ENV: another seed, one thread as on
Binder), so the comparison also shows that every compared output is the same on another seed.

The notebooks are shared between the two passes ($RESBLOCK_LAB_NOTEBOOKS), each pass with its own
JupyterLab server and Chromium; the first pass also runs the unit tests, the second the static site's
browser tests. :func:`share` balances them by each notebook's time on one core from the bench
(results/bench_notebooks.json). The passes are not pinned to a core each: Chromium and the server use
what the other pass leaves, and each kernel still computes on one thread, at one core's pace.

    python tests/two_passes.py [NBVAL OPTIONS ...]

The second pass's output goes to artifacts/second-pass.log and is printed when both have ended; the
exit status is non-zero if either pass failed. With one core the passes run one after the other.
Without Chromium or playwright the browser tests would skip, so the notebooks would not run at all:
then the unit tests run, and nbval itself over notebooks/ with the options given (the Makefile's) and
$RESBLOCK_LAB_ENV's variables (the seed and threads the kernels in JupyterLab would have), and it says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "artifacts" / "second-pass.log"
NOTEBOOKS = ROOT / "notebooks"
BENCH = ROOT / "results" / "bench_notebooks.json"
SITE_TESTS = "tests/browser/test_site_a11y.py"

# Seconds each part takes on one core, for balancing only (2-core AMD EPYC, 2026-12-01): the unit tests
# (pytest tests --ignore=tests/browser, one thread) and the site's browser tests. A notebook's time is the
# bench's on one core, slowed by the other pass and Chromium sharing the cores, plus what opening it,
# restarting its kernel, the screenshot and the interaction tests add. Fitted to one make test's
# durations (2026-12-02): 1.35 x bench + 12 s was within 3 s of every notebook's but 04's and 05's (10 and 5 s over);
# bench + 12 s had put 03 and 07 at 102 and 68 s against 131 and 85 s, and one pass ended 47 s after the other.
UNIT_TESTS_S = 215.0
SITE_TESTS_S = 150.0
NOTEBOOK_SLOWDOWN = 1.35
NOTEBOOK_OVERHEAD_S = 12.0
UNMEASURED_NOTEBOOK_S = 60.0  # a notebook the bench has not timed yet


def notebook_seconds(bench: Path = BENCH) -> dict[str, float]:
    """Each notebook's expected time in the browser on one thread, by name ("03_degradation")."""
    try:
        figures = json.loads(bench.read_text())["1core"]["figures"]
    except (OSError, ValueError, KeyError):
        figures = {}
    return {
        p.stem: NOTEBOOK_SLOWDOWN * figures.get(f"notebook_{p.stem[:2]}_seconds_1core", UNMEASURED_NOTEBOOK_S)
        + NOTEBOOK_OVERHEAD_S
        for p in sorted(NOTEBOOKS.glob("*.ipynb"))
    }


def share(seconds: dict[str, float], first_load: float, second_load: float) -> tuple[list[str], list[str]]:
    """Split the notebooks between the passes, longest first, each to the pass with less work so far."""
    shares: tuple[list[str], list[str]] = ([], [])
    loads = [first_load, second_load]
    for name in sorted(seconds, key=lambda n: (-seconds[n], n)):
        k = 0 if loads[0] <= loads[1] else 1
        shares[k].append(name)
        loads[k] += seconds[name]
    return sorted(shares[0]), sorted(shares[1])


def browser_missing() -> str | None:
    """Why the browser tests would skip here (tests/browser/conftest.py's checks); None when they can run."""
    chromium = os.environ.get("RESBLOCK_CHROMIUM", "/usr/bin/chromium")
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -r requirements.txt)"
    if not Path(chromium).exists():
        return f"no Chromium at {chromium} (apt-get install chromium, or set $RESBLOCK_CHROMIUM)"
    return None


def passes() -> list[tuple[list[str], dict[str, str]]]:
    """The two pytest command lines, each with the environment that names its notebooks."""
    first, second = share(notebook_seconds(), UNIT_TESTS_S, SITE_TESTS_S)
    pytest = [sys.executable, "-m", "pytest", "--durations=10"]
    return [
        ([*pytest, f"--ignore={SITE_TESTS}", "tests"], {"RESBLOCK_LAB_NOTEBOOKS": ",".join(first)}),
        # no cache plugin: the first pass writes .pytest_cache, and two writers would race
        (
            [*pytest, "-p", "no:cacheprovider", "tests/browser/test_notebooks_in_lab.py", SITE_TESTS],
            {"RESBLOCK_LAB_NOTEBOOKS": ",".join(second)},
        ),
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def variant_env(spec: str) -> dict[str, str]:
    """$RESBLOCK_LAB_ENV's NAME=VALUE pairs ("RESBLOCK_SEED=1 OMP_NUM_THREADS=1") as a dict."""
    env = {}
    for item in spec.split():
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise SystemExit(f"$RESBLOCK_LAB_ENV takes NAME=VALUE pairs separated by spaces, got {item!r}")
        env[name] = value
    return env


def main(argv: list[str]) -> int:
    """Run both passes (side by side where two cores allow); return 0 only if both passed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per kernel in both passes
    missing = browser_missing()
    if missing:
        variant = variant_env(os.environ.get("RESBLOCK_LAB_ENV", ""))
        shown = " ".join(f"{k}={v}" for k, v in variant.items()) or "the course's defaults"
        print(
            f"NO BROWSER: {missing}. The browser tests skip; the notebooks run under nbval instead ({shown}, "
            "as the kernels in JupyterLab would), without their widgets being used.",
            flush=True,
        )
        unit = subprocess.call([sys.executable, "-m", "pytest", *argv, "tests"], cwd=ROOT, env=env)
        notebooks = subprocess.call(
            [sys.executable, "-m", "pytest", *argv, "notebooks"], cwd=ROOT, env={**env, **variant}
        )
        return unit or notebooks
    (first, first_env), (second, second_env) = passes()
    first_env, second_env = {**env, **first_env}, {**env, **second_env}
    print(
        f"first pass: the unit tests and notebooks {first_env['RESBLOCK_LAB_NOTEBOOKS']}; second pass: "
        f"notebooks {second_env['RESBLOCK_LAB_NOTEBOOKS']} and the site",
        flush=True,
    )
    LOG.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    if cores() < 2:
        print("one core: the two passes run one after the other", flush=True)
        codes = [subprocess.call(first, cwd=ROOT, env=first_env), subprocess.call(second, cwd=ROOT, env=second_env)]
        return 0 if codes == [0, 0] else 1

    print(f"side by side: the first pass below, the second's output ({_shown(LOG)}) at the end", flush=True)
    with LOG.open("w") as log:
        other = subprocess.Popen(second, cwd=ROOT, env=second_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            code_first = subprocess.Popen(first, cwd=ROOT, env=first_env).wait()
            if other.poll() is None:
                print(f"\nwaiting for the second pass ({_shown(LOG)}) ...", flush=True)
            code_second = other.wait()
        except KeyboardInterrupt:
            other.send_signal(signal.SIGINT)  # pytest stops its JupyterLab server and Chromium on SIGINT
            other.wait()
            raise
    print("\n===== the second pass =====", flush=True)
    print(LOG.read_text(), end="", flush=True)
    minutes = (time.perf_counter() - started) / 60
    verdict = {0: "passed"}
    print(
        f"\nfirst pass: {verdict.get(code_first, f'FAILED (exit {code_first})')}; "
        f"second pass: {verdict.get(code_second, f'FAILED (exit {code_second})')}; "
        f"{minutes:.1f} minutes side by side",
        flush=True,
    )
    return 0 if code_first == code_second == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
