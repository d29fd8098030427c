"""Every notebook is committed in a state that reads well and that nbval can check.

nbval (run by `make test` over notebooks/) re-executes each notebook and compares outputs; these
tests check what nbval cannot: that the committed file was executed top to bottom, shows no
unexpected errors, and has the course's shape (goals at the top, a pointer onward at the end).
"""

import json
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


def test_course_shape(nb):
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith("# "), "the first cell is the notebook's title"
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "minutes" in first.lower(), "say at the top how long the notebook takes"
    assert "assumes" in first.lower(), "say at the top what the notebook assumes"
    assert "next" in "".join(nb["cells"][-1]["source"]).lower() or "takeaways" in text.lower()
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_seeded_in_the_setup_cell(nb):
    # The setup cell (the first code cell that seeds) comes before any other code that draws numbers.
    seeding = [i for i, c in enumerate(code_cells(nb)) if "seed_everything(" in "".join(c["source"])]
    assert seeding and seeding[0] <= 1, "seed in the setup cell, at the top"
