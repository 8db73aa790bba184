"""The Markdown rendering: verdict and summary first, per-school detail, under GitHub's limit."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from reconciler import keys
from reconciler.model import Category, Course, User, enrolment
from reconciler.plan.model import Action, Change, Plan, PlanDocument, Reason, SafetyVerdict
from reconciler.redact import redact_document
from reconciler.render.markdown import COMMENT_LIMIT, DEFAULT_BUDGET, code, render_markdown
from tests.support.plans import first_labelled, sample_doc

from .golden import check_golden

SCHOOLS = 20


def test_markdown_matches_the_golden_file() -> None:
    check_golden("plan.md", render_markdown(sample_doc()))
    check_golden("plan.redacted.md", render_markdown(redact_document(sample_doc())))


def test_rendering_is_byte_identical_for_the_same_plan() -> None:
    assert render_markdown(sample_doc()) == render_markdown(sample_doc())


def test_verdict_then_summary_then_table_come_first() -> None:
    md = render_markdown(sample_doc(verdict=SafetyVerdict(ok=False, violations=("900 user suspends: over 500",))))
    assert (
        md.index("> [!CAUTION]") < md.index("**Plan: 7 to create") < md.index("| **total** |") < md.index("<details>")
    )
    assert "> **Safety check: REFUSED (1 violation). apply will not run this plan without an override.**" in md
    assert "> - `900 user suspends: over 500`" in md


def test_a_passed_plan_and_an_empty_plan() -> None:
    md = render_markdown(sample_doc(Plan(), SafetyVerdict(ok=True)))
    assert "✅ **Safety check: passed.**" in md
    assert "**No changes. Moodle already matches PowerSchool and the config.**" in md
    assert "<details>" not in md and "| total |" not in md


def test_summary_table_is_kind_by_action() -> None:
    md = render_markdown(sample_doc())
    assert (
        "| | `+` create | `&` adopt | `>` move | `~` update | `^` unsuspend | `!` suspend | `-` delete | total |" in md
    )
    assert "| user | 1 | 1 |  | 1 | 1 | 1 |  | 5 |" in md
    assert "| **total** | **7** | **1** | **1** | **1** | **1** | **2** | **1** | **14** |" in md


def test_one_collapsible_section_per_school() -> None:
    md = render_markdown(sample_doc())
    summaries = re.findall(r"<details><summary><b>([^<]+)</b>: ([^<]+)</summary>", md)
    assert summaries == [
        ("District-wide", "7 changes (+ 2 · &amp; 1 · ~ 1 · ^ 1 · ! 1 · - 1)"),
        ("School 100", "5 changes (+ 5)"),
        ("School 600", "2 changes (&gt; 1 · ! 1)"),
    ]


def test_text_from_outside_cannot_format_the_comment_or_mention_anyone() -> None:
    doc = sample_doc()
    notice = replace(doc.notices[1], message="</details><script>x</script> @district-admins `tick` **bold**")
    doc = replace(doc, notices=(doc.notices[0], notice, *doc.notices[2:]))
    md = render_markdown(first_labelled(doc, "```\n# injected"))
    assert "- **warning** ``</details><script>x</script> @district-admins `tick` **bold**``" in md
    # The label's backticks make the diff fence longer, so the fence cannot be closed early.
    assert "````diff\n+ create category ```\\u000a# injected" in md


def test_code_spans_survive_backticks() -> None:
    assert code("plain") == "`plain`"
    assert code("a `b` c") == "``a `b` c``"
    assert code("`edge`") == "`` `edge` ``"


def test_long_lines_are_cut() -> None:
    md = render_markdown(first_labelled(sample_doc(), "x" * 1000))
    assert "x" * 250 in md and "x" * 300 not in md and "…" in md


def test_budget_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 30,000"):
        render_markdown(sample_doc(), budget=1000)


# --- a district-size plan ------------------------------------------------------------------


def _district_document() -> PlanDocument:
    """A first sync of a 20-school district as a plan document: 53,000 accounts, 12,000
    courses, 300,000 enrolments."""
    category = keys.category_key(("District",))
    people = [keys.student_key("d", n) for n in range(50_000)] + [keys.staff_key("d", n) for n in range(3_000)]
    changes = [Change(Action.CREATE, category, None, Category(category, "District"), Reason.MISSING)]
    for n, person in enumerate(people):
        user = User(person, f"u{n:06d}", f"First{n}", f"Last{n}", f"u{n:06d}@example.org")
        changes.append(Change(Action.CREATE, person, None, user, Reason.MISSING))
    courses = [keys.section_course_key("d", 100 + n % SCHOOLS, 1000 + n) for n in range(12_000)]
    for n, course in enumerate(courses):
        changes.append(Change(Action.CREATE, course, None, Course(course, f"SEC{n:05d}", f"Section {n}", category)))
    for n in range(300_000):
        member = enrolment(courses[n % len(courses)], people[n % 50_000], ["student"])
        changes.append(Change(Action.CREATE, member.key, None, member, Reason.MISSING))
    plan = Plan(changes=tuple(changes))
    verdict = SafetyVerdict(ok=False, violations=("53000 user creates: over the limit of 50000",))
    # The renderer shows the checksum but never verifies it (read_plan does): sealing would
    # encode 190 MB only to be thrown away.
    return replace(sample_doc(Plan(), verdict), changes=plan.changes, checksum="sha256:" + "5" * 64)


@pytest.fixture(scope="module")
def district() -> PlanDocument:
    return _district_document()


@pytest.mark.slow
def test_a_district_plan_fits_a_github_comment(district: PlanDocument) -> None:
    md = render_markdown(district)
    assert len(md) <= DEFAULT_BUDGET < COMMENT_LIMIT
    assert district.summary.by_kind == {
        "category": {"create": 1},
        "course": {"create": 12_000},
        "user": {"create": 53_000},
        "enrolment": {"create": 300_000},
    }
    assert "**Plan: 365,001 to create.**" in md
    assert "> **Safety check: REFUSED (1 violation). apply will not run this plan without an override.**" in md
    assert "| user | 53,000 | 53,000 |" in md and "| enrolment | 300,000 | 300,000 |" in md
    sections = re.findall(r"<details><summary><b>(District-wide|School \d+)</b>: ([\d,]+) changes", md)
    assert len(sections) == SCHOOLS + 1
    assert sum(int(n.replace(",", "")) for _, n in sections) == 365_001
    # Every section shows some detail and says how much more plan.json holds.
    mores = re.findall(r"_… ([\d,]+) more changes, see plan\.json_", md)
    assert len(mores) == SCHOOLS + 1
    shown = sum(int(n.replace(",", "")) for _, n in sections) - sum(int(n.replace(",", "")) for n in mores)
    assert shown > 20 * SCHOOLS
    assert md.endswith("`ps2moodle show plan.json` prints every change.\n")


@pytest.mark.slow
def test_a_redacted_district_plan_fits_and_names_no_one(district: PlanDocument) -> None:
    md = render_markdown(redact_document(district))
    assert len(md) < COMMENT_LIMIT
    words = set(re.findall(r"[\w.@-]+", md))
    assert not {w for w in words if re.fullmatch(r"u\d{6}(@example\.org)?|First\d+|Last\d+", w)}
