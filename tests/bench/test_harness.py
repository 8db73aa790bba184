"""Smoke test of ``make bench``'s harness at tiny scale, with the cost models sped up.

Timing ratios are not asserted (a benchmark reports them); the structure is: every run
has its stages, requests and minimums per endpoint, a request bound, CPU and memory
figures, and a verdict on each target, in the table and in the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ps2moodle_testkit.bench.__main__ import main
from ps2moodle_testkit.bench.report import render, write_json
from ps2moodle_testkit.bench.runner import Settings, run_benchmark

ISSUE_KEYS = {"requests", "min_requests", "wall_s", "request_bound_s", "cpu_middle_s", "peak_rss_mb"}


@pytest.mark.slow
def test_tiny_benchmark_reports_every_run_with_its_figures(tmp_path: Path) -> None:
    settings = Settings(scale="tiny", workers=2, runs=("a", "b", "c"), out_dir=tmp_path, cost_scale=0.2)
    runs = run_benchmark(settings, lambda line: None)

    assert [r.run for r in runs] == ["a", "b", "c"]
    first, no_change, incremental = runs
    assert list(first.stages) == ["plan", "apply"] and list(no_change.stages) == ["plan"]
    for run in runs:
        doc = json.loads(write_json(run, tmp_path, scale="tiny", workers=2).read_text())
        assert doc.keys() >= ISSUE_KEYS
        assert doc["requests"].keys() == doc["min_requests"].keys()
        assert all(doc["min_requests"][k] <= n for k, n in doc["requests"].items())
        assert doc["wall_s"] > 0 and doc["request_bound_s"] > 0 and doc["peak_rss_mb"] > 0
        assert all(t["pass"] in (True, False) for t in doc["targets"])
        assert "targets:" in render(run)
    # The first apply writes in batches; the incremental one writes little and reads once.
    assert first.stages["apply"].requests(read=False) > incremental.stages["apply"].requests(read=False) > 0
    assert "moodle core_user_create_users" in first.per_endpoint("requests")
    assert first.stages["apply"].result.outcome["applied"] > 0
    assert incremental.stages["apply"].result.outcome["failed"] == 0
    assert no_change.stages["plan"].result.changes == {}
    names = {t.name.partition(":")[0] for t in incremental.targets}
    assert {"reads", "writes", "apply", "incremental", "pure middle", "peak memory"} <= names


@pytest.mark.slow
def test_tiny_run_d_syncs_a_notified_change_by_a_targeted_run(tmp_path: Path) -> None:
    settings = Settings(scale="tiny", workers=2, runs=("b", "d"), out_dir=tmp_path, cost_scale=0.2)
    no_change, notified = run_benchmark(settings, lambda line: None)

    stage = notified.stages["notified"]
    assert stage.result.steps["notification to Moodle updated"] > 0
    # Applied (not stale, not refused), and only what the student's change needs: an
    # account update and the class left (a group membership, and the course enrolment).
    assert stage.result.outcome["applied"] >= 2 and stage.result.outcome["failed"] == 0
    assert stage.result.note.startswith("applied, targeted at person ps2m:bench:student:")
    assert "moodle core_user_update_users" in notified.per_endpoint("requests")
    assert "moodle core_user_create_users" not in notified.per_endpoint("requests")
    # A targeted read: far fewer PowerSchool and Moodle reads than the full no-change plan.
    assert 0 < stage.requests(read=True) < no_change.stages["plan"].requests(read=True)
    names = [t.name for t in notified.targets]
    assert names == ["notification -> Moodle updated: s", "no-change full plan (run b): wall / request bound"]
    doc = json.loads(write_json(notified, tmp_path, scale="tiny", workers=2).read_text())
    assert [t["limit"] for t in doc["targets"]] == [10.0, 1.3]


def test_unknown_runs_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--scale", "tiny", "--runs", "a,x"])
    assert "unknown runs x" in capsys.readouterr().err


def test_help_names_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "c = 1% change" in shown and "d = a change notification" in shown
