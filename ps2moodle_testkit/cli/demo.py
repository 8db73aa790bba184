"""``ps2moodle demo``: the whole job on an emulated district, start to finish, in process.

It plans against an empty emulated Moodle, applies, plans again (no changes), then makes
three everyday PowerSchool changes (a student moves section, a teacher is added, a student
leaves) and shows the plan that follows, applies it, and plans once more. The plans are
written to ``plan-output/demo/`` like any other.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.rule import Rule
from rich.text import Text

from ps2moodle_testkit.demo import EXAMPLES
from ps2moodle_testkit.demo.sandbox import Sandbox
from ps2moodle_testkit.demo.scenario import everyday_changes
from reconciler.apply import Stop
from reconciler.cli.app import colour, out
from reconciler.cli.common import reported_errors
from reconciler.lock import apply_lock
from reconciler.moodle.client import MoodleClient
from reconciler.pipeline import PlanRun, apply_audited, audit_path, plan_document, run_plan
from reconciler.render import PlanFormat, render
from reconciler.render.files import PlanPaths, save_plan
from reconciler.render.text import clip

#: The example config the demo runs (shipped inside the package).
DEMO_CONFIG = EXAMPLES / "district.yaml"
#: Plan lines shown on screen before pointing at the full file.
SHOWN_LINES = 30


def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where the plans go.")] = Path("plan-output/demo"),
    seed: Annotated[int, typer.Option(help="Seed of the generated district.")] = 1,
) -> None:
    """Run plan, apply and re-plan on emulated systems.

    The district and the Moodle site are emulated in process: nothing real is touched."""
    started = time.monotonic()
    with reported_errors("demo"):
        sandbox = Sandbox.create(DEMO_CONFIG, seed=seed)
        sandbox.config = replace(sandbox.config, audit_log=str(out_dir / "audit.jsonl"))
        os.environ.update(sandbox.environment)
        moodle = sandbox.moodle_client()
        _intro(sandbox)

        _step("1. Plan against an empty Moodle")
        first = _plan(sandbox, moodle, out_dir / "1-first-plan", lines=SHOWN_LINES)
        _step("2. Apply it")
        audit = _apply(sandbox, moodle, first)
        _step("3. Plan again: Moodle now matches PowerSchool")
        _plan(sandbox, moodle, out_dir / "3-no-changes")

        _step("4. Three changes in PowerSchool, and the plan that follows")
        for line in everyday_changes(sandbox):
            out.print(Text(f"  - {line}"))
        after = _plan(sandbox, moodle, out_dir / "4-after-changes")
        _step("5. Apply, and plan once more")
        _apply(sandbox, moodle, after)
        _plan(sandbox, moodle, out_dir / "5-converged")
    calls = moodle.stats.total
    out.print(Text(f"\nDemo finished in {time.monotonic() - started:.1f} s ({calls} Moodle web-service calls)."))
    out.print(Text(f"Plans and their renderings are in {out_dir}/; every write is in the audit log {audit}."))


def _intro(sandbox: Sandbox) -> None:
    district = next(iter(sandbox.districts.values()))
    out.print(Text(f"ps2moodle demo: {district.name} (generated, seed {district.seed})", style="bold"))
    out.print(
        Text(
            f"  PowerSchool (emulated): {len(district.school_numbers)} schools, {len(district.students)} students, "
            f"{len(district.users)} staff, {len(district.sections)} sections, {len(district.enrolments)} enrolments"
        )
    )
    out.print(Text("  Moodle (emulated): a fresh Moodle 4.5 site"))
    out.print(Text(f"  Config: {DEMO_CONFIG.name} (examples/district.yaml)"))


def _step(title: str) -> None:
    out.print(Rule(title, align="left"))


@dataclass(frozen=True)
class _Planned:
    """A planning run and the plan file it saved."""

    run: PlanRun
    paths: PlanPaths


def _plan(sandbox: Sandbox, moodle: MoodleClient, folder: Path, *, lines: int | None = None) -> _Planned:
    run = run_plan(sandbox.config, moodle, sandbox.roster_reader())
    doc = plan_document(sandbox.config, run)
    paths = save_plan(doc, folder)
    text = render(paths.document, PlanFormat.TEXT, color=colour(out))
    out.file.write(text if lines is None else clip(text, lines, str(paths.text)))
    out.file.flush()
    return _Planned(run, paths)


def _apply(sandbox: Sandbox, moodle: MoodleClient, planned: _Planned) -> Path:
    """Apply as ``ps2moodle apply`` does: holding the apply lock, every write recorded in
    the audit log, whose path it returns."""
    run, paths = planned.run, planned.paths
    if not run.verdict.ok:
        out.print(Text("Not applied: the safety checks refused the plan.", style="bold red"))
        raise typer.Exit(1)
    before = moodle.stats.total
    started = time.monotonic()
    stop = Stop()
    with apply_lock(moodle, wait_s=0.0, on_lost=stop):
        report = apply_audited(
            sandbox.config, moodle, run.plan, run.live, paths.document, plan_file=paths.json, stop=stop
        )
    out.print(
        Text(
            f"Applied {len(report.results) - len(report.failures)} of {len(report.results)} changes in "
            f"{time.monotonic() - started:.1f} s with {moodle.stats.total - before} web-service calls."
        )
    )
    for result in report.failures:
        out.print(Text(f"  {result.status.value}: {result.change.key}: {result.error}", style="red"))
    audit = audit_path(sandbox.config, paths.json.parent)
    out.print(Text(f"Every write is recorded in the audit log {audit}."))
    return audit
