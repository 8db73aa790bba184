"""Counts read right for one and for many: "1 category", "2 categories", "1 warning"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler import keys
from reconciler.model import Category, State
from reconciler.plan.diff import compute_plan
from reconciler.plan.model import Notice, NoticeLevel, grouped_notice
from reconciler.render import PlanFormat, render
from reconciler.words import agree, count, plural
from tests.support.plans import sample_doc


@pytest.mark.parametrize(
    ("noun", "many"),
    [
        ("category", "categories"),
        ("warning", "warnings"),
        ("day", "days"),
        ("class", "classes"),
        ("staff", "staff"),
        ("person", "people"),
        ("more notice", "more notices"),
        ("capability", "capabilities"),
    ],
)
def test_one_and_many(noun: str, many: str) -> None:
    assert plural(noun) == many
    assert count(1, noun) == f"1 {noun}"
    assert count(0, noun) == f"0 {many}"
    assert count(1234, noun) == f"1,234 {many}"


def test_a_phrase_agrees_with_its_count() -> None:
    phrase = "[course|courses] no longer selected [is|are] left as [it is|they are]"
    assert agree(1, phrase) == "course no longer selected is left as it is"
    assert agree(2, phrase) == "courses no longer selected are left as they are"
    assert grouped_notice(NoticeLevel.INFO, "[person has|people have] no login", ["a"]).message == (
        "1 person has no login: a"
    )
    assert grouped_notice(NoticeLevel.INFO, "[person has|people have] no login", ["a", "b"]).message == (
        "2 people have no login: a, b"
    )


@pytest.mark.parametrize(
    ("n", "said"),
    [
        (1, "1 category no longer selected by the config is left as it is"),
        (2, "2 categories no longer selected by the config are left as they are"),
    ],
)
def test_a_deselected_category_notice(n: int, said: str) -> None:
    live = State.of([Category(keys.category_key((f"Old {i}",)), name=f"Old {i}", moodle_id=10 + i) for i in range(n)])
    plan = compute_plan(State.of([]), live)
    assert [notice.message.split(":")[0] for notice in plan.notices] == [said]


@pytest.mark.parametrize(("warnings", "said"), [(1, "Notices: 1 warning, 0 info"), (2, "Notices: 2 warnings, 0 info")])
def test_markdown_counts_its_notices(warnings: int, said: str) -> None:
    notices = tuple(Notice(NoticeLevel.WARNING, f"warning {i}") for i in range(warnings))
    doc = replace(sample_doc(), notices=notices)
    assert said in render(doc, PlanFormat.MARKDOWN)
