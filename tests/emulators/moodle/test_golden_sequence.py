"""Contract test (a): the whole recorded production session, replayed in order.

``production/_sequence.jsonl`` was recorded against a real Moodle 4.5 from its fresh
state. A fresh emulator, served over real HTTP on loopback, must give the recorded
answer to every one of the 252 web-service records, ids included, when only what the
README allows is normalized (timestamps, site URL, site-info function order; see
``replay.normalize``). The setup lines are applied through the test hook.

One named exception: ``core_course_get_courses`` reads without ORDER BY, so a real
site lists courses in PostgreSQL heap order, which depends on page layout and tuple
sizes. The emulator models heap order as "last written last"; for these two records the
comparison is by course id (every field still compared). See :data:`replay.HEAP_ORDER`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .replay import HEAP_ORDER, replay_sequence


def test_production_sequence_replays_record_for_record(
    sequence: list[dict[str, Any]], make_replayer: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [r for r in sequence if "setup" not in r]
    failures = replay_sequence(make_replayer(), sequence)
    matched = len(calls) - len(failures)
    with capsys.disabled():
        print(f"\nproduction replay: {matched}/{len(calls)} records match ({len(HEAP_ORDER)} compared by id)")
    assert len(calls) == 252
    assert not failures, "\n".join(failures)
