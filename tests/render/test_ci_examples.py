"""examples/ci: the workflows parse, take secrets only from the secret store, the
``ps2moodle show`` lines they run work and post nothing personal, and the apply workflow
runs only the plan the reviewers approved, signed by the plan workflow."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.render.files import save_plan
from tests.support.plans import PERSONAL, sample_doc

CI = Path(__file__).parents[2] / "examples" / "ci"
WORKFLOWS = sorted(CI.glob("*.yml"))


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _commands(workflow: Any, name: str) -> list[list[str]]:
    """Every ``ps2moodle <name> ...`` line the workflow runs, as argv (redirections dropped)."""
    out = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").replace("\\\n", " ").splitlines():
                if line.strip().startswith(f"ps2moodle {name} "):
                    words = shlex.split(line)
                    out.append(words[1 : next((i for i, w in enumerate(words) if w in (">", ">>")), len(words))])
    return out


def test_there_are_a_pull_request_a_nightly_and_an_apply_workflow() -> None:
    assert [p.name for p in WORKFLOWS] == ["apply-approved.yml", "nightly-drift.yml", "pr-plan.yml"]
    pr, nightly = _load(CI / "pr-plan.yml"), _load(CI / "nightly-drift.yml")
    assert "pull_request" in pr["on"] and pr["permissions"]["pull-requests"] == "write"
    assert nightly["on"]["schedule"] and nightly["permissions"] == {"contents": "read"}
    assert any("--detailed-exitcode" in argv for argv in _commands(nightly, "plan"))
    assert all("--redact" in argv for wf in (pr, nightly) for argv in _commands(wf, "plan") + _commands(wf, "show"))


def test_apply_runs_only_the_approved_signed_plan() -> None:
    pr, apply = _load(CI / "pr-plan.yml"), _load(CI / "apply-approved.yml")
    (argv,) = _commands(apply, "apply")
    assert argv[:4] == ["apply", "plan-output/plan.json", "-c", "ps2moodle.yaml"]
    assert argv[4] == "--expect-checksum" and "steps.approved.outputs.checksum" in argv[5]
    assert "--auto-approve" not in argv and "--allow-unsafe" not in argv
    (plan_step,) = [s for s in pr["jobs"]["plan"]["steps"] if "ps2moodle plan " in s.get("run", "")]
    (apply_step,) = [s for s in apply["jobs"]["apply"]["steps"] if "ps2moodle apply " in s.get("run", "")]
    assert "PS2MOODLE_PLAN_KEY" in plan_step["env"] and "PS2MOODLE_PLAN_KEY" in apply_step["env"]
    (upload,) = [s for s in pr["jobs"]["plan"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["with"]["path"].split() == ["plan-output/plan.json", "plan-output/plan.json.sig"]
    assert apply["jobs"]["apply"]["environment"] == "moodle-apply"
    assert apply["concurrency"] == {"group": "ps2moodle-apply", "cancel-in-progress": False}


def test_the_checksum_the_apply_workflow_reads_is_the_one_the_comment_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = save_plan(sample_doc(), tmp_path / "plan-output")
    (argv,) = _commands(_load(CI / "pr-plan.yml"), "show")
    comment = CliRunner().invoke(app, argv).stdout
    script = next(
        s["run"] for s in _load(CI / "apply-approved.yml")["jobs"]["apply"]["steps"] if s.get("id") == "approved"
    )
    pattern = re.search(r'capture\("(.*?)"\)', script)
    assert pattern is not None
    found = re.search(pattern.group(1).replace("(?<c>", "(?P<c>"), comment)
    assert found is not None and found["c"] == json.loads(paths.json.read_text(encoding="utf-8"))["checksum"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_come_from_the_secret_store(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for job in _load(path)["jobs"].values():
        for step in job["steps"]:
            for name, value in step.get("env", {}).items():
                if name != "GH_TOKEN":
                    assert value == "${{ secrets." + name + " }}"
    assert not re.search(r"\b[0-9a-f]{32}\b", text)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_show_lines_render_a_redacted_markdown_plan(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    save_plan(sample_doc(), tmp_path / "plan-output")
    (argv,) = _commands(_load(path), "show")
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!-- ps2moodle plan sha256:")
    assert [s for s in PERSONAL if s in result.stdout] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_validate_lines_accept_a_valid_config(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = Path(__file__).parents[2] / "examples" / "minimal.yaml"
    (tmp_path / "ps2moodle.yaml").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    for argv in _commands(_load(path), "validate"):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
