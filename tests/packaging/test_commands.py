"""The test kit's commands reach ``ps2moodle`` through entry points, not imports."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.cli.plugins import GROUP, add_add_ons

runner = CliRunner()


def test_the_installed_distribution_names_the_test_kit_commands() -> None:
    found = {entry.name: entry.value for entry in entry_points(group=GROUP)}
    assert found == {"emulate": "ps2moodle_testkit.cli:emulate_app", "demo": "ps2moodle_testkit.cli:demo"}


def test_ps2moodle_offers_them_beside_its_own() -> None:
    assert {"plan", "apply", "validate", "emulate", "demo"} <= set(typer.main.get_group(app).commands)
    result = runner.invoke(app, ["emulate", "--help"])
    assert result.exit_code == 0
    assert "powerschool" in result.output and "moodle" in result.output


def test_they_load_whichever_package_is_imported_first() -> None:
    """Importing the test kit first (which imports the product's CLI) loses no command."""
    script = (
        "import ps2moodle_testkit.cli.emulate, typer\n"
        "from reconciler.cli import app\n"
        "print(sorted(typer.main.get_group(app).commands))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "'demo'" in done.stdout and "'emulate'" in done.stdout, done.stdout + done.stderr
    assert done.stderr == ""


def _fresh() -> TyperGroup:
    fresh = typer.Typer()

    @fresh.command()
    def own() -> None:
        """A command of the product itself."""

    @fresh.command()
    def demo() -> None:
        """The product's own ``demo``: an add-on of the same name does not replace it."""

    return typer.main.get_group(fresh)


def test_a_typer_app_becomes_a_command_with_subcommands_and_a_function_a_command() -> None:
    group = _fresh()
    mine = group.commands["demo"]
    add_add_ons(
        group,
        [
            EntryPoint("emulate", "ps2moodle_testkit.cli:emulate_app", GROUP),
            EntryPoint("demo", "ps2moodle_testkit.cli:demo", GROUP),
            EntryPoint("demo2", "ps2moodle_testkit.cli:demo", GROUP),
        ],
    )
    assert set(group.commands) == {"own", "demo", "emulate", "demo2"}
    assert group.commands["demo"] is mine, "the product's own command wins a name clash"
    emulate = group.commands["emulate"]
    assert isinstance(emulate, TyperGroup) and set(emulate.commands) == {"powerschool", "moodle"}
    assert "--seed" in {opt for param in group.commands["demo2"].params for opt in param.opts}


def test_a_broken_add_on_is_named_and_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    group = _fresh()
    add_add_ons(
        group,
        [
            EntryPoint("gone", "ps2moodle_no_such_module:main", GROUP),
            EntryPoint("odd", "reconciler.cli.plugins:GROUP", GROUP),
            EntryPoint("emulate", "ps2moodle_testkit.cli:emulate_app", GROUP),
        ],
    )
    assert set(group.commands) == {"own", "demo", "emulate"}, "the others still load"
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "ps2moodle: command 'gone' (ps2moodle_no_such_module:main) not loaded: "
        "No module named 'ps2moodle_no_such_module'",
        "ps2moodle: command 'odd' (reconciler.cli.plugins:GROUP) is neither a typer app nor a function",
    ]


def test_no_add_on_leaves_the_group_as_it_was() -> None:
    group = _fresh()
    add_add_ons(group, [])
    assert set(group.commands) == {"own", "demo"}
