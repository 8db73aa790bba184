"""Progress on stderr while a command reads or writes for long: only on a terminal, never
with ``-q``, gone once done (what stays on screen is the command's own output)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from reconciler.cli.app import err, options
from reconciler.config.model import Connection
from reconciler.pipeline import RosterReader
from reconciler.powerschool.roster import Roster

#: Says what is being done now: ``stage("reading Moodle")``.
Stage = Callable[[str], None]


def _shown(console: Console) -> bool:
    return console.is_terminal and not options.quiet


def bar(console: Console = err) -> Progress:
    """A bar for work whose size is known (apply's changes)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not _shown(console),
    )


@contextmanager
def stages(console: Console = err) -> Iterator[Stage]:
    """A spinner naming the read in progress and how long it has taken, for reads whose
    size is not known until they end."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not _shown(console),
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda what: progress.update(task, description=what, refresh=True)


def staged(reader: RosterReader, stage: Stage) -> RosterReader:
    """``reader`` naming each connection it reads; once one is read, planning goes on to
    Moodle unless another connection follows (which names itself at once)."""

    def read(connection: Connection) -> Roster:
        stage(f"reading PowerSchool {connection.name}")
        roster = reader(connection)
        stage("reading Moodle")
        return roster

    return read
