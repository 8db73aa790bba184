"""Contract test (b): the ``debug/`` recordings, against an emulator with debugging on.

The debug recordings are the production scenario recorded again with developer
debugging on, grouped by function rather than sequenced. Each one matches a production
record (same function, case and parameters), so the state each needs is the state the
production sequence builds up to that point: they are replayed in production order on
a fresh debug-mode site, setup steps included, and compared in full, ``debuginfo``
included.

Where the emulator must differ, :data:`DIFFERENCES` names the record and the reason;
there are no other exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

#: Records where the emulator cannot match the debug recording, and why.
DIFFERENCES: dict[int, str] = {
    125: "core_course_get_courses lists courses in PostgreSQL heap order (compared by id, as in production)",
    126: "core_course_get_courses with ids: heap order as well (compared by id)",
}


def _by_id(got: Any, want: Any) -> bool:
    key = lambda item: int(item["id"]) if isinstance(item, dict) else 0  # noqa: E731
    return isinstance(got, list) and isinstance(want, list) and sorted(got, key=key) == sorted(want, key=key)


def test_debug_recordings_replay_with_debuginfo(
    sequence: list[dict[str, Any]],
    debug_records: dict[tuple[str, str], dict[str, Any]],
    make_replayer: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    replayer = make_replayer(debug=True)
    failures, used = [], set()
    for record in sequence:
        if "setup" in record:
            replayer.setup(record)
            continue
        key = (record["function"], record["case"])
        debug = debug_records[key]
        used.add(key)
        assert debug["params"] == record["params"], f"debug record {key} has other parameters"
        result = replayer.replay(debug, compare=_by_id if record["seq"] in DIFFERENCES else None)
        if not result.matches:
            failures.append(f"seq {record['seq']} {key}:\n   got {result.response}\n  want {debug['response']}")
    with_debuginfo = sum(
        1
        for r in debug_records.values()
        if (isinstance(r["response"], dict) and "debuginfo" in r["response"]) or "<DEBUGINFO>" in str(r["response"])
    )
    with capsys.disabled():
        print(
            f"\ndebug replay: {len(used) - len(failures)}/{len(debug_records)} records match "
            f"({with_debuginfo} carry debuginfo; {len(DIFFERENCES)} compared by id: heap order)"
        )
    assert used == set(debug_records), "every debug recording is replayed"
    assert not failures, "\n".join(failures)
