"""The files ``ps2moodle plan`` leaves for review: plan.json and its three renderings."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PlanFileError
from reconciler.plan.file import write_atomically, write_plan
from reconciler.plan.model import PlanDocument
from reconciler.redact import redact_document
from reconciler.render.html import html_page
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from reconciler.render.view import Layout
from reconciler.speed import gc_paused

#: Where ``plan`` writes unless told otherwise.
DEFAULT_OUT_DIR = Path("plan-output")


@dataclass(frozen=True, slots=True)
class PlanPaths:
    """The files :func:`save_plan` wrote, and the document sealed as it was written."""

    document: PlanDocument
    json: Path
    text: Path
    markdown: Path
    html: Path


@gc_paused
def save_plan(
    doc: PlanDocument,
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    *,
    redact: bool = False,
    redact_key: bytes | None = None,
) -> PlanPaths:
    """Write ``plan.json`` (always complete: it is what apply runs), sealing ``doc``, then
    ``plan.txt``, ``plan.md`` and ``plan.html`` next to it; ``redact`` pseudonymizes personal
    data in the three renderings (the same in every plan with ``redact_key``). Each file is
    replaced atomically."""
    out = Path(out_dir)
    json_path, text_path, markdown_path = out / "plan.json", out / "plan.txt", out / "plan.md"
    html_path = out / "plan.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        sealed = write_plan(doc, json_path)
        view = redact_document(sealed, redact_key) if redact else sealed
        layout = Layout(view)  # worked out once for the three renderings
        renderings: list[tuple[Path, Callable[[], bytes]]] = [
            (text_path, lambda: render_text(view, layout=layout).encode("utf-8")),
            (markdown_path, lambda: render_markdown(view, layout=layout).encode("utf-8")),
            (html_path, lambda: html_page(view, layout=layout)),
        ]
        for path, render in renderings:
            _write_bytes(path, render())  # one rendering held at a time
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan to {out}: {exc.strerror}") from None
    return PlanPaths(sealed, json_path, text_path, markdown_path, html_path)


def _write_bytes(path: Path, data: bytes) -> None:
    write_atomically(path, lambda file: file.write(data))
