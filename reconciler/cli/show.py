"""``ps2moodle show PLANFILE``: render a saved plan after verifying it was not altered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, colour, err, out
from reconciler.errors import PlanFileError
from reconciler.plan.file import read_plan
from reconciler.redact import redact_document
from reconciler.render import PlanFormat, render


@app.command(short_help="Show a saved plan as text, Markdown or JSON.")
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan.json written by `ps2moodle plan`.", metavar="PLANFILE")],
    output: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.TEXT,
    redact: Annotated[
        bool, typer.Option("--redact", help="Replace names, emails and usernames with stable pseudonyms.")
    ] = False,
) -> None:
    """Show a saved plan as text, Markdown (for a pull-request comment) or JSON.

    Exit 1, without rendering anything, when the file is unreadable or was altered."""
    try:
        doc = read_plan(plan_file)
    except PlanFileError as exc:
        err.print(Text(str(exc)))
        raise typer.Exit(1) from None
    if redact:
        doc = redact_document(doc)
    # Written as is: rich would re-wrap and re-style a rendering that is already final.
    out.file.write(render(doc, output, color=output is PlanFormat.TEXT and colour(out)))
    out.file.flush()
