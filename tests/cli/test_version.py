"""`ps2moodle --version` prints the installed version and nothing else."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from reconciler.cli import app


def test_version_is_the_installed_distributions() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"ps2moodle {version('ps2moodle')}\n"
