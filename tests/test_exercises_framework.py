"""The exercise framework: check() never raises, returns a bool and names the mistake; hint/solution show text."""

import nbformat
import pytest
from nbclient import NotebookClient

import resblock.exercises as exercises
from resblock.exercises import Mistake, Question


def _positive(answer):
    if not isinstance(answer, (int, float)):
        raise Mistake(f"expected a number, got {type(answer).__name__}.")
    if answer <= 0:
        raise Mistake("the number must be positive; did you flip the sign?")


def _calls_it(fn):
    fn()  # the learner's function runs inside the checker


@pytest.fixture
def q():
    return Question("Q0", "Give a positive number.", _positive, "Anything above zero.", "```python\nanswer = 1\n```")


def test_right_answer_returns_true_and_says_correct(q, capsys):
    assert q.check(3) is True
    assert capsys.readouterr().out == "[Correct] Q0: well done.\n"


def test_wrong_answer_returns_false_with_the_checkers_message(q, capsys):
    assert q.check(-2) is False
    assert capsys.readouterr().out == "[Incorrect] Q0: the number must be positive; did you flip the sign?\n"


@pytest.mark.parametrize("placeholder", [None, ...])
def test_placeholder_is_not_yet_answered_not_an_error(q, capsys, placeholder):
    assert q.check(placeholder) is False
    out = capsys.readouterr().out
    assert out.startswith("[Not yet] Q0: Not answered yet")


def test_not_implemented_error_in_learner_code_counts_as_not_answered(capsys):
    def todo():
        raise NotImplementedError("write this")

    assert Question("Q", "p", _calls_it, "h", "s").check(todo) is False
    assert "Not answered yet" in capsys.readouterr().out


def test_exception_in_learner_code_is_caught_and_named_with_its_line(capsys):
    def buggy():
        values = [1, 2]
        return values[5]  # the learner's bug

    assert Question("Q", "p", _calls_it, "h", "s").check(buggy) is False
    out = capsys.readouterr().out
    assert "IndexError: list index out of range" in out
    assert "in `buggy`, at `return values[5]  # the learner's bug`" in out


def test_checker_may_return_a_success_message(capsys):
    assert Question("Q", "p", lambda a: "and fast, too.", "h", "s").check(1) is True
    assert capsys.readouterr().out == "[Correct] Q: and fast, too.\n"


def test_hint_and_solution_show_their_text(q, capsys):
    q.hint()
    q.solution()
    out = capsys.readouterr().out
    assert "[Hint] Q0: Anything above zero." in out and "answer = 1" in out


def test_text_may_be_built_lazily():
    calls = []
    lazy = Question("Q", lambda: calls.append(1) or "prompt", _positive, "h", lambda: "built")
    assert calls == []  # nothing is computed when the question is defined
    assert lazy.prompt == "prompt" and calls == [1]


@pytest.mark.parametrize("field", ["name", "prompt", "hint", "solution"])
def test_empty_text_is_rejected(field):
    kwargs = dict(name="Q", prompt="p", checker=_positive, hint="h", solution="s")
    kwargs[field] = "  "
    with pytest.raises(ValueError, match=field):
        Question(**kwargs)


def test_checker_must_be_callable():
    with pytest.raises(ValueError, match="checker"):
        Question("Q", "p", "not a function", "h", "s")


def test_html_rendering_escapes_and_formats_code():
    rendered = exercises._to_html("Use `x + y` <here>.\n\n```python\nif a < b:\n    pass\n```\nthen stop.")
    assert "<code>x + y</code>" in rendered and "&lt;here&gt;" in rendered
    assert "<pre" in rendered and "if a &lt; b:\n    pass</pre>" in rendered
    assert rendered.endswith("then stop.</p>")


def test_in_a_kernel_check_displays_html_and_returns_a_bool():
    """Run check() in a real Jupyter kernel: the message is HTML (with a text twin), the return value a bool."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from resblock.exercises import Mistake, Question\n"
        "def checker(a):\n"
        "    if a != 42: raise Mistake('not the answer to everything.')\n"
        "q = Question('Q1', 'What is it?', checker, 'Six times seven.', '42')\n"
        "ok, bad = q.check(42), q.check(41)\n"
        "print(ok, bad)"
    )]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    html_outputs = [o["data"]["text/html"] for o in outputs if o["output_type"] == "display_data"]
    assert len(html_outputs) == 2
    assert "Correct" in html_outputs[0] and "not the answer to everything." in html_outputs[1]
    texts = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert texts[1] == "Incorrect: Q1\nnot the answer to everything."
    assert [o["text"] for o in outputs if o["output_type"] == "stream"] == ["True False\n"]
