"""Shared setup for the PowerSchool tests: sample districts, an emulator, a client."""

from __future__ import annotations

from datetime import date
from typing import Any

from ps2moodle_testkit.emulators.district import SECTION_FIELD, STAFF_FIELDS, STUDENT_FIELDS, District
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import read_roster
from reconciler.retry import RetryPolicy
from tests.support.roster_oracle import expected_roster

#: A fixed "today" inside the generated 2024-25 school year (after the first quarter).
TODAY = date(2024, 12, 2)
URL = "https://ps.example.test"
#: Fast retries for tests, without jitter so waits are exact; waits are recorded, not slept.
FAST = RetryPolicy(attempts=5, base_delay_s=0.01, max_delay_s=60.0, jitter=0.0)


class Sleeps:
    """A ``sleep`` that records how long the client wanted to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    """A clock shared by emulator and client: time passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def client_for(emulator: PowerSchoolEmulator, **kwargs: Any) -> PowerSchoolClient:
    """A client reaching ``emulator`` in process."""
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("sleep", Sleeps())
    return PowerSchoolClient(URL, emulator.client_id, emulator.client_secret, transport=emulator.transport(), **kwargs)


def read(client: PowerSchoolClient, district: District, **kwargs: Any) -> Roster:
    """Every school of ``district`` with the generator's custom fields."""
    kwargs.setdefault("today", TODAY)
    return read_roster(
        client,
        district.school_numbers,
        student_fields=STUDENT_FIELDS,
        staff_fields=STAFF_FIELDS,
        section_field=SECTION_FIELD,
        **kwargs,
    )


def truth(district: District, **kwargs: Any) -> Roster:
    """What a correct read of every school must return."""
    kwargs.setdefault("today", TODAY)
    return expected_roster(
        district,
        district.school_numbers,
        student_fields=STUDENT_FIELDS,
        staff_fields=STAFF_FIELDS,
        section_field=SECTION_FIELD,
        **kwargs,
    )


def differences(got: Roster, want: Roster) -> list[str]:
    """Readable differences between two rosters (empty when equal)."""
    problems = []
    if got.student_counts != want.student_counts:
        problems.append(f"student_counts: {dict(got.student_counts)} vs {dict(want.student_counts)}")
    for name in ("schools", "terms", "courses", "sections", "students", "staff", "enrolments"):
        a, b = getattr(got, name), getattr(want, name)
        if a != b:
            extra, missing = set(a) - set(b), set(b) - set(a)
            problems.append(
                f"{name}: {len(a)} vs {len(b)} (order or content); "
                f"extra {next(iter(extra), None)}; missing {next(iter(missing), None)}"
            )
    return problems
