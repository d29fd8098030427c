"""The exercise framework: check() never raises, returns a bool and names the mistake; hint/solution show text."""

import inspect
import signal
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

from resblock import exercises
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
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from resblock.exercises import Mistake, Question\n"
            "def checker(a):\n"
            "    if a != 42: raise Mistake('not the answer to everything.')\n"
            "q = Question('Q1', 'What is it?', checker, 'Six times seven.', '42')\n"
            "ok, bad = q.check(42), q.check(41)\n"
            "print(ok, bad)"
        )
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    html_outputs = [o["data"]["text/html"] for o in outputs if o["output_type"] == "display_data"]
    assert len(html_outputs) == 2
    assert "Correct" in html_outputs[0] and "not the answer to everything." in html_outputs[1]
    texts = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert texts[1] == "Incorrect: Q1\nnot the answer to everything."
    assert [o["text"] for o in outputs if o["output_type"] == "stream"] == ["True False\n"]


# --- feedback states are the same everywhere -------------------------------------------------------------


def _calls_with_one(fn):
    value = fn(1)
    if value != 2:
        raise Mistake(f"f(1) should be 2, got {value!r}.")


def _uses_the_result(fn):
    return fn(1).shape  # a checker that trusts the learner's function to return something


@pytest.mark.parametrize("placeholder", [(..., ...), [..., None], {"A": ..., "B": ...}, ((..., ...), (..., ...))])
def test_a_container_of_placeholders_is_not_yet(q, placeholder):
    assert q.feedback(placeholder) == ("todo", exercises.NOT_ANSWERED)


def test_a_partly_filled_container_goes_to_the_checker():
    seen = []
    Question("Q", "p", lambda a: seen.append(a), "h", "s").feedback({"A": 1, "B": ...})
    assert seen == [{"A": 1, "B": ...}]


@pytest.mark.parametrize("returns", [..., (..., ...), [1, ...]])
def test_a_function_that_returns_the_placeholder_is_not_yet(returns):
    def todo(x):
        return returns

    assert Question("Q", "p", _calls_with_one, "h", "s").feedback(todo) == ("todo", exercises.NOT_ANSWERED)


def test_a_function_that_returns_none_is_told_so():
    def forgot_return(x):
        x + 1

    status, message = Question("Q", "p", _uses_the_result, "h", "s").feedback(forgot_return)
    assert status == "incorrect" and "returned None: did you forget `return`?" in message


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda: 1, ["with 1 argument (int)", "defined as <lambda>()"]),
        (lambda x, y: 1, ["with 1 argument (int)", "defined as <lambda>(x, y)", "missing a required argument"]),
    ],
)
def test_a_function_with_the_wrong_parameters_is_the_learners_mistake_not_the_checkers(answer, words):
    # The call fails before the learner's code runs, so the traceback alone would blame the checker.
    status, message = Question("Q", "p", _uses_the_result, "h", "s").feedback(answer)
    assert status == "incorrect" and "The checker itself failed" not in message
    for w in words:
        assert w in message, message


def test_the_watched_function_keeps_its_name_and_signature():
    def my_answer(a, b=2):
        return a + b

    seen = []
    Question("Q", "p", lambda f: seen.append((f.__name__, str(inspect.signature(f)), f(1))), "h", "s").feedback(
        my_answer
    )
    assert seen == [("my_answer", "(a, b=2)", 3)]


def test_the_checkers_own_failure_is_not_blamed_on_the_learner():
    status, message = Question("Q", "p", exercises_bug_checker, "h", "s").feedback(42)
    assert status == "incorrect"
    assert "The checker itself failed" in message and "ZeroDivisionError" in message and "Your code" not in message
    assert "bug in the exercise" in message


def test_learner_code_raising_inside_the_checker_is_still_the_learners():
    def buggy(x):
        return {}["missing"]

    status, message = Question("Q", "p", exercises_bug_checker_calling, "h", "s").feedback(buggy)
    assert status == "incorrect" and message.startswith("Your code raised KeyError")


# Checkers that live inside resblock/, as the real ones do (so their frames count as the checker's).
_ns: dict = {}
exec(
    compile(
        "def exercises_bug_checker(answer):\n    return answer / 0\n"
        "def exercises_bug_checker_calling(fn):\n    fn(1)\n",
        str(Path(exercises.__file__).with_name("_test_only_checker.py")),
        "exec",
    ),
    _ns,
)
exercises_bug_checker, exercises_bug_checker_calling = (
    _ns["exercises_bug_checker"],
    _ns["exercises_bug_checker_calling"],
)


# --- whole numbers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [14, np.int64(14), np.int32(14), np.array(14), torch.tensor(14), 14.0, np.float32(14.0)]
)
def test_whole_number_accepts_every_kind_of_integer(value):
    assert exercises.whole_number(value) == 14 and type(exercises.whole_number(value)) is int


@pytest.mark.parametrize(
    "value, words", [(14.5, "not one"), (True, "truth value"), ("14", "str"), (float("nan"), "not one"), ([14], "list")]
)
def test_whole_number_rejects_the_rest_with_a_clear_message(value, words):
    with pytest.raises(Mistake, match="whole number") as info:
        exercises.whole_number(value, "the count")
    assert words in str(info.value) and str(info.value).startswith("the count")


# --- time limits ----------------------------------------------------------------------------------------------


def _sleeper(seconds):
    time.sleep(seconds)
    return "woke"


def _spinner():
    while True:
        pass


@pytest.mark.parametrize("fn, args", [(_sleeper, (30,)), (_spinner, ())], ids=["sleep", "loop"])
def test_call_with_time_limit_stops_a_sleep_and_a_loop(fn, args):
    start = time.monotonic()
    with pytest.raises(exercises.TimeLimitExceeded) as info:
        exercises.call_with_time_limit(fn, *args, seconds=0.2, what="your `f`", on="on the input 3")
    assert time.monotonic() - start < 3
    message = info.value.message()
    assert message.startswith("your `f` took longer than 0.2 s on the input 3") and "endless loop" in message
    assert f"in `{fn.__name__}`" in message  # where it was stuck
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) == signal.SIG_DFL


def test_call_with_time_limit_returns_the_value_and_passes_errors_on():
    assert exercises.call_with_time_limit(_sleeper, 0, seconds=1, what="f") == "woke"
    with pytest.raises(ZeroDivisionError):
        exercises.call_with_time_limit(lambda: 1 / 0, seconds=1, what="f")
    assert exercises.call_with_time_limit(_sleeper, 0, seconds=None, what="f") == "woke"
    with pytest.raises(ValueError, match="seconds"):
        exercises.call_with_time_limit(_sleeper, 0, seconds=-1, what="f")


def test_nested_limits_name_the_inner_call_and_the_outer_still_holds():
    def outer():
        exercises.call_with_time_limit(_sleeper, 30, seconds=0.2, what="the inner call")

    with pytest.raises(exercises.TimeLimitExceeded, match="the inner call"):
        exercises.call_with_time_limit(outer, seconds=5, what="the outer call")

    def outer_slow():
        exercises.call_with_time_limit(_sleeper, 0, seconds=5, what="the inner call")
        _sleeper(30)

    start = time.monotonic()
    with pytest.raises(exercises.TimeLimitExceeded, match="the outer call"):
        exercises.call_with_time_limit(outer_slow, seconds=0.3, what="the outer call")
    assert time.monotonic() - start < 3


@pytest.mark.parametrize("fn, args", [(_sleeper, (2,)), (_spinner, ())], ids=["sleep", "loop"])
def test_off_the_main_thread_a_daemon_thread_keeps_the_limit(fn, args):
    caught = []

    def run():
        try:
            exercises.call_with_time_limit(fn, *args, seconds=0.2, what="your `f`")
        except exercises.TimeLimitExceeded as e:
            caught.append(e.message())

    start = time.monotonic()
    t = threading.Thread(target=run)
    t.start()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - start < 3
    assert caught and "took longer than 0.2 s" in caught[0] and f"in `{fn.__name__}`" in caught[0]


def test_a_whole_check_has_a_time_limit_too():
    def loops_forever(x):
        while True:
            pass

    start = time.monotonic()
    status, message = Question("Q", "p", _calls_with_one, "h", "s", time_limit=0.3).feedback(loops_forever)
    assert time.monotonic() - start < 3
    assert status == "incorrect" and "checking your answer took longer than 0.3 s" in message
    assert "(in `loops_forever`, at `while True:`)" in message


def test_time_limit_must_be_positive():
    with pytest.raises(ValueError, match="time_limit"):
        Question("Q", "p", _positive, "h", "s", time_limit=0)


def test_in_a_kernel_a_hanging_answer_is_stopped():
    """The SIGALRM timer works where notebooks run: a kernel's main thread."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from resblock.exercises import Question\n"
            "def checker(f): f()\n"
            "def hangs():\n"
            "    while True: pass\n"
            "print(Question('Q1', 'p', checker, 'h', 's', time_limit=0.5).feedback(hangs))"
        )
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "took longer than 0.5 s" in text and "incorrect" in text


def test_answer_set_takes_one_name_or_many_and_names_what_is_wrong():
    from resblock.exercises import Mistake, answer_set

    letters = {"A": 1, "B": 2}
    assert answer_set(" a", letters, "letters", "{'A'}", normalise=str.upper) == {"A"}
    assert answer_set(["A", "B"], letters, "letters", "{'A'}") == {"A", "B"}
    assert answer_set(set(), letters, "letters", "{'A'}") == set()  # an answer: none of them
    with pytest.raises(NotImplementedError):
        answer_set({...}, letters, "letters", "{'A'}")  # the placeholder: not answered yet
    with pytest.raises(Mistake, match=r"\['C'\] is not among the letters: \['A', 'B'\]"):
        answer_set({"A", "C"}, letters, "letters", "{'A'}")
    with pytest.raises(Mistake, match="answer with a set of letters, e.g. {'A'}; got int"):
        answer_set(3, letters, "letters", "{'A'}")


def test_checking_and_showing_a_solution_leave_the_learners_random_stream_as_it_was(capsys):
    # Checkers seed torch's global generator so that their probes repeat (nb02's measured solution too);
    # the learner's next random draw must be the one it would have been without the check.
    def checker(answer):
        torch.manual_seed(0)
        torch.randn(3)
        if answer != 1:
            raise Mistake("not 1.")

    def measured_text():
        torch.manual_seed(0)
        return f"one draw: {torch.rand(1).item():.2f}"

    q = Question("Q", "prompt", checker, "hint", measured_text)
    for show in (lambda: q.check(1), lambda: q.check(2), q.solution, lambda: q.feedback(1)):
        torch.manual_seed(123)
        want = torch.randn(5)
        torch.manual_seed(123)
        show()
        assert torch.equal(torch.randn(5), want)
