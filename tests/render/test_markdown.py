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
from reconciler.render.text import TERMINAL_LINES, clip, render_text
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


def test_summary_table_is_school_and_kind_by_action_with_removals_named_by_their_brake() -> None:
    md = render_markdown(sample_doc())
    assert "| | | create | adopt | move | update | unsuspend | suspend | remove |" in md
    assert "| **District-wide** | category | 1 |  |  |  |  |  |  |" in md
    assert "|  | user | 1 | 1 |  | 1 | 1 | 1 |  |" in md
    assert "|  | cohort member |  |  |  |  |  |  | 1 |" in md
    assert "| **total** | | **7** | **1** | **1** | **1** | **1** | **2** | **1** |" in md


def test_brakes_show_each_limit_and_which_one_the_plan_goes_over() -> None:
    md = render_markdown(sample_doc())
    assert "| suspend | user | 1 | 0 (never without an override) | **over the limit** |" in md
    assert "| remove | cohort member | 1 | 500 and 5% once 50 are owned (40 now) | within |" in md
    assert "| delete | all kinds | 0 | 0 (never without an override) |  |" in md


def test_a_bundle_says_its_reason_once_and_memberships_name_their_group() -> None:
    md = render_markdown(sample_doc())
    assert (
        "2 people to enrol  # in PowerSchool, not in Moodle\n"
        "  + enrol ps2m:north:staff:2001 as editingteacher\n"
        "  + enrol ps2m:north:student:1001 as student\n"
    ) in md
    assert "+ add ps2m:north:student:1001 to group 'ALG1 section 2'  # in PowerSchool, not in Moodle" in md


def test_the_per_person_section_lists_each_person_with_their_changes() -> None:
    md = render_markdown(sample_doc())
    assert "<details><summary><b>By person</b>: 5 people</summary>" in md
    assert "@@ ovashti (Ottoline Vashti-Okafor)  ps2m:north:student:1002 @@" in md


def test_one_collapsible_section_per_school() -> None:
    md = render_markdown(sample_doc())
    summaries = re.findall(r"<details><summary><b>([^<]+)</b>: ([^<]+)</summary>", md)
    assert summaries == [
        ("District-wide", "7 changes (+ 2 · &amp; 1 · ~ 1 · ^ 1 · ! 1 · - 1)"),
        ("School 100", "5 changes (+ 5)"),
        ("School 600", "2 changes (&gt; 1 · ! 1)"),
        ("By person", "5 people"),
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
    # The summary (per school and kind, the brakes, the verdict) comes first, whole.
    check_golden("district.summary.md", md[: md.index("<details>")])
    sections = re.findall(r"<details><summary><b>(District-wide|School \d+)</b>: ([\d,]+) changes", md)
    assert len(sections) == SCHOOLS + 1
    assert sum(int(n.replace(",", "")) for _, n in sections) == 365_001
    # Every section shows some detail and says how much more plan.json holds.
    mores = re.findall(r"_… ([\d,]+) more changes, see plan\.json_", md)
    assert len(mores) == SCHOOLS + 1
    shown = sum(int(n.replace(",", "")) for _, n in sections) - sum(int(n.replace(",", "")) for n in mores)
    assert shown > 20 * SCHOOLS
    assert md.endswith("`ps2moodle show plan.json` prints every change, `--by person` every change to each person.\n")


@pytest.mark.slow
def test_a_redacted_district_plan_fits_and_names_no_one(district: PlanDocument) -> None:
    md = render_markdown(redact_document(district))
    assert len(md) < COMMENT_LIMIT
    words = set(re.findall(r"[\w.@-]+", md))
    assert not {w for w in words if re.fullmatch(r"u\d{6}(@example\.org)?|First\d+|Last\d+", w)}


@pytest.mark.slow
def test_a_district_plans_text_opens_with_its_summary(district: PlanDocument) -> None:
    text = render_text(district)
    check_golden("district.summary.txt", text[: text.index("\nLegend:")])
    shown = clip(text, TERMINAL_LINES, "plan-output/plan.txt").splitlines()
    assert len(shown) == TERMINAL_LINES + 2
    assert shown[-2].startswith("... ") and shown[-2].endswith(" more lines in plan-output/plan.txt")
    assert shown[-1] == "Plan: 365,001 to create."
