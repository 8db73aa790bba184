"""``ps2moodle validate``: check config files offline and report every problem, located."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, out
from reconciler.config.document import parse_document
from reconciler.config.issues import ConfigIssue
from reconciler.config.loader import check_config, load_config
from reconciler.coverage import unmatched_settings
from reconciler.errors import ReconcilerError
from reconciler.powerschool.source import fetch_roster
from reconciler.words import count


class Format(str, Enum):
    """How problems are printed."""

    TEXT = "text"  # file:line:col: path: message, for people
    JSON = "json"  # one list of issue objects, for scripts
    GITHUB = "github"  # workflow commands that annotate the pull request's diff


@app.command(short_help="Check config files (offline).")
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Config files to check.", show_default="ps2moodle.yaml", metavar="FILE..."),
    ] = None,
    output: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TEXT,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Also read PowerSchool (with the config's credentials) and report configured terms and courses "
            "that match nothing there.",
        ),
    ] = False,
) -> None:
    """Check config files without contacting PowerSchool or Moodle (with --strict: reading
    PowerSchool too). Exit 0 when all are valid, 1 otherwise."""
    results = {str(path): check_config(path) for path in files or [Path("ps2moodle.yaml")]}
    if strict:
        for file, found in results.items():
            if not found:
                found += _against_powerschool(Path(file))
    issues = [issue for found in results.values() for issue in found]
    if output is Format.JSON:
        out.print(Text(json.dumps([issue.to_dict() for issue in issues], indent=2, ensure_ascii=False)))
    else:
        for file, found in results.items():
            if not found:
                out.print(Text.assemble(file, ": ", ("ok", "green")))
            for issue in found:
                out.print(Text(_github(issue) if output is Format.GITHUB else str(issue)))
        out.print(Text(_summary(results)))
    raise typer.Exit(1 if issues else 0)


def _against_powerschool(path: Path) -> list[ConfigIssue]:
    """Settings of a valid config that select nothing in PowerSchool, located; or one
    issue saying why PowerSchool could not be read."""
    config = load_config(path)
    try:
        rosters = {c.name: fetch_roster(c) for c in config.connections}
    except ReconcilerError as exc:
        return [ConfigIssue(str(path), 0, 0, "", f"--strict: cannot read PowerSchool: {exc}")]
    doc, _ = parse_document(path.read_text(encoding="utf-8-sig"), str(path))
    assert doc is not None  # the file was just loaded
    return [doc.issue(u.path, u.message, key=u.key) for u in unmatched_settings(config, rosters)]


def _summary(results: dict[str, list[ConfigIssue]]) -> str:
    files = len(results)
    bad = sum(1 for found in results.values() if found)
    if not bad:
        return f"{count(files, 'config')} valid"
    problems = sum(len(found) for found in results.values())
    return f"{count(problems, 'problem')} in {bad} of {count(files, 'config')}"


def _github(issue: ConfigIssue) -> str:
    """A GitHub Actions ``::error`` workflow command, escaped as the runner expects."""
    props = f"file={_escape(issue.file, prop=True)}"
    if issue.line:
        props += f",line={issue.line},col={issue.col}"
    text = f"{issue.path}: {issue.message}" if issue.path else issue.message
    return f"::error {props},title=ps2moodle config::{_escape(text, prop=False)}"


def _escape(value: str, *, prop: bool) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if prop else value
