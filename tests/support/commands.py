"""Every command of ``ps2moodle``, found by walking the typer app (add-ons included)."""

from __future__ import annotations

from collections.abc import Iterator

import typer
from typer.core import TyperGroup

from reconciler.cli import app

Command = typer.main.TyperCommand | TyperGroup


def root() -> TyperGroup:
    group = typer.main.get_group(app)
    assert isinstance(group, TyperGroup)
    return group


def walk(group: TyperGroup | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    """``(path, command)`` for the root and every command and group under it."""
    group = group or root()
    yield path, group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, TyperGroup):
            yield from walk(command, (*path, name))
        else:
            yield (*path, name), command  # type: ignore[misc]


def leaves() -> list[tuple[str, ...]]:
    """The path of every command that runs something (not a group)."""
    return [path for path, command in walk() if not isinstance(command, TyperGroup)]
