"""``ps2moodle validate``: output formats, exit codes, and never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from tests.support.configs import WriteConfig

runner = CliRunner()
BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))


@pytest.fixture
def good(write_config: WriteConfig, valid_text: str) -> Path:
    return write_config(valid_text, "good.yaml")


@pytest.fixture
def bad(write_config: WriteConfig, valid_text: str) -> Path:
    return write_config(valid_text.replace("version: 1", "version: 2") + "extra: 1\n", "bad.yaml")


def test_text_says_ok_for_a_valid_file(good: Path) -> None:
    result = runner.invoke(app, ["validate", str(good)])

    assert result.exit_code == 0
    assert result.output == f"{good}: ok\n1 config valid\n"


def test_text_lists_each_problem_located_then_a_summary(good: Path, bad: Path) -> None:
    result = runner.invoke(app, ["validate", str(good), str(bad)])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{good}: ok",
        f"{bad}:1:10: version: must be 1",
        f"{bad}:12:1: extra: unknown key 'extra'. Allowed here: version, moodle, connections, removal, safety, adopt,"
        " audit_log, serve",
        "2 problems in 1 of 2 configs",
    ]


def test_json_is_one_list_of_issue_objects(good: Path, bad: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(good), str(bad)])

    assert result.exit_code == 1
    assert json.loads(result.output) == [
        {"file": str(bad), "line": 1, "col": 10, "path": "version", "message": "must be 1"},
        {
            "file": str(bad),
            "line": 12,
            "col": 1,
            "path": "extra",
            "message": "unknown key 'extra'. Allowed here: version, moodle, connections, removal, safety, adopt,"
            " audit_log, serve",
        },
    ]


def test_json_of_valid_files_is_an_empty_list(good: Path) -> None:
    result = runner.invoke(app, ["validate", "-f", "json", str(good)])

    assert (result.exit_code, json.loads(result.output)) == (0, [])


def test_github_annotates_each_problem(write_config: WriteConfig, valid_text: str) -> None:
    path = write_config(valid_text + "safety: {thresholds: {'nuke:all': {count: 1}}}\n", "a,b:c.yaml")

    result = runner.invoke(app, ["validate", "--format", "github", str(path)])

    escaped = str(path).replace(":", "%3A").replace(",", "%2C")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(
        f"::error file={escaped},line=12,col=23,title=ps2moodle config::"
        "safety.thresholds[\"nuke:all\"]: 'nuke:all' is not a valid key here: must be an action the brakes count"
    )
    assert lines[1:] == ["1 problem in 1 of 1 config"]


def test_github_annotates_an_unreadable_file_without_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"

    result = runner.invoke(app, ["validate", "-f", "github", str(missing)])

    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"::error file={missing},title=ps2moodle config::cannot read the file: No such file or directory"
    )


def test_the_default_file_is_ps2moodle_yaml(
    write_config: WriteConfig, valid_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    missing = runner.invoke(app, ["validate"])
    write_config(valid_text)
    present = runner.invoke(app, ["validate"])

    assert (missing.exit_code, missing.output.splitlines()[0]) == (
        1,
        "ps2moodle.yaml: cannot read the file: No such file or directory",
    )
    assert (present.exit_code, present.output.splitlines()[0]) == (0, "ps2moodle.yaml: ok")


def test_an_unknown_format_is_a_usage_error(good: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "xml", str(good)])

    assert result.exit_code == 2


@pytest.mark.parametrize("output", ["text", "json", "github"])
def test_no_config_problem_ever_shows_a_traceback(output: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", output, str(tmp_path), *map(str, BAD)])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
