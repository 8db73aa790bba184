"""The test kit's commands reach ``ps2moodle`` through entry points, not imports."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import pytest
import typer
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.plugins import GROUP, add_plugin_commands

runner = CliRunner()


def _names(app: typer.Typer) -> set[str]:
    group = typer.main.get_group(app)
    return set(group.commands)


def test_the_installed_distribution_names_the_test_kit_commands() -> None:
    found = {entry.name: entry.value for entry in entry_points(group=GROUP)}
    assert found == {"emulate": "ps2moodle_testkit.cli:emulate_app", "demo": "ps2moodle_testkit.cli:demo"}


def test_ps2moodle_offers_them_beside_its_own() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert {"plan", "apply", "validate", "emulate", "demo"} <= _names(app)
    emulate = runner.invoke(app, ["emulate", "--help"])
    assert emulate.exit_code == 0
    assert "powerschool" in emulate.output and "moodle" in emulate.output


def _fresh() -> typer.Typer:
    fresh = typer.Typer()

    @fresh.command()
    def own() -> None:
        """A command of the product itself."""

    return fresh


def test_a_group_becomes_a_command_with_subcommands_and_a_function_a_command() -> None:
    fresh = _fresh()
    add_plugin_commands(
        fresh,
        [
            EntryPoint("emulate", "ps2moodle_testkit.cli:emulate_app", GROUP),
            EntryPoint("demo", "ps2moodle_testkit.cli:demo", GROUP),
        ],
    )
    assert _names(fresh) == {"own", "emulate", "demo"}
    result = runner.invoke(fresh, ["emulate", "moodle", "--help"])
    assert result.exit_code == 0 and "--test-hooks" in result.output


def test_a_broken_add_on_is_named_and_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    fresh = _fresh()
    add_plugin_commands(
        fresh,
        [
            EntryPoint("gone", "ps2moodle_no_such_module:main", GROUP),
            EntryPoint("odd", "reconciler.cli.plugins:GROUP", GROUP),
            EntryPoint("demo", "ps2moodle_testkit.cli:demo", GROUP),
        ],
    )
    assert _names(fresh) == {"own", "demo"}, "the others still load"
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("ps2moodle: command 'gone' (ps2moodle_no_such_module:main) not loaded: No module named")
    assert said[1] == "ps2moodle: command 'odd' (reconciler.cli.plugins:GROUP) is neither a typer app nor a function"
    assert len(said) == 2
