"""Progress on long reads: on a terminal only, never with -q, gone when done."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from reconciler.cli.app import options
from reconciler.cli.progress import bar, staged, stages


@pytest.fixture(autouse=True)
def loud() -> Iterator[None]:
    yield
    options.quiet = False


def _read(console: Console) -> str:
    def reader(connection: Any) -> Any:
        return f"roster of {connection.name}"

    class Town:
        name = "town"

    with stages(console) as stage:
        stage("checking Moodle")
        assert staged(reader, stage)(Town()) == "roster of town"  # type: ignore[arg-type]
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_a_terminal_sees_each_read_named() -> None:
    shown = _read(Console(file=io.StringIO(), force_terminal=True, width=80))
    for stage in ("checking Moodle", "reading PowerSchool town", "reading Moodle"):
        assert stage in shown


def test_quiet_or_not_a_terminal_shows_nothing() -> None:
    assert _read(Console(file=io.StringIO(), force_terminal=False)) == ""
    options.quiet = True
    assert _read(Console(file=io.StringIO(), force_terminal=True)) == ""


def test_the_bar_follows_the_same_rules() -> None:
    assert not bar(Console(file=io.StringIO(), force_terminal=True)).disable
    options.quiet = True
    assert bar(Console(file=io.StringIO(), force_terminal=True)).disable
    options.quiet = False
    assert bar(Console(file=io.StringIO(), force_terminal=False)).disable
