"""Checked claims print a stable verdict line, mask only the measured digits, and fail visibly."""

import json
import re

import pytest

from resblock.claims import ClaimNotShown, claim, read_log
from resblock.nbcompare import sanitize_patterns

SANITIZE = list(sanitize_patterns().items())  # tests/nbval_sanitize.cfg, read as make test reads it


def sanitize(text: str) -> str:
    for regex, replace in SANITIZE:
        text = re.sub(regex, replace, text)
    return text


def test_a_claim_that_holds_prints_a_tick_and_the_measured_value(capsys):
    assert claim("plain-56 ends above plain-20", 2.43, above=1.3, what="ratio") is True
    assert capsys.readouterr().out == "✓ plain-56 ends above plain-20: ratio > 1.3 (measured 2.43)\n"


def test_a_claim_that_fails_prints_a_cross_and_goes_on(capsys):
    assert claim("plain-56 ends above plain-20", 0.9, above=1.3, what="ratio") is False
    out = capsys.readouterr().out
    assert out.startswith("✗ NOT SHOWN by this run: plain-56 ends above plain-20: ratio > 1.3 (measured 0.9)")


@pytest.mark.parametrize(
    "kwargs, value, line",
    [
        ({"below": 0.5}, 0.25, "✓ s: value < 0.5 (measured 0.25)"),
        ({"above": 0.1, "below": 0.5, "what": "share"}, 0.25, "✓ s: 0.1 < share < 0.5 (measured 0.25)"),
        ({"near": (117.39, 0.01), "what": "(1.1)^50"}, 1.1**50, "✓ s: (1.1)^50 = 117 ± 0.01 (measured 117)"),
        ({}, True, "✓ s (measured yes)"),
    ],
)
def test_criteria(capsys, kwargs, value, line):
    assert claim("s", value, **kwargs)
    assert capsys.readouterr().out.strip() == line


def test_near_fails_outside_its_tolerance(capsys):
    assert not claim("s", 1.0, near=(2.0, 0.5))


def test_only_the_measured_digits_are_masked(capsys):
    claim("plain-56 ends above plain-20", 2.43, above=1.3, what="ratio")
    first = capsys.readouterr().out
    claim("plain-56 ends above plain-20", 3.1, above=1.3, what="ratio")
    second = capsys.readouterr().out
    assert first != second and sanitize(first) == sanitize(second)
    claim("plain-56 ends above plain-20", 0.9, above=1.3, what="ratio")
    assert sanitize(capsys.readouterr().out) != sanitize(first), "a failed claim must differ after masking"
    claim("plain-56 ends above plain-20", 2.43, above=1.5, what="ratio")
    assert sanitize(capsys.readouterr().out) != sanitize(first), "the criterion is compared"


@pytest.mark.parametrize(
    "a, b",
    [
        ("test accuracy ≈0.912 after 30 s", "test accuracy ≈0.874 after 30 s"),
        ("ratio ≈ 3.2e-19", "ratio ≈ 1e-18"),
        ("error ≈24.6%", "error ≈19%"),
        ("course seed: 0", "course seed: 2"),
        ("GradFlowExplorer(depth=50, seed=0)", "GradFlowExplorer(depth=50, seed=1)"),
    ],
)
def test_sanitizer_masks_marked_numbers_and_the_seed(a, b):
    assert sanitize(a) == sanitize(b)


@pytest.mark.parametrize(
    "a, b", [("27 blocks", "28 blocks"), ("shape (8, 32, 14, 14)", "shape (8, 32, 7, 7)"), ("0.912", "0.874")]
)
def test_sanitizer_leaves_unmarked_numbers_compared(a, b):
    assert sanitize(a) != sanitize(b)


def test_strict_mode_raises(monkeypatch, capsys):
    monkeypatch.setenv("RESBLOCK_CLAIMS_STRICT", "1")
    with pytest.raises(ClaimNotShown, match="ratio > 1.3"):
        claim("s", 1.0, above=1.3, what="ratio")
    assert claim("s", 2.0, above=1.3)


def test_every_verdict_goes_to_the_log(monkeypatch, tmp_path, capsys):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("RESBLOCK_CLAIMS_LOG", str(log))
    claim("a", 2.0, above=1.0)
    claim("b", False)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["claim"], r["holds"], r["measured"]) for r in rows] == [("a", True, "2"), ("b", False, "no")]
    assert read_log(log) == rows  # how the sweep and the bench read it back
    assert read_log(tmp_path / "no-claims.jsonl") == []  # a notebook without claims writes no log


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        (("", 1.0), {"above": 0}, ValueError, "statement"),
        (("s", float("nan")), {"above": 0}, ValueError, "NaN"),
        (("s", "big"), {"above": 0}, TypeError, "real number"),
        (("s", 2.0), {}, TypeError, "give a bound"),
        (("s", True), {"above": 0}, ValueError, "takes no bounds"),
        (("s", 1.0), {"above": 2, "below": 1}, ValueError, "smaller than"),
        (("s", 1.0), {"near": (1.0, 0.1), "above": 0}, ValueError, "not both"),
        (("s", 1.0), {"near": 1.0}, ValueError, "(target, tolerance)"),
        (("s", 1.0), {"near": (1.0, -1)}, ValueError, ">= 0"),
    ],
)
def test_bad_input_is_named(args, kwargs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        claim(*args, **kwargs)


def test_infinity_does_not_pass_a_lower_bound(capsys):
    assert not claim("s", float("inf"), above=1.0)


def test_sweep_update_keeps_the_runs_not_made_again():
    """`make claims --update`: a (variant, notebook) run made now replaces only itself in the report."""
    from resblock import claims_sweep as cs

    variants = cs.default_variants()[:2]
    a, b = variants[0].name, variants[1].name
    nbs = [cs.NOTEBOOKS_DIR / "00_start_here.ipynb", cs.NOTEBOOKS_DIR / "01_residual_idea.ipynb"]

    def verdict(holds, measured):
        return {"claim": "c", "criterion": "x > 1", "holds": holds, "measured": measured}

    old_runs = {
        v.name: {nb.name: {"seconds": 1.0, "error": None, "claims": [verdict(True, "2")]} for nb in nbs}
        for v in variants
    }
    earlier = cs.build_report(old_runs, variants, nbs, None, 1.0, "first")
    # Now only variant b of notebook 01 is run again, and its claim fails.
    now = {a: {}, b: {nbs[1].name: {"seconds": 3.0, "error": None, "claims": [verdict(False, "0.5")]}}}
    report = cs.build_report(now, variants, nbs[1:], earlier, 1.0, "second")
    assert report["summary"]["runs_missing"] == 0
    assert report["runs"][a][nbs[1].name]["seconds"] == 1.0  # kept from the earlier report
    assert report["runs"][b][nbs[1].name]["seconds"] == 3.0  # the run made now
    assert report["summary"]["failed"] == 1 and report["summary"]["checks"] == 4
    # the claims stay in notebook order, though notebook 01 was run now and 00 kept from before
    first_now = {a: {nbs[1].name: {"seconds": 2.0, "error": None, "claims": [verdict(True, "3")]}}, b: {}}
    report = cs.build_report(first_now, variants, nbs[1:], earlier, 1.0, "third")
    assert [row["notebook"] for row in report["claims"]] == [nb.name for nb in nbs]


def test_sweep_reports_runs_whose_compared_outputs_differ(tmp_path):
    """A run whose outputs differ from the committed notebook's (nbval's rules) is counted, kept and listed."""
    from resblock import claims_sweep as cs

    variants = cs.default_variants()[:2]
    a, b = variants[0].name, variants[1].name
    nb = cs.NOTEBOOKS_DIR / "00_start_here.ipynb"
    diff = "00_start_here.ipynb, code cell 1 `x`: outputs differ from the committed ones"
    runs = {
        a: {nb.name: {"seconds": 1.0, "error": None, "claims": [], "differences": []}},
        b: {nb.name: {"seconds": 1.0, "error": None, "claims": [], "differences": [diff]}},
    }
    report = cs.build_report(runs, variants, [nb], None, 1.0, "first")
    assert report["summary"]["outputs_differ"] == 1
    assert report["runs"][b][nb.name]["differences"] == [diff]
    text = cs.summary_markdown(report)
    assert "1 runs whose compared outputs differ" in text and diff in text
    # --update keeps an earlier run's differences when that run is not made again
    again = cs.build_report({a: {}, b: {}}, variants, [], report, 1.0, "second")
    assert again["summary"]["outputs_differ"] == 1 and again["runs"][b][nb.name]["differences"] == [diff]
    assert again["summary"]["outputs_not_compared"] == 0
    # a run from a report made before the sweep compared outputs, or a failed run, is "not compared", not "equal"
    for per in report["runs"].values():
        del per[nb.name]["differences"]
    old = cs.build_report({a: {}, b: {}}, variants, [], report, 1.0, "third")
    assert old["summary"]["outputs_differ"] == 0 and old["summary"]["outputs_not_compared"] == 2
    assert "2 runs not compared" in cs.summary_markdown(old)


@pytest.mark.parametrize("changed", [False, True])
def test_sweep_compares_each_run_with_the_committed_notebook(tmp_path, monkeypatch, changed):
    """run_notebook reads the executed notebook back and compares it with the committed one."""
    import nbformat

    from resblock import bench
    from resblock import claims_sweep as cs

    nb = cs.NOTEBOOKS_DIR / "01_residual_idea.ipynb"
    variant = cs.default_variants()[0]

    def fake_run(path, cores=None, *, first_core=0, env=None, timeout=600, output=None):
        ran = nbformat.read(path, as_version=4)  # as if the run printed exactly the committed outputs ...
        if changed:  # ... or the config line differently
            cell = next(c for c in ran.cells if c.cell_type == "code" and "IdentityFitConfig()" in c.source)
            cell.outputs[0].text = cell.outputs[0].text.replace("blocks=4", "blocks=5")
        nbformat.write(ran, output)
        return bench.NotebookRun(seconds=1.0, peak_rss_mb=1.0, error=None)

    monkeypatch.setattr(bench, "run_notebook_measured", fake_run)
    differences = cs.run_notebook(nb, variant, tmp_path)["differences"]
    assert len(differences) == int(changed)
    if changed:
        assert "blocks=5" in differences[0] and "IdentityFitConfig()" in differences[0]


def test_sweep_does_not_compare_a_failed_run(tmp_path, monkeypatch):
    from resblock import bench
    from resblock import claims_sweep as cs

    def failed_run(path, cores=None, *, first_core=0, env=None, timeout=600, output=None):
        return bench.NotebookRun(seconds=1.0, peak_rss_mb=1.0, error="CellExecutionError: boom")

    monkeypatch.setattr(bench, "run_notebook_measured", failed_run)
    run = cs.run_notebook(cs.NOTEBOOKS_DIR / "00_start_here.ipynb", cs.default_variants()[0], tmp_path)
    assert run["error"] and run["differences"] is None


@pytest.mark.parametrize(
    "flags, title", [({"avx512": True, "avx2": True}, "AVX-512"), ({"avx512": False, "avx2": True}, "AVX2")]
)
def test_sweep_summary_names_the_machine_kind_it_ran_on(flags, title):
    # Two sweeps (results/claims_sweep*.md) sit side by side in the site's navigation: the title tells them apart.
    import json

    from resblock import claims_sweep as cs

    report = json.loads((cs.RESULTS_DIR / "claims_sweep.json").read_text())
    report["machine"].update(flags)
    assert cs.summary_markdown(report).splitlines()[0] == f"# Claims sweep, {title} machine"
