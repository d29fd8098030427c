"""`make test`'s runner (tests/two_passes.py): what each pass runs, and that a failure in either fails the whole."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import two_passes  # noqa: E402

NOTEBOOK_NAMES = sorted(p.stem for p in two_passes.NOTEBOOKS.glob("*.ipynb"))


def test_every_test_runs_in_one_pass_and_every_notebook_in_exactly_one():
    (first, first_env), (second, second_env) = two_passes.passes()
    assert "tests" in first and f"--ignore={two_passes.SITE_TESTS}" in first
    assert "tests" not in second and two_passes.SITE_TESTS in second
    assert "tests/browser/test_notebooks_in_lab.py" in second
    ones = set(first_env["RESBLOCK_LAB_NOTEBOOKS"].split(","))
    twos = set(second_env["RESBLOCK_LAB_NOTEBOOKS"].split(","))
    assert ones.isdisjoint(twos) and ones | twos == set(NOTEBOOK_NAMES)
    assert "notebooks" not in first  # no nbval run: the browser's run is compared (resblock/nbcompare.py)


def test_the_share_is_balanced_against_the_best_split():
    seconds = {"a": 110.0, "b": 98.0, "c": 90.0, "d": 80.0, "e": 40.0, "f": 30.0, "g": 20.0, "h": 10.0}
    first, second = two_passes.share(seconds, 215.0, 150.0)
    assert set(first).isdisjoint(second) and set(first) | set(second) == set(seconds)
    loads = (215 + sum(seconds[n] for n in first), 150 + sum(seconds[n] for n in second))
    # the oracle: the best of every split, by brute force
    best = min(
        max(215 + sum(seconds[n] for n in c), 150 + sum(seconds[n] for n in seconds if n not in c))
        for k in range(len(seconds) + 1)
        for c in itertools.combinations(seconds, k)
    )
    assert max(loads) <= best * 1.1, (loads, best)


def test_notebook_times_come_from_the_bench_and_default_when_it_has_none(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"1core": {"figures": {"notebook_03_seconds_1core": 98.0}}}))
    seconds = two_passes.notebook_seconds(bench)
    assert set(seconds) == set(NOTEBOOK_NAMES)
    slowdown, overhead = two_passes.NOTEBOOK_SLOWDOWN, two_passes.NOTEBOOK_OVERHEAD_S
    assert seconds["03_degradation"] == pytest.approx(slowdown * 98.0 + overhead)
    assert seconds["00_start_here"] == pytest.approx(slowdown * two_passes.UNMEASURED_NOTEBOOK_S + overhead)
    missing = two_passes.notebook_seconds(tmp_path / "absent.json")
    assert set(missing.values()) == {slowdown * two_passes.UNMEASURED_NOTEBOOK_S + overhead}


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((1, 0), 1), ((0, 1), 1)])
def test_on_one_core_the_passes_run_in_turn_and_either_failure_fails(monkeypatch, codes, expected):
    calls = iter(codes)
    ran = []
    monkeypatch.setattr(two_passes, "cores", lambda: 1)
    monkeypatch.setattr(two_passes, "browser_missing", lambda: None)
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: ran.append((cmd, kw["env"])) or next(calls))
    assert two_passes.main([]) == expected
    assert len(ran) == 2 and all(env["OMP_NUM_THREADS"] == "1" for _, env in ran)
    assert ran[0][1]["RESBLOCK_LAB_NOTEBOOKS"] != ran[1][1]["RESBLOCK_LAB_NOTEBOOKS"]


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((2, 0), 1), ((0, 5), 1)])
def test_side_by_side_both_must_pass_and_the_second_log_is_printed(monkeypatch, tmp_path, capsys, codes, expected):
    class Proc:
        def __init__(self, cmd, stdout=None, **kw):
            self.code = codes[1] if stdout is not None else codes[0]
            if stdout is not None:
                stdout.write("second pass output\n")

        def wait(self):
            return self.code

        def poll(self):
            return self.code

    monkeypatch.setattr(two_passes, "cores", lambda: 2)
    monkeypatch.setattr(two_passes, "browser_missing", lambda: None)
    monkeypatch.setattr(two_passes, "LOG", tmp_path / "second-pass.log")
    monkeypatch.setattr(subprocess, "Popen", Proc)
    assert two_passes.main([]) == expected
    out = capsys.readouterr().out
    assert "second pass output" in out and ("FAILED" in out) == (expected == 1)


@pytest.mark.parametrize("code", [0, 1])
def test_without_a_browser_nbval_runs_the_notebooks_and_says_so(monkeypatch, capsys, code):
    ran = []
    monkeypatch.setattr(two_passes, "browser_missing", lambda: "no Chromium at /usr/bin/chromium")
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: ran.append((cmd, kw["env"])) or code)
    monkeypatch.setenv("RESBLOCK_LAB_ENV", "RESBLOCK_SEED=1 OMP_NUM_THREADS=1")
    monkeypatch.delenv("RESBLOCK_SEED", raising=False)
    assert two_passes.main(["--nbval", "--nbval-current-env"]) == code
    (unit, unit_env), (notebooks, notebooks_env) = ran
    assert "tests" in unit and "notebooks" in notebooks and {"--nbval", "--nbval-current-env"} <= set(notebooks)
    # The notebooks run under the variant, as JupyterLab's kernels would; the unit tests under the defaults.
    assert notebooks_env["RESBLOCK_SEED"] == "1" and "RESBLOCK_SEED" not in unit_env
    out = capsys.readouterr().out
    assert "NO BROWSER: no Chromium at /usr/bin/chromium" in out and "RESBLOCK_SEED=1" in out


def test_the_variant_is_name_value_pairs():
    assert two_passes.variant_env(" RESBLOCK_SEED=2  OMP_NUM_THREADS=1 ") == {
        "RESBLOCK_SEED": "2",
        "OMP_NUM_THREADS": "1",
    }
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        two_passes.variant_env("RESBLOCK_SEED")


def test_the_browser_is_found_where_the_browser_tests_look(monkeypatch, tmp_path):
    monkeypatch.setenv("RESBLOCK_CHROMIUM", str(tmp_path / "absent"))
    assert "no Chromium at" in two_passes.browser_missing()
    (tmp_path / "absent").touch()
    assert two_passes.browser_missing() in (None, "playwright is not installed (pip install -r requirements.txt)")


def _collected(env_value: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RESBLOCK_LAB_NOTEBOOKS": env_value}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--collect-only"]
    return subprocess.run(
        [*cmd, "tests/browser/test_notebooks_in_lab.py"], cwd=two_passes.ROOT, env=env, capture_output=True, text=True
    )


def test_a_pass_collects_its_notebooks_runs_and_their_interaction_tests_only():
    result = _collected("02_gradient_flow,00_start_here")
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert ids == [
        "tests/browser/test_notebooks_in_lab.py::test_notebook_runs_clean_in_jupyterlab[00_start_here]",
        "tests/browser/test_notebooks_in_lab.py::test_notebook_runs_clean_in_jupyterlab[02_gradient_flow]",
        "tests/browser/test_notebooks_in_lab.py::test_gradient_flow_explorer_redraws_when_depth_shortcut_and_network_change",
    ], result.stdout


def test_a_pass_naming_an_unknown_notebook_says_which_exist(monkeypatch):
    # tests/browser/conftest.py, where the variable is read, loaded from its file: `import conftest` gives
    # whichever conftest pytest imported last (tests/conftest.py when tests/browser is not collected).
    import importlib.util

    path = two_passes.ROOT / "tests" / "browser" / "conftest.py"
    spec = importlib.util.spec_from_file_location("browser_conftest", path)
    browser_conftest = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, browser_conftest)  # its dataclasses look themselves up there
    monkeypatch.syspath_prepend(str(path.parent))  # for its own imports (labdriver); restored after the test
    spec.loader.exec_module(browser_conftest)

    monkeypatch.setenv("RESBLOCK_LAB_NOTEBOOKS", "02_gradient_flow, 03_degradation")
    assert browser_conftest.lab_notebooks() == {"02_gradient_flow", "03_degradation"}
    monkeypatch.setenv("RESBLOCK_LAB_NOTEBOOKS", "02_gradient_flow,99_nothing")
    with pytest.raises(pytest.UsageError, match=r"\['99_nothing'\].*03_degradation"):
        browser_conftest.lab_notebooks()
    monkeypatch.delenv("RESBLOCK_LAB_NOTEBOOKS")
    assert browser_conftest.lab_notebooks() is None
