"""plan.html in a real browser (headless Chromium): it loads without errors and needs no
network, its filters and search work, a 50,000-change plan stays usable, and a redacted
page holds no personal data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.redact import redact_document
from reconciler.render.html import PAGE_ROWS, render_html
from tests.support.browser import chromium, run_page
from tests.support.plans import PERSONAL, district_plan, first_labelled, sample_doc

#: Pick an option of a select by its text, as a person would, and let the page react.
_CHOOSE = """
const $ = function (id) { return document.getElementById(id); };
function choose(id, text) {
  const select = $(id);
  const option = Array.from(select.options).find(function (o) { return o.textContent === text; });
  if (!option) throw new Error("no option " + text + " in " + id);
  select.value = option.value; select.dispatchEvent(new Event("change"));
}
function search(text) { $("search").value = text; $("search").dispatchEvent(new Event("input")); }
function seen() {
  return {count: $("count").textContent, rows: document.querySelectorAll("#rows tr.change").length,
          text: $("rows").textContent, people: document.querySelectorAll("#rows tr.person").length};
}
window.__out = {rendered: Number(document.body.dataset.renderedMs), first: seen()};
"""


def _page(tmp_path: Path, html: str) -> Path:
    page = tmp_path / "plan.html"
    page.write_text(html, encoding="utf-8")
    return page


def test_loads_without_errors_and_shows_the_verdict_and_every_change(tmp_path: Path) -> None:
    result = run_page(_page(tmp_path, render_html(sample_doc())), _CHOOSE)
    assert result["errors"] == []
    assert result["first"]["count"] == "14 changes"
    assert result["first"]["rows"] == 14
    assert "+ create user zquimby" in result["first"]["text"]


def test_filters_by_school_kind_and_action_and_searches(tmp_path: Path) -> None:
    script = (
        _CHOOSE
        + """
choose("school", "School 100"); window.__out.school = seen();
choose("kind", "enrolment"); window.__out.kind = seen();
choose("school", "all schools"); choose("kind", "all kinds"); choose("action", "suspend");
window.__out.action = seen();
choose("action", "all actions"); search("ENG1-1"); window.__out.course = seen();
search("zquimby"); window.__out.person = seen();
choose("view", "by person"); search(""); window.__out.people = seen();
search("zquimby"); window.__out.one = seen();
"""
    )
    result = run_page(_page(tmp_path, render_html(sample_doc())), script)
    assert result["errors"] == []
    assert result["school"]["count"] == "5 changes"
    assert result["kind"]["count"] == "2 changes"
    assert "+ enrol ps2m:north:student:1001 as student" in result["kind"]["text"]
    assert result["action"]["count"] == "2 changes"  # an account and an enrolment
    assert "suspend user mokonkwo" in result["action"]["text"]
    assert result["course"]["count"] == "3 changes"  # the course and its two enrolments
    assert result["person"]["count"] == "1 change"  # his account (memberships name him by key here)
    assert result["people"]["count"] == "5 people"
    assert result["one"] == {**result["one"], "count": "1 person", "people": 1, "rows": 3}
    assert "add to group" not in result["one"]["text"] and "ALG1 section 2" in result["one"]["text"]


def test_a_redacted_page_holds_no_personal_data(tmp_path: Path) -> None:
    html = render_html(redact_document(sample_doc()))
    leaked = [value for value in PERSONAL if value in html]
    assert leaked == []
    result = run_page(_page(tmp_path, html), _CHOOSE + 'search("person-"); window.__out.found = seen();')
    assert result["errors"] == []
    assert "Personal data is replaced by pseudonyms" in html
    assert result["found"]["rows"] >= 5  # accounts and memberships show pseudonyms, and are found by them


@pytest.mark.slow
def test_a_50000_change_plan_stays_usable(tmp_path: Path) -> None:
    chromium()  # skip (loudly) before the work when there is no browser
    doc = sample_doc(district_plan(schools=8, students=6000, staff=400, sections=1200, enrolments=42_400))
    assert len(doc.changes) >= 50_000
    started = time.perf_counter()
    html = render_html(doc)
    made = time.perf_counter() - started
    script = (
        _CHOOSE
        + """
let t = performance.now(); choose("school", "School 103"); window.__out.school = seen();
window.__out.filterMs = performance.now() - t;
choose("school", "all schools");
t = performance.now(); search("u000123"); window.__out.search = seen(); window.__out.searchMs = performance.now() - t;
search(""); $("next").click(); window.__out.next = seen();
choose("view", "by person"); window.__out.people = seen();
"""
    )
    started = time.perf_counter()
    result = run_page(_page(tmp_path, html), script)
    loaded = time.perf_counter() - started
    print(
        f"\n50,000-change plan.html: {len(html) / 1e6:.1f} MB made in {made:.2f} s; browser run {loaded:.1f} s; "
        f"first render at {result['rendered']} ms; filter {result['filterMs']:.0f} ms; "
        f"search {result['searchMs']:.0f} ms"
    )
    assert result["errors"] == []
    assert result["first"]["rows"] == PAGE_ROWS  # one page at a time, not 50,000 rows
    assert result["first"]["count"] == f"{len(doc.changes):,} changes"
    assert result["next"]["rows"] == PAGE_ROWS
    assert result["rendered"] < 5_000, "first render took over 5 s"
    assert result["filterMs"] < 1_000 and result["searchMs"] < 1_000
    assert 0 < result["school"]["rows"] <= PAGE_ROWS
    assert "u000123" in result["search"]["text"]
    assert result["people"]["people"] > 0
    assert len(html) < 300 * len(doc.changes), "the embedded data is not compact"


def test_text_from_outside_is_shown_as_text_never_run(tmp_path: Path) -> None:
    evil = "</script><img src=x onerror=\"document.title='owned'\">"
    html = render_html(first_labelled(sample_doc(), evil))
    assert "</script><img" not in html
    result = run_page(_page(tmp_path, html), _CHOOSE + "window.__out.title = document.title;")
    assert result["errors"] == []
    assert result["title"].startswith("ps2moodle plan")
    assert "+ create category " + evil in result["first"]["text"]
