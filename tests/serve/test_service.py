"""``serve`` over real HTTPS on loopback, with PowerSchool and Moodle emulated in process."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest

from ps2moodle_testkit.emulators.changes import withdraw_student
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.config.model import Config, SecretRef
from reconciler.errors import SecretError
from reconciler.plan.file import read_plan
from reconciler.plan.model import SafetyVerdict
from reconciler.serve.https import ServeError, tls_context
from reconciler.serve.service import SyncService

from .systems import PS_ID, PS_SECRET, SECRETS, TODAY, WEBHOOK_KEY, Start, Systems

#: Long enough for a run of the tiny district to have started if one were (wrongly) due.
QUIET_S = 1.5


def _emptied(district: District, school: int) -> District:
    """The district as a PowerSchool that lost a school's students would report it."""
    for student in district.students:
        if student.school_number == school:
            district = withdraw_student(district, student.id, TODAY)
    return district


def _latest(config: Config) -> Path:
    out = Path(config.serve.out_dir)
    return out / (out / "latest").read_text(encoding="utf-8").strip()


def test_plain_http_gets_no_answer(start: Start) -> None:
    running = start()
    plain = running.url.replace("https://", "http://")

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{plain}/healthz", timeout=5.0)
    assert running.health()["status"] == "ok"


def test_a_wrong_or_missing_key_is_401_and_starts_no_run(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    running = start()
    running.settled(1)
    guess = "attacker-guess-0123456789"

    attempts = [
        running.notify({"key": guess, "event_type": "UPDATE"}),
        running.notify({"event_type": "UPDATE", "resource": "/ws/v1/student/*"}),
        running.notify({"key": WEBHOOK_KEY[:-1], "event_type": "UPDATE"}),
        running.notify({"event_type": "UPDATE"}, auth=("powerschool", guess)),
        running.client.post(f"{running.url}/powerschool/events", content=b"not json"),
    ]

    for response in attempts:
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="ps2moodle"'
        assert guess not in response.text and WEBHOOK_KEY not in response.text
    time.sleep(QUIET_S)
    health = running.health()
    assert health["runs"] == {"startup": 1, "schedule": 0, "webhook": 0}
    assert health["pending_notifications"] == 0
    # Refusals are logged at a bounded rate (a scanner must not fill the log): the first
    # one now, the next one a minute later with a count of those left out.
    assert caplog.text.count("missing or wrong key") == 1
    assert guess not in caplog.text and WEBHOOK_KEY not in caplog.text


def test_a_burst_of_notifications_is_answered_at_once_and_makes_one_run(
    start: Start, systems: Systems, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = start(debounce_s=1.0)
    running.settled(1)
    reads = systems.reads
    bodies = [
        {"key": WEBHOOK_KEY, "event_type": "UPDATE", "resource": "/ws/v1/student/*"},
        {
            "event_subscriptions": {"key": WEBHOOK_KEY},
            "events": [{"event_type": "INSERT", "resource": "/ws/v1/section_enrollment/*"}],
        },
        [{"key": WEBHOOK_KEY, "event_type": "DELETE", "resource": "/ws/v1/staff/*"}],
        {"anything": ["unexpected", {"shape": True}], "key": WEBHOOK_KEY},
    ]

    first = time.monotonic()
    answers = [running.notify(body) for body in bodies]
    answers.append(running.notify({"event_type": "UPDATE"}, auth=("ps", WEBHOOK_KEY)))  # HTTP Basic
    answered = time.monotonic() - first

    assert [a.status_code for a in answers] == [200] * 5
    assert answered < 1.0, "five answers must come before the debounce window closes"
    assert running.health()["pending_notifications"] == 5
    health = running.wait(lambda h: h["runs"]["webhook"] == 1 and not h["running"])
    assert time.monotonic() - first >= 1.0  # not before the window closed
    time.sleep(QUIET_S)
    health = running.health()
    assert health["runs"] == {"startup": 1, "schedule": 0, "webhook": 1}
    assert systems.reads == reads + 1
    assert health["last_run"]["trigger"] == "webhook"
    assert "INSERT /ws/v1/section_enrollment/*" in caplog.text
    assert "DELETE /ws/v1/staff/*" in caplog.text


def test_notifications_during_a_run_make_exactly_one_more_and_runs_never_overlap(
    start: Start, systems: Systems
) -> None:
    release = threading.Event()
    systems.gate = lambda: release.wait(30)
    running = start()
    running.wait(lambda h: h["running"])

    slow = time.monotonic()
    assert all(running.notify().status_code == 200 for _ in range(3))
    assert time.monotonic() - slow < 1.0, "notifications are answered even while a run is in progress"
    health = running.health()
    assert health["running"] and health["pending_notifications"] == 3 and health["next_run_at"] is None
    release.set()

    running.wait(lambda h: h["runs"]["webhook"] == 1 and not h["running"])
    time.sleep(QUIET_S)
    assert running.health()["runs"] == {"startup": 1, "schedule": 0, "webhook": 1}
    assert systems.reads == 2
    assert not systems.overlap


def test_scheduled_runs_follow_the_interval(start: Start) -> None:
    running = start(interval_s=0.3)

    health = running.wait(lambda h: h["runs"]["schedule"] >= 2)

    assert health["runs"]["startup"] == 1 and health["runs"]["webhook"] == 0
    assert health["next_run_at"] is not None or health["running"]


def test_auto_apply_applies_a_safe_plan_and_records_it(start: Start, systems: Systems, config: Config) -> None:
    before = systems.snapshot()
    running = start(auto_apply=True)

    last = running.settled(1)["last_run"]

    assert last["outcome"] == "applied"
    assert last["failed"] == last["skipped"] == 0
    assert last["applied"] == sum(last["changes"].values()) > 0
    assert systems.snapshot() != before
    assert len(systems.moodle.users) > len(before[0]) and len(systems.moodle.courses) > len(before[2])
    folder = _latest(config)
    assert folder.name == last["folder"]
    doc = read_plan(folder / "plan.json")
    plan = doc.plan
    assert doc.verdict == SafetyVerdict(ok=True, violations=(), override_reason=None)
    report = json.loads((folder / "apply.json").read_text(encoding="utf-8"))
    assert report["plan"] == doc.checksum
    assert report["counts"] == {"applied": len(plan.changes), "failed": 0, "skipped": 0, "unknown": 0}
    audit = [json.loads(line) for line in Path(config.audit_log or "").read_text(encoding="utf-8").splitlines()]
    assert len([line for line in audit if line["event"] == "change"]) == len(plan.changes)
    assert [line["event"] for line in audit if line["event"] in ("start", "end")] == ["start", "end"]
    assert all(line["plan"] == doc.checksum for line in audit)

    assert running.notify().status_code == 200  # Moodle now matches: the next run has nothing to do
    assert running.settled(2)["last_run"]["outcome"] == "no_changes"


def test_auto_apply_never_applies_a_plan_the_safety_gate_refuses(
    start: Start, systems: Systems, district: District, config: Config
) -> None:
    running = start(auto_apply=True)
    assert running.settled(1)["last_run"]["outcome"] == "applied"
    applied = systems.snapshot()
    systems.powerschool = PowerSchoolEmulator(_emptied(district, 100), client_id=PS_ID, client_secret=PS_SECRET)

    assert running.notify().status_code == 200
    last = running.settled(2)["last_run"]

    assert last["outcome"] == "refused"
    assert last["violations"] >= 1 and last["changes"].get("suspend", 0) > 0
    assert last["applied"] == 0
    assert systems.snapshot() == applied, "Moodle must be exactly as before the refused run"
    folder = _latest(config)
    assert folder.name == last["folder"]
    doc = read_plan(folder / "plan.json")
    assert doc.verdict.ok is False
    assert any("school 100" in v for v in doc.verdict.violations)
    assert (folder / "plan.md").is_file()
    assert not (folder / "apply.json").exists()


def test_without_auto_apply_plans_are_only_written_for_review(start: Start, systems: Systems, config: Config) -> None:
    before = systems.snapshot()
    running = start()

    last = running.settled(1)["last_run"]

    assert last["outcome"] == "planned" and last["changes"]["create"] > 0 and last["applied"] == 0
    assert systems.snapshot() == before
    assert (_latest(config) / "plan.json").is_file()


def test_healthz_reports_the_last_run_without_personal_data_or_secrets(
    start: Start, district: District, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running = start(auto_apply=True)
    running.settled(1)
    running.notify(auth=("powerschool", WEBHOOK_KEY))
    health = running.settled(2)
    text = running.client.get(f"{running.url}/healthz").text

    assert set(health) == {
        "status", "tool_version", "started_at", "auto_apply", "webhook", "interval_s", "debounce_s",
        "running", "pending_notifications", "next_run_at", "runs", "last_run",
    }  # fmt: skip
    assert health["status"] == "ok" and health["webhook"] is True and health["auto_apply"] is True
    assert health["next_run_at"].endswith("Z")
    assert set(health["last_run"]) == {
        "trigger", "outcome", "started_at", "finished_at", "changes", "violations",
        "applied", "failed", "skipped", "unknown", "folder", "error", "target",
    }  # fmt: skip
    people = [s.last_name for s in district.students] + [s.email for s in district.students if s.email]
    people += [u.last_name for u in district.users]
    for value in people:
        assert value not in text
    for secret in SECRETS:
        assert secret not in text
        assert secret not in caplog.text


def test_a_failed_run_is_reported_and_the_server_goes_on(start: Start, systems: Systems, district: District) -> None:
    systems.powerschool = PowerSchoolEmulator(district, client_id=PS_ID, client_secret="a-rotated-secret")
    running = start()

    last = running.settled(1)["last_run"]

    assert last["outcome"] == "failed" and last["error"] == "SourceError" and last["folder"] is None
    systems.powerschool = PowerSchoolEmulator(district, client_id=PS_ID, client_secret=PS_SECRET)
    assert running.notify().status_code == 200
    assert running.settled(2)["last_run"]["outcome"] == "planned"


def test_other_paths_and_methods(start: Start) -> None:
    running = start()
    client = running.client

    assert client.get(f"{running.url}/powerschool/events").status_code == 405
    assert client.post(f"{running.url}/healthz").status_code == 405
    assert client.get(f"{running.url}/").status_code == 404
    big = client.post(f"{running.url}/powerschool/events", content=b"x" * (2 << 20))
    assert big.status_code == 413


def test_without_a_webhook_key_the_webhook_is_off(start: Start) -> None:
    running = start(webhook_key=None)
    running.settled(1)

    response = running.notify()

    assert response.status_code == 404
    time.sleep(QUIET_S)
    assert running.health()["webhook"] is False
    assert running.health()["runs"]["webhook"] == 0


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        (SecretRef(env="PS2M_SERVE_SHORT_KEY", where="ps2moodle.yaml:14:3: serve.webhook_key"), ServeError, "shorter"),
        (SecretRef(env="PS2M_SERVE_UNSET_KEY", where="ps2moodle.yaml:14:3: serve.webhook_key"), SecretError, "not set"),
    ],
)
def test_a_short_or_missing_webhook_key_stops_the_start(
    config: Config,
    tls_files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    key: SecretRef,
    error: type[Exception],
    message: str,
) -> None:
    monkeypatch.setenv("PS2M_SERVE_SHORT_KEY", "district-42")
    settings = dataclasses.replace(config, serve=dataclasses.replace(config.serve, webhook_key=key))

    with pytest.raises(error, match=message) as caught:
        SyncService(settings, tls_context(*tls_files), port=0)
    assert "district-42" not in str(caught.value)


def test_a_missing_secret_stops_the_start_rather_than_every_run(
    config: Config, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PS2M_SERVE_PS_SECRET")

    with pytest.raises(SecretError, match="environment variable PS2M_SERVE_PS_SECRET is not set"):
        SyncService(config, tls_context(*tls_files), port=0)
