"""``ps2moodle plan`` and ``ps2moodle apply``: compute a reviewable plan; apply exactly it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from reconciler.apply import ApplyReport, Status
from reconciler.cli.app import app, err, out
from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    load_or_exit,
    reported_errors,
    setup_logging,
)
from reconciler.config.model import Config
from reconciler.errors import PlanFileError
from reconciler.model import State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import Scope, apply_audited, plan_document, read_for_apply, run_plan
from reconciler.plan.file import read_plan, seal
from reconciler.plan.model import Plan, PlanDocument
from reconciler.plan.stale import find_stale
from reconciler.powerschool.source import fetch_roster
from reconciler.redact import redact_document
from reconciler.render import PlanFormat, render
from reconciler.render.files import DEFAULT_OUT_DIR, save_plan
from reconciler.render.text import TERMINAL_LINES, clip

ConfigArg = Annotated[Path, typer.Argument(help="The config file.", metavar="CONFIG")]
ScopeOpt = Annotated[Scope, typer.Option("--scope", help="all, or only users (and cohorts), or only courses.")]
UnsafeOpt = Annotated[
    str | None,
    typer.Option(
        "--allow-unsafe",
        metavar="REASON",
        help="Let a plan the safety checks refuse go ahead, for this plan only; the reason is recorded.",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Progress notes on stderr.")]


@app.command()
def plan(
    config_path: ConfigArg = Path("ps2moodle.yaml"),
    scope: ScopeOpt = Scope.ALL,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Where plan.json, plan.txt, plan.md and plan.html go.")
    ] = DEFAULT_OUT_DIR,
    fmt: Annotated[PlanFormat, typer.Option("--format", "-f", help="What to print.")] = PlanFormat.TEXT,
    redact: Annotated[bool, typer.Option("--redact", help="Pseudonyms for names and emails in what is shown.")] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0 with no changes, 2 with changes, 1 on error.")
    ] = False,
    allow_unsafe: UnsafeOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read PowerSchool and Moodle, and write the plan that would make Moodle match (changes nothing)."""
    setup_logging(verbose)
    config = load_or_exit(config_path)
    with reported_errors("plan"), _moodle(config) as moodle:
        run = run_plan(config, moodle, fetch_roster, scope=scope, override_reason=allow_unsafe)
    with reported_errors("plan"):
        paths = save_plan(plan_document(config, run), out_dir, redact=redact)
    _print(paths.document, fmt, redact=redact, rest=paths.text)
    err.print(
        Text(f"plan written to {paths.json} (review {paths.markdown.name}, {paths.html.name} or {paths.text.name})")
    )
    if not run.verdict.ok:
        _refused(run.verdict.violations)
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_CHANGES if detailed_exitcode and not run.plan.is_empty else EXIT_OK)


@app.command()
def apply(
    target: Annotated[
        Path, typer.Argument(help="A saved plan.json to apply exactly, or a config to plan and apply now.")
    ] = Path("ps2moodle.yaml"),
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The config the saved plan was made from.")
    ] = Path("ps2moodle.yaml"),
    scope: ScopeOpt = Scope.ALL,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Apply without asking (pipelines).")] = False,
    allow_unsafe: UnsafeOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Apply a reviewed plan file exactly, refusing it when stale or altered; or, given a
    config, plan, show the plan and ask before applying. Exit 0 all applied, 1 error before
    any change, 3 partially applied."""
    setup_logging(verbose)
    if target.suffix == ".json":
        _apply_saved(target, config_path)
    else:
        _apply_now(target, scope=scope, auto_approve=auto_approve, allow_unsafe=allow_unsafe)


def _apply_saved(plan_path: Path, config_path: Path) -> None:
    try:
        doc = read_plan(plan_path)
    except PlanFileError as exc:
        err.print(Text(str(exc), style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    config = load_or_exit(config_path)
    problems: list[str] = []
    if doc.config_digest != config.digest:
        problems.append(f"{config_path} has changed since the plan was made (its digest differs)")
    if not doc.verdict.ok:
        problems.append("the safety checks refused this plan; plan again (with --allow-unsafe REASON if intended)")
    if problems:
        _refuse_stale(plan_path, problems)
    roles = RoleMap.from_settings(config.moodle)
    with reported_errors("apply"), _moodle(config) as moodle:
        live = read_for_apply(moodle, doc.plan, roles)
        stale = find_stale(doc.plan, live)
        if stale:
            _refuse_stale(plan_path, stale)
        report = _run(config, moodle, doc.plan, live, roles, doc)
    _finish(report)


def _apply_now(config_path: Path, *, scope: Scope, auto_approve: bool, allow_unsafe: str | None) -> None:
    config = load_or_exit(config_path)
    roles = RoleMap.from_settings(config.moodle)
    with reported_errors("apply"), _moodle(config) as moodle:
        run = run_plan(config, moodle, fetch_roster, scope=scope, override_reason=allow_unsafe, roles=roles)
        doc = seal(plan_document(config, run))
        _print(doc, PlanFormat.TEXT, redact=False)
        if not run.verdict.ok:
            _refused(run.verdict.violations)
            raise typer.Exit(EXIT_ERROR)
        if run.plan.is_empty:
            raise typer.Exit(EXIT_OK)
        if not auto_approve:
            if not sys.stdin.isatty():
                err.print(Text("not a terminal: pass --auto-approve, or apply a saved plan file", style="red"))
                raise typer.Exit(EXIT_ERROR)
            if not typer.confirm(f"Apply these {len(run.plan.changes)} changes?", default=False):
                err.print(Text("nothing applied"))
                raise typer.Exit(EXIT_ERROR)
        report = _run(config, moodle, run.plan, run.live, roles, doc)
    _finish(report)


def _run(
    config: Config, moodle: MoodleClient, plan: Plan, live: State, roles: RoleMap, doc: PlanDocument
) -> ApplyReport:
    with _progress() as progress:
        task = progress.add_task("applying", total=len(plan.changes))
        return apply_audited(
            config,
            moodle,
            plan,
            live,
            doc,
            roles=roles,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )


def _moodle(config: Config) -> MoodleClient:
    return MoodleClient.from_settings(config.moodle)


def _print(doc: PlanDocument, fmt: PlanFormat, *, redact: bool, rest: Path | None = None) -> None:
    """Show ``doc``; on a terminal, text is cut to :data:`TERMINAL_LINES` when ``rest``
    names the file that holds all of it."""
    view = redact_document(doc) if redact else doc
    text = render(view, fmt, color=fmt is PlanFormat.TEXT and out.is_terminal)
    if fmt is PlanFormat.TEXT and out.is_terminal and rest is not None:
        text = clip(text, TERMINAL_LINES, str(rest))
    out.file.write(text)
    out.file.flush()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _refused(violations: Any) -> None:
    err.print(Text("the safety checks refused this plan:", style="bold red"))
    for violation in violations:
        err.print(Text(f"  - {violation}"))
    err.print(Text('to go ahead anyway, plan again with --allow-unsafe "<why this is expected>"'))


def _refuse_stale(plan_path: Path, problems: list[str]) -> None:
    err.print(Text(f"{plan_path} cannot be applied as reviewed:", style="bold red"))
    for problem in problems:
        err.print(Text(f"  - {problem}"))
    err.print(Text("nothing was changed; run `ps2moodle plan` again and review the new plan"))
    raise typer.Exit(EXIT_ERROR)


def _finish(report: ApplyReport) -> None:
    applied, failed, skipped = (report.count(s) for s in (Status.APPLIED, Status.FAILED, Status.SKIPPED))
    out.print(Text(f"Apply: {applied} applied, {failed} failed, {skipped} skipped."))
    for result in report.failures:
        change = result.change
        out.print(Text(f"  {result.status.value}: {change.action.value} {change.key}: {result.error}"))
    if failed or skipped:
        out.print(Text("Run `ps2moodle plan` again: the next plan holds only what is still to do."))
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_OK)
