"""Views of a plan document: text for terminals, Markdown for pull requests, an HTML page
for reviewers, JSON for tools.

Every renderer takes the plan *document* (:class:`reconciler.plan.model.PlanDocument`)
and nothing else, so what a person reviews is exactly what the saved plan holds. The JSON
view is the plan file's own text (:mod:`reconciler.plan.file`).
"""

from __future__ import annotations

from enum import Enum

from reconciler.plan.file import render_json
from reconciler.plan.model import PlanDocument
from reconciler.render.html import render_html
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text


class PlanFormat(str, Enum):
    """The ways a plan can be shown."""

    TEXT = "text"
    MARKDOWN = "markdown"
    HTML = "html"
    JSON = "json"


def render(doc: PlanDocument, fmt: PlanFormat, *, color: bool = False) -> str:
    """``doc`` in format ``fmt``; ``color`` (ANSI) applies to text only."""
    if fmt is PlanFormat.TEXT:
        return render_text(doc, color=color)
    if fmt is PlanFormat.MARKDOWN:
        return render_markdown(doc)
    if fmt is PlanFormat.HTML:
        return render_html(doc)
    return render_json(doc)


__all__ = ["PlanFormat", "render", "render_html", "render_json", "render_markdown", "render_text"]
