"""Commands that other installed packages add to ``ps2moodle``, such as the test kit's
``emulate`` and ``demo``.

A package lists them in the ``ps2moodle.commands`` entry-point group: the entry point's
name is the command's, its object either a typer app (a command with subcommands) or a
function (one command). The product names none of them, so it runs without them. They are
loaded when typer builds the command line to run it, not when ``reconciler.cli`` is
imported, so an add-on may import the product in any order.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer
from typer.core import TyperGroup

#: The entry-point group a package adds commands through.
GROUP = "ps2moodle.commands"


def add_add_ons(group: TyperGroup, found: Iterable[EntryPoint] | None = None) -> None:
    """Add the commands of ``found`` (default: the installed ones) to ``group``; its own
    commands win a name clash.

    One that cannot be loaded is named on stderr and left out, so a broken add-on never
    takes the product's own commands down with it."""
    holder = typer.Typer(rich_markup_mode=None)  # plain help, as the product's own commands
    for entry in entry_points(group=GROUP) if found is None else found:
        try:
            command = entry.load()
        except Exception as exc:  # whatever a third-party import raises, report it, do not crash
            typer.echo(f"ps2moodle: command {entry.name!r} ({entry.value}) not loaded: {exc}", err=True)
            continue
        if isinstance(command, typer.Typer):
            holder.add_typer(command, name=entry.name)
        elif callable(command):
            holder.command(name=entry.name)(command)
        else:
            typer.echo(
                f"ps2moodle: command {entry.name!r} ({entry.value}) is neither a typer app nor a function", err=True
            )
    for name, built in typer.main.get_group(holder).commands.items():
        group.commands.setdefault(name, built)


class WithAddOns(TyperGroup):
    """The ``ps2moodle`` command group: its own commands and the installed add-ons'."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_add_ons(self)
