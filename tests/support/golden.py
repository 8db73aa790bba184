"""Where the golden recordings of a real Moodle 4.5 are, and how to read them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Where to look: CI lays shared/ beside the clone (<clone>/../shared/golden/moodle).
CANDIDATES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "golden" / "moodle",
    Path("/work/shared/golden/moodle"),
)


def find_golden_moodle() -> Path | None:
    """The recordings directory (``PS2M_GOLDEN_MOODLE`` when set, else the first candidate
    holding the production sequence), if present."""
    override = os.environ.get("PS2M_GOLDEN_MOODLE")
    for path in (Path(override),) if override else CANDIDATES:
        if (path / "production" / "_sequence.jsonl").is_file():
            return path
    return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of one .jsonl file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
