"""The client reads a generated district through the emulator and gets exactly the
generator's ground truth: with every quirk on, with each one off, and at small scale."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import pytest

from ps2moodle_testkit.emulators.district import SECTION_FIELD, STAFF_FIELDS, STUDENT_FIELDS, District
from ps2moodle_testkit.emulators.powerschool import Plugin, PowerSchoolEmulator, Quirks
from reconciler.config.model import (
    Connection,
    CustomField,
    PeopleSettings,
    PowerSchoolSettings,
    SecretRef,
    SectionMigration,
)
from reconciler.errors import SourceError
from reconciler.powerschool import records
from reconciler.powerschool.roster import Term
from reconciler.powerschool.source import fetch_roster, read_roster
from tests.support.roster_oracle import expected_roster

from .helpers import TODAY, URL, client_for, differences, read, truth

QUIRKS = [f.name for f in dataclasses.fields(Quirks)]


def test_tiny_district_with_every_quirk_on(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny)
    with client_for(emulator) as client:
        roster = read(client, tiny)
    assert differences(roster, truth(tiny)) == []
    assert roster == truth(tiny)


@pytest.mark.parametrize("quirk", QUIRKS)
def test_each_quirk_off_reads_the_same_roster(tiny: District, quirk: str) -> None:
    emulator = PowerSchoolEmulator(tiny, quirks=dataclasses.replace(Quirks(), **{quirk: False}))
    with client_for(emulator) as client:
        assert differences(read(client, tiny), truth(tiny)) == []


def test_every_quirk_off_reads_the_same_roster(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, quirks=Quirks.none())
    with client_for(emulator) as client:
        assert differences(read(client, tiny), truth(tiny)) == []


def test_small_district_matches_ground_truth_with_the_fewest_requests(small: District) -> None:
    emulator = PowerSchoolEmulator(small)
    with client_for(emulator, concurrency=4) as client:
        roster = read(client, small)
        stats = client.stats
    assert differences(roster, truth(small)) == []
    assert len(roster.students) == 600 and len(roster.enrolments) > 3000
    # Every page request was a full page, except the last of each list: pages == sum(ceil(n / 100)).
    table_pages = emulator.stats["table"]
    v1_pages = emulator.stats["v1"]
    assert stats["page"] == table_pages + v1_pages
    assert stats["count"] == emulator.stats["table_count"] + emulator.stats["v1_count"]
    assert stats["token"] == 1 and stats["metadata"] == 1 and stats["retry"] == 0
    cc_rows = len(roster.enrolments)
    assert emulator.stats["table"] < cc_rows / 100 + 60  # bulk reads, not one request per section
    assert stats["page"] + stats["count"] < len(roster.sections)


def test_pages_are_as_large_as_the_plugin_allows(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(max_page_size=7, table_max_page_size=9))
    with client_for(emulator) as client:
        roster = read(client, tiny)
    assert differences(roster, truth(tiny)) == []
    # 356 CC rows at 9 a page alone need at least 40 pages.
    assert emulator.stats["table"] >= math.ceil(len(roster.enrolments) / 9)


def test_student_counts_come_from_the_count_endpoint(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client:
        roster = read(client, tiny)
    for number in tiny.school_numbers:
        assert roster.student_counts[number] == sum(1 for s in roster.students if s.school_number == number) > 0


def test_a_school_number_powerschool_lacks_is_an_error_not_an_empty_roster(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client, pytest.raises(SourceError) as raised:
        read_roster(client, [100, 150], today=TODAY)
    assert "150" in str(raised.value) and "100 Jefferson Elementary School" in str(raised.value)


def test_a_custom_field_must_name_its_extension_table(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client, pytest.raises(SourceError, match=r"extension_table\.field"):
        read_roster(client, [100], student_fields=["preferredname"], today=TODAY)


def test_another_school_year_by_year_id(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client:
        roster = read(client, tiny, year_id=tiny.year_id - 1)
    assert differences(roster, truth(tiny, year_id=tiny.year_id - 1)) == []
    assert {t.abbreviation for t in roster.terms} >= {"23-24", "S1", "Q4"}
    assert {s.course_number for s in roster.sections} == {"IND1"}  # last year kept one section per school


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (date(2024, 12, 2), 34),  # inside 2024-25
        (date(2024, 3, 1), 33),  # inside 2023-24
        (date(2024, 7, 20), 34),  # summer: the year about to start
        (date(2026, 11, 1), 34),  # after the last year PowerSchool has: the latest
    ],
)
def test_the_school_year_is_the_one_in_session_or_next(tiny: District, today: date, year: int) -> None:
    years = [t for t in tiny.terms if t.is_year]
    as_terms = [
        Term(t.dcid, t.id, t.school_number, t.year_id, t.name, t.abbreviation, t.first_day, t.last_day, 1, True)
        for t in years
    ]
    assert records.choose_year(as_terms, today) == year


def test_read_with_a_pinned_year_works_whatever_today_is(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client:
        roster = read(client, tiny, today=date(2026, 11, 28))
    assert {t.year_id for t in roster.terms} == {34}


def test_fetch_roster_reads_what_the_connection_configures(tiny: District, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = PowerSchoolEmulator(tiny)
    monkeypatch.setenv("PS_ID", emulator.client_id)
    monkeypatch.setenv("PS_SECRET", emulator.client_secret)
    connection = Connection(
        name="springfield",
        powerschool=PowerSchoolSettings(URL + "/", SecretRef(env="PS_ID"), SecretRef(env="PS_SECRET")),
        schools=(200,),
        students=PeopleSettings(custom_fields=(CustomField(STUDENT_FIELDS[0], "preferredname"),)),
        staff=PeopleSettings(custom_fields=(CustomField(STAFF_FIELDS[0], "department"),)),
        section_migration=SectionMigration(SECTION_FIELD),
    )
    roster = fetch_roster(connection, transport=emulator.transport(), today=TODAY)
    want = expected_roster(
        tiny,
        [200],
        today=TODAY,
        student_fields=STUDENT_FIELDS[:1],
        staff_fields=STAFF_FIELDS,
        section_field=SECTION_FIELD,
    )
    assert differences(roster, want) == []
    assert any(s.custom for s in roster.students) and any(s.extension for s in roster.sections)


def test_what_the_roster_holds_is_what_a_sync_needs(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client:
        roster = read(client, tiny)
    roles = {t.role for s in roster.sections for t in s.teachers}
    assert {"lead", "co_teacher"} <= roles
    assert all(s.teachers and s.teachers[0].role == "lead" for s in roster.sections)
    assert any(e.dropped for e in roster.enrolments)
    assert {s.enroll_status for s in roster.students} > {"A"}
    assert any(not s.email for s in roster.students) and any(not s.username for s in roster.students)
    assert any(s.custom_value("u_studentsuserfields.transcriptaddrzip") == "01854" for s in roster.students)
    assert any(len(s.schools) > 1 for s in roster.staff)
