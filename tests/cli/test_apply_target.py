"""`apply` tells a saved plan from a config by its content, not its name, and refuses the
options that do not apply to what it was given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.plan.file import is_plan_file
from reconciler.render.files import save_plan
from tests.support.plans import sample_doc

EXAMPLE = Path(__file__).parents[2] / "examples" / "minimal.yaml"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    saved = save_plan(sample_doc(), tmp_path / "out").json
    (tmp_path / "PLAN.JSON").write_bytes(saved.read_bytes())
    (tmp_path / "reviewed.plan").write_bytes(saved.read_bytes())
    config = YAML(typ="safe").load(EXAMPLE.read_text(encoding="utf-8"))
    (tmp_path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (tmp_path / "bad.json").write_text(json.dumps({"version": 1, "moodle": {"url": 7}}), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def _apply(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["apply", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr


def test_plan_files_are_known_by_their_first_bytes(folder: Path) -> None:
    assert is_plan_file(folder / "PLAN.JSON") and is_plan_file(folder / "reviewed.plan")
    assert not is_plan_file(folder / "config.json") and not is_plan_file(folder / "config.yaml")
    (folder / "bom.plan").write_bytes(b"\xef\xbb\xbf" + (folder / "PLAN.JSON").read_bytes())
    assert is_plan_file(folder / "bom.plan")


@pytest.mark.parametrize("plan", ["PLAN.JSON", "reviewed.plan"])
@pytest.mark.parametrize(
    ("option", "name"),
    [
        (["--scope", "users"], "--scope"),
        (["--allow-unsafe", "expected"], "--allow-unsafe"),
        (["--auto-approve"], "--auto-approve"),
        (["--out", "elsewhere"], "--out"),
    ],
)
def test_options_for_a_config_are_refused_with_a_plan_whatever_its_name(
    plan: str, option: list[str], name: str, folder: Path
) -> None:
    code, said = _apply(plan, *option, "-c", "config.yaml")
    assert code == 1
    assert f"{plan} is a saved plan, applied exactly as reviewed: {name} only apply to a config" in said


@pytest.mark.parametrize(
    ("option", "name"),
    [(["--expect-checksum", "sha256:00"], "--expect-checksum"), (["-c", "config.yaml"], "--config")],
)
def test_options_for_a_plan_are_refused_with_a_json_config(option: list[str], name: str, folder: Path) -> None:
    code, said = _apply("config.json", *option)
    assert code == 1
    assert f"config.json is a config, not a saved plan: {name} only apply to a plan file" in said


def test_a_json_config_is_read_as_a_config(folder: Path) -> None:
    code, said = _apply("bad.json", "--auto-approve")
    assert code == 1
    assert "bad.json: invalid config" in said and "plan file" not in said


def test_several_refused_options_are_named_together(folder: Path) -> None:
    code, said = _apply("PLAN.JSON", "--scope", "users", "--auto-approve")
    assert code == 1 and "--auto-approve, --scope only apply to a config" in said


@pytest.mark.parametrize(("target", "reason"), [("missing.json", "No such file or directory"), (".", "Is a directory")])
def test_an_unreadable_target_is_named(target: str, reason: str, folder: Path) -> None:
    code, said = _apply(target)
    assert code == 1 and said.strip() == f"apply failed: cannot read {target}: {reason}"
