"""Contract test: the least-privilege recording, replayed in order.

``leastpriv/_sequence.jsonl`` is a real Moodle 4.5 answering a sync user whose role
starts with no capability: each refusal, the capability then granted, the answer after,
and the reads that come back empty, not refused, without the user-view capabilities. A
fresh emulator on loopback must give every recorded answer; the setup steps
(``create_sync_user``, ``grant_capability``, ``allow_assign``) go through the test hook.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.moodle.replay import replay_sequence
from tests.support.golden import read_jsonl

#: The admin's calls are recorded with this placeholder; the replayer's own admin token is used.
_ADMIN = "(valid token)"


def _with_admin_token(record: dict[str, Any]) -> dict[str, Any]:
    meta = dict(record.get("request_meta", {}))
    if meta.get("wstoken") == _ADMIN:
        del meta["wstoken"]
    return {**record, "request_meta": meta}


def test_leastpriv_sequence_replays_record_for_record(
    golden_dir: Path, make_replayer: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    records = [_with_admin_token(r) for r in read_jsonl(golden_dir / "leastpriv" / "_sequence.jsonl")]
    calls = [r for r in records if "setup" not in r]
    failures = replay_sequence(make_replayer(), records)
    with capsys.disabled():
        print(f"\nleast-privilege replay: {len(calls) - len(failures)}/{len(calls)} records match")
    assert len(calls) == 77
    assert not failures, "\n".join(failures)
