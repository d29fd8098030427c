"""Exercises that check themselves: ``q.check(answer)``, ``q.hint()``, ``q.solution()`` (every notebook).

Modelled on Kaggle's learntools. A :class:`Question` holds a prompt, a *checker*, a hint and a
solution. A checker is a function ``checker(answer) -> None`` that raises :class:`Mistake` with a
message naming the mistake when the answer is wrong (it may return a string to say more on success).
``check`` turns that into a pass/fail message (HTML in a notebook, plain text elsewhere) and returns
``True`` or ``False``; it never raises for a wrong answer.

Feedback has three states, the same in every notebook:

- **Not yet**: the placeholder is untouched (``...``, ``None``, a container of nothing but those, a
  function that still returns ``...``, or learner code that raises ``NotImplementedError``);
- **Incorrect**: the checker named a mistake; or the learner's code raised (reported by name and
  line, not as a traceback); or it ran past a time limit (see :func:`call_with_time_limit`); or a
  function returned ``None`` where the checker needed a value ("did you forget `return`?");
- **Correct**.

When the checker itself fails (an exception raised with none of the learner's code on the stack),
the message says so: that is a bug in the exercise, not the learner's mistake.

The learner passes their object in, e.g. ``ex.q1.check(MyResidualBlock)``; nothing reads the
notebook's globals. Each notebook's questions live in ``resblock.exercises.nbNN``. Checkers may use
:func:`whole_number` (accepts NumPy integers, rejects 14.5) and :func:`call_with_time_limit`.

Text given to a question (prompt, hint, solution) may use ```` ``` ```` fences for code blocks and
single backticks for inline code; it is shown as HTML in a notebook and as-is in a terminal.
"""

from __future__ import annotations

import ctypes
import functools
import html
import inspect
import math
import numbers
import re
import signal
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from resblock.checks import describe, short_repr

__all__ = [
    "CHECK_SECONDS",
    "NOT_ANSWERED",
    "Mistake",
    "Question",
    "Text",
    "TimeLimitExceeded",
    "answer_set",
    "call_with_time_limit",
    "is_placeholder",
    "show",
    "whole_number",
]

Text = str | Callable[[], str]  # a string, or a function that builds it when shown

NOT_ANSWERED = (
    "Not answered yet: replace the placeholder (the `...` or the `raise NotImplementedError`) "
    "with your answer, then run the cell again."
)
CHECK_SECONDS = 60.0  # a whole check stops after this long (a safety net; checkers time their own calls tighter)


class Mistake(Exception):
    """Raised by a checker: the answer is wrong, and the message says how."""


class TimeLimitExceeded(BaseException):
    """Learner code ran past its time limit. A BaseException, so that no ``except Exception`` swallows it."""

    def __init__(self, seconds: float, what: str, on: str = "", where: str = "") -> None:
        super().__init__(f"{what} took longer than {seconds:g} s")
        self.seconds, self.what, self.on, self.where = seconds, what, on, where

    def message(self) -> str:
        """The feedback: which call was too slow, on what, where it was, and what to look for."""
        on = f" {self.on}" if self.on else ""
        return (
            f"{self.what} took longer than {self.seconds:g} s{on} and was stopped{self.where}: look for an "
            "endless loop (a `while` whose condition never becomes false) or a `time.sleep`."
        )


class _NotAnswered(BaseException):
    """A learner's function returned the placeholder `...`: not answered yet (passes any ``except Exception``)."""


_COLOURS = {"correct": "#1a7f37", "incorrect": "#cf222e", "todo": "#0969da", "hint": "#9a6700", "solution": "#57606a"}
_LABELS = {"correct": "Correct", "incorrect": "Incorrect", "todo": "Not yet", "hint": "Hint", "solution": "Solution"}


def _in_kernel() -> bool:
    """True inside a Jupyter kernel, where rich (HTML) output is shown."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython: text output
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _inline_html(text: str) -> str:
    """Escape text and turn `code` spans into <code> elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _to_html(text: str) -> str:
    """Render the tiny markup used in questions: ``` fences become <pre>, blank lines paragraphs."""
    parts = re.split(r"```[a-z]*\n?(.*?)```", text, flags=re.DOTALL)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # inside a fence
            out.append(f'<pre style="margin:0.4em 0">{html.escape(part.rstrip())}</pre>')
        else:
            out.extend(
                f"<p style='margin:0.3em 0'>{_inline_html(p.strip())}</p>" for p in part.split("\n\n") if p.strip()
            )
    return "".join(out)


def show(kind: str, title: str, text: str) -> None:
    """Display a message box of ``kind`` (correct, incorrect, todo, hint, solution), HTML or text."""
    label = _LABELS[kind]
    if not _in_kernel():
        print(f"[{label}] {title}: {text}" if title else f"[{label}] {text}")
        return
    from IPython.display import display

    colour = _COLOURS[kind]
    body = (
        f'<div style="border-left:4px solid {colour};padding:0.2em 0.8em;margin:0.3em 0">'
        f'<b style="color:{colour}">{label}</b>'
        + (f" <b>{html.escape(title)}</b>" if title else "")
        + f"{_to_html(text)}</div>"
    )
    # Both mimetypes: HTML in JupyterLab, readable text in any other front end (and for nbval).
    display({"text/html": body, "text/plain": f"{label}: {title}\n{text}" if title else f"{label}: {text}"}, raw=True)


# --- whose code is this? The learner's, the checker's, or a library's -------------------------------------

_PACKAGE = Path(__file__).resolve().parents[1]  # resblock/: the checkers and the code they call
_LIBRARIES = {
    Path(p).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib") if (p := sysconfig.get_paths().get(key))
}


def _owner(filename: str) -> str:
    """ "checker" (resblock's own code), "library" (Python, torch, site-packages) or "learner" (anything else)."""
    if filename.startswith("<"):  # "<frozen ...>" is Python's own; "<string>", "<stdin>" code typed in
        return "library" if filename.startswith("<frozen") else "learner"
    path = Path(filename)
    if "site-packages" in path.parts or "dist-packages" in path.parts or "torch" in path.parts:
        return "library"
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return "learner"
    if _PACKAGE == resolved or _PACKAGE in resolved.parents:
        return "checker"
    if any(lib in resolved.parents for lib in _LIBRARIES):
        return "library"
    return "learner"


def _learner_line(frames: list[traceback.FrameSummary]) -> str:
    """The innermost line of the learner's own code among ``frames``, e.g. " (in `forward`, at `out += x`)"."""
    for frame in reversed(frames):
        if _owner(frame.filename) == "learner" and frame.line:
            return f" (in `{frame.name}`, at `{frame.line.strip()}`)"
    return ""


def _where(exc: BaseException) -> str:
    """The innermost line of the learner's own code in an exception's traceback."""
    return _learner_line(traceback.extract_tb(exc.__traceback__))


def _checker_line(exc: BaseException) -> str:
    """The innermost line of resblock's own code in a traceback, e.g. "nb05.py line 30, in check"."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if _owner(frame.filename) == "checker":
            return f"{Path(frame.filename).name} line {frame.lineno}, in `{frame.name}`"
    return "an unknown place"


def _learner_raised(exc: BaseException) -> bool:
    """True if the learner's code is on the traceback: then the error is theirs, not the checker's."""
    return any(_owner(f.filename) == "learner" for f in traceback.extract_tb(exc.__traceback__))


# --- placeholders ----------------------------------------------------------------------------------------


def is_placeholder(value: Any, _depth: int = 0) -> bool:
    """True for an untouched placeholder: ``...``, ``None``, or a tuple/list/dict/set made only of those."""
    if value is None or value is Ellipsis:
        return True
    if _depth < 3 and isinstance(value, (tuple, list, set, frozenset, dict)) and len(value):
        items = value.values() if isinstance(value, dict) else value
        return all(is_placeholder(v, _depth + 1) for v in items)
    return False


def _has_ellipsis(value: Any, _depth: int = 0) -> bool:
    if value is Ellipsis:
        return True
    if _depth < 3 and isinstance(value, (tuple, list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return any(_has_ellipsis(v, _depth + 1) for v in items)
    return False


def _check_parameters(fn: Callable, args: tuple, kwargs: dict) -> None:
    """A Mistake, not "the checker failed", when the learner's function cannot take the question's arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to compare (a builtin): let the call say
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        given = ", ".join([*(type(a).__name__ for a in args), *(f"{k}=..." for k in kwargs)])
        n = len(args) + len(kwargs)
        raise Mistake(
            f"the checker calls your function with {n} argument{'s' * (n != 1)} ({given}), but it is "
            f"defined as {fn.__name__}{signature}: {e}. Give it the parameters the question names, in that order."
        ) from None


class _Watched:
    """A learner's function, wrapped so that ``return ...`` reads as "not answered" and ``None`` is noticed."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.returned_none = fn, False

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            _check_parameters(fn, args, kwargs)
            result = fn(*args, **kwargs)
            if _has_ellipsis(result):
                raise _NotAnswered
            if result is None:
                self.returned_none = True
            return result

        self.call = call


# --- time limits -------------------------------------------------------------------------------------------


class _Deadline:
    def __init__(self, seconds: float, what: str, on: str) -> None:
        self.when, self.seconds, self.what, self.on = time.monotonic() + seconds, seconds, what, on


_deadlines: list[_Deadline] = []  # the main thread's active limits, outermost first
_saved_handler: Any = None


def _alarm_usable() -> bool:
    """SIGALRM works on the main thread of a Unix process, when nobody else is using the timer."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False
    if _deadlines:
        return True
    return signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) in (
        signal.SIG_DFL,
        signal.SIG_IGN,
        None,
    )


def _arm() -> None:
    soonest = min(d.when for d in _deadlines)
    signal.setitimer(signal.ITIMER_REAL, max(soonest - time.monotonic(), 1e-4))


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    expired = [d for d in _deadlines if d.when <= now + 1e-3]
    if not expired:  # early wake-up: sleep again until the soonest deadline
        _arm()
        return
    d = expired[-1]  # the innermost limit that ran out names the most specific call
    where = _learner_line(traceback.extract_stack(frame)) if frame is not None else ""
    raise TimeLimitExceeded(d.seconds, d.what, d.on, where)


@contextmanager
def _alarm(seconds: float, what: str, on: str) -> Iterator[None]:
    global _saved_handler
    if not _deadlines:
        _saved_handler = signal.signal(signal.SIGALRM, _on_alarm)
    mine = _Deadline(seconds, what, on)
    _deadlines.append(mine)
    _arm()
    try:
        yield
    finally:
        _deadlines.remove(mine)
        if _deadlines:
            _arm()  # an outer limit still runs (if it already ran out, it fires at once)
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, _saved_handler)


def _stop_thread(thread: threading.Thread) -> None:
    """Ask a runaway thread to stop: raise TimeLimitExceeded in it at its next Python instruction."""
    if thread.ident is not None and sys.implementation.name == "cpython":
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(TimeLimitExceeded))


def _in_thread(fn: Callable, args: tuple, kwargs: dict, seconds: float, what: str, on: str) -> Any:
    """Run ``fn`` in a daemon thread and wait at most ``seconds`` (where SIGALRM cannot be used)."""
    outcome: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    grad = torch.is_grad_enabled() if torch is not None else None  # grad mode is per thread in PyTorch

    def run() -> None:
        try:
            if torch is not None:
                torch.set_grad_enabled(grad)
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed back to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=run, name=f"resblock check: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        frame = sys._current_frames().get(worker.ident)
        where = _learner_line(traceback.extract_stack(frame)) if frame is not None else ""
        _stop_thread(worker)  # a pure-Python loop stops; a sleep ends on its own (the thread is a daemon)
        raise TimeLimitExceeded(seconds, what, on, where)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def call_with_time_limit(
    fn: Callable, *args: Any, seconds: float | None, what: str, on: str = "", **kwargs: Any
) -> Any:
    """``fn(*args, **kwargs)``, stopped with :class:`TimeLimitExceeded` after ``seconds`` (None: no limit).

    ``what`` names the call for the learner ("your `forward`"), ``on`` its input ("on a batch of shape
    (2, 8, 6, 6)"). On the main thread of a Unix process a SIGALRM timer interrupts the call (loops and
    sleeps alike, with nested limits); elsewhere the call runs in a daemon thread that is abandoned
    (and asked to stop) when it overruns.
    """
    if seconds is None:
        return fn(*args, **kwargs)
    if not (isinstance(seconds, numbers.Real) and seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"seconds must be a positive number of seconds or None, got {seconds!r}.")
    if _alarm_usable():
        with _alarm(float(seconds), what, on):
            return fn(*args, **kwargs)
    return _in_thread(fn, args, kwargs, float(seconds), what, on)


# --- numbers -----------------------------------------------------------------------------------------------


def python_scalar(value: Any) -> Any:
    """A NumPy or torch scalar (0-d: np.int64(3), torch.tensor(0.8), np.True_) as the Python value it holds; else ``value``."""
    if hasattr(value, "ndim") and getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return value


def whole_number(value: Any, what: str = "the answer") -> int:
    """``value`` as an int: accepts ints, NumPy integers, 0-d integer tensors and floats such as 14.0; else Mistake."""
    value = python_scalar(value)
    if isinstance(value, bool):
        raise Mistake(f"{what} should be a whole number, got the truth value {short_repr(value)}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
        raise Mistake(f"{what} should be a whole number, got {short_repr(value)}, which is not one.")
    raise Mistake(f"{what} should be a whole number, got {describe(value)}.")


def real_number(value: Any) -> float | None:
    """``value`` as a float (ints, floats, NumPy scalars, 0-d tensors), or None if it is not a finite number."""
    value = python_scalar(value)  # e.g. counts.trace() / counts.sum()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return float(value)


def spelled(text: str) -> str:
    """One spelling of a written answer: lower case, single spaces ('Stays  Healthy ' is 'stays healthy')."""
    return " ".join(text.lower().split())


def answer_dict(answer: Any, keys: Iterable[str], example: str, what: str = "entry") -> dict:
    """The learner's dict with its keys spelt as in ``keys`` (any case, spaces around), or a Mistake.

    Unknown and doubled keys are named; if no key has a value yet (all ``...`` or None, or none given)
    it is "not answered yet"; if some do, the missing ones are named.
    """
    if not isinstance(answer, dict):
        raise Mistake(f"answer with a dict such as {example}, got {type(answer).__name__}.")
    keys = list(keys)
    canonical = {k.lower(): k for k in keys}
    given: dict[str, list] = {}
    for k in answer:
        given.setdefault(canonical.get(str(k).strip().lower(), None), []).append(k)
    if None in given:
        raise Mistake(
            f"unknown {what}{'s' * (len(given[None]) > 1)} {', '.join(map(repr, given[None]))}: "
            f"the {what}s are {', '.join(map(repr, keys))}."
        )
    twice = [ks for ks in given.values() if len(ks) > 1]
    if twice:
        raise Mistake(f"{twice[0][0]!r} and {twice[0][1]!r} are the same {what}: give it once.")
    normalised = {k: answer[given[k][0]] for k in keys if k in given}
    missing = [k for k in keys if normalised.get(k) is None or normalised.get(k) is Ellipsis]
    if len(missing) == len(keys):
        raise NotImplementedError  # nothing filled in yet: "not answered yet", not a mistake
    if missing:
        raise Mistake(f"fill in every {what}; missing: {', '.join(missing)}.")
    return normalised


def answer_set(answer: Any, allowed: Iterable, what: str, example: str, normalise: Callable[[str], str] = str) -> set:
    """The learner's answer as a set of ``allowed`` names (one name alone is a set of one); else Mistake.

    ``what`` names the things chosen ("letters"), ``example`` shows an answer (``{'A'}``); ``normalise``
    tidies each string (e.g. ``str.upper``). The untouched placeholder (``{...}``) is "not answered yet";
    an empty set is an answer (none of them).
    """
    if isinstance(answer, str):
        answer = {answer}
    if isinstance(answer, dict):  # {'A': True, 'C': False}: the ones marked True are chosen
        if not all(isinstance(v, bool) for v in answer.values()):
            raise Mistake(f"answer with a set of {what}, e.g. {example}; got a dict.")
        answer = [k for k, v in answer.items() if v]
    try:
        chosen = {normalise(a.strip()) if isinstance(a, str) else a for a in answer}
    except TypeError:
        raise Mistake(f"answer with a set of {what}, e.g. {example}; got {type(answer).__name__}.") from None
    if chosen and chosen <= {Ellipsis, None}:
        raise NotImplementedError  # the untouched placeholder: not a mistake, nothing chosen yet
    allowed = list(allowed)
    unknown = sorted(str(c) for c in chosen if c not in allowed)
    if unknown:
        raise Mistake(f"{unknown} {'is' if len(unknown) == 1 else 'are'} not among the {what}: {allowed}.")
    return chosen


# --- the question ------------------------------------------------------------------------------------------


@contextmanager
def _random_stream_kept() -> Iterator[None]:
    """Checkers seed torch's global generator so that their probes repeat; the learner's stream is put back after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        yield


class Question:
    """One exercise: ``check(answer)`` says whether it is right and, if not, what the mistake is."""

    def __init__(
        self,
        name: str,
        prompt: Text,
        checker: Callable[[Any], Any],
        hint: Text,
        solution: Text,
        *,
        time_limit: float | None = CHECK_SECONDS,
    ) -> None:
        for arg, value in (("name", name), ("prompt", prompt), ("hint", hint), ("solution", solution)):
            if not (isinstance(value, str) and value.strip()) and not callable(value):
                raise ValueError(
                    f"Question {arg} must be a non-empty string (or a function returning one), got {short_repr(value)}."
                )
        if not callable(checker):
            raise ValueError(
                f"Question checker must be a function answer -> None that raises Mistake, got {checker!r}."
            )
        if time_limit is not None and not (isinstance(time_limit, numbers.Real) and time_limit > 0):
            raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}.")
        self.name, self._prompt, self.checker, self._hint, self._solution = name, prompt, checker, hint, solution
        self.time_limit = time_limit

    @staticmethod
    def _text(value: Text) -> str:
        if not callable(value):
            return value
        with _random_stream_kept():  # a text may be measured (nb02's solution builds and seeds nets)
            return value()

    @property
    def prompt(self) -> str:
        """The question's text (measured now, if it was given as a function)."""
        return self._text(self._prompt)

    def feedback(self, answer: Any) -> tuple[str, str]:
        """(status, message) for ``answer``; status is "correct", "incorrect" or "todo". Never raises."""
        if is_placeholder(answer):
            return "todo", NOT_ANSWERED
        # A plain function is watched: `return ...` means "not yet", and a None it returned explains a crash.
        watched = _Watched(answer) if inspect.isfunction(answer) or inspect.ismethod(answer) else None
        try:
            with _random_stream_kept():
                praise = call_with_time_limit(
                    self.checker,
                    watched.call if watched else answer,
                    seconds=self.time_limit,
                    what="checking your answer",
                )
        except Mistake as m:
            return "incorrect", str(m)
        except (NotImplementedError, _NotAnswered):
            return "todo", NOT_ANSWERED
        except TimeLimitExceeded as t:
            return "incorrect", t.message()
        except Exception as e:
            detail = f": {e}" if str(e) else ""
            returned_none = watched is not None and watched.returned_none
            if returned_none and "NoneType" in str(e):  # the checker tripped over the None it was given
                return "incorrect", "your function returned None: did you forget `return`?"
            if _learner_raised(e):  # the learner's code failed: name the error and where, not a traceback
                return "incorrect", f"Your code raised {type(e).__name__}{detail}{_where(e)}."
            if returned_none:
                return "incorrect", "your function returned None: did you forget `return`?"
            return "incorrect", (
                f"The checker itself failed ({type(e).__name__}{detail}, at {_checker_line(e)}), so it could not "
                "judge your answer. That is a bug in the exercise, not necessarily in your answer: check that you "
                "passed what the question asks for, and please report it."
            )
        return "correct", praise if isinstance(praise, str) and praise else "well done."

    def check(self, answer: Any) -> bool:
        """Show whether ``answer`` is right (and if not, which mistake it looks like); return True or False."""
        status, message = self.feedback(answer)
        show(status, self.name, message)
        return status == "correct"

    def hint(self) -> None:
        """Show a hint."""
        show("hint", self.name, self._text(self._hint))

    def solution(self) -> None:
        """Show a worked solution (it may include code)."""
        show("solution", self.name, self._text(self._solution))

    def __repr__(self) -> str:
        return f"{self.name}: {self.prompt}"

    def _repr_html_(self) -> str:
        return f"<b>{html.escape(self.name)}</b>{_to_html(self.prompt)}"
