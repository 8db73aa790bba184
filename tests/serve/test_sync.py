"""One run: when a plan is held back, where it is saved, and how runs end when something
goes wrong (never with an exception)."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from reconciler.config.model import Config
from reconciler.errors import PlanFileError
from reconciler.lock import ApplyLock
from reconciler.model import Key, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import read_for_apply, run_apply
from reconciler.plan.file import read_plan
from reconciler.plan.model import Action, Change, Plan, PlanDocument, SafetyVerdict
from reconciler.serve import sync
from reconciler.serve.schedule import Trigger
from reconciler.serve.sync import Connectors, Outcome, hold_back, save_run, sync_once
from reconciler.signing import KEY_ENV, signature_problem
from tests.support.plans import sample_doc

from .systems import MOODLE_TOKEN, Systems

ONE_CHANGE = Plan(changes=(Change(Action.DELETE, Key(Kind.USER, "ps2m:d:student:1"), None, None),))
AN_ADOPTION = Plan(changes=(Change(Action.ADOPT, Key(Kind.USER, "ps2m:d:student:1"), None, None),))
STARTED = datetime(2025, 9, 1, 7, 30, 5, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize(
    ("plan", "verdict", "auto_apply", "expected"),
    [
        (ONE_CHANGE, SafetyVerdict(ok=True), True, None),
        (ONE_CHANGE, SafetyVerdict(ok=True), False, Outcome.PLANNED),
        (Plan(), SafetyVerdict(ok=True), True, Outcome.NO_CHANGES),
        (ONE_CHANGE, SafetyVerdict(ok=False, violations=("too many",)), True, Outcome.REFUSED),
        (Plan(), SafetyVerdict(ok=False, violations=("empty school",)), False, Outcome.REFUSED),
        (
            ONE_CHANGE,
            SafetyVerdict(ok=True, violations=("too many",), override_reason="rollover"),
            True,
            Outcome.REFUSED,
        ),
        (AN_ADOPTION, SafetyVerdict(ok=True), True, Outcome.PLANNED),  # a takeover waits for a person
    ],
)
def test_only_a_plan_the_gate_passed_on_its_own_is_applied(
    plan: Plan, verdict: SafetyVerdict, auto_apply: bool, expected: Outcome | None
) -> None:
    assert hold_back(plan, verdict, auto_apply=auto_apply) is expected


def _doc(scope: str) -> PlanDocument:
    return dataclasses.replace(sample_doc(), scope=scope)


def test_each_run_gets_a_folder_named_by_its_utc_start_and_latest_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved: list[Path] = []

    def save(doc: PlanDocument, folder: Path) -> SimpleNamespace:
        saved.append(Path(folder))
        return SimpleNamespace(document=doc)

    monkeypatch.setattr(sync, "save_plan", save)

    (first, doc), (second, _), (third, _) = (
        save_run(_doc("a"), tmp_path / "runs", STARTED),
        save_run(_doc("b"), tmp_path / "runs", STARTED),
        save_run(_doc("c"), tmp_path / "runs", STARTED + timedelta(seconds=1)),
    )
    assert doc.scope == "a"

    assert [p.name for p in (first, second, third)] == ["20250901T123005Z", "20250901T123005Z-1", "20250901T123006Z"]
    assert saved == [first, second, third]
    assert (tmp_path / "runs" / "latest").read_text(encoding="utf-8") == "20250901T123006Z\n"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "20250901T123005Z",
        "20250901T123005Z-1",
        "20250901T123006Z",
        "latest",
    ]


def test_with_a_signing_key_each_saved_plan_is_signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "a-serve-test-key-of-some-length")
    folder, _ = save_run(sample_doc(), tmp_path / "runs", STARTED)
    assert signature_problem(folder / "plan.json", b"a-serve-test-key-of-some-length") is None
    monkeypatch.delenv(KEY_ENV)
    unsigned, _ = save_run(sample_doc(), tmp_path / "runs", STARTED)
    assert not (unsigned / "plan.json.sig").exists()


def test_an_unwritable_out_dir_is_a_plan_file_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")

    with pytest.raises(PlanFileError, match="cannot create a run folder"):
        save_run(_doc("a"), blocker / "runs", STARTED)


def _at(config: Config, **serve: object) -> Config:
    return dataclasses.replace(config, serve=dataclasses.replace(config.serve, **serve))


def test_a_bug_in_a_run_is_a_failed_report_with_the_traceback_logged(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(settings: object) -> MoodleClient:
        raise RuntimeError("boom")

    report = sync_once(config, Trigger.SCHEDULE, connectors=Connectors(moodle=broken))

    assert (report.outcome, report.error, report.folder) == (Outcome.FAILED, "RuntimeError", None)
    assert report.finished_at >= report.started_at
    assert "Traceback" in caplog.text and "boom" in caplog.text


def test_a_plan_that_went_stale_before_applying_is_not_applied(
    config: Config, systems: Systems, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    concurrent: list[int] = []

    def someone_applied_it_first(moodle: MoodleClient, plan: Plan, roles: RoleMap) -> object:
        report = run_apply(config, moodle, plan, read_for_apply(moodle, plan, roles), roles=roles)
        concurrent.append(len(report.results))
        return read_for_apply(moodle, plan, roles)

    monkeypatch.setattr(sync, "read_for_apply", someone_applied_it_first)

    report = sync_once(_at(config, auto_apply=True), Trigger.WEBHOOK, connectors=systems.connectors())

    assert report.outcome is Outcome.STALE and report.applied == 0
    assert concurrent and concurrent[0] == sum(report.changes.values())
    folder = Path(config.serve.out_dir) / str(report.folder)
    assert read_plan(folder / "plan.json").verdict.ok is True
    assert not (folder / "apply.json").exists()
    assert not Path(config.audit_log or "").exists()  # nothing applied under this plan
    assert "changed in Moodle since planning" in caplog.text


def test_without_an_audit_log_set_every_run_is_audited_beside_the_run_folders(config: Config, systems: Systems) -> None:
    unset = _at(dataclasses.replace(config, audit_log=None), auto_apply=True)

    report = sync_once(unset, Trigger.SCHEDULE, connectors=systems.connectors())

    assert report.outcome is Outcome.APPLIED
    audit = Path(config.serve.out_dir) / "audit.jsonl"
    events = [json.loads(line)["event"] for line in audit.read_text(encoding="utf-8").splitlines()]
    assert events[0] == "start" and events[-1] == "end" and events.count("change") == report.applied
    assert not (Path(config.serve.out_dir) / str(report.folder) / "audit.jsonl").exists()


def test_a_run_does_not_apply_while_another_apply_holds_the_lock(config: Config, systems: Systems) -> None:
    with MoodleClient("https://moodle.test", MOODLE_TOKEN, transport=systems.moodle.transport()) as client:
        other = ApplyLock(client)
        other.acquire()
        report = sync_once(_at(config, auto_apply=True), Trigger.WEBHOOK, connectors=systems.connectors())
        other.release()

    assert report.outcome is Outcome.FAILED and report.error == "LockHeld" and report.applied == 0
    assert not Path(config.audit_log or "").exists()
