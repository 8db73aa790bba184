"""``ps2moodle doctor``: is everything the config points at ready? Exit 0 if so, 1 if not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.config.loader import load_config
from reconciler.config.model import Config, Connection
from reconciler.errors import ReconcilerError
from reconciler.moodle.checks import Finding, Level, check_moodle
from reconciler.moodle.client import MoodleClient
from reconciler.powerschool.access import PluginAccess, plugin_access
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.powerschool.plugin import connection_fields
from reconciler.powerschool.source import read_schools
from reconciler.words import count

_MARK = {Level.OK: ("ok", "green"), Level.WARNING: ("warning", "yellow"), Level.PROBLEM: ("PROBLEM", "red")}


@app.command(short_help="Check that Moodle and PowerSchool are ready.")
def doctor(
    config_file: Annotated[Path, typer.Argument(help="The config file.", show_default=True, metavar="CONFIG")] = Path(
        "ps2moodle.yaml"
    ),
) -> None:
    """Check the Moodle token, site, service functions, max_input_vars, auth methods,
    roles and profile fields the config needs, and each PowerSchool connection's
    credentials and school numbers. Exit 0 when ready, 1 on any problem."""
    try:
        config = load_config(config_file)
    except ReconcilerError as exc:
        err.print(Text(str(exc)))
        raise typer.Exit(1) from None
    findings: list[Finding] = []
    sections = [(f"Moodle {config.moodle.url}", moodle_findings(config))]
    sections += [(f"PowerSchool {c.name} ({c.powerschool.url})", powerschool_findings(c)) for c in config.connections]
    for title, found in sections:
        out.print(Text(title, style="bold"))
        for finding in found:
            _show(finding)
        findings += found
    problems = sum(1 for f in findings if f.level is Level.PROBLEM)
    warnings = sum(1 for f in findings if f.level is Level.WARNING)
    out.print(Text(f"{count(problems, 'problem')}, {count(warnings, 'warning')}"))
    raise typer.Exit(1 if problems else 0)


def moodle_findings(config: Config) -> list[Finding]:
    """The Moodle checks, or the one problem that stops them (an unresolvable token)."""
    try:
        client = MoodleClient.from_settings(config.moodle)
    except ReconcilerError as exc:
        return [Finding(Level.PROBLEM, "Moodle token", str(exc))]
    with client:
        return check_moodle(client, config)


def powerschool_findings(connection: Connection) -> list[Finding]:
    """Whether the connection's credentials work, its school numbers exist and its plugin
    may read every field the sync reads."""
    try:
        with PowerSchoolClient.from_settings(connection.powerschool) as client:
            schools = read_schools(client)
            access = plugin_access(client, connection_fields(connection))
    except ReconcilerError as exc:
        fix = "check powerschool.url, client_id and client_secret (System > System Settings > Plugin Management)"
        return [Finding(Level.PROBLEM, "Credentials", str(exc), fix)]
    names = {s.number: s.name for s in schools}
    found = [Finding(Level.OK, "Credentials", f"accepted; the district has {count(len(schools), 'school')}")]
    missing = [n for n in connection.schools if n not in names]
    if missing:
        known = ", ".join(f"{n} {name}" for n, name in sorted(names.items()))
        found.append(
            Finding(
                Level.PROBLEM,
                "Schools",
                f"no school numbered {', '.join(map(str, missing))} in PowerSchool",
                f"use school numbers PowerSchool has: {known}",
            )
        )
    else:
        listed = ", ".join(f"{n} {names[n]}" for n in connection.schools)
        found.append(Finding(Level.OK, "Schools", listed))
    return [*found, *_plugin_findings(access)]


def _plugin_findings(access: PluginAccess) -> list[Finding]:
    missing, unknown = access.missing, access.unknown
    found = [
        Finding(Level.WARNING, "Plugin fields", f"table {t} could not be checked: {why}") for t, why in access.unchecked
    ]
    if unknown:
        found.append(
            Finding(
                Level.WARNING,
                "Plugin fields",
                f"not fields of their PowerSchool table: {', '.join(unknown)}",
                "check the custom_fields and section_migration.field the config names",
            )
        )
    if missing:
        found.append(
            Finding(
                Level.PROBLEM,
                "Plugin fields",
                f"the plugin may not read {count(len(missing), 'field')} the sync reads: {', '.join(missing)}",
                "install the plugin `ps2moodle powerschool-plugin CONFIG` writes (it requests exactly these)",
            )
        )
    elif not (access.unchecked or unknown):
        found.append(Finding(Level.OK, "Plugin fields", "the plugin may read every field the sync reads"))
    return found


def _show(finding: Finding) -> None:
    label, colour = _MARK[finding.level]
    lines = finding.detail.splitlines() or [""]
    out.print(Text.assemble("  ", (f"{label:<8}", colour), f"{finding.subject}: {lines[0]}"))
    for line in lines[1:]:
        out.print(Text(f"            {line}"))
    if finding.fix and finding.level is not Level.OK:
        out.print(Text(f"            fix: {finding.fix}", style="dim"))
