"""The typer application and the helpers every command shares."""

from __future__ import annotations

import typer
from rich.console import Console

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


@app.callback()
def main() -> None:
    """PowerSchool to Moodle as reviewed code: validate, plan, apply."""
    # A callback keeps every command a subcommand (`ps2moodle validate`), even while only one exists.
