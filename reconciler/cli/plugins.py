"""Commands that other installed packages add to ``ps2moodle``, such as the test kit's
``emulate`` and ``demo``.

A package lists them in the ``ps2moodle.commands`` entry-point group: the entry point's
name is the command's, its object either a typer app (a command with subcommands) or a
function (one command). The product names none of them, so it runs without them.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

import typer
from rich.text import Text

from reconciler.cli.app import err

#: The entry-point group a package adds commands through.
GROUP = "ps2moodle.commands"


def add_plugin_commands(app: typer.Typer, found: Iterable[EntryPoint] | None = None) -> None:
    """Add every command of ``found`` (default: the installed ones) to ``app``.

    One that cannot be loaded is named on stderr and left out, so a broken add-on never
    takes the product's own commands down with it."""
    for entry in entry_points(group=GROUP) if found is None else found:
        try:
            command = entry.load()
        except Exception as exc:  # whatever a third-party import raises, report it, do not crash
            err.print(Text(f"ps2moodle: command {entry.name!r} ({entry.value}) not loaded: {exc}", style="yellow"))
            continue
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=entry.name)
        elif callable(command):
            app.command(name=entry.name)(command)
        else:
            err.print(Text(f"ps2moodle: command {entry.name!r} ({entry.value}) is neither a typer app nor a function"))
