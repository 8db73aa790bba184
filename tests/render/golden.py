"""Golden files: exact renderer output for the sample plan, kept in ``golden/``.

Regenerate after an intended change with::

    PS2MOODLE_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/render

then review the diff of ``tests/render/golden/`` like any other change.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, actual: str) -> None:
    """Assert ``actual`` equals the golden file ``name`` (or rewrite it when regenerating)."""
    path = GOLDEN / name
    if os.environ.get("PS2MOODLE_REGENERATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (
        f"{name} differs; if intended: PS2MOODLE_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/render"
    )
