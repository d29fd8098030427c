"""nbval's comparison, applied to a notebook run elsewhere: in JupyterLab by a learner, or by ``make claims``.

`make test` runs every notebook once, in the browser, as a learner does; its outputs are then compared
with the committed ones by nbval's own rules, so nbval need not run the notebook a second time: the
same markers (``# NBVAL_IGNORE_OUTPUT``, ``# NBVAL_SKIP``, the ``raises-exception`` tag), the same
sanitizers (tests/nbval_sanitize.cfg), streams merged the same way, and the same fields left out
(metadata, tracebacks, execution counts, widget model ids, PNG and JPEG images). The comparison itself
is nbval's ``IPyNbCell.compare_outputs``, called on a stand-in for the pytest item it normally runs on;
nbval is pinned in requirements.txt, and tests/test_nbcompare.py checks the verdicts against nbval run
on the same notebooks. ``make claims`` (resblock.claims_sweep) compares every variant's run the same way.

One difference, on purpose: JupyterLab applies ``clear_output`` and ``update_display_data`` as a
learner sees them (so does nbclient, which executed the committed notebooks); nbval's kernel loop
keeps every message. Outputs that change while a cell runs (live figures) are marked ignored anyway.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import nbformat
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    get_sanitize_patterns,
    nocolors,
)

from resblock.files import REPO_ROOT

SANITIZE = REPO_ROOT / "tests" / "nbval_sanitize.cfg"  # the Makefile's --nbval-sanitize-with

# What nbval leaves out of a comparison without --nbdime (nbval.plugin.IPyNbFile.__init__).
SKIP_COMPARE = (
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
)


class _Cell:
    """Stands in for nbval's pytest item: what ``IPyNbCell.compare_outputs`` reads and writes."""

    colors = nocolors
    compare_outputs = IPyNbCell.compare_outputs
    sanitize = IPyNbCell.sanitize

    def __init__(self, patterns: dict[str, str]):
        self.parent = SimpleNamespace(skip_compare=SKIP_COMPARE, sanitize_patterns=patterns)
        self.comparison_traceback: list[str] = []

    def format_output_compare(self, key: str, left, right) -> None:
        """The mismatch as a short unified diff (nbval's own formatting needs a pytest session)."""
        diff = difflib.unified_diff(
            str(left).splitlines(), str(right).splitlines(), "committed", "this run", lineterm="", n=1
        )
        self.comparison_traceback.append(f"{key} differs:\n" + "\n".join(list(diff)[:40]))


def sanitize_patterns(path: Path = SANITIZE) -> dict[str, str]:
    """The regex -> replacement pairs of an nbval sanitize file, in order."""
    return dict(get_sanitize_patterns(path.read_text()))


def cell_options(cell: nbformat.NotebookNode) -> dict[str, bool]:
    """nbval's options for one code cell: its tags, then its comment markers; outputs checked by default."""
    if not (hasattr(cell, "metadata") and hasattr(cell, "source")):
        from resblock.checks import ArgumentTypeError, describe

        fix = " Wrap a plain dict with nbformat.from_dict(cell)." if type(cell) is dict else ""
        raise ArgumentTypeError(
            "cell must be a notebook cell with metadata and source (e.g. nbformat.read(path, as_version=4).cells[0]), "
            f"got {describe(cell)}.{fix}"
        )
    options = defaultdict(bool, find_metadata_tags(cell.metadata))
    options.update(dict(find_comment_markers(cell.source)))
    options.setdefault("check", True)
    return options


def _outputs(cell) -> list:
    return coalesce_streams([nbformat.from_dict(o) for o in cell.get("outputs", [])])


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")[:70]


def output_differences(
    ran: dict | nbformat.NotebookNode, committed: str | Path, patterns: dict | None = None
) -> list[str]:
    """Where a notebook's run differs from the committed notebook by nbval's rules; one entry per cell.

    ``ran`` is the notebook as JSON (JupyterLab's model, or a file read with nbformat). An empty list
    means nbval would have passed every cell's comparison.
    """
    patterns = sanitize_patterns() if patterns is None else patterns
    committed = Path(committed)  # a string path too: its .name labels each difference
    ran = nbformat.from_dict(ran)
    ref = nbformat.read(committed, as_version=4)
    name = committed.name
    ran_code = [c for c in ran.cells if c.cell_type == "code"]
    ref_code = [c for c in ref.cells if c.cell_type == "code"]
    if len(ran_code) != len(ref_code):
        return [f"{name}: {len(ran_code)} code cells ran, the committed notebook has {len(ref_code)}"]
    found = []
    for number, (test, cell) in enumerate(zip(ran_code, ref_code)):
        where = f"{name}, code cell {number} `{_first_line(cell.source)}`"
        if test.source != cell.source:
            found.append(f"{where}: its source differs from the committed notebook's")
            continue
        options = cell_options(cell)
        # nbval does not run a skipped cell, and does not compare one the reference never ran.
        if options["skip"] or not options["check"] or cell.get("execution_count") is None:
            continue
        checker = _Cell(patterns)
        if not checker.compare_outputs(_outputs(test), _outputs(cell)):
            found.append(f"{where}: outputs differ from the committed ones\n" + "\n".join(checker.comparison_traceback))
    return found
