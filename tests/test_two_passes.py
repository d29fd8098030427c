"""`make test`'s runner (tests/two_passes.py): what each pass runs, and that a failure in either fails the whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import two_passes  # noqa: E402


def test_the_passes_split_the_tests_without_overlap_or_gap():
    first, second = two_passes.passes(["--nbval"])
    assert "--nbval" in first and "--nbval" not in second  # the nbval options go to the first pass only
    assert {"tests", "notebooks", "--ignore=tests/browser"} <= set(first)
    assert second[-1] == "tests/browser" and "tests" not in second
    # Every test file is in exactly one pass: the browser folder in the second, everything else in the first.
    every = {p.relative_to(two_passes.ROOT).as_posix() for p in (two_passes.ROOT / "tests").rglob("test_*.py")}
    browser = {p for p in every if p.startswith("tests/browser/")}
    assert browser and every - browser


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((1, 0), 1), ((0, 1), 1)])
def test_on_one_core_the_passes_run_in_turn_and_either_failure_fails(monkeypatch, codes, expected):
    calls = iter(codes)
    ran = []
    monkeypatch.setattr(two_passes, "cores", lambda: 1)
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: ran.append((cmd, kw["env"])) or next(calls))
    assert two_passes.main(["--nbval"]) == expected
    assert len(ran) == 2 and all(env["OMP_NUM_THREADS"] == "1" for _, env in ran)


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((2, 0), 1), ((0, 5), 1)])
def test_side_by_side_both_must_pass_and_the_browser_log_is_printed(monkeypatch, tmp_path, capsys, codes, expected):
    class Proc:
        def __init__(self, cmd, stdout=None, **kw):
            self.code = codes[1] if "tests/browser" in cmd else codes[0]
            if stdout is not None:
                stdout.write("browser pass output\n")

        def wait(self):
            return self.code

        def poll(self):
            return self.code

    monkeypatch.setattr(two_passes, "cores", lambda: 2)
    monkeypatch.setattr(two_passes, "LOG", tmp_path / "browser-pass.log")
    monkeypatch.setattr(subprocess, "Popen", Proc)
    assert two_passes.main([]) == expected
    out = capsys.readouterr().out
    assert "browser pass output" in out and ("FAILED" in out) == (expected == 1)
