"""Fixtures of the end-to-end tests: loopback stacks that are closed when the test ends, and
the demo district the day after (applied, then an everyday day of changes), in process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ps2moodle_testkit.demo.sandbox import Sandbox
from ps2moodle_testkit.demo.scenario import everyday_changes
from reconciler.pipeline import run_apply, run_plan

from .harness import MakeStack, Stack, start_stack

#: The demo's config: the district the in-process scenarios run on.
DISTRICT = Path(__file__).resolve().parents[2] / "examples" / "district.yaml"


@pytest.fixture
def make_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeStack]:
    with ExitStack() as resources:
        count = 0

        def make(template: str, *, scale: str = "tiny", seed: int = 1) -> Stack:
            nonlocal count
            count += 1
            return start_stack(template, tmp_path / f"stack-{count}", monkeypatch, resources, scale=scale, seed=seed)

        yield make


@pytest.fixture
def day_after(monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The demo district (generated, small) applied to an emulated Moodle, then one
    everyday day in PowerSchool (:func:`everyday_changes`): in process, no servers."""
    box = Sandbox.create(DISTRICT, scale="small", seed=1)
    for name, value in box.environment.items():
        monkeypatch.setenv(name, value)
    with box.moodle_client() as moodle:
        first = run_plan(box.config, moodle, box.roster_reader())
        assert run_apply(box.config, moodle, first.plan, first.live).failures == []
    everyday_changes(box)
    return box
