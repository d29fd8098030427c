"""Notebook 00's exercise: the reference answer passes; each folklore answer fails with its evidence."""

import pytest

from resblock.exercises import nb00 as ex


def test_q1_reference_passes():
    status, message = ex.q1.feedback(ex.ANSWER)
    assert status == "correct" and "152 layers" in message
    for written in (f"{ex.ANSWER}.", f"({ex.ANSWER.upper()})", f" {ex.ANSWER}) "):
        assert ex.q1.feedback(written)[0] == "correct", written


@pytest.mark.parametrize(
    "wrong, words",
    [
        ("a", "highway networks"),
        ("b", "unlikely to be caused by vanishing gradients"),
        ("d", "no parameters"),
        (" (B) ", "He initialisation"),
    ],
)
def test_q1_folklore_answers_name_the_evidence(wrong, words):
    status, message = ex.q1.feedback(wrong)
    assert status == "incorrect" and "folklore" in message and words in message, message


@pytest.mark.parametrize("answer", ["e", 3, ["c"], "c and d"])
def test_q1_malformed_answers_say_what_to_give(answer):
    status, message = ex.q1.feedback(answer)
    assert status == "incorrect" and "one letter" in message, message


def test_q1_placeholder_is_todo():
    assert ex.q1.feedback(...)[0] == "todo"


def test_q1_solution_names_the_answer(capsys):
    ex.q1.hint()
    ex.q1.solution()
    assert "ex.q1.check('c')" in capsys.readouterr().out
