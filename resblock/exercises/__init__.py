"""Exercises that check themselves: ``q.check(answer)``, ``q.hint()``, ``q.solution()`` (every notebook).

Modelled on Kaggle's learntools. A :class:`Question` holds a prompt, a *checker*, a hint and a
solution. A checker is a function ``checker(answer) -> None`` that raises :class:`Mistake` with a
message naming the mistake when the answer is wrong (it may return a string to say more on success). ``check`` turns that into a pass/fail message
(HTML in a notebook, plain text elsewhere) and returns ``True`` or ``False``; it never raises for a
wrong answer, and an error inside the learner's own code is reported by name, not as a traceback.

The learner passes their object in, e.g. ``ex.q1.check(MyResidualBlock)``; nothing reads the
notebook's globals. Each notebook's questions live in ``resblock.exercises.nbNN``.

Text given to a question (prompt, hint, solution) may use ```` ``` ```` fences for code blocks and
single backticks for inline code; it is shown as HTML in a notebook and as-is in a terminal.
"""

from __future__ import annotations

import html
import re
import traceback
from pathlib import Path
from typing import Any, Callable, Union

__all__ = ["Mistake", "Question", "Text", "show"]

Text = Union[str, Callable[[], str]]  # a string, or a function that builds it when shown

NOT_ANSWERED = (
    "Not answered yet: replace the placeholder (the `...` or the `raise NotImplementedError`) "
    "with your answer, then run the cell again."
)


class Mistake(Exception):
    """Raised by a checker: the answer is wrong, and the message says how."""


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
    parts = re.split(r"```[a-z]*\n?(.*?)```", text, flags=re.S)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # inside a fence
            out.append(f'<pre style="margin:0.4em 0">{html.escape(part.rstrip())}</pre>')
        else:
            out.extend(f"<p style='margin:0.3em 0'>{_inline_html(p.strip())}</p>" for p in part.split("\n\n") if p.strip())
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


def _where(exc: BaseException) -> str:
    """The innermost line of the learner's own code in a traceback, e.g. "in forward: out += x"."""
    here = Path(__file__).resolve().parent
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        inside_library = "site-packages" in path.parts or "torch" in path.parts or here in path.resolve().parents
        if not inside_library and frame.line:
            return f" (in `{frame.name}`, at `{frame.line.strip()}`)"
    return ""


class Question:
    """One exercise: ``check(answer)`` says whether it is right and, if not, what the mistake is."""

    def __init__(self, name: str, prompt: Text, checker: Callable[[Any], None], hint: Text, solution: Text) -> None:
        for arg, value in (("name", name), ("prompt", prompt), ("hint", hint), ("solution", solution)):
            if not (isinstance(value, str) and value.strip()) and not callable(value):
                raise ValueError(f"Question {arg} must be a non-empty string (or a function returning one), got {value!r}.")
        if not callable(checker):
            raise ValueError(f"Question checker must be a function answer -> None that raises Mistake, got {checker!r}.")
        self.name, self._prompt, self.checker, self._hint, self._solution = name, prompt, checker, hint, solution

    @staticmethod
    def _text(value: Text) -> str:
        return value() if callable(value) else value

    @property
    def prompt(self) -> str:
        return self._text(self._prompt)

    def feedback(self, answer: Any) -> tuple[str, str]:
        """(status, message) for ``answer``; status is "correct", "incorrect" or "todo". Never raises."""
        if answer is None or answer is Ellipsis:
            return "todo", NOT_ANSWERED
        try:
            praise = self.checker(answer)
        except Mistake as m:
            return "incorrect", str(m)
        except NotImplementedError:
            return "todo", NOT_ANSWERED
        except Exception as e:  # the learner's code failed: name the error and where, not a traceback
            detail = f": {e}" if str(e) else ""
            return "incorrect", f"Your code raised {type(e).__name__}{detail}{_where(e)}."
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
