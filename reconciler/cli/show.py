"""``ps2moodle show PLANFILE``: render a saved plan after verifying it was not altered."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, colour, err, out
from reconciler.cli.common import reported_errors
from reconciler.errors import PlanFileError
from reconciler.plan.file import read_plan
from reconciler.redact import redact_document
from reconciler.redactkey import redact_key
from reconciler.render import PlanFormat, render
from reconciler.render.people import render_people_text
from reconciler.render.text import TERMINAL_LINES, clip


class View(str, Enum):
    """How a plan's changes are arranged."""

    CHANGE = "change"
    PERSON = "person"


@app.command(short_help="Show a saved plan as text, Markdown, HTML or JSON.")
def show(
    plan_file: Annotated[Path, typer.Argument(help="A plan.json written by `ps2moodle plan`.", metavar="PLANFILE")],
    output: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = PlanFormat.TEXT,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="Replace names, emails and usernames with pseudonyms (the same in every plan with "
            "PS2MOODLE_REDACT_KEY set).",
        ),
    ] = False,
    by: Annotated[
        View, typer.Option("--by", help="change: by school and course; person: every change to each person.")
    ] = View.CHANGE,
    person: Annotated[
        str | None, typer.Option("--person", metavar="KEY|USERNAME", help="Only this person's changes (--by person).")
    ] = None,
) -> None:
    """Show a saved plan as text, Markdown (for a pull-request comment) or JSON.

    On a terminal a long text plan is cut after its first lines (the summary, the brakes
    and the verdict come first); the whole of it is in plan.txt beside the plan, or piped.
    Exit 1, without rendering anything, when the file is unreadable or was altered."""
    try:
        doc = read_plan(plan_file)
    except PlanFileError as exc:
        err.print(Text(str(exc)))
        raise typer.Exit(1) from None
    if redact:
        with reported_errors("show"):
            doc = redact_document(doc, redact_key())
    if person is not None or by is View.PERSON:
        if output is not PlanFormat.TEXT:
            err.print(Text("--by person shows text only; plan.md and plan.html hold it for reviews"))
            raise typer.Exit(1)
        text = render_people_text(doc, person=person)
    else:
        text = render(doc, output, color=output is PlanFormat.TEXT and colour(out))
    if output is PlanFormat.TEXT and out.is_terminal:
        beside = plan_file.with_name("plan.txt")
        text = clip(text, TERMINAL_LINES, str(beside) if by is View.CHANGE and beside.exists() else "the full output")
    # Written as is: rich would re-wrap and re-style a rendering that is already final.
    out.file.write(text)
    out.file.flush()
