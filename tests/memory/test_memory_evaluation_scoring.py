"""The memory evaluation's scoring: what counts as "you have not told me", a stale value, a recalled fact."""

from __future__ import annotations

import pytest

from memory.evaluation import score

NEVER = {"q": "What is my salary?", "never": True}
UPDATED = {"q": "Which PostgreSQL version do I work on?", "expect": ["16"], "old": ["15"]}


@pytest.mark.parametrize(
    "answer",
    [
        "You haven't told me your salary.",
        "I don't know your favourite colour.",
        "I don't have information about your salary.",
        "I don't have your phone number.",
        "I have no record of that.",
    ],
)
def test_abstentions_on_never_said_facts(answer: str) -> None:
    assert score(NEVER, answer) == {"correct": True, "false_recall": False}


@pytest.mark.parametrize(
    "answer",
    [
        "Your salary is 50,000 euros.",
        "Your email address is [insert your email address].",
        "You can use any bank you prefer.",
        "You were born on March 3rd.",
    ],
)
def test_made_up_answers_are_false_recall(answer: str) -> None:
    assert score(NEVER, answer) == {"correct": False, "false_recall": True}


def test_updated_fact_needs_the_new_value_without_the_old() -> None:
    assert score(UPDATED, "You work on PostgreSQL 16.") == {"correct": True, "stale": False}
    assert score(UPDATED, "PostgreSQL 15, then 16.") == {"correct": False, "stale": True}
    assert score(UPDATED, "PostgreSQL.") == {"correct": False, "stale": False}
