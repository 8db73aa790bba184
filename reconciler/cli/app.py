"""The typer application and the helpers every command shares."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from reconciler import __version__
from reconciler.cli.plugins import WithAddOns

app = typer.Typer(
    name="ps2moodle",
    cls=WithAddOns,
    help="PowerSchool to Moodle as reviewed code: validate, plan, apply.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Standard output; colour only on a terminal.
out = Console(highlight=False, soft_wrap=True)
#: Standard error, for diagnostics.
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"ps2moodle {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """PowerSchool to Moodle as reviewed code: validate, plan, apply."""
    # A callback keeps every command a subcommand (`ps2moodle validate`), even while only one exists.
