"""A run's figures as a printed table and as ``plan-output/bench/<run>.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ps2moodle_testkit.bench.figures import RunFigures, StageFigures


def to_json(run: RunFigures, *, scale: str, workers: int) -> dict[str, Any]:
    """The run's JSON document: the issue's keys, then the detail by stage."""
    return {
        "run": run.run,
        "title": run.title,
        "scale": scale,
        "workers": workers,
        "requests": run.per_endpoint("requests"),
        "min_requests": run.per_endpoint("minimum"),
        "wall_s": round(run.wall_s, 3),
        "request_bound_s": round(run.request_bound_s, 3),
        "cpu_middle_s": round(run.cpu_middle_s, 3),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "targets": [t.to_dict() for t in run.targets],
        "stages": {name: _stage_json(stage) for name, stage in run.stages.items()},
    }


def _stage_json(stage: StageFigures) -> dict[str, Any]:
    result = stage.result
    return {
        "wall_s": round(result.wall_s, 3),
        "request_bound_s": round(stage.request_bound_s, 3),
        "raw_baseline_s": round(stage.raw_baseline_s, 3),
        "cpu_middle_s": round(result.cpu_middle_s, 3),
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "steps_wall_s": {k: round(v, 3) for k, v in result.steps.items()},
        "middle_cpu_s": {k: round(v, 3) for k, v in result.middle_cpu.items()},
        "client_cpu_s": {k: round(v, 3) for k, v in result.client_cpu.items()},
        "server_cpu_s": dict(stage.server_cpu_s),
        "endpoints": {
            e.label: {
                "requests": e.requests,
                "min_requests": e.minimum,
                "items": e.items,
                "modelled_s": round(e.modelled_s, 3),
                "served_s": round(e.served_s, 3),
                "read": e.read,
            }
            for e in stage.endpoints
        },
        "changes": result.changes,
        "outcome": result.outcome,
        "safety_violations": result.verdict,
        "profile": result.profile,
    }


def write_json(run: RunFigures, out_dir: Path, *, scale: str, workers: int) -> Path:
    """Write the run's document to ``out_dir/<run>.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{run.run}.json"
    path.write_text(json.dumps(to_json(run, scale=scale, workers=workers), indent=2) + "\n", encoding="utf-8")
    return path


def render(run: RunFigures) -> str:
    """The run as text tables: stages, then each stage's steps and endpoints, the targets,
    and the profiles when taken."""
    lines = [f"Run {run.run}: {run.title}", "", *_stages(run)]
    for name, stage in run.stages.items():
        lines += ["", *_details(name, stage), "", *_endpoints(stage)]
    lines += ["", "  targets:"]
    for target in run.targets:
        note = f"  ({target.note})" if target.note else ""
        verdict = "PASS" if target.passed else "FAIL"
        lines.append(f"    {verdict} {target.name}: {target.value:.3g} (limit {target.limit:g}){note}")
    for name, stage in run.stages.items():
        for side, table in stage.result.profile.items():
            lines += ["", f"  {name}: hottest functions, {side} side (own CPU time)", table]
    return "\n".join(lines) + "\n"


def _stages(run: RunFigures) -> list[str]:
    head = (
        f"  {'stage':<7} {'wall s':>9} {'bound s':>9} {'wall/bound':>10} {'raw s':>8} {'wall/raw':>8} {'reads':>7} "
        f"{'min':>7} {'ratio':>6} {'writes':>7} {'middle cpu s':>12} {'peak MB':>8}"
    )
    total = (
        f"  {'total':<7} {run.wall_s:>9.1f} {run.request_bound_s:>9.1f} "
        f"{_ratio(run.wall_s, run.request_bound_s):>10} {'':>8} {'':>8} {'':>7} {'':>7} {'':>6} {'':>7} "
        f"{run.cpu_middle_s:>12.2f} {run.peak_rss_mb:>8.0f}"
    )
    return [head, *(_stage_row(name, stage) for name, stage in run.stages.items()), total]


def _details(name: str, stage: StageFigures) -> list[str]:
    result = stage.result
    cpu = {**result.client_cpu, **result.middle_cpu}
    steps = ", ".join(f"{step} {wall:.1f} s (cpu {cpu.get(step, 0.0):.1f})" for step, wall in result.steps.items())
    servers = ", ".join(f"{side} {seconds:.1f} s" for side, seconds in stage.server_cpu_s.items())
    lines = [f"  {name}: {steps}", f"  {name}: server CPU {servers}"]
    if result.changes:
        total = sum(n for actions in result.changes.values() for n in actions.values())
        lines.append(f"  {name}: {total} changes " + _changes(result.changes))
    if result.outcome:
        lines.append(f"  {name}: outcome " + ", ".join(f"{k} {v}" for k, v in result.outcome.items()))
    return lines


def _endpoints(stage: StageFigures) -> list[str]:
    lines = [f"    {'endpoint':<54} {'requests':>9} {'minimum':>8} {'items':>9} {'charged s':>10} {'served s':>9}"]
    for e in sorted(stage.endpoints, key=lambda e: (e.side, not e.read, e.name)):
        lines.append(
            f"    {e.label:<54} {e.requests:>9} {e.minimum:>8} {e.items:>9} {e.modelled_s:>10.1f} {e.served_s:>9.1f}"
        )
    return lines


def _stage_row(name: str, stage: StageFigures) -> str:
    reads, minimum = stage.requests(read=True), stage.minimum(read=True)
    return (
        f"  {name:<7} {stage.result.wall_s:>9.1f} {stage.request_bound_s:>9.1f} "
        f"{_ratio(stage.result.wall_s, stage.request_bound_s):>10} "
        f"{f'{stage.raw_baseline_s:.1f}' if stage.raw_baseline_s else '-':>8} "
        f"{_ratio(stage.result.wall_s, stage.raw_baseline_s):>8} "
        f"{reads:>7} {minimum:>7} "
        f"{_ratio(reads, minimum):>6} {stage.requests(read=False):>7} {stage.result.cpu_middle_s:>12.2f} "
        f"{stage.result.peak_rss_mb:>8.0f}"
    )


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def _changes(changes: dict[str, dict[str, int]]) -> str:
    return (
        "("
        + "; ".join(f"{kind} " + ", ".join(f"{a} {n}" for a, n in acts.items()) for kind, acts in changes.items())
        + ")"
    )
