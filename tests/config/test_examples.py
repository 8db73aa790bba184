"""The example configs: valid, secret-free, showing what they promise, and about the
sample district the demo serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps2moodle_testkit.emulators.generator import generate_district
from reconciler.config.loader import check_config, load_config
from reconciler.config.model import Config, CourseMode, PasswordMode, SecretRef

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
BY_NAME = {p.stem: p for p in EXAMPLES}


def _secrets(config: Config) -> list[SecretRef]:
    refs = [config.moodle.token]
    for c in config.connections:
        refs += [c.powerschool.client_id, c.powerschool.client_secret]
        refs += [p.initial_password for p in (c.students, c.staff) if p.initial_password is not None]
    return refs


def test_the_promised_examples_exist() -> None:
    assert {"minimal", "district", "multi-connection"} <= set(BY_NAME)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_valid_and_points_editors_at_the_schema(path: Path) -> None:
    assert check_config(path) == []
    assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../schema/config.schema.json\n")
    assert all(ref.env and ref.file is None for ref in _secrets(load_config(path)))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_no_example_takes_over_every_account(path: Path) -> None:
    """Issue 11, hole 5: adopting "*" hands a hand-made staff account to any student whose
    login equals its username. Examples adopt narrowly, require the e-mail, and keep the brake."""
    config = load_config(path)
    for rule in config.adopt:
        if rule.kind == "user":
            assert rule.match != "*" and "email" in rule.require, rule
    assert dict(config.safety.thresholds)["adopt:user"].count == 0


def test_the_district_example_shows_every_kind_of_setting() -> None:
    config = load_config(BY_NAME["district"])
    (conn,) = config.connections
    schools = conn.school_settings
    rules = [rule for school in schools for rule in school.courses]

    assert len(conn.schools) > 1
    assert {rule.mode for rule in rules} | {s.all_courses for s in schools} >= {CourseMode.SECTION, CourseMode.GROUP}
    assert all(school.category for school in schools)
    assert any(rule.category for rule in rules)
    assert conn.students.cohorts and conn.students.custom_fields and conn.staff.custom_fields
    assert {rule.field for rule in conn.students.cohorts} & {f.moodle for f in conn.students.custom_fields}
    assert conn.section_migration is not None and conn.section_migration.moves
    assert conn.students.password is PasswordMode.GENERATE and conn.students.email_fallback
    assert any(":" in key for key, _ in config.safety.thresholds)
    assert config.safety.protected and config.adopt and config.audit_log


def test_the_multi_connection_example_keeps_its_connections_apart() -> None:
    config = load_config(BY_NAME["multi-connection"])

    usernames = [c.username_prefix for c in config.connections]
    courses = [c.course_number_prefix for c in config.connections]
    assert len(config.connections) == 2
    assert all(usernames) and len(set(usernames)) == 2
    assert all(courses) and len(set(courses)) == 2
    assert config.connections[1].students.email_fallback == config.connections[0].students.email_fallback  # shared


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_name_schools_terms_courses_and_moves_of_the_sample_district(path: Path) -> None:
    district = generate_district("small")
    year = max(t.year_id for t in district.terms)
    current = {t.id for t in district.terms if t.year_id == year}
    sections = [s for s in district.sections if s.term_id in current]

    for conn in load_config(path).connections:
        assert set(conn.schools) <= {s.number for s in district.schools}
        for school in conn.school_settings:
            terms = {t.abbreviation for t in district.terms if t.school_number == school.number}
            courses = {s.course_number for s in sections if s.school_number == school.number}
            assert set(school.terms) <= terms, school.number
            assert {rule.number for rule in school.courses} <= courses, school.number
        for move in conn.section_migration.moves if conn.section_migration else ():
            (section,) = [
                s
                for s in sections
                if (s.school_number, s.course_number, s.section_number)
                == (move.school, move.from_course, move.from_section)
            ]
            assert section.migrate_to in (move.to_course, f"{move.to_course}.{move.to_section}")
