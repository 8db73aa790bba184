"""The files ``ps2moodle plan`` leaves for review: plan.json and its two renderings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PlanFileError
from reconciler.plan.file import write_atomically, write_plan
from reconciler.plan.model import PlanDocument
from reconciler.redact import redact_document
from reconciler.render.layout import group_changes
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

#: Where ``plan`` writes unless told otherwise.
DEFAULT_OUT_DIR = Path("plan-output")


@dataclass(frozen=True, slots=True)
class PlanPaths:
    """The files :func:`save_plan` wrote, and the document sealed as it was written."""

    document: PlanDocument
    json: Path
    text: Path
    markdown: Path


def save_plan(
    doc: PlanDocument, out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR, *, redact: bool = False
) -> PlanPaths:
    """Write ``plan.json`` (always complete: it is what apply runs), sealing ``doc``, then
    ``plan.txt`` and ``plan.md`` next to it; ``redact`` pseudonymizes personal data in the
    two renderings. Each file is replaced atomically."""
    out = Path(out_dir)
    json_path, text_path, markdown_path = out / "plan.json", out / "plan.txt", out / "plan.md"
    try:
        out.mkdir(parents=True, exist_ok=True)
        sealed = write_plan(doc, json_path)
        view = redact_document(sealed) if redact else sealed
        groups = group_changes(view.changes)  # both renderings group alike
        text, markdown = render_text(view, groups=groups), render_markdown(view, groups=groups)
        write_atomically(text_path, lambda file: file.write(text.encode("utf-8")))
        write_atomically(markdown_path, lambda file: file.write(markdown.encode("utf-8")))
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan to {out}: {exc.strerror}") from None
    return PlanPaths(sealed, json_path, text_path, markdown_path)
