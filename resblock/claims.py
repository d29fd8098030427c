"""Checked claims: a sentence of the text, the number a cell measured, and whether it holds (every notebook).

Training numbers change with the CPU (AVX2 or AVX-512 kernels sum in another order), the thread count
and the seed, so the course never asks a learner to trust one run's digits. Where the prose says
something about a computed result ("plain-56 ends with a higher training loss than plain-20"), the cell
beside it calls ``claim`` with the measured value and the tolerance the text states, and prints one line:

    ✓ plain-56 ends with a higher training loss than plain-20: ratio > 1.5 (measured 1.99)

How this is tested (README, "How the notebooks are tested"): nbval compares the line with the committed
one, but its sanitizer (``tests/nbval_sanitize.cfg``) masks the ``(measured ...)`` part, so the verdict
and the claim are compared and the digits are not. A claim that does not hold prints ``✗`` instead:
the learner's "Run All" goes on (it is a finding to look at, not a crash), while nbval sees a line that
differs from the committed ``✓`` and fails the notebook. ``RESBLOCK_CLAIMS_STRICT=1`` makes a failed
claim raise ``ClaimNotShown`` instead. With ``RESBLOCK_CLAIMS_LOG=file.jsonl`` every verdict is also
appended to that file, which is how ``make claims`` (``python -m resblock.claims_sweep``) collects them.
"""

from __future__ import annotations

import json
import math
import os
from numbers import Real

from resblock.checks import short_repr

PASS, FAIL = "✓", "✗"
LOG_VARIABLE = "RESBLOCK_CLAIMS_LOG"
STRICT_VARIABLE = "RESBLOCK_CLAIMS_STRICT"


class ClaimNotShown(AssertionError):
    """A checked claim did not hold in this run (raised only in strict mode)."""


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} is NaN; a claim needs a finite measurement (did the run diverge?).")
    return value


def _format(value: float, fmt: str) -> str:
    return format(value, fmt)


def claim(
    statement: str,
    value: float | bool,
    *,
    above: float | None = None,
    below: float | None = None,
    near: tuple[float, float] | None = None,
    what: str = "",
    fmt: str = ".3g",
) -> bool:
    """Check one sentence of the text against a measured ``value`` and print its verdict line.

    Give exactly one criterion: ``above=a`` (value > a), ``below=b`` (value < b), both (a < value < b),
    ``near=(target, tol)`` (|value - target| <= tol), or none for a boolean ``value`` (it must be True).
    ``what`` names the measured quantity in the line ("ratio", "accuracy"); ``fmt`` formats numbers.
    Returns whether the claim held.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError("statement must be the sentence being checked, as a non-empty string.")
    if near is not None and (above is not None or below is not None):
        raise ValueError("give either near=(target, tolerance) or above=/below=, not both.")
    if isinstance(value, bool) or (above is None and below is None and near is None):
        if above is not None or below is not None or near is not None:
            raise ValueError("a True/False value takes no bounds; pass the number itself to compare it with bounds.")
        if not isinstance(value, bool):
            raise TypeError(
                f"with no above=, below= or near=, value must be True or False, got {type(value).__name__}; "
                "give a bound to check a number."
            )
        holds, criterion, measured = value, "", "yes" if value else "no"
    else:
        x = _number("value", value)
        measured = _format(x, fmt)
        subject = what or "value"
        if near is not None:
            if not (isinstance(near, tuple) and len(near) == 2):
                raise ValueError(f"near must be a (target, tolerance) pair, got {short_repr(near)}.")
            target, tol = _number("near's target", near[0]), _number("near's tolerance", near[1])
            if tol < 0 or math.isinf(tol):
                raise ValueError(f"near's tolerance must be a finite number >= 0, got {tol!r}.")
            holds = abs(x - target) <= tol
            criterion = f"{subject} = {_format(target, fmt)} ± {_format(tol, '.2g')}"
        else:
            lo = None if above is None else _number("above", above)
            hi = None if below is None else _number("below", below)
            if lo is not None and hi is not None and lo >= hi:
                raise ValueError(f"above={lo} must be smaller than below={hi}.")
            holds = (lo is None or x > lo) and (hi is None or x < hi) and math.isfinite(x)
            if lo is not None and hi is not None:
                criterion = f"{_format(lo, fmt)} < {subject} < {_format(hi, fmt)}"
            elif lo is not None:
                criterion = f"{subject} > {_format(lo, fmt)}"
            else:
                criterion = f"{subject} < {_format(hi, fmt)}"
    head = statement.strip() + (f": {criterion}" if criterion else "")
    if holds:
        print(f"{PASS} {head} (measured {measured})")
    else:
        print(
            f"{FAIL} NOT SHOWN by this run: {head} (measured {measured}). The text around this cell "
            "says otherwise: this run (its seed, CPU or thread count) is one the claim does not cover. "
            "Please report it with the notebook's name and the output of resblock.env.describe_environment()."
        )
    _log(statement.strip(), criterion, measured, holds)
    if not holds and os.environ.get(STRICT_VARIABLE, "") not in ("", "0"):
        raise ClaimNotShown(f"{head} (measured {measured})")
    return holds


def _log(statement: str, criterion: str, measured: str, holds: bool) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"claim": statement, "criterion": criterion, "measured": measured, "holds": holds}) + "\n")


def read_log(path: str | os.PathLike) -> list[dict]:
    """The verdicts a run appended to $RESBLOCK_CLAIMS_LOG (one dict per claim); none if the file is missing."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f.read().splitlines()]


__all__ = ["ClaimNotShown", "FAIL", "PASS", "claim", "read_log"]
