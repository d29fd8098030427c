"""Where results live, and writing them safely: a file is written whole or not at all, a folder checked before long work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["REPO_ROOT", "RESULTS_DIR", "check_writable_folder", "write_atomic"]

# The checkout's top folder: notebooks/, results/, tests/ (the sweep, the bench and nbcompare read them).
REPO_ROOT = Path(__file__).resolve().parents[1]

# results/ at the top of the repository: the committed results files and trained nets the notebooks read.
# Code reads it as ``files.RESULTS_DIR`` when it runs, so one monkeypatch (a test's temporary folder) moves them all.
RESULTS_DIR = REPO_ROOT / "results"


def check_writable_folder(folder: str | os.PathLike, what: str = "results") -> Path:
    """Create ``folder`` if needed and check a file can be written there; raise OSError saying so, before any work."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise OSError(
            f"cannot write {what} to {folder}: {e.strerror or e}; choose a folder you can write to."
        ) from None
    return folder


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place: never a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes the file private; a results file gets the usual permissions
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
