"""Contract test: ``grades/_sequence.jsonl`` (graded work, recorded from a real Moodle 4.5), replayed in order.

A fresh emulator must give the recorded answer to every record of the functions it
implements (``gradereport_user_get_grade_items``, ``core_grades_get_gradeitems`` and the
enrolment writes around them), with the same normalization as the production replay.
Two functions of the recording are not emulated: the HTML grade table and the overview
report, which ps2moodle does not call; their records are named in :data:`NOT_EMULATED`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.moodle.replay import replay_sequence
from tests.support.golden import read_jsonl

#: Functions of the recording the emulator leaves to a real site (ps2moodle never calls them).
NOT_EMULATED = frozenset({"gradereport_user_get_grades_table", "gradereport_overview_get_course_grades"})


@pytest.fixture(scope="module")
def grades_sequence(golden_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(golden_dir / "grades" / "_sequence.jsonl")


def test_grades_sequence_replays_record_for_record(
    grades_sequence: list[dict[str, Any]], make_replayer: Callable[..., Any]
) -> None:
    replayed = [r for r in grades_sequence if r.get("function") not in NOT_EMULATED]
    failures = replay_sequence(make_replayer(), replayed)
    calls = [r for r in replayed if "setup" not in r]
    assert len(calls) == 35 - 11  # the recording's 35 calls less the 11 of the two functions left out
    assert not failures, "\n".join(failures)


def test_a_suspended_enrolment_leaves_the_course_listing_but_keeps_its_grade(
    grades_sequence: list[dict[str, Any]], make_replayer: Callable[..., Any]
) -> None:
    """The recorded reason to check graded work before suspending: seq 31 and 32."""
    replayer = make_replayer()
    by_seq = {r["seq"]: r for r in grades_sequence}
    for seq in range(1, 31):
        record = by_seq[seq]
        if "setup" in record:
            replayer.setup(record)
        elif record["function"] not in NOT_EMULATED:
            replayer.send(record)
    listed = replayer.replay(by_seq[31]).response["usergrades"]
    assert [u["userid"] for u in listed] == [4, 5]
    alone = replayer.replay(by_seq[32]).response["usergrades"][0]["gradeitems"][0]
    assert alone["graderaw"] == 0 and alone["itemtype"] == "manual"
