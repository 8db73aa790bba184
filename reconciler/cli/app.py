"""The typer application, its global options and the consoles every command prints to."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer
from rich.console import Console

from reconciler import __version__
from reconciler.cli.logs import LogFormat, configure
from reconciler.cli.plugins import WithAddOns

app = typer.Typer(
    name="ps2moodle",
    cls=WithAddOns,
    help="PowerSchool to Moodle as reviewed code: validate, plan, apply.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help shows a <bool> metavar on every flag and keeps a
    # docstring's line breaks mid-sentence in the command list.
    rich_markup_mode=None,
)

#: Standard output; colour only on a terminal, and never with NO_COLOR or --no-color.
out = Console(highlight=False, soft_wrap=True)
#: Standard error, for diagnostics and progress.
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Options:
    """What the global options chose for this run."""

    quiet = False


options = _Options()


def colour(console: Console) -> bool:
    """Whether ``console`` writes colour (a terminal, and colour not turned off)."""
    return console.color_system is not None


def use_colour(enabled: bool) -> None:
    """Colour on both consoles as detected (``enabled``), or no styling at all. rich's own
    NO_COLOR support drops colours but keeps bold and dim, which are escape codes too."""
    for console in (out, err):
        console.no_color = not enabled
        # rich has no public setter; None is what it uses for "not a terminal".
        console._color_system = console._detect_color_system() if enabled else None


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"ps2moodle {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Progress notes on stderr.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Errors only on stderr: no warnings, no progress bars.")
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json: one JSON object per line on stderr.")
    ] = LogFormat.TEXT,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour or styling in the output (as does NO_COLOR=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """PowerSchool to Moodle as reviewed code: validate, plan, apply.

    The options above go before the command (ps2moodle -q plan CONFIG); each command's own
    come after it (ps2moodle plan --help)."""
    if verbose and quiet:
        raise typer.BadParameter("give --verbose or --quiet, not both", param_hint="-v/-q")
    use_colour(not no_color and not os.environ.get("NO_COLOR"))
    options.quiet = quiet
    configure(logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING, log_format)
