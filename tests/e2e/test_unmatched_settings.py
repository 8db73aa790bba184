"""A configured term or course number that matches nothing in PowerSchool is said, not
silently planned as "No changes.": a notice in every plan, exit 1 with ``plan --strict``
and ``validate --strict`` (which reads PowerSchool to know), located in the config."""

from __future__ import annotations

from pathlib import Path

from .harness import MakeStack, Stack, config_text, connection

BODY = """
    schools: [100]
    school_settings:
      100:
        terms: ["24-25", S1, S3]
        courses:
          {course}:
          NOPE101:
"""


def _stack(make_stack: MakeStack) -> tuple[Stack, Path]:
    probe = make_stack(config_text(connection("town", BODY.format(course="X"))))
    real = next(s.course_number for s in probe.district("town").sections if s.school_number == 100)
    text = config_text(connection("town", BODY.format(course=real)))
    stack = make_stack(text)
    return stack, stack.write(text)


def test_a_term_and_a_course_that_match_nothing_are_notices_and_fail_strict(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    _, outcome = stack.plan(config, expect=0)
    assert "warning: school 100: term S3 matches no term of the school year PowerSchool was read for" in outcome.output
    assert "(it has: 24-25, Q1, Q2, Q3, Q4, S1, S2); its sections are not synced" in outcome.output
    assert "warning: school 100: course NOPE101 has no section in the school year" in outcome.output
    _, outcome = stack.plan(config, "--strict", expect=1)
    assert "--strict: 2 configured terms or courses match nothing in PowerSchool" in outcome.output


def test_validate_strict_reads_powerschool_and_locates_them(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    assert stack.cli("validate", config).code == 0  # offline, it cannot know
    outcome = stack.cli("validate", "--strict", config)
    assert outcome.code == 1, outcome.output
    lines = outcome.output.splitlines()
    term = next(line for line in lines if "term S3" in line)
    course = next(line for line in lines if "course NOPE101" in line)
    text = config.read_text(encoding="utf-8").splitlines()
    term_line = next(n for n, line in enumerate(text, 1) if "S3" in line)
    course_line = next(n for n, line in enumerate(text, 1) if "NOPE101" in line)
    assert term.startswith(f"{config}:{term_line}:{text[term_line - 1].index('S3') + 1}: ")
    assert course.startswith(f"{config}:{course_line}:{text[course_line - 1].index('NOPE101') + 1}: ")
    assert "2 problems in 1 of 1 config" in outcome.output


def test_validate_strict_says_when_powerschool_cannot_be_read(make_stack: MakeStack, tmp_path: Path) -> None:
    stack, config = _stack(make_stack)
    broken = tmp_path / "broken.yaml"
    broken.write_text(config.read_text(encoding="utf-8").replace("schools: [100]", "schools: [100, 4242]"), "utf-8")
    outcome = stack.cli("validate", "--strict", broken)
    assert outcome.code == 1
    assert "--strict: cannot read PowerSchool: school number(s) 4242 not in PowerSchool" in outcome.output
