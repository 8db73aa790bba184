"""examples/ci: the workflows parse, take secrets only from the secret store, and the
``ps2moodle show`` lines they run work and post nothing personal."""

from __future__ import annotations

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


def test_there_are_a_pull_request_and_a_nightly_workflow() -> None:
    assert [p.name for p in WORKFLOWS] == ["nightly-drift.yml", "pr-plan.yml"]
    pr, nightly = _load(CI / "pr-plan.yml"), _load(CI / "nightly-drift.yml")
    assert "pull_request" in pr["on"] and pr["permissions"]["pull-requests"] == "write"
    assert nightly["on"]["schedule"] and nightly["permissions"] == {"contents": "read"}
    assert any("--detailed-exitcode" in argv for argv in _commands(nightly, "plan"))
    assert all("--redact" in argv for wf in (pr, nightly) for argv in _commands(wf, "plan") + _commands(wf, "show"))


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
