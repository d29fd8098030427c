"""Argument checks shared by the public API: each error says what was wrong and what to pass instead.

Python lets ``True`` pass for 1, ``"no"`` for True and ``nan`` through every ``<=`` test; these
checks close those doors at the public boundary, so a mistake fails at once with a message rather
than later with a wrong result or a traceback from deep inside torch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["check_bool", "check_int", "check_named_curves", "check_number", "check_positive_int"]


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (numpy's bools too); else a ValueError (``"no"`` would count as True)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__}).")


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, what: str = "") -> int:
    """``value`` as a Python int if it is a whole number (numpy integers too, not bools) within [low, high]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(
            f"{name} must be a whole number{_range(low, high)}{what}, got {value!r} ({type(value).__name__})."
        )
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be a whole number{_range(low, high)}{what}, got {value}.")
    return value


def check_positive_int(name: str, value: Any, what: str = "") -> int:
    """``value`` as a Python int if it is a whole number >= 1 (numpy integers too, not bools): a count or a size."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive whole number{what}, got {value!r}.")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    what: str = "",
) -> float:
    """``value`` as a float if it is a finite real number (not a bool, not nan or inf) within the bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(
            f"{name} must be a number{_bounds(low, high, low_open, high_open)}{what}, "
            f"got {value!r} ({type(value).__name__})."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number{_bounds(low, high, low_open, high_open)}{what}, got {value}.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be a number{_bounds(low, high, low_open, high_open)}{what}, got {value:g}.")
    return value


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_named_curves(name: str, value: Any, example: str) -> Mapping:
    """``value`` if it is a dict of named curves (a plot's legend labels); else a ValueError showing the shape."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must be a dict of named curves, e.g. {example}; got {type(value).__name__}. "
            "To plot one, name it: {'my net': values}."
        )
    return value
