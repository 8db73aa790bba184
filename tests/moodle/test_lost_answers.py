"""Issue 11, hole 4: a write Moodle made but whose answer was lost (a 5xx from a proxy after
Moodle ran the call, a body cut short) is read back and reported as applied, for every
kind; its dependents go ahead; a call that may not be repeated is never sent twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

import httpx
import pytest

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.apply import ApplyReport, Journal, Status, Stop, apply_plan
from reconciler.model import OWNED_PREFIX, Key, Kind, State, User
from reconciler.moodle.client import IDEMPOTENT_WRITES, MoodleClient
from reconciler.moodle.live import live_ids, read_live
from reconciler.moodle.passwords import NewPassword
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.pipeline import read_for_apply
from reconciler.plan.diff import compute_plan
from reconciler.plan.model import Change, Plan

#: Arms a fault on the site: ``fault(site)``.
Fault = Callable[[MoodleSite], None]

FAULTS: dict[str, Fault] = {
    "503 after processing": lambda site: site.faults.fail_next(1, status=503, after_processing=True),
    "502 after processing": lambda site: site.faults.fail_next(1, status=502, after_processing=True),
    "answer cut short": lambda site: site.faults.truncate_next(1),
}


class _FaultOn(httpx.BaseTransport):
    """Arms ``fault`` on the site just before each of the first ``times`` calls of ``function``."""

    def __init__(self, site: MoodleSite, function: str, fault: Fault, times: int) -> None:
        self.inner = site.transport()
        self.site = site
        self.needle = f"wsfunction={function}&".encode()
        self.fault = fault
        self.times = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.times and self.needle in request.content:
            self.times -= 1
            self.fault(self.site)
        return self.inner.handle_request(request)


def _apply(client: MoodleClient, plan: Plan, live: State) -> ApplyReport:
    roles = RoleMap()
    writer = MoodleWriter(client, roles=roles, passwords=lambda user: NewPassword(generate=True), concurrency=1)

    def read_back(changes: Sequence[Change]) -> State:
        return read_for_apply(client, Plan(changes=tuple(changes)), roles)

    journal = Journal(Stop())
    writer.watch = journal
    return apply_plan(plan, writer, live_ids(live), journal=journal, read_back=read_back)


def _faulty_client(site: MoodleSite, token: str, function: str, fault: Fault) -> tuple[MoodleClient, _FaultOn]:
    # A repeatable write is retried by the client: every attempt must lose its answer.
    times = 4 if function in IDEMPOTENT_WRITES else 1
    transport = _FaultOn(site, function, fault, times)
    return MoodleClient("https://moodle.test", token, transport=transport, backoff_s=0.0, retries=3), transport


CREATES = [
    "core_course_create_categories",
    "core_course_create_courses",
    "core_user_create_users",
    "core_cohort_create_cohorts",
    "core_group_create_groups",
    "enrol_manual_enrol_users",
    "core_role_assign_roles",
    "core_cohort_add_cohort_members",
    "core_group_add_group_members",
]


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("function", CREATES)
def test_a_lost_answer_to_a_create_is_read_back_as_applied(
    site: MoodleSite, token: str, district: State, function: str, fault: str
) -> None:
    client, faulty = _faulty_client(site, token, function, FAULTS[fault])
    with client:
        live = read_live(client, district)
        plan = compute_plan(district, live)
        report = _apply(client, plan, live)

        assert faulty.times == 0, "the fault struck"
        if function == "enrol_manual_enrol_users":
            # The teacher's second role waits for an enrolment whose answer was lost: the
            # enrolment is found made, the role is not, and only the role is left to do.
            (partial,) = report.failures
            assert partial.status is Status.FAILED and partial.change.key.id.endswith("section:1|ps2m:d:staff:9")
            assert "read back: in Moodle, but its roles not as planned" in str(partial.error)
            left = compute_plan(district, read_live(client, district)).changes
            assert [(c.action.value, c.key) for c in left] == [("update", partial.change.key)]
            return
        assert [(r.change.key.id, r.status, r.error) for r in report.failures] == []
        # Never sent again when repeating it could do it twice: as many calls as without the fault.
        if function not in IDEMPOTENT_WRITES:
            assert client.stats.calls[function] == _calls_without_faults(token, district)[function]
        assert compute_plan(district, read_live(client, district)).changes == ()


def _calls_without_faults(token: str, district: State) -> Counter[str]:
    site = MoodleSite.fresh(token)
    with MoodleClient("https://moodle.test", token, transport=site.transport()) as client:
        live = read_live(client, district)
        assert _apply(client, compute_plan(district, live), live).complete
        return client.stats.calls


UPDATES = [
    "core_user_update_users",
    "core_course_update_courses",
    "core_cohort_update_cohorts",
    "enrol_manual_enrol_users",
    "core_cohort_delete_cohort_members",
    "core_group_delete_group_members",
]


@pytest.mark.parametrize("function", UPDATES)
def test_a_lost_answer_to_an_update_or_removal_is_read_back_as_applied(
    site: MoodleSite, token: str, district: State, function: str
) -> None:
    with MoodleClient("https://moodle.test", token, transport=site.transport(), backoff_s=0.0) as plain:
        first = read_live(plain, district)
        assert _apply(plain, compute_plan(district, first), first).complete
    changed = _changed(district)
    client, faulty = _faulty_client(site, token, function, FAULTS["503 after processing"])
    with client:
        live = read_live(client, changed)
        plan = compute_plan(changed, live)
        report = _apply(client, plan, live)

        assert faulty.times == 0, "the fault struck"
        assert [(r.change.key.id, r.status, r.error) for r in report.failures] == []
        assert any("read back: done" in str(r.error) for r in report.results)
        assert compute_plan(changed, read_live(client, changed)).changes == ()


def _changed(district: State) -> State:
    """The district a day later: a student renamed and suspended, a course and a cohort
    renamed, a student's enrolment suspended (dropped), group and cohort places gone."""
    kept = []
    for res in district.resources.values():
        if isinstance(res, User) and res.key.id.endswith("student:1"):
            res = replace(res, lastname="Renamed", suspended=True)
        elif res.key.kind is Kind.COURSE and res.key.id.endswith("section:1"):
            res = replace(res, fullname="Algebra I (renamed)")
        elif res.key.kind is Kind.COHORT:
            res = replace(res, name="Grade 9")
        elif _dropped(res.key):
            continue
        kept.append(res)
    return State.of(kept)


def _dropped(key: Key) -> bool:
    if key.kind in (Kind.COHORT_MEMBER, Kind.GROUP_MEMBER):
        return "student:1" in key.id
    return key.kind is Kind.ENROLMENT and "student:3" in key.id


def test_a_create_moodle_never_ran_is_failed_once_and_its_dependents_skipped(
    site: MoodleSite, token: str, district: State
) -> None:
    # A proxy's 503 before Moodle saw the call: nothing made, so nothing to find.
    fault: Fault = lambda s: s.faults.fail_next(1, status=503)  # noqa: E731
    client, _ = _faulty_client(site, token, "core_user_create_users", fault)
    with client:
        live = read_live(client, district)
        report = _apply(client, compute_plan(district, live), live)

        users = [r for r in report.results if r.change.key.kind is Kind.USER]
        assert {r.status for r in users} == {Status.FAILED}
        assert all("not in Moodle now" in str(r.error) for r in users)
        assert client.stats.calls["core_user_create_users"] == 1  # read back, not resent
        enrolments = [r for r in report.results if r.change.key.kind is Kind.ENROLMENT]
        assert enrolments and {r.status for r in enrolments} == {Status.SKIPPED}
        student = Key(Kind.USER, f"{OWNED_PREFIX}d:student:1")
        assert student not in read_live(client, district, kinds={Kind.USER})


def test_an_answer_lost_and_not_read_back_is_unknown_not_failed(site: MoodleSite, token: str, district: State) -> None:
    client, _ = _faulty_client(site, token, "core_cohort_add_cohort_members", FAULTS["answer cut short"])
    with client:
        live = read_live(client, district)
        plan = compute_plan(district, live)
        roles = RoleMap()
        writer = MoodleWriter(client, roles=roles, passwords=lambda user: NewPassword(generate=True), concurrency=1)

        def unreadable(changes: Sequence[Change]) -> State:
            site.faults.fail_next(10, status=502)
            return read_for_apply(client, Plan(changes=tuple(changes)), roles)

        report = apply_plan(plan, writer, live_ids(live), read_back=unreadable)

        members = [r for r in report.results if r.change.key.kind is Kind.COHORT_MEMBER]
        assert members and {r.status for r in members} == {Status.UNKNOWN}
        assert all("reading it back failed" in str(r.error) for r in members)
