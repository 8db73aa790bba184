"""``ps2moodle doctor``: is everything the config points at ready? Exit 0 if so, 1 if not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.config.loader import load_config
from reconciler.config.model import Config
from reconciler.errors import ReconcilerError
from reconciler.moodle.checks import Finding, Level, check_moodle
from reconciler.moodle.client import MoodleClient

_MARK = {Level.OK: ("ok", "green"), Level.WARNING: ("warning", "yellow"), Level.PROBLEM: ("PROBLEM", "red")}


@app.command()
def doctor(
    config_file: Annotated[Path, typer.Argument(help="The config file.", show_default=True, metavar="CONFIG")] = Path(
        "ps2moodle.yaml"
    ),
) -> None:
    """Check the Moodle token, site, service functions, auth methods, roles and profile
    fields the config needs. Exit 0 when ready, 1 on any problem."""
    try:
        config = load_config(config_file)
    except ReconcilerError as exc:
        err.print(Text(str(exc)))
        raise typer.Exit(1) from None
    findings = moodle_findings(config)
    out.print(Text(f"Moodle {config.moodle.url}", style="bold"))
    for finding in findings:
        _show(finding)
    problems = sum(1 for f in findings if f.level is Level.PROBLEM)
    warnings = sum(1 for f in findings if f.level is Level.WARNING)
    out.print(Text(f"{problems} problem{'s' * (problems != 1)}, {warnings} warning{'s' * (warnings != 1)}"))
    raise typer.Exit(1 if problems else 0)


def moodle_findings(config: Config) -> list[Finding]:
    """The Moodle checks, or the one problem that stops them (an unresolvable token)."""
    try:
        client = MoodleClient.from_settings(config.moodle)
    except ReconcilerError as exc:
        return [Finding(Level.PROBLEM, "Moodle token", str(exc))]
    with client:
        return check_moodle(client, config)


def _show(finding: Finding) -> None:
    label, colour = _MARK[finding.level]
    lines = finding.detail.splitlines() or [""]
    out.print(Text.assemble("  ", (f"{label:<8}", colour), f"{finding.subject}: {lines[0]}"))
    for line in lines[1:]:
        out.print(Text(f"            {line}"))
    if finding.fix and finding.level is not Level.OK:
        out.print(Text(f"            fix: {finding.fix}", style="dim"))
