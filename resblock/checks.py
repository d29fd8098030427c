"""Argument checks shared by the public API: each error says what was wrong and what to pass instead.

Python lets ``True`` pass for 1, ``"no"`` for True and ``nan`` through every ``<=`` test; these
checks close those doors at the public boundary, so a mistake fails at once with a message rather
than later with a wrong result or a traceback from deep inside torch.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "check_bool",
    "check_curve_values",
    "check_dataset",
    "check_instance",
    "check_int",
    "check_mapping",
    "check_named",
    "check_named_curves",
    "check_number",
    "check_positive_int",
    "check_sequence",
    "describe",
    "short_repr",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a list where a dict goes, a dict where a config goes).

    A TypeError, as Python's own; a ValueError too, so that code written against the package's
    ValueErrors (the commands' one-line errors, a notebook's ``except ValueError``) still catches it.
    """


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
    """``value`` if it is a dict of named curves (a plot's legend labels); else an ArgumentTypeError showing the shape."""
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(
            f"{name} must be a dict of named curves, e.g. {example}; got {type(value).__name__}. "
            "To plot one, name it: {'my net': values}."
        )
    return value


def describe(value: Any) -> str:
    """A short phrase for what ``value`` is, for an error message: 'a list of 3', 'a Tensor of shape (2, 3)', 'None'."""
    if value is None:
        return "None"
    if isinstance(value, type):
        return f"the class {value.__name__}"
    kind = "NumPy array" if isinstance(value, np.ndarray) else type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) or type(shape).__name__ == "Size":  # numpy arrays and torch tensors
        return f"{article} {kind} of shape {tuple(shape)}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else f"a string of {len(value)} characters"
    if isinstance(value, (numbers.Number, np.generic)):
        return f"{value!r} ({kind})"
    if isinstance(value, (list, tuple, set, frozenset, Mapping)):
        n = len(value)
        return f"{article} {kind} of {n} item{'s' * (n != 1)}" if n else f"an empty {kind}"
    return f"{article} {kind}"


def _type_names(cls: type | tuple[type, ...]) -> str:
    classes = cls if isinstance(cls, tuple) else (cls,)
    return " or ".join(c.__name__ for c in classes)


def _first_name(cls: type | tuple[type, ...]) -> str:
    return (cls[0] if isinstance(cls, tuple) else cls).__name__


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message, cut at ``limit`` characters; a tensor or array only described.

    A learner's answer can be a whole tensor: its repr would bury the message under thousands of numbers.
    """
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        return describe(value)
    text = repr(value)
    if len(text) <= limit:
        return text
    closer = text[-1] if text[-1] in ")]}" else ""
    return text[: limit - 4 - len(closer)] + " ..." + closer


def check_instance(name: str, value: Any, cls: type | tuple[type, ...], what: str = "", hint: str = "") -> Any:
    """``value`` if it is an instance of ``cls``; else an ArgumentTypeError naming ``name``, what it got and what to pass.

    ``what`` says where such a value comes from (e.g. "as loss_surface returns"). The common slips get
    their own fix: a dict or list *of* ``cls`` (pass one of them), the class itself (build one), and a
    plain dict where a config dataclass goes (``Cls(**d)``; ``Cls.from_dict(d)`` where the class has one).
    """
    if isinstance(value, cls):
        return value
    first_cls = cls[0] if isinstance(cls, tuple) else cls
    first = first_cls.__name__
    got, fix = describe(value), ""
    if isinstance(value, Mapping) and value and all(isinstance(v, cls) for v in value.values()):
        got = f"a dict of {len(value)} {first} objects"
        fix = f"Pass one of them, e.g. {name}[{next(iter(value))!r}]."
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, cls) for v in value):
        got = f"a {type(value).__name__} of {len(value)} {first} objects"
        fix = f"Pass one of them, e.g. {name}[0]."
    elif isinstance(value, type) and issubclass(value, cls):
        fix = f"Build one first, e.g. {value.__name__}(...)."
    elif isinstance(value, Mapping) and hasattr(first_cls, "from_dict"):
        fix = f"To rebuild one from its dict, use {first}.from_dict(...)."
    elif isinstance(value, Mapping) and dataclasses.is_dataclass(first_cls) and first.endswith("Config"):
        fix = f"Pass {first}(**{short_repr(dict(value), 60)})."
    message = f"{name} must be a {_type_names(cls)}{f' ({what})' if what else ''}, got {got}."
    raise ArgumentTypeError(" ".join(part for part in (message, fix, hint) if part))


def check_mapping(name: str, value: Any, what: str, hint: str = "", allow_empty: bool = False) -> Mapping:
    """``value`` if it is a dict (any Mapping); else an ArgumentTypeError; an empty one is a ValueError unless allowed.

    ``what`` completes "``name`` must be a dict ...", e.g. "from each net's name to its accuracy".
    """
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a dict {what}, got {describe(value)}." + (f" {hint}" if hint else ""))
    if not value and not allow_empty:
        raise ValueError(f"{name} is empty: it must be a dict {what}, with at least one entry.")
    return value


def _is_sequence(value: Any) -> bool:
    """A list, tuple, range, or an array or tensor (not a string, bytes or a dict)."""
    if isinstance(value, (str, bytes, Mapping)):
        return False
    return isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "ndim"))


def check_sequence(
    name: str,
    value: Any,
    what: str,
    example: str = "",
    allow_empty: bool = False,
    item: type | None = None,
    single: bool = True,
) -> Any:
    """``value`` if it is a list, tuple or 1-D array (not a string, a dict or a single value); else an error.

    ``what`` is what the elements are ("net names"); ``item`` the type each must have, checked one by one
    (for short lists: names, seeds); ``item=int`` takes numpy integers and refuses bools. ``single``: a
    single value is one element, so the message says "for one, write [value]".
    """
    eg = f", e.g. {example}" if example else ""
    if not _is_sequence(value):
        one = f" (for one, write [{value!r}])" if single and isinstance(value, (str, numbers.Number)) else ""
        raise ArgumentTypeError(f"{name} must be a list of {what}{eg}; got {describe(value)}{one}.")
    if getattr(value, "ndim", 1) != 1:
        raise ValueError(f"{name} must be a 1-D list of {what}{eg}; got {describe(value)}.")
    if not allow_empty and len(value) == 0:
        raise ValueError(f"{name} is empty: it must hold at least one of {what}{eg}.")
    if item is not None:
        for i, v in enumerate(value):
            if item is int:
                ok = isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))
            else:
                ok = isinstance(v, item)
            if not ok:
                raise ArgumentTypeError(f"{name}[{i}] must be a {item.__name__} ({what}{eg}), got {describe(v)}.")
    return value


def check_named(name: str, value: Any, cls: type | tuple[type, ...], what: str, example: str) -> Mapping:
    """``value`` if it maps names (the legend's labels) to instances of ``cls``; else an error that shows the shape.

    One instance, or a list of them, where the named dict goes gets "name it": ``{'my net': value}``.
    An empty dict is a ValueError: there would be nothing to draw.
    """
    first = _first_name(cls)
    if isinstance(value, cls):
        raise ArgumentTypeError(
            f"{name} must be a dict {what}, e.g. {example}; got one {first}. For one alone, name it: {{'my net': ...}}."
        )
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, cls) for v in value):
        raise ArgumentTypeError(
            f"{name} must be a dict {what}, e.g. {example}; got a {type(value).__name__} of {len(value)} {first} objects. "
            "Name each one: {'plain20': ..., 'resnet20': ...}."
        )
    check_mapping(name, value, f"{what}, e.g. {example}")
    for key, v in value.items():
        if not isinstance(v, cls):
            raise ArgumentTypeError(
                f"{name}[{key!r}] is {describe(v)}, not a {_type_names(cls)}: {name} must be a dict {what}, "
                f"e.g. {example}."
            )
    return value


def check_curve_values(name: str, curves: Mapping) -> Mapping:
    """``curves`` if each of its values is one curve: a 1-D list, tuple or array of numbers (not a single number)."""
    for key, values in curves.items():
        if not _is_sequence(values) or getattr(values, "ndim", 1) != 1:
            raise ArgumentTypeError(
                f"{name}[{key!r}] must be one curve, a 1-D list of numbers (one per point), got {describe(values)}."
            )
    return curves


def check_dataset(name: str, value: Any) -> Any:
    """``value`` if it holds train_images, train_labels, test_images and test_labels (what load_fashion_mnist returns)."""
    missing = [a for a in ("train_images", "train_labels", "test_images", "test_labels") if not hasattr(value, a)]
    if missing:
        raise ArgumentTypeError(
            f"{name} must be what resblock.data.load_fashion_mnist() returns (train_images, train_labels, "
            f"test_images, test_labels), got {describe(value)}, which has no {missing[0]}."
        )
    return value
