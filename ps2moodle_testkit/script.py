"""The test kit's scripts (``make bench``, ``make plans``, the PowerSchool read benchmark)
are typer apps like ``ps2moodle`` itself, with plain help and errors (they are read in logs)."""

import typer


def script() -> typer.Typer:
    """A one-command typer app, run as ``python -m ...``: its help is the command's docstring."""
    return typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
