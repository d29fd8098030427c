"""The lines that open every notebook's setup cell so that it runs on Colab, and their idempotent insertion.

On Colab (detected by ``google.colab`` being loaded, as Colab's kernel does at start) and only when
``resblock`` is not importable, the lines fetch the course at the release the notebook came from
(a shallow ``git clone`` of the tag ``v<version>``: the package *and* the saved results the notebooks
load) into ``~/resblock-course``, put it on ``sys.path``, and say so. They install nothing else:
Colab has torch, numpy, matplotlib, ipywidgets and tqdm; the data comes by resblock.data's
checksummed download. Anywhere else they print nothing and do nothing.

``RESBLOCK_COLAB_SOURCE`` (the repository to clone) exists for the test, which points it at a local
copy; a learner never sets it.

Usage: python tests/colab_setup.py [NOTEBOOK ...]   inserts or refreshes the lines (default: notebooks/*.ipynb)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "# --- Colab only: fetch the course at this notebook's release; elsewhere these lines do nothing ---"
END = "# --- end of the Colab lines ---"


def repository_url() -> str:
    """The repository address from README's ``[repository]: URL`` line (the one place it is kept)."""
    m = re.search(r"^\[repository\]:\s*(\S+)\s*$", (ROOT / "README.md").read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise SystemExit("README.md has no '[repository]: https://github.com/ORG/REPO' line.")
    return m.group(1).rstrip("/")


def release() -> str:
    """The release tag the notebooks belong to: v + the package's version (resblock/__init__.py, its one place)."""
    init = ROOT / "resblock" / "__init__.py"
    m = re.search(r'^__version__\s*=\s*"([^"]+)"', init.read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise SystemExit(f'{init} has no __version__ = "..." line.')
    return "v" + m.group(1)


def colab_lines(repo: str | None = None, ref: str | None = None) -> str:
    """The lines to put at the top of a setup cell (after its NBVAL markers and leading comments)."""
    repo, ref = repo or repository_url(), ref or release()
    return f'''{BEGIN}
import sys
if "google.colab" in sys.modules:
    import importlib.util, os, subprocess
    if importlib.util.find_spec("resblock") is None:
        _course = os.path.expanduser("~/resblock-course")
        _source = os.environ.get("RESBLOCK_COLAB_SOURCE", "{repo}")
        if not os.path.isdir(_course):
            print(f"Colab: fetching the course's package and saved results at release {ref} from {{_source}} "
                  f"into {{_course}} (Colab already has torch; the data downloads later, checksummed)")
            _clone = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "{ref}", _source, _course],
                                    capture_output=True, text=True)
            if _clone.returncode != 0:
                raise RuntimeError(f"could not fetch release {ref} of the course: {{_clone.stderr.strip()}}. "
                                   "Check the network, or open the notebook from the repository's release page.")
        sys.path.insert(0, _course)
        importlib.invalidate_caches()
        print("Colab: resblock is ready; the rest of this cell runs as anywhere else.")
{END}
'''


def _split_leading_comments(source: str) -> tuple[str, str]:
    """(leading comment lines such as '# NBVAL_IGNORE_OUTPUT', the rest): nbval reads its markers anywhere,
    but a reader expects them first."""
    lines = source.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].lstrip().startswith("#") and not lines[i].startswith(BEGIN):
        i += 1
    return "".join(lines[:i]), "".join(lines[i:])


def setup_cell(nb: dict) -> dict | None:
    """The notebook's setup cell: the first code cell that imports resblock."""
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and re.search(r"^\s*(from|import) resblock\b", src, re.MULTILINE):
            return cell
    return None


def with_colab_lines(source: str, lines: str) -> str:
    """``source`` with ``lines`` inserted after its leading comments, replacing an older copy (idempotent)."""
    source = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", "", source, flags=re.DOTALL)
    head, rest = _split_leading_comments(source)
    return head + lines + rest


def insert(path: Path, lines: str | None = None) -> bool:
    """Insert or refresh the lines in ``path``'s setup cell; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    cell = setup_cell(nb)
    if cell is None:
        raise SystemExit(f"{path}: no code cell imports resblock, so there is no setup cell to prepare for Colab.")
    old = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    new = with_colab_lines(old, lines or colab_lines())
    if new == old:
        return False
    cell["source"] = new.splitlines(keepends=True)
    # the notebooks are saved by Jupyter with one-space indentation and a final newline
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for p in paths:
        print(f"{p}: {'Colab lines inserted' if insert(p) else 'already up to date'}")
