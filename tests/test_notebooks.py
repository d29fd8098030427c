"""Every notebook is committed in a state that reads well and that nbval can check.

`make test` re-runs each notebook in JupyterLab and compares its outputs by nbval's rules
(tests/browser/); these tests check what a comparison cannot: that the committed file was executed top to bottom, shows no
unexpected errors, and has the course's shape (goals at the top, a pointer onward at the end).
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def nb(request):
    return json.loads(request.param.read_text())


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_start_here.ipynb"


def test_committed_executed_in_order(nb):
    counts = [c["execution_count"] for c in code_cells(nb)]
    assert None not in counts, "commit the notebook executed (Restart & Run All), with outputs"
    assert counts == list(range(1, len(counts) + 1)), "cells were run out of order; Restart & Run All"


def test_no_unexpected_errors(nb):
    for cell in code_cells(nb):
        tags = cell.get("metadata", {}).get("tags", [])
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        if "raises-exception" not in tags:
            assert not errors, f"cell {''.join(cell['source'])[:60]!r} shows {errors[0]['ename']}"


def markdown(nb):
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def h2s(text):
    return [line for line in text.splitlines() if line.startswith("## ")]


NUMBERED = re.compile(r"^## \d+ · \S")  # the course's one section style: "## 3 · The live run"
NAMED = ("## Setup", "## Key takeaways", "## Exercises")


def test_course_shape(nb):
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith("# "), "the first cell is the notebook's title"
    assert "minutes" in first.lower(), "say at the top how long the notebook takes"
    assert "assumes" in first.lower(), "say at the top what the notebook assumes"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    headings = [h for text in markdown(nb) for h in h2s(text)]
    for text in markdown(nb):
        assert len(h2s(text)) <= 1, f"one H2 per cell: {h2s(text)}"
    for h in headings:
        assert NUMBERED.match(h) or h.strip() in NAMED, f"heading {h!r}: sections are '## N · Title', or one of {NAMED}"
    names = [h.strip() for h in headings if not NUMBERED.match(h)]
    assert names == list(NAMED), f"Setup first, then the numbered sections, Key takeaways, Exercises; got {names}"
    numbered = [h for h in headings if NUMBERED.match(h)]
    assert headings.index(numbered[0]) > headings.index("## Setup") if numbered else True
    last = "".join(nb["cells"][-1]["source"])
    assert nb["cells"][-1]["cell_type"] == "markdown" and "**Next" in last, "end with a '**Next:** ...' pointer"


def test_one_setup_cell(nb):
    cells = nb["cells"]
    at = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Setup" in "".join(c["source"]))
    following = [c["cell_type"] for c in cells[at + 1 : at + 3]]
    assert following[0] == "code" and following[1] == "markdown", "the Setup section holds exactly one code cell"
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    assert first_code == at + 1, "the setup cell is the notebook's first code cell"


def test_checked_exercises(nb):
    cells = nb["cells"]
    at = next(i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and "## Exercises" in "".join(c["source"]))
    code = "".join("".join(c["source"]) for c in cells[at:] if c["cell_type"] == "code")
    assert ".check(" in code, "the exercises check themselves: qN.check(answer)"


def outputs_text(cell):
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream")


def test_claims_are_checked_and_held(nb):
    # Every notebook states computed results, so every notebook checks some of them (resblock.claims).
    cells = code_cells(nb)
    assert any("claim(" in "".join(c["source"]) for c in cells), "back the text's computed claims with claim(...)"
    printed = "".join(outputs_text(c) for c in cells)
    assert "✓ " in printed, "the committed run shows its checked claims"
    assert "✗ NOT SHOWN" not in printed, "a claim failed in the committed run: fix the claim or the run"


def test_seeded_in_the_setup_cell(nb):
    # The setup cell (the first code cell that seeds) comes before any other code that draws numbers.
    seeding = [i for i, c in enumerate(code_cells(nb)) if "seed_everything(" in "".join(c["source"])]
    assert seeding and seeding[0] <= 1, "seed in the setup cell, at the top"
