"""The example plans in plan-output/examples/ are what the tool writes today (`make plans`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps2moodle_testkit.demo.example_plans import DEFAULT_ROOT, README_PLAN, readme_with_plan, regenerate

REPO = Path(__file__).resolve().parents[2]


#: Regenerating every example plan takes a while.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("plans")
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in regenerate(root)}


def test_every_committed_example_plan_is_up_to_date(fresh: dict[str, str]) -> None:
    committed_root = REPO / DEFAULT_ROOT
    committed = {
        str(p.relative_to(committed_root)): p.read_text(encoding="utf-8")
        for p in sorted(committed_root.rglob("plan.*"))
    }
    assert sorted(committed) == sorted(fresh), "run `make plans`: the set of example plans changed"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"run `make plans`: these example plans are out of date: {stale}"


def test_each_example_config_has_a_plan(fresh: dict[str, str]) -> None:
    configs = {p.stem for p in (REPO / "examples").glob("*.yaml")}
    assert {name.split("/")[0] for name in fresh} >= configs


def test_the_everyday_plan_is_small_readable_and_passes_the_brakes(fresh: dict[str, str]) -> None:
    text = fresh["district-after-changes/plan.txt"]
    assert "! suspend user" in text  # the student who left
    assert any(line.strip().startswith("+ enrol") and "as editingteacher" in line for line in text.splitlines())
    assert "Safety check: passed." in text
    assert len(text.splitlines()) < 100


def test_the_readme_shows_the_current_example_plan(fresh: dict[str, str]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_with_plan(readme, fresh[README_PLAN]) == readme, "run `make plans`: README's example plan is stale"


def test_the_readme_shows_a_screenshot_of_plan_html() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/plan-html.png)" in readme
    assert (REPO / "docs/plan-html.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
