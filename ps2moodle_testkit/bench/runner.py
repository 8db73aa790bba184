"""The benchmark's runs, in order, against one pair of running emulators.

- **a**: the first full plan and apply into an empty Moodle;
- **b**: a plan with nothing to change;
- **c**: 1% of the students change in PowerSchool (:mod:`.change`); plan and apply.
- **d**: one student changes and PowerSchool notifies: the time from the notification to
  Moodle updated by the run targeted at it (:mod:`.notified`), with run b's no-change
  ratio beside it.

b, c and d need Moodle as a leaves it: asked for without a, a runs first as unreported setup.
Each stage runs in a fresh process (:mod:`.stages`); the servers' meters are read before
and after it, so each stage is charged exactly its own requests.

With ``moodle_url`` the runs go to that Moodle (a staging site: real writes) instead of
the emulator: its requests are counted on the client's side and charged the seconds
they took, and there is no cost model, so no raw-client baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ps2moodle_testkit.bench.change import one_percent_change
from ps2moodle_testkit.bench.config import (
    MOODLE_TOKEN_ENV,
    PROFILE_FIELDS,
    PS_CLIENT_ID_ENV,
    PS_CLIENT_SECRET_ENV,
    bench_config,
)
from ps2moodle_testkit.bench.figures import Limits, RunFigures, StageFigures, Target, judge, stage_figures
from ps2moodle_testkit.bench.notified import NOTIFY_KEY, STEP, one_student_change, school_index
from ps2moodle_testkit.bench.servers import Costs, Servers
from ps2moodle_testkit.bench.stages import APPLY, NOTIFIED, PLAN, StageSpec, run_stage
from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.environment import environment
from reconciler.config.model import Config
from reconciler.serve.targeted import SchoolIndex

TITLES = {
    "a": "first full plan and apply into an empty Moodle",
    "b": "no-change plan",
    "c": "1% change (moves, leavers, newcomers): plan and apply",
    "d": "a change notification: one student renamed and dropped from a class, synced by a targeted run",
}
STAGES = {"a": (PLAN, APPLY), "b": (PLAN,), "c": (PLAN, APPLY), "d": (NOTIFIED,)}
#: What run d must show: seconds from the notification to Moodle updated, and the
#: no-change full plan (run b) beside it: wall over its request bound.
NOTIFIED_S = 10.0
NO_CHANGE_RATIO = 1.3


@dataclass(frozen=True)
class Settings:
    """What to run: ``cost_scale`` multiplies the cost models (smoke tests only)."""

    scale: str = "district"
    workers: int = 4
    runs: tuple[str, ...] = ("a", "b", "c")
    profile: bool = False
    out_dir: Path = Path("plan-output/bench")
    seed: int = 1
    cost_scale: float = 1.0
    #: A Moodle of the user's to run against, and its web-service token.
    moodle_url: str | None = None
    moodle_token: str = field(default="", repr=False)


def run_benchmark(settings: Settings, echo: Callable[[str], None]) -> list[RunFigures]:
    """Run ``settings.runs`` (in order a, b, c); ``echo`` hears progress. Returns the
    figures of the runs asked for."""
    unknown = set(settings.runs) - set(TITLES)
    if unknown:
        raise ValueError(f"unknown runs {', '.join(sorted(unknown))}; choose from {', '.join(TITLES)}")
    todo = sorted({"a", *settings.runs})
    echo(f"generating the {settings.scale} district (seed {settings.seed})")
    district = generate_district(settings.scale, settings.seed)
    costs = Costs(settings.workers, settings.cost_scale)
    staging = settings.moodle_url is not None
    echo("starting the PowerSchool emulator on loopback" + ("" if staging else " and the Moodle emulator"))
    with Servers.start(district, costs, PROFILE_FIELDS, moodle=not staging) as servers:
        served = servers.moodle.info if servers.moodle is not None else {}
        moodle_url = settings.moodle_url or served["url"]
        token = settings.moodle_token if staging else served["token"]
        config = bench_config(
            district,
            moodle_url=moodle_url,
            powerschool_url=servers.powerschool.info["url"],
            workers=settings.workers,
        )
        connection = config.connections[0]
        limits = Limits(
            page_size=connection.powerschool.page_size,
            max_input_vars=config.moodle.max_input_vars,
            powerschool_concurrency=connection.powerschool.concurrency,
            workers=settings.workers,
        )
        environment = {
            MOODLE_TOKEN_ENV: token,
            PS_CLIENT_ID_ENV: servers.powerschool.info["client_id"],
            PS_CLIENT_SECRET_ENV: servers.powerschool.info["client_secret"],
        }
        done: dict[str, RunFigures] = {}
        current = district
        for run in todo:
            bodies: tuple[str, ...] = ()
            index = None
            if run == "c":
                change = one_percent_change(current, settings.seed)
                echo(f"changing PowerSchool: {change.summary}")
                servers.change_district(change.district)
                current = change.district
            elif run == "d":
                echo("reading PowerSchool as serve's last run did (not timed)")
                index = _school_index(config, environment, district.year_id)
                notified = one_student_change(current, settings.seed)
                echo(f"changing PowerSchool: {notified.summary}")
                servers.change_district(notified.district)
                current = notified.district
                bodies = tuple(event.body(NOTIFY_KEY) for event in notified.events)
            stages: dict[str, StageFigures] = {}
            for stage in STAGES[run]:
                echo(f"run {run}: {stage}" + ("" if run in settings.runs else " (setup, not reported)"))
                spec = StageSpec(
                    stage,
                    config,
                    environment,
                    district.year_id,
                    settings.out_dir / run,
                    profile=settings.profile and run in settings.runs,
                    meter_moodle=staging,
                    bodies=bodies,
                    index=index,
                )
                servers.snapshot()  # start this stage's meters from zero
                result = run_stage(spec)
                snapshot = servers.snapshot()
                if result.moodle_meters is not None:
                    snapshot["moodle"] = result.moodle_meters
                cost = None if staging else costs.model().seconds
                figures = stages[stage] = stage_figures(result, snapshot, limits, cost)
                echo(
                    f"run {run}: {stage} took {figures.result.wall_s:.1f} s (request bound "
                    f"{figures.request_bound_s:.1f} s, pure middle {figures.result.cpu_middle_s:.2f} s CPU, "
                    f"peak {figures.result.peak_rss_mb:.0f} MB"
                    + (f", raw-client baseline {figures.raw_baseline_s:.1f} s" if figures.raw_baseline_s else "")
                    + ")"
                )
            done[run] = RunFigures(run, TITLES[run], stages)
            if run == "d":
                judge_notified(done[run], done.get("b"))
            else:
                judge(done[run], limits, no_change=done.get("b"), district_scale=settings.scale == "district")
    return [done[run] for run in todo if run in settings.runs]


def judge_notified(run: RunFigures, no_change: RunFigures | None) -> None:
    """Run d's targets: notification to Moodle updated, and run b's ratio beside it."""
    stage = run.stages[NOTIFIED]
    seconds = stage.result.steps[STEP]
    run.targets.append(
        Target("notification -> Moodle updated: s", seconds, NOTIFIED_S, seconds <= NOTIFIED_S, stage.result.note)
    )
    if no_change is None:
        run.targets.append(
            Target(
                "no-change full plan (run b): wall / request bound", 0.0, NO_CHANGE_RATIO, False, "run b did not run"
            )
        )
        return
    plan = no_change.stages[PLAN]
    ratio = plan.result.wall_s / max(plan.request_bound_s, 1e-9)
    run.targets.append(
        Target("no-change full plan (run b): wall / request bound", ratio, NO_CHANGE_RATIO, ratio <= NO_CHANGE_RATIO)
    )


def _school_index(config: Config, secrets: dict[str, str], year_id: int) -> SchoolIndex:
    """serve's index after a full run, read with the stages' secrets set for the read only."""
    with environment(secrets):
        return school_index(config, year_id)
