"""``serve`` subscribes PowerSchool itself, and a change in PowerSchool reaches Moodle with
no manual step: emulated PowerSchool → its HTTPS callback → a sync run → Moodle updated."""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from ps2moodle_testkit.emulators.changes import move_student
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool import Plugin, PowerSchoolEmulator
from ps2moodle_testkit.emulators.powerschool.events import EventSubscriptions, changes
from reconciler.config.model import Config, PowerSchoolSettings
from reconciler.errors import SourceError
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.serve.https import tls_context
from reconciler.serve.service import SyncService
from reconciler.serve.subscribe import Subscribed, current, parse, subscribe, wanted

from .systems import PS_ID, PS_SECRET, TODAY, WEBHOOK_KEY, Running, Systems

CALLBACK = "https://sync.example.org:8443/powerschool/events"


def client_of(emulator: PowerSchoolEmulator) -> PowerSchoolClient:
    return PowerSchoolClient("https://ps.example.test", PS_ID, PS_SECRET, transport=emulator.transport())


def test_the_set_follows_what_the_config_reads(config: Config) -> None:
    (connection,) = config.connections
    want = wanted(connection, WEBHOOK_KEY, CALLBACK)
    resources = {r for r, _ in want.events}
    assert resources == {f"/ws/v1/{r}/*" for r in ("student", "staff", "course", "section", "section_enrollment")}
    assert ("/ws/v1/student/*", "SCHOOL_ENROLLMENT") in want.events
    accounts_only = dataclasses.replace(connection, school_settings=())
    assert {r for r, _ in wanted(accounts_only, WEBHOOK_KEY, CALLBACK).events} == {
        "/ws/v1/student/*",
        "/ws/v1/staff/*",
    }


def test_subscribing_puts_the_set_once_and_replaces_another(config: Config, district: District) -> None:
    emulator = PowerSchoolEmulator(district, client_id=PS_ID, client_secret=PS_SECRET)
    want = wanted(config.connections[0], WEBHOOK_KEY, CALLBACK)
    with client_of(emulator) as client:
        assert current(client) is None
        assert subscribe(client, want) is Subscribed.CREATED
        assert current(client) == want
        assert subscribe(client, want) is Subscribed.UNCHANGED
        moved = dataclasses.replace(want, callback_url="https://sync2.example.org/powerschool/events")
        assert subscribe(client, moved) is Subscribed.REPLACED
        assert current(client) == moved
    # current: GET; created: GET, PUT, GET; current: GET; unchanged: GET; replaced: GET, PUT, GET; current: GET
    assert emulator.stats["subscription"] == 10
    assert emulator.subscriptions.current is not None
    assert emulator.subscriptions.current["key"] == WEBHOOK_KEY


def test_readback_shapes_powerschool_may_send() -> None:
    one = {
        "key": "k",
        "callback_url": CALLBACK,
        "event_subscription": {"resource": "/ws/v1/staff/*", "event_type": "UPDATE"},
    }
    assert parse(one) == parse({"event_subscriptions": {**one, "event_subscription": [one["event_subscription"]]}})
    with pytest.raises(SourceError, match="no subscription object"):
        parse([])


def test_a_plugin_without_v1_access_cannot_subscribe(config: Config, district: District) -> None:
    emulator = PowerSchoolEmulator(district, client_id=PS_ID, client_secret=PS_SECRET, plugin=Plugin(v1_access="NONE"))
    with client_of(emulator) as client, pytest.raises(SourceError, match=r"HTTP 403.*accessLevelV1Api"):
        subscribe(client, wanted(config.connections[0], WEBHOOK_KEY, CALLBACK))


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def served(
    config: Config,
    systems: Systems,
    district: District,
    tls_files: tuple[Path, Path],
    https: httpx.Client,
    free_port: int,
    trusting: ssl.SSLContext,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Running]:
    """serve on a known port whose callback URL is in the config, PowerSchool able to call it."""
    caplog.set_level(logging.INFO, logger="reconciler.serve")
    systems.powerschool = PowerSchoolEmulator(
        district, client_id=PS_ID, client_secret=PS_SECRET, subscriptions=EventSubscriptions(verify=trusting)
    )

    def powerschool(settings: PowerSchoolSettings) -> PowerSchoolClient:
        return PowerSchoolClient.from_settings(settings, transport=systems.powerschool.transport())

    url = f"https://127.0.0.1:{free_port}/powerschool/events"
    serve = dataclasses.replace(config.serve, callback_url=url, auto_apply=True, interval_s=3600.0)
    connectors = dataclasses.replace(systems.connectors(), powerschool=powerschool)
    service = SyncService(
        dataclasses.replace(config, serve=serve),
        tls_context(*tls_files),
        host="127.0.0.1",
        port=free_port,
        connectors=connectors,
    )
    service.start()
    try:
        yield Running(service, https)
    finally:
        service.stop()


def test_a_change_in_powerschool_reaches_moodle_with_no_manual_step(
    served: Running, systems: Systems, district: District, caplog: pytest.LogCaptureFixture
) -> None:
    assert served.settled(1)["last_run"]["outcome"] == "applied"
    subscriptions = systems.powerschool.subscriptions
    assert (
        subscriptions.current is not None
        and subscriptions.current["callback_url"] == f"{served.url}/powerschool/events"
    )
    assert any("event subscription of d created" in r.getMessage() for r in caplog.get_records("setup"))

    synced = next(u for u in systems.moodle.users.by_id() if u.idnumber.startswith("ps2m:d:student:"))
    dcid = int(synced.idnumber.rsplit(":", 1)[1])
    renamed = tuple(dataclasses.replace(s, first_name="Renamed") if s.dcid == dcid else s for s in district.students)
    changed = dataclasses.replace(district, students=renamed)
    # PowerSchool's data changes: the emulator keeps its plugin's subscription and notifies.
    systems.powerschool = PowerSchoolEmulator(
        changed, client_id=PS_ID, client_secret=PS_SECRET, subscriptions=subscriptions
    )
    events = changes(district, changed)
    assert [(e.resource, e.event_type, e.id) for e in events] == [("/ws/v1/student/*", "UPDATE", dcid)]
    subscriptions.notify(events)
    subscriptions.wait()
    assert [outcome for _, outcome in subscriptions.deliveries] == ["200"]

    last = served.settled(2)["last_run"]
    assert last["trigger"] == "webhook" and last["outcome"] == "applied" and last["applied"] == 1
    assert last["target"] == f"person {synced.idnumber}"  # planned for the person named, not the district
    account = systems.moodle.users.get(synced.id)
    assert account is not None and account.firstname == "Renamed"


def test_a_schedule_change_reaches_moodle_in_a_run_targeted_at_the_student_and_sections(
    served: Running, systems: Systems, district: District
) -> None:
    assert served.settled(1)["last_run"]["outcome"] == "applied"
    subscriptions = systems.powerschool.subscriptions
    site = systems.moodle
    # A student moves from one section to another of the same school (two CC rows change)...
    courses = {c.idnumber: c for c in site.courses.by_id()}
    student = next(s for s in district.students if site.users.first("idnumber", f"ps2m:d:student:{s.dcid}"))
    rows = district.enrolments
    mine = {rows.section_id[i] for i in range(len(rows)) if rows.student_id[i] == student.id and rows.section_id[i] > 0}
    section_dcid = {s.id: s.dcid for s in district.sections}
    school_of = {s.id: s.school_number for s in district.sections}
    old = next(i for i in sorted(mine) if f"ps2m:d:{school_of[i]}:section:{section_dcid[i]}" in courses)
    new = next(
        s.id
        for s in district.sections
        if s.id not in mine
        and s.school_number == school_of[old]
        and f"ps2m:d:{s.school_number}:section:{s.dcid}" in courses
    )
    moved = move_student(district, student.id, old, new, TODAY)
    # ...and, unnotified, another student is renamed: the targeted run must leave that alone.
    other = next(
        s
        for s in district.students
        if s.dcid != student.dcid and site.users.first("idnumber", f"ps2m:d:student:{s.dcid}")
    )
    changed = dataclasses.replace(
        moved,
        students=tuple(
            dataclasses.replace(s, first_name="Unnotified") if s.dcid == other.dcid else s for s in moved.students
        ),
    )
    systems.powerschool = PowerSchoolEmulator(
        changed, client_id=PS_ID, client_secret=PS_SECRET, subscriptions=subscriptions
    )
    events = [e for e in changes(district, changed) if e.resource == "/ws/v1/section_enrollment/*"]
    assert sorted(e.event_type for e in events) == ["INSERT", "UPDATE"]
    subscriptions.notify(events)
    subscriptions.wait()
    assert [outcome for _, outcome in subscriptions.deliveries] == ["200", "200"]

    last = served.settled(2)["last_run"]
    assert last["trigger"] == "webhook" and last["outcome"] == "applied", last
    account = site.users.first("idnumber", f"ps2m:d:student:{student.dcid}")
    assert account is not None
    old_course = courses[f"ps2m:d:{school_of[old]}:section:{section_dcid[old]}"]
    new_course = next(
        c for c in site.courses.by_id() if c.idnumber == f"ps2m:d:{school_of[new]}:section:{section_dcid[new]}"
    )
    assert last["target"].startswith(f"person {account.idnumber}")
    assert f"course {old_course.idnumber}" in last["target"] and f"course {new_course.idnumber}" in last["target"]
    assert _active_in(systems, account.id, new_course.id) and not _active_in(systems, account.id, old_course.id)
    untouched = site.users.first("idnumber", f"ps2m:d:student:{other.dcid}")
    assert untouched is not None and untouched.firstname == other.first_name  # outside the target


def _active_in(systems: Systems, userid: int, courseid: int) -> bool:
    site = systems.moodle
    instances = {e.id for e in site.enrol_instances.find("course", courseid)}
    return any(
        ue.userid == userid and ue.enrolid in instances and ue.status == 0 for ue in site.user_enrolments.by_id()
    )


def test_no_subscribe_leaves_powerschool_alone(
    config: Config, systems: Systems, tls_files: tuple[Path, Path], free_port: int
) -> None:
    url = f"https://127.0.0.1:{free_port}/powerschool/events"
    settings = dataclasses.replace(config, serve=dataclasses.replace(config.serve, callback_url=url))

    def powerschool(settings: PowerSchoolSettings) -> PowerSchoolClient:
        return PowerSchoolClient.from_settings(settings, transport=systems.powerschool.transport())

    connectors = dataclasses.replace(systems.connectors(), powerschool=powerschool)
    service = SyncService(settings, tls_context(*tls_files), port=free_port, connectors=connectors, subscribe=False)
    service.start()
    service.stop()
    assert systems.powerschool.stats["subscription"] == 0 and systems.powerschool.subscriptions.current is None
