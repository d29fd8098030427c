"""nbval's comparison on a notebook run elsewhere (resblock/nbcompare.py) agrees with nbval itself.

`make test` runs each notebook once, in JupyterLab, and compares that run's outputs with the committed
ones through nbcompare; these tests hold it to nbval's verdicts: on the course's notebooks changed in
ways nbval must catch or must let pass, and against nbval itself run on small notebooks.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from resblock.nbcompare import SANITIZE, output_differences

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_committed_notebook_matches_itself(path):
    assert output_differences(nbformat.read(path, as_version=4), path) == []


def _first(nb, want):
    """The first code cell (and its index among code cells) for which ``want(cell)`` holds."""
    return next((i, c) for i, c in enumerate(_code(nb)) if want(c))


def test_a_changed_output_is_caught_and_shown_as_a_diff():
    path = ROOT / "notebooks" / "01_residual_idea.ipynb"
    ran = nbformat.read(path, as_version=4)
    index, cell = _first(ran, lambda c: "NBVAL" not in c.source and any(o.output_type == "stream" for o in c.outputs))
    stream = next(o for o in cell.outputs if o.output_type == "stream")
    stream.text = stream.text.replace("4", "5", 1) if "4" in stream.text else stream.text + "more\n"
    found = output_differences(ran, path)
    assert len(found) == 1, found
    assert f"code cell {index} " in found[0] and "outputs differ" in found[0]
    assert "--- committed" in found[0] and "+++ this run" in found[0]


def test_a_missing_output_is_caught():
    path = ROOT / "notebooks" / "04_tiny_resnet.ipynb"
    ran = nbformat.read(path, as_version=4)
    _, cell = _first(ran, lambda c: "NBVAL" not in c.source and c.outputs)
    cell.outputs = []
    assert any("Missing output fields" in d for d in output_differences(ran, path))


def test_what_nbval_ignores_is_ignored_here_too():
    path = ROOT / "notebooks" / "04_tiny_resnet.ipynb"
    ran = nbformat.read(path, as_version=4)
    # an output marked NBVAL_IGNORE_OUTPUT, a measured value, execution counts, metadata and PNGs
    _, ignored = _first(ran, lambda c: "NBVAL_IGNORE_OUTPUT" in c.source and c.outputs)
    ignored.outputs = [nbformat.v4.new_output("stream", name="stdout", text="anything at all\n")]
    _, claimed = _first(ran, lambda c: "NBVAL" not in c.source and "(measured " in str(c.outputs))
    for out in claimed.outputs:
        if out.output_type == "stream":
            out.text = out.text.replace("(measured ", "(measured 12345 ", 1)
    for cell in _code(ran):
        cell.execution_count = (cell.execution_count or 0) + 100
        for out in cell.outputs:
            out.get("metadata", {})["seen"] = True
            if "image/png" in out.get("data", {}):
                out.data["image/png"] = "iVBORw0KGgo="
    assert output_differences(ran, path) == []


def test_an_expected_error_is_compared_by_name_and_message():
    path = ROOT / "notebooks" / "01_residual_idea.ipynb"
    ran = nbformat.read(path, as_version=4)
    index, cell = _first(ran, lambda c: "raises-exception" in c.metadata.get("tags", []))
    error = next(o for o in cell.outputs if o.output_type == "error")
    error.traceback = ["another traceback"]  # tracebacks are not compared
    assert output_differences(ran, path) == []
    error.evalue = "a different message"
    found = output_differences(ran, path)
    assert len(found) == 1 and f"code cell {index} " in found[0]


def test_a_notebook_with_other_cells_is_reported_as_such():
    path = ROOT / "notebooks" / "00_start_here.ipynb"
    ran = nbformat.read(path, as_version=4)
    ran.cells.append(nbformat.v4.new_code_cell("1 + 1"))
    assert "code cells ran" in output_differences(ran, path)[0]
    ran.cells.pop()
    _code(ran)[0].source += "\n# edited"
    assert "source differs" in output_differences(ran, path)[0]


# -- against nbval itself --------------------------------------------------------------------------
# Each case: the cells a learner's run produced, and how the committed notebook differs from that run.
# nbval re-runs the committed notebook (its cells give the learner's outputs again) and compares.

CELLS = [
    'print("H(x) = R(x) + x")',
    "# NBVAL_IGNORE_OUTPUT\nimport time\nprint(time.time())",
    'print("\\u2713 the claim: ratio > 1.3 (measured 2.4)")',
    "import sys\nprint('to stderr', file=sys.stderr)\nprint('a', end='')\nprint('b')",
    "{'depth': 56}",
]


def _committed_edits():
    """name -> a change to the committed outputs; nbval's verdict on it is the oracle."""

    def text(cell, old, new):
        for out in cell.outputs:
            if out.output_type == "stream":
                out.text = out.text.replace(old, new)
            elif "text/plain" in out.get("data", {}):
                out.data["text/plain"] = out.data["text/plain"].replace(old, new)

    return {
        "unchanged": lambda cells: None,
        "compared-text": lambda cells: text(cells[0], "R(x)", "F(x)"),
        "ignored-cell": lambda cells: text(cells[1], ".", ","),
        "measured-number": lambda cells: text(cells[2], "2.4", "9.9"),
        "stderr-stream": lambda cells: text(cells[3], "stderr", "stdout"),
        "result-repr": lambda cells: text(cells[4], "56", "20"),
    }


@pytest.fixture(scope="module")
def nbval_verdicts(tmp_path_factory):
    """(learner's run, committed notebook, nbval passed?) for every case, nbval run once over all."""
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("nbval-oracle")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    files = {}
    for name, edit in _committed_edits().items():
        committed = copy.deepcopy(nb)
        edit(_code(committed))
        files[name] = folder / f"{name}.ipynb"
        nbformat.write(committed, files[name])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--nbval", "--nbval-current-env",
         f"--nbval-sanitize-with={SANITIZE}", *map(str, files.values())],
        capture_output=True, text=True, cwd=folder, timeout=300,
    )  # fmt: skip
    failed = {Path(m[1]).name for m in re.finditer(r"^FAILED (\S+?)::", result.stdout, flags=re.MULTILINE)}
    assert "passed" in result.stdout, result.stdout[-2000:]
    return {name: (nb, path, path.name not in failed) for name, path in files.items()}


@pytest.mark.parametrize("case", list(_committed_edits()))
def test_the_verdict_is_nbvals(nbval_verdicts, case):
    ran, committed, nbval_passed = nbval_verdicts[case]
    ours = output_differences(ran, committed)
    assert (ours == []) == nbval_passed, f"nbval {'passed' if nbval_passed else 'failed'}; nbcompare said {ours}"
    assert nbval_passed == (case in ("unchanged", "ignored-cell", "measured-number"))  # the oracle as expected
