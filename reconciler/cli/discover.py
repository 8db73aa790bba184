"""``ps2moodle discover``: print a starter ``school_settings`` block read from PowerSchool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.cli.common import EXIT_ERROR, load_or_exit, reported_errors, setup_logging
from reconciler.powerschool.discovery import discover as discover_settings


@app.command()
def discover(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="The config file.")],
    connection: Annotated[str, typer.Option("--connection", "-c", help="Name of the connection to read.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress notes on stderr.")] = False,
) -> None:
    """Read PowerSchool and print its schools, terms and courses as a school_settings block to paste."""
    setup_logging(verbose)
    config = load_or_exit(config_path)
    names = [c.name for c in config.connections]
    if connection not in names:
        err.print(
            Text(f"no connection named {connection!r} in {config_path} (it has: {', '.join(names)})", style="red")
        )
        raise typer.Exit(EXIT_ERROR)
    with reported_errors("discover"):
        text = discover_settings(config.connection(connection))
    out.print(Text(text), end="")
