"""What the commands that talk to PowerSchool and Moodle share: loading the config, turning
errors into one clear line and an exit code, and logging setup."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer
from rich.text import Text

from reconciler.cli.app import err
from reconciler.cli.logs import raise_to
from reconciler.config.loader import load_config
from reconciler.config.model import Config, Connection
from reconciler.errors import ConfigError, ReconcilerError

#: Exit codes (documented in the README).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_PARTIAL = 3


def load_or_exit(path: Path) -> Config:
    """The config at ``path``; every problem printed, located, and exit 1 when invalid."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            err.print(Text(str(issue)))
        err.print(Text(f"{path}: invalid config, nothing was read or changed", style="bold red"))
        raise typer.Exit(EXIT_ERROR) from None


def choose_connection(config: Config, name: str | None, path: Path) -> Connection:
    """The connection named ``name``, or the only one when none is named; otherwise exit 1
    naming the connections the config has."""
    names = [c.name for c in config.connections]
    if name is None and len(names) == 1:
        return config.connections[0]
    if name in names:
        return config.connection(name)
    what = "name one with --connection" if name is None else f"no connection named {name!r}"
    err.print(Text(f"{path}: {what} (it has: {', '.join(names)})", style="red"))
    raise typer.Exit(EXIT_ERROR)


@contextmanager
def reported_errors(what: str) -> Iterator[None]:
    """Turn any of the tool's own errors into one readable message and exit 1 (no traceback)."""
    try:
        yield
    except ReconcilerError as exc:
        err.print(Text(f"{what} failed: {exc}", style="red"))
        raise typer.Exit(EXIT_ERROR) from None


def setup_logging(verbose: bool) -> None:
    """A command's own ``-v``: progress notes on stderr, as the global ``-v`` gives (the
    global options set the log up; this only makes it more detailed). Never payloads."""
    if verbose:
        raise_to(logging.INFO)


@contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """While inside, SIGINT or SIGTERM calls ``stop`` with the signal's name (the work
    winds down and records what it did); a second one ends the process at once (exit 130)."""
    received: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if received:
            err.print(Text(f"{name} again: stopping now; calls in flight are not recorded", style="bold red"))
            os._exit(130)
        received.append(signum)
        err.print(Text(f"{name}: stopping after the calls in flight (again to stop at once)", style="yellow"))
        stop(f"interrupted by {name}")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
