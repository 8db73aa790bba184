"""``ps2moodle plan`` and ``ps2moodle apply``: compute a reviewable plan; apply exactly it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.apply import ApplyReport, Status, Stop
from reconciler.cli.app import app, colour, err, out
from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    load_or_exit,
    reported_errors,
    setup_logging,
    stop_on_signals,
)
from reconciler.cli.progress import Stage, bar, staged, stages
from reconciler.config.model import Config
from reconciler.errors import ReconcilerError
from reconciler.lock import Holder, apply_lock
from reconciler.model import State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import Scope, apply_audited, plan_document, read_for_apply, run_plan
from reconciler.plan.file import is_plan_file, read_plan
from reconciler.plan.model import Plan, PlanDocument
from reconciler.plan.stale import find_stale
from reconciler.powerschool.source import fetch_roster
from reconciler.redact import redact_document
from reconciler.redactkey import redact_key
from reconciler.render import PlanFormat, render
from reconciler.render.files import DEFAULT_OUT_DIR, save_plan
from reconciler.render.text import TERMINAL_LINES, clip
from reconciler.signing import checksum_problem, sign_plan, signature_problem, signing_key
from reconciler.targeting import Targets, parse_target
from reconciler.words import count

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


@app.command(short_help="Write the plan that would make Moodle match.")
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
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a configured term or course matches nothing in PowerSchool.")
    ] = False,
    schools: Annotated[
        list[int] | None,
        typer.Option("--school", metavar="N", help="Plan only this school's courses (repeatable)."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            metavar="KIND:KEY",
            help="Plan only this person, section or course (person:USERNAME, section:DCID, course:SHORTNAME, "
            "or an idnumber; repeatable). Nothing outside the target is changed.",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read PowerSchool and Moodle, and write the plan that would make Moodle match (changes nothing)."""
    setup_logging(verbose)
    try:
        targets = Targets(tuple(schools or ()), tuple(parse_target(t) for t in target or ()))
    except ValueError as exc:
        err.print(Text(str(exc), style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    config = load_or_exit(config_path)
    with reported_errors("plan"):
        key = signing_key()  # an unusable key stops here, before anything is read
    with reported_errors("plan"), _moodle(config) as moodle, stages() as stage:
        _check_moodle(moodle, stage)
        run = run_plan(
            config, moodle, staged(fetch_roster, stage), scope=scope, override_reason=allow_unsafe, targets=targets
        )
    with reported_errors("plan"):
        pseudonym_key = redact_key() if redact else None
        paths = save_plan(plan_document(config, run), out_dir, redact=redact, redact_key=pseudonym_key)
        signed = sign_plan(paths.json, key) if key is not None else None
    _print(paths.document, fmt, redact=redact, key=pseudonym_key, rest=paths.text)
    err.print(
        Text(f"plan written to {paths.json} (review {paths.markdown.name}, {paths.html.name} or {paths.text.name})")
    )
    if signed is not None:
        err.print(Text(f"plan signed: {signed}"))
    if not run.verdict.ok:
        _refused(run.verdict.violations)
        raise typer.Exit(EXIT_ERROR)
    if strict and run.desired.unmatched:
        unmatched = len(run.desired.unmatched)
        what = "term or course matches" if unmatched == 1 else "terms or courses match"
        message = f"--strict: {unmatched:,} configured {what} nothing in PowerSchool (see the notices)"
        err.print(Text(message, style="red"))
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_CHANGES if detailed_exitcode and not run.plan.is_empty else EXIT_OK)


@app.command(short_help="Apply a reviewed plan, or plan and apply.")
def apply(
    ctx: typer.Context,
    target: Annotated[
        Path,
        typer.Argument(
            metavar="PLAN_OR_CONFIG",
            help="A saved plan file to apply exactly, or a config to plan and apply now (told apart by content).",
        ),
    ] = Path("ps2moodle.yaml"),
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The config the saved plan was made from.")
    ] = Path("ps2moodle.yaml"),
    scope: ScopeOpt = Scope.ALL,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Apply without asking (pipelines).")] = False,
    allow_unsafe: UnsafeOpt = None,
    expect_checksum: Annotated[
        str | None,
        typer.Option(
            "--expect-checksum",
            metavar="sha256:HEX",
            help="Apply the saved plan only if its checksum is this one (the one the reviewer approved).",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Given a config: where the plan it applies is saved.")
    ] = DEFAULT_OUT_DIR,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            metavar="SECONDS",
            min=0,
            help="When another apply holds this Moodle's apply lock, wait this long for it (default: exit 1 now).",
        ),
    ] = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Apply a reviewed plan file exactly, refusing it when stale, altered, not the pinned
    checksum or (with a signing key configured) not signed with it; or, given a config,
    plan, save and show the plan and ask before applying. Every write is recorded in the
    audit log (the config's audit_log, else audit.jsonl beside the plan). One apply at a
    time writes to a Moodle (a lock held in Moodle itself). SIGINT or SIGTERM stops after
    the calls in flight. Exit 0 all applied, 1 error before any change (the lock held
    elsewhere included), 3 partially applied or interrupted."""
    setup_logging(verbose)
    try:
        saved = is_plan_file(target)
    except OSError as exc:
        err.print(Text(f"apply failed: cannot read {target}: {exc.strerror}", style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    _refuse_options(ctx, target, saved)
    if saved:
        _apply_saved(target, config_path, expect_checksum, lock_timeout)
    else:
        _apply_now(
            target,
            scope=scope,
            auto_approve=auto_approve,
            allow_unsafe=allow_unsafe,
            out_dir=out_dir,
            lock_timeout=lock_timeout,
        )


#: apply's options that only mean something for a saved plan, and those only for a config.
_PLAN_ONLY = {"expect_checksum": "--expect-checksum", "config_path": "--config"}
_CONFIG_ONLY = {
    "scope": "--scope",
    "allow_unsafe": "--allow-unsafe",
    "auto_approve": "--auto-approve",
    "out_dir": "--out",
}


def _refuse_options(ctx: typer.Context, target: Path, saved: bool) -> None:
    """Exit 1 naming the options given that do not apply to ``target`` (a saved plan is
    applied exactly as reviewed: nothing may widen or bypass it)."""
    given = {name for name in (_CONFIG_ONLY if saved else _PLAN_ONLY) if _given(ctx, name)}
    if not given:
        return
    names = ", ".join(sorted((_CONFIG_ONLY if saved else _PLAN_ONLY)[name] for name in given))
    if saved:
        why = f"{target} is a saved plan, applied exactly as reviewed: {names} only apply to a config"
    else:
        why = f"{target} is a config, not a saved plan: {names} only apply to a plan file"
    err.print(Text(f"apply refused: {why}", style="red"))
    raise typer.Exit(EXIT_ERROR)


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _apply_saved(plan_path: Path, config_path: Path, expect_checksum: str | None, lock_timeout: float) -> None:
    try:
        key = signing_key()
        doc = read_plan(plan_path)
    except ReconcilerError as exc:
        err.print(Text(str(exc), style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    pinned = [
        problem
        for problem in (
            signature_problem(plan_path, key) if key is not None else None,
            checksum_problem(expect_checksum, doc.sealed_checksum) if expect_checksum is not None else None,
        )
        if problem is not None
    ]
    if pinned:
        _refuse_stale(plan_path, pinned)
    config = load_or_exit(config_path)
    problems: list[str] = []
    if doc.config_digest != config.digest:
        problems.append(f"{config_path} has changed since the plan was made (its digest differs)")
    if not doc.verdict.ok:
        problems.append("the safety checks refused this plan; plan again (with --allow-unsafe REASON if intended)")
    if problems:
        _refuse_stale(plan_path, problems)
    roles = RoleMap.from_settings(config.moodle)
    stop = Stop()
    with reported_errors("apply"), _moodle(config) as moodle, _locked(moodle, lock_timeout, stop):
        with stages() as stage:
            stage("reading what the plan touches in Moodle")
            live = read_for_apply(moodle, doc.plan, roles)
        stale = find_stale(doc.plan, live)
        if stale:
            _refuse_stale(plan_path, stale)
        report = _run(config, moodle, doc.plan, live, roles, doc, plan_path, stop)
    _finish(report)


def _apply_now(
    config_path: Path, *, scope: Scope, auto_approve: bool, allow_unsafe: str | None, out_dir: Path, lock_timeout: float
) -> None:
    config = load_or_exit(config_path)
    roles = RoleMap.from_settings(config.moodle)
    stop = Stop()
    # Locked from planning on: nothing else writes between what the plan read and the apply.
    with reported_errors("apply"), _moodle(config) as moodle, _locked(moodle, lock_timeout, stop):
        with stages() as stage:
            run = run_plan(
                config, moodle, staged(fetch_roster, stage), scope=scope, override_reason=allow_unsafe, roles=roles
            )
        # Saved before anything is applied: the checksum the audit log cites names a file.
        paths = save_plan(plan_document(config, run), out_dir)
        doc, plan_path = paths.document, paths.json
        _print(doc, PlanFormat.TEXT, redact=False)
        err.print(Text(f"plan written to {plan_path}"))
        if not run.verdict.ok:
            _refused(run.verdict.violations)
            raise typer.Exit(EXIT_ERROR)
        if run.plan.is_empty:
            raise typer.Exit(EXIT_OK)
        if not auto_approve:
            if not sys.stdin.isatty():
                err.print(Text("not a terminal: pass --auto-approve, or apply a saved plan file", style="red"))
                raise typer.Exit(EXIT_ERROR)
            if not typer.confirm(f"Apply {_these(len(run.plan.changes), 'change')}?", default=False):
                err.print(Text("nothing applied"))
                raise typer.Exit(EXIT_ERROR)
        report = _run(config, moodle, run.plan, run.live, roles, doc, plan_path, stop)
    _finish(report)


def _run(
    config: Config,
    moodle: MoodleClient,
    plan: Plan,
    live: State,
    roles: RoleMap,
    doc: PlanDocument,
    plan_path: Path,
    stop: Stop,
) -> ApplyReport:
    with bar() as progress, stop_on_signals(stop):
        task = progress.add_task("applying", total=len(plan.changes))
        return apply_audited(
            config,
            moodle,
            plan,
            live,
            doc,
            plan_file=plan_path,
            roles=roles,
            stop=stop,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )


def _locked(moodle: MoodleClient, wait_s: float, stop: Stop) -> AbstractContextManager[object]:
    """This Moodle's apply lock, saying so when it waits for another apply."""

    def waiting(holder: Holder) -> None:
        err.print(Text(f"waiting up to {wait_s:.0f} s for the apply lock, {holder.describe()}", style="yellow"))

    return apply_lock(moodle, wait_s=wait_s, on_lost=stop, on_wait=waiting)


def _moodle(config: Config) -> MoodleClient:
    return MoodleClient.from_settings(config.moodle)


def _these(n: int, noun: str) -> str:
    return f"{'this' if n == 1 else 'these'} {count(n, noun)}"


def _check_moodle(moodle: MoodleClient, stage: Stage) -> None:
    """One cheap call before PowerSchool is read: a Moodle that is down, or refuses the
    token, fails in seconds instead of after the whole district was read."""
    stage(f"checking Moodle {moodle.url}")
    moodle.call("core_webservice_get_site_info")


def _print(
    doc: PlanDocument, fmt: PlanFormat, *, redact: bool, key: bytes | None = None, rest: Path | None = None
) -> None:
    """Show ``doc``; on a terminal, text is cut to :data:`TERMINAL_LINES` when ``rest``
    names the file that holds all of it."""
    view = redact_document(doc, key) if redact else doc
    text = render(view, fmt, color=fmt is PlanFormat.TEXT and colour(out))
    if fmt is PlanFormat.TEXT and out.is_terminal and rest is not None:
        text = clip(text, TERMINAL_LINES, str(rest))
    out.file.write(text)
    out.file.flush()


def _refused(violations: Sequence[str]) -> None:
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
    applied, failed, skipped, unknown = (
        report.count(s) for s in (Status.APPLIED, Status.FAILED, Status.SKIPPED, Status.UNKNOWN)
    )
    summary = f"{applied} applied, {failed} failed, {skipped} skipped" + (f", {unknown} unknown" if unknown else "")
    if report.stopped is not None:
        out.print(Text(f"Apply stopped ({report.stopped}): {summary}.", style="bold yellow"))
    else:
        out.print(Text(f"Apply: {summary}."))
    if report.deadlocks or report.split_batches:
        out.print(
            Text(
                f"Moodle's database refused whole batches: {report.deadlocks} (deadlocks) written when "
                f"re-sent, {report.split_batches} refused again and split to find a bad item."
            )
        )
    for result in report.failures:
        change = result.change
        out.print(Text(f"  {result.status.value}: {change.action.value} {change.key}: {result.error}"))
    if not report.complete:
        out.print(Text("Run `ps2moodle plan` again: the next plan holds only what is still to do."))
        raise typer.Exit(EXIT_PARTIAL)
    raise typer.Exit(EXIT_OK)
