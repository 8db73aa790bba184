"""Fixtures of the end-to-end tests: loopback stacks that are closed when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from .harness import MakeStack, Stack, start_stack


@pytest.fixture
def make_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeStack]:
    with ExitStack() as resources:
        count = 0

        def make(template: str, *, scale: str = "tiny", seed: int = 1) -> Stack:
            nonlocal count
            count += 1
            return start_stack(template, tmp_path / f"stack-{count}", monkeypatch, resources, scale=scale, seed=seed)

        yield make
