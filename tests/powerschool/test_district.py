"""The sample-district generator: deterministic, realistic, and fast at district scale."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter

import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import SCALES, generate_district


def fingerprint(d: District) -> tuple[object, ...]:
    return (
        d.schools,
        d.terms,
        d.courses,
        d.students,
        d.users,
        d.school_staff,
        d.sections,
        d.section_teachers,
        tuple(d.enrolments),
        tuple(sorted(d.school_courses.items())),
    )


def test_the_same_seed_gives_the_same_district() -> None:
    assert fingerprint(generate_district("tiny", seed=7)) == fingerprint(generate_district("tiny", seed=7))
    assert fingerprint(generate_district("tiny", seed=7)) != fingerprint(generate_district("tiny", seed=8))


@pytest.mark.parametrize(("scale", "schools", "students"), [("tiny", 2, 60), ("small", 3, 600)])
def test_sizes(scale: str, schools: int, students: int) -> None:
    d = generate_district(scale)
    assert len(d.school_numbers) == schools
    assert sum(1 for s in d.students if s.school_number in d.school_numbers) == students
    assert d.school_numbers == tuple(range(100, 100 * schools + 1, 100))


def test_district_scale_is_the_size_of_a_large_district_and_quick() -> None:
    started = time.perf_counter()
    d = generate_district("district", seed=1)
    elapsed = time.perf_counter() - started
    scale = SCALES["district"]
    assert len(d.school_numbers) == 20
    assert sum(1 for s in d.students if s.school_number in d.school_numbers) == scale.students == 50_000
    assert len(d.users) == scale.staff == 3_000 and len(d.courses) == scale.courses == 1_500
    assert 11_500 <= len(d.sections) <= 12_500
    assert 290_000 <= len(d.enrolments) <= 310_000
    assert elapsed < 20  # a few seconds on a quiet machine; generous for a busy CI runner


def test_schools_terms_and_ids_look_like_powerschool(tiny: District) -> None:
    kinds = {s.number: s.kind for s in tiny.schools}
    assert kinds[0] == "office" and kinds[999999] == "graduated"
    assert all(s.dcid != s.number for s in tiny.schools)
    year = [t for t in tiny.terms if t.school_number == 100 and t.year_id == 34]
    assert {t.abbreviation for t in year} == {"24-25", "S1", "S2", "Q1", "Q2", "Q3", "Q4"}
    assert {t.id for t in year} == set(range(3400, 3407))
    at_200 = {t.id: t.dcid for t in tiny.terms if t.school_number == 200 and t.year_id == 34}
    assert {t.id: t.dcid for t in year}.keys() == at_200.keys() and not set(at_200.values()) & {t.dcid for t in year}
    assert all(t.first_day.weekday() < 5 and t.last_day.weekday() == 4 for t in year)
    assert sum(1 for s in tiny.students if s.id == s.dcid) <= 1
    assert all(s.id != s.dcid for s in tiny.sections)


def test_names_are_varied_and_awkward(small: District) -> None:
    names = [f"{s.first_name} {s.last_name}" for s in small.students]
    assert any(any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", n)) for n in names)
    assert any("'" in n for n in names)
    assert any(count > 1 for count in Counter(names).values())
    assert any(s.email is None for s in small.students) and any(s.web_id is None for s in small.students)


def test_grade_levels_follow_the_school_type(small: District) -> None:
    grades: dict[str, set[int]] = {}
    for s in small.students:
        kind = small.school_by_number[s.school_number].kind
        grades.setdefault(kind, set()).add(s.grade_level)
    assert grades["elementary"] <= set(range(-1, 6)) and 0 in grades["elementary"]
    assert grades["middle"] == {6, 7, 8}
    assert grades["high"] == {9, 10, 11, 12}
    assert grades["graduated"] == {99}


def test_statuses_roles_and_enrolment_histories(small: District) -> None:
    assert {s.enroll_status for s in small.students} >= {0, -1, 1, 2, 3}
    roles = Counter(small.role_by_id[r.role_id].name for r in small.section_teachers)
    assert roles["Lead Teacher"] >= len(small.sections) and roles["Co-Teacher"] > 0
    assert any(
        r.end_date
        < small.term(
            small.section_by_id[r.section_id].school_number, small.section_by_id[r.section_id].term_id
        ).last_day
        for r in small.section_teachers
    )
    cc = list(small.enrolments)
    assert any(e.dropped for e in cc) and any(e.date_left is None for e in cc)
    by_section = Counter(abs(e.section_id) for e in cc)
    current = [s for s in small.sections if s.term_id // 100 == small.year_id]
    assert any(by_section[s.id] == 1 for s in current) and any(by_section[s.id] == 0 for s in current)
    pairs = Counter((e.student_id, abs(e.section_id)) for e in cc)
    assert any(n > 1 for n in pairs.values())  # a re-enrolment after a drop


def test_custom_fields_migrations_and_shared_staff(small: District) -> None:
    assert any(s.custom for s in small.students) and any(u.custom for u in small.users)
    assert 1 <= sum(1 for s in small.sections if s.migrate_to) <= 4
    schools_per_person = Counter(ss.users_dcid for ss in small.school_staff if ss.status == 1)
    assert any(n > 1 for n in schools_per_person.values())
    assert any(ss.status == 2 for ss in small.school_staff)
