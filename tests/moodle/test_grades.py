"""Reading graded work: the client's reading of ``gradereport_user_get_grade_items`` agrees
with the answers a real Moodle 4.5 gave (``grades/_sequence.jsonl``), and it asks with
as few calls as the report allows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.gradework import Probe
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleTransportError
from reconciler.moodle.grades import FUNCTION, graded_items, read_graded_items


@pytest.fixture(scope="module")
def recorded(golden_dir: Path) -> dict[int, dict[str, Any]]:
    lines = (golden_dir / "grades" / "_sequence.jsonl").read_text("utf-8").splitlines()
    return {record["seq"]: record for record in map(json.loads, lines) if record.get("function") == FUNCTION}


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        (8, {3: 0, 4: 0, 5: 0}),  # only the course total exists: nothing graded
        (14, {3: 1}),  # graded 0 is graded work
        (15, {4: 1}),
        (16, {5: 0}),  # enrolled, not graded
        (17, {3: 1, 4: 1, 5: 0}),  # the whole course in one answer
        (31, {4: 1, 5: 0}),  # a suspended enrolment drops out of the course-wide answer
        (32, {3: 1}),  # ...but answers alone
        (38, {4: 0}),  # unenrolled: the grade left the gradebook
    ],
)
def test_graded_items_of_recorded_answers(
    recorded: dict[int, dict[str, Any]], seq: int, expected: dict[int, int]
) -> None:
    assert graded_items(recorded[seq]["response"]) == expected


def test_an_answer_of_another_shape_is_an_error() -> None:
    with pytest.raises(MoodleTransportError, match="expected an object with usergrades"):
        graded_items([])


def test_one_call_per_course_and_one_per_unlisted_or_lone_user(recorded: dict[int, dict[str, Any]]) -> None:
    asked: list[dict[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        asked.append({k: form[k] for k in ("courseid", "userid")})
        if form["courseid"] == "9":
            body: Any = {
                "exception": "dml_missing_record_exception",
                "errorcode": "invalidrecord",
                "message": "Can't find data record in database table course.",
            }
        else:
            body = recorded[{"0": 17, "4": 15}[form["userid"]]]["response"]
        return httpx.Response(200, json=body)

    probes = [Probe(2, 3, listed=True), Probe(2, 5, listed=True), Probe(2, 4, listed=False), Probe(9, 3, listed=True)]
    with MoodleClient("https://moodle.test", "t", transport=httpx.MockTransport(answer), concurrency=1) as client:
        answers = read_graded_items(client, probes)
    assert asked == [
        {"courseid": "2", "userid": "0"},
        {"courseid": "2", "userid": "4"},
        {"courseid": "9", "userid": "3"},  # the only user probed there: asked alone
    ]
    assert answers.graded == {(2, 3): 1, (2, 5): 0, (2, 4): 1}
    assert list(answers.failures) == [(9, 3)]
    assert "invalidrecord" in answers.failures[(9, 3)] or "Can't find data record" in answers.failures[(9, 3)]
