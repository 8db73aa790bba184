"""Smoke test of ``make bench``'s harness at tiny scale, with the cost models sped up.

Timing ratios are not asserted (a benchmark reports them); the structure is: every run
has its stages, requests and minimums per endpoint, a request bound, CPU and memory
figures, and a verdict on each target, in the table and in the JSON.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ps2moodle_testkit.bench.__main__ import main
from ps2moodle_testkit.bench.config import PROFILE_FIELDS
from ps2moodle_testkit.bench.report import render, write_json
from ps2moodle_testkit.bench.runner import Settings, run_benchmark
from ps2moodle_testkit.emulators.moodle import MoodleSite, serve_moodle

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


@pytest.mark.slow
def test_the_runs_go_to_a_staging_moodle_counted_on_the_clients_side(tmp_path: Path) -> None:
    staging = MoodleSite.fresh("staging-token")
    for shortname in PROFILE_FIELDS:
        staging.add_profile_field(shortname, shortname)
    server = serve_moodle(staging)
    try:
        settings = Settings(
            scale="tiny",
            workers=2,
            runs=("a",),
            out_dir=tmp_path,
            cost_scale=0.2,
            moodle_url=server.url,
            moodle_token="staging-token",
        )
        (first,) = run_benchmark(settings, lambda line: None)
    finally:
        server.close()
    apply = first.stages["apply"]
    created = apply.result.outcome["applied"]
    assert created > 0 and apply.result.outcome["failed"] == 0
    # The writes are real: the staging site holds the accounts; the client counted each call.
    with staging.lock:
        accounts = [u for u in staging.users.by_id() if u.idnumber.startswith("ps2m:")]
    users = next(e for e in apply.endpoints if e.name == "core_user_create_users")
    assert users.items == len(accounts) > 0 and users.requests >= 1 and users.modelled_s > 0
    assert apply.raw_baseline_s == 0.0 and "apply: wall / raw-client baseline" not in {t.name for t in first.targets}


def test_a_staging_run_asks_first_and_needs_its_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PS2MOODLE_BENCH_TOKEN", raising=False)
    with pytest.raises(SystemExit):
        main(["--moodle-url", "https://staging.example.org"])
    assert "PS2MOODLE_BENCH_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("PS2MOODLE_BENCH_TOKEN", "t")
    monkeypatch.setattr("sys.stdin", io.StringIO("https://staging.example.org\n"))
    with pytest.raises(SystemExit) as stopped:
        main(["--moodle-url", "https://staging.example.org"])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "WRITE to the Moodle at https://staging.example.org" in err and "pass --yes" in err
