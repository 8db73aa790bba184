"""The figures of a run, worked out from what the servers metered and the tool measured (pure).

- **requests** per endpoint: PowerSchool by method and path (ids folded), Moodle by function.
- **minimum requests**, what the page-size and batch limits allow for the same work:
  PowerSchool, one token plus ceil(records / page size) per kind of list
  (:func:`ps2moodle_testkit.bench.powerschool.minimum_requests`; counting requests are extra);
  a batched Moodle function, the list fields sent spread over as few requests as
  ``max_input_vars`` allows; any other Moodle function, one request per distinct request
  (one per course, say: the API has no batch form).
- **request bound**: the seconds the requests alone need under the cost model, with the
  concurrency used: PowerSchool's charged time over the client's concurrency plus
  Moodle's over the site's workers (the two are read one after the other).
- **raw-client baseline** of an apply: the seconds a raw web-service client needs for the
  same writes under the cost model (issue 13's baseline): each write function's items
  written (sent in a call Moodle answered without an error) in batches of
  :data:`RAW_BATCH`, the site's workers in flight, one function after another (later
  ones need the ids of earlier ones), no reads and no lock waits (its batches are sorted
  by user). The apply's wall time over it is the apply's overhead.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ps2moodle_testkit.bench.metering import BATCH_LISTS
from ps2moodle_testkit.bench.powerschool import minimum_requests
from ps2moodle_testkit.bench.stages import StageResult
from reconciler.moodle.client import READ_FUNCTIONS
from reconciler.powerschool.client import ListRead

POWERSCHOOL = "powerschool"
MOODLE = "moodle"
#: The raw client's batch size.
RAW_BATCH = 100
_TOKEN = "POST /oauth/access_token"


@dataclass(frozen=True)
class Limits:
    """The limits the minimum follows from, and the concurrency each side was given."""

    page_size: int
    max_input_vars: int
    powerschool_concurrency: int
    workers: int


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's requests in one stage."""

    side: str
    name: str
    read: bool
    requests: int
    minimum: int
    items: int
    #: Items of batch writes answered without an error.
    written: int
    modelled_s: float
    served_s: float

    @property
    def label(self) -> str:
        return f"{self.side} {self.name}"

    def bound(self, limits: Limits) -> float:
        """Seconds its requests need, spread over the concurrency of its side."""
        return self.modelled_s / (limits.workers if self.side == MOODLE else limits.powerschool_concurrency)


@dataclass(frozen=True)
class StageFigures:
    """One stage: the tool's measurements and the servers' meters."""

    result: StageResult
    endpoints: tuple[Endpoint, ...]
    request_bound_s: float
    server_cpu_s: Mapping[str, float]
    #: What a raw client needs for the stage's writes (0 for a stage without writes).
    raw_baseline_s: float = 0.0

    def requests(self, *, read: bool) -> int:
        """Requests made for reads, or for writes."""
        return sum(e.requests for e in self.endpoints if e.read is read)

    def minimum(self, *, read: bool) -> int:
        """The fewest requests the limits allow for the same reads, or writes."""
        return sum(e.minimum for e in self.endpoints if e.read is read)

    def bound(self, limits: Limits, *, read: bool) -> float:
        """The request bound of this stage's reads, or writes, alone."""
        return sum(e.bound(limits) for e in self.endpoints if e.read is read)


#: Seconds the cost model charges a call of a function handling so many items.
CallCost = Callable[[str, int], float]


def stage_figures(
    result: StageResult, snapshot: Mapping[str, Any], limits: Limits, cost: CallCost | None = None
) -> StageFigures:
    """The figures of one stage from the tool's result and the servers' snapshot; with the
    Moodle ``cost`` model, its raw-client baseline too."""
    endpoints = [
        *_powerschool(snapshot[POWERSCHOOL]["endpoints"], limits),
        *_moodle(snapshot[MOODLE]["endpoints"], limits),
    ]
    bound = sum(e.bound(limits) for e in endpoints)
    cpu = {side: float(snapshot[side]["server_cpu_s"]) for side in (POWERSCHOOL, MOODLE)}
    raw = raw_baseline_s(endpoints, cost, limits.workers) if cost is not None else 0.0
    return StageFigures(result, tuple(endpoints), bound, cpu, raw)


def raw_baseline_s(endpoints: Sequence[Endpoint], cost: CallCost, workers: int) -> float:
    """The raw-client baseline of these endpoints' Moodle writes (module docstring)."""
    total = 0.0
    for e in endpoints:
        if e.side != MOODLE or e.read:
            continue
        # The items written (a batch refused and re-sent, or split, counts once when written).
        full, rest = divmod(e.written, RAW_BATCH)
        sizes = [RAW_BATCH] * full + ([rest] if rest else []) if e.written or e.items else [0] * e.minimum
        total += _makespan([cost(e.name, n) for n in sizes], workers)
    return total


def _makespan(durations: list[float], workers: int) -> float:
    """When the last of these calls ends, longest first, each to the worker free first."""
    loads = [0.0] * max(1, workers)
    for duration in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + duration)
    return max(loads)


def _powerschool(meters: Mapping[str, Mapping[str, Any]], limits: Limits) -> list[Endpoint]:
    lists = [
        ListRead(name, name.partition(" ")[2], int(m["items"]), limits.page_size)
        for name, m in meters.items()
        if name.startswith("GET ") and not name.endswith("/count") and m["items"]
    ]
    _, per_kind = minimum_requests(lists)
    out = []
    for name, meter in meters.items():
        if not meter["calls"]:
            continue  # a list that was counted empty: never paged
        minimum = 1 if name == _TOKEN else per_kind.get(name.partition(" ")[2], (0, 0))[1]
        out.append(_endpoint(POWERSCHOOL, name, True, minimum, meter))
    return out


def _moodle(meters: Mapping[str, Mapping[str, Any]], limits: Limits) -> list[Endpoint]:
    out = []
    for name, meter in meters.items():
        if name in BATCH_LISTS and meter["list_fields"]:
            room = limits.max_input_vars - meter["other_fields"]
            minimum = math.ceil(meter["list_fields"] / room)
        else:
            minimum = meter["distinct"]
        out.append(_endpoint(MOODLE, name, name in READ_FUNCTIONS, minimum, meter))
    return out


def _endpoint(side: str, name: str, read: bool, minimum: int, meter: Mapping[str, Any]) -> Endpoint:
    return Endpoint(
        side,
        name,
        read,
        requests=meter["calls"],
        minimum=minimum,
        items=meter["items"],
        written=meter.get("written", 0),
        modelled_s=meter["modelled_s"],
        served_s=meter["served_s"],
    )


@dataclass(frozen=True)
class Target:
    """One target of the issue: ``value`` against ``limit``."""

    name: str
    value: float
    limit: float
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 3),
            "limit": self.limit,
            "pass": self.passed,
            "note": self.note,
        }


@dataclass
class RunFigures:
    """One run (a, b or c): its stages, totals and targets."""

    run: str
    title: str
    stages: dict[str, StageFigures]
    targets: list[Target] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return sum(s.result.wall_s for s in self.stages.values())

    @property
    def request_bound_s(self) -> float:
        return sum(s.request_bound_s for s in self.stages.values())

    @property
    def cpu_middle_s(self) -> float:
        return sum(s.result.cpu_middle_s for s in self.stages.values())

    @property
    def peak_rss_mb(self) -> float:
        return max(s.result.peak_rss_mb for s in self.stages.values())

    def per_endpoint(self, attribute: str) -> dict[str, int]:
        """``requests`` or ``minimum`` summed per endpoint over the stages."""
        out: dict[str, int] = {}
        for stage in self.stages.values():
            for e in stage.endpoints:
                out[e.label] = out.get(e.label, 0) + int(getattr(e, attribute))
        return dict(sorted(out.items()))


#: Most requests per necessary request for reads, and time over the bound.
READ_RATIO = 1.25
WRITE_WALL_RATIO = 1.3
#: At least 90% of a raw client's throughput (issue 13).
RAW_BASELINE_RATIO = 1.11
NO_CHANGE_WALL_RATIO = 1.5
INCREMENTAL_RATIO = 1.25
MIDDLE_CPU_S = 15.0
PEAK_RSS_MB = 1536.0


def judge(run: RunFigures, limits: Limits, *, no_change: RunFigures | None, district_scale: bool) -> None:
    """Fill ``run.targets`` with the issue's targets that apply to it. ``no_change`` is run
    b, when it ran: the reads an incremental run should cost (else the run's own plan
    stage stands in). The CPU and memory targets are set for district scale."""
    stages = list(run.stages.values())
    plan, apply = run.stages["plan"], run.stages.get("apply")
    made, needed = sum(s.requests(read=True) for s in stages), sum(s.minimum(read=True) for s in stages)
    run.targets.append(
        Target("reads: requests / minimum", made / max(needed, 1), READ_RATIO, made <= READ_RATIO * needed)
    )
    if apply is None:
        ratio = plan.result.wall_s / max(plan.request_bound_s, 1e-9)
        run.targets.append(
            Target("no-change plan: wall / request bound", ratio, NO_CHANGE_WALL_RATIO, ratio <= NO_CHANGE_WALL_RATIO)
        )
    else:
        one_by_one = [
            e.name for e in apply.endpoints if not e.read and e.name in BATCH_LISTS and 1 < e.items <= e.requests
        ]
        run.targets.append(
            Target(
                "writes: functions called once per object", len(one_by_one), 0, not one_by_one, ", ".join(one_by_one)
            )
        )
        ratio = apply.result.wall_s / max(apply.request_bound_s, 1e-9)
        run.targets.append(Target("apply: wall / request bound", ratio, WRITE_WALL_RATIO, ratio <= WRITE_WALL_RATIO))
        if apply.raw_baseline_s:
            ratio = apply.result.wall_s / apply.raw_baseline_s
            writes = apply.result.steps.get("moodle writes", 0.0)
            note = (
                f"the same writes by a raw client: {apply.raw_baseline_s:.1f} s; the apply's own writes "
                f"{writes:.1f} s ({writes / apply.raw_baseline_s:.2f}), its reads and checks the rest"
            )
            passed = ratio <= RAW_BASELINE_RATIO
            run.targets.append(Target("apply: wall / raw-client baseline", ratio, RAW_BASELINE_RATIO, passed, note))
        deadlocks = apply.result.outcome.get("deadlocks", 0)
        run.targets.append(Target("apply: deadlocks", deadlocks, 0, deadlocks == 0))
    if run.run == "c":
        reads = no_change.request_bound_s if no_change is not None else plan.bound(limits, read=True)
        ratio = run.request_bound_s / max(reads + sum(s.bound(limits, read=False) for s in stages), 1e-9)
        run.targets.append(
            Target(
                "incremental: request bound / (no-change reads + its writes)",
                ratio,
                INCREMENTAL_RATIO,
                ratio <= INCREMENTAL_RATIO,
                "" if no_change is not None else "reads of its own plan stage (run b did not run)",
            )
        )
    cpu = max(s.result.cpu_middle_s for s in stages)
    note = "" if district_scale else "set for district scale"
    run.targets.append(Target("pure middle: CPU s (largest stage)", cpu, MIDDLE_CPU_S, cpu <= MIDDLE_CPU_S, note))
    run.targets.append(Target("peak memory: MB", run.peak_rss_mb, PEAK_RSS_MB, run.peak_rss_mb <= PEAK_RSS_MB, note))
