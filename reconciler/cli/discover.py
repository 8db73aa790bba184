"""``ps2moodle discover``: print a starter ``school_settings`` block read from PowerSchool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, out
from reconciler.cli.common import choose_connection, load_or_exit, reported_errors, setup_logging
from reconciler.cli.progress import stages
from reconciler.powerschool.discovery import discover as discover_settings


@app.command(short_help="Print a school_settings block read from PowerSchool.")
def discover(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="The config file.")],
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection", metavar="NAME", help="The connection to read (needed when the config has several)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress notes on stderr.")] = False,
) -> None:
    """Read PowerSchool and print its schools, terms and courses as a school_settings block to paste."""
    setup_logging(verbose)
    config = load_or_exit(config_path)
    chosen = choose_connection(config, connection, config_path)
    with reported_errors("discover"), stages() as stage:
        stage(f"reading PowerSchool {chosen.name}")
        text = discover_settings(chosen)
    out.print(Text(text), end="")
