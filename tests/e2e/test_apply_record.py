"""Issue 11, holes 2 and 3, with ``ps2moodle apply`` in its own process against the loopback
Moodle emulator: every write on record as it happens (a ``kill -9`` at random points, a
Ctrl-C), and one apply at a time per Moodle (two real applies at once).

The emulated site runs in the test process (served on loopback), so the test reads what
Moodle holds directly; the applies reach it over HTTP like any other client.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply import made
from reconciler.lock import LOCK_IDNUMBER
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import APPLYING_DIR, read_for_apply
from reconciler.plan.file import read_plan
from reconciler.plan.model import Plan

from .harness import MOODLE_TOKEN_ENV, MakeStack, Stack, config_text, connection, load

COMMAND = [sys.executable, "-c", "from reconciler.cli import app; app()"]
#: Small batches on two workers: about a hundred write calls for the tiny district.
CONCURRENCY = 2
BODY = """
    schools: [100, 200]
    school_settings:
      100: { terms: ["24-25", S1, S2], all_courses: section }
"""


def _stack(make_stack: MakeStack) -> tuple[Stack, Path]:
    text = config_text(connection("town", BODY)).replace(
        "connections:\n", f"  batch_size: 5\n  concurrency: {CONCURRENCY}\nconnections:\n", 1
    )
    stack = make_stack(text)
    return stack, stack.write(text)


def _spawn(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def _audit(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # a line torn by the kill
    return lines


def _wait(ready: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the apply ended early: {process.communicate()}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _sent(lines: list[dict[str, Any]], event: str) -> dict[int, list[dict[str, Any]]]:
    return {int(line["call"]): line["changes"] for line in lines if line["event"] == event}


def _moodle_now(stack: Stack, plan: Plan) -> Any:
    with MoodleClient(stack.moodle_url, stack.secret(MOODLE_TOKEN_ENV)) as client:
        return read_for_apply(client, plan, RoleMap())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_kill_at_any_point_leaves_every_write_on_record(make_stack: MakeStack, seed: int) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, "--detailed-exitcode", expect=2)
    plan = read_plan(plan_file).plan
    audit = plan_file.parent / "audit.jsonl"  # the default: beside the plan
    stack.site.faults.latency_s = 0.05
    calls_before_kill = random.Random(seed).randint(2, 30)  # of about 45 write calls

    process = _spawn("apply", plan_file, "-c", config)
    _wait(lambda: len(_sent(_audit(audit), "sending")) >= calls_before_kill, process)
    process.kill()
    process.communicate(timeout=30)
    # The calls the killed process had in flight still run on the site: read it after them.
    assert stack.site.requests.wait_idle(30)
    stack.site.faults.latency_s = 0.0

    lines = _audit(audit)
    sending, answered = _sent(lines, "sending"), _sent(lines, "answered")
    in_flight = {c["key"] for n, changes in sending.items() if n not in answered for c in changes}
    assert len(set(sending) - set(answered)) <= CONCURRENCY, "only the calls in flight lack an answer"
    sent = {c["key"] for changes in sending.values() for c in changes}
    done = {c["key"] for changes in answered.values() for c in changes if c["outcome"] == "applied"}
    live = _moodle_now(stack, plan)
    written = {c.key.id for c in plan.changes if made(c, live)}
    assert written, "the kill came after some writes"
    assert written <= sent, "every object the apply wrote was on record before it was sent"
    assert written - done <= in_flight, "and answered, unless its call was in flight at the kill"

    # The next run (a new plan replaces plan.json) records what the calls in flight became.
    assert stack.cli("plan", config, "--out", plan_file.parent).code == 0
    stack.apply(plan_file, config)
    recovered = {line["key"]: line for line in _audit(audit) if line["event"] == "recovered"}
    assert set(recovered) == in_flight
    for key, line in recovered.items():
        assert line["outcome"] == ("applied" if key in written else "failed"), line
        assert line["of_run"] == lines[0]["run"] and line["plan"] == lines[0]["plan"]
    assert [line["event"] for line in _audit(audit)].count("end") == 1  # the second run's
    assert not any((audit.parent / APPLYING_DIR).iterdir())
    stack.converged(config)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_after_the_calls_in_flight_and_reports_exit_3(make_stack: MakeStack, sig: signal.Signals) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, "--detailed-exitcode", expect=2)
    document = load(plan_file)
    audit = plan_file.parent / "audit.jsonl"
    stack.site.faults.latency_s = 0.02

    process = _spawn("apply", plan_file, "-c", config)
    _wait(lambda: len(_sent(_audit(audit), "sending")) >= 5, process)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 3, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert f"Apply stopped (interrupted by {sig.name}):" in stdout
    assert f"not sent: interrupted by {sig.name}" in stdout
    lines = _audit(audit)
    assert set(_sent(lines, "sending")) == set(_sent(lines, "answered")), "every call sent was waited for"
    changes = [line for line in lines if line["event"] == "change"]
    assert len(changes) == len(document["changes"])
    skipped = [line for line in changes if line["error"] == f"not sent: interrupted by {sig.name}"]
    assert skipped and all(line["outcome"] == "skipped" for line in skipped)
    applied = sum(line["outcome"] == "applied" for line in changes)
    (last,) = [line for line in lines if line["event"] in ("end", "interrupted")]
    assert last["event"] == "interrupted" and last["reason"] == f"interrupted by {sig.name}"
    assert last["outcomes"]["applied"] == applied and last["outcomes"]["skipped"] == len(skipped)
    start = lines[0]
    assert start["event"] == "start" and start["plan"] == document["checksum"]
    assert {"user", "host", "pid"} <= set(start) and start["host"] == socket.gethostname()
    assert start["pid"] == last["pid"] == process.pid
    stack.site.faults.latency_s = 0.0
    plan_file, _ = stack.plan(config)
    stack.apply(plan_file, config)
    stack.converged(config)


def _lock_cohorts(stack: Stack) -> list[int]:
    return [c.id for c in stack.site.cohorts.in_storage_order() if c.idnumber == LOCK_IDNUMBER]


def test_two_applies_at_once_never_write_together(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, "--detailed-exitcode", expect=2)
    audit = plan_file.parent / "audit.jsonl"
    stack.site.faults.latency_s = 0.3  # the first apply takes its time while the others start

    first = _spawn("apply", plan_file, "-c", config)
    _wait(lambda: bool(_lock_cohorts(stack)), first)
    refused = subprocess.run(
        [*COMMAND, "apply", str(plan_file), "-c", str(config)], capture_output=True, text=True, timeout=60
    )
    said_by_waiting = plan_file.parent / "waiting.err"
    with said_by_waiting.open("w", encoding="utf-8") as stderr:
        waiting = subprocess.Popen(
            [*COMMAND, "apply", str(plan_file), "-c", str(config), "--lock-timeout", "120"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    _wait(lambda: "waiting up to 120 s for the apply lock" in said_by_waiting.read_text(encoding="utf-8"), waiting)
    assert first.poll() is None, "the first apply still holds the lock"
    stack.site.faults.latency_s = 0.0
    first_out, first_err = first.communicate(timeout=120)
    waited_out, _ = waiting.communicate(timeout=120)
    waited_err = said_by_waiting.read_text(encoding="utf-8")

    assert first.returncode == 0, first_out + first_err
    assert refused.returncode == 1
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "another apply is writing to this Moodle" in said
    assert f"@{socket.gethostname()} (pid {first.pid}) since 20" in said
    # The one that waited ran after the first and found its plan already done: stale, refused.
    assert waiting.returncode == 1, waited_out + waited_err
    assert "cannot be applied as reviewed" in waited_out + waited_err
    lines = _audit(audit)
    assert [line["pid"] for line in lines if line["event"] == "start"] == [first.pid]
    assert not any(line["event"] == "change" and line["outcome"] != "applied" for line in lines)
    assert _lock_cohorts(stack) == []
    stack.converged(config)


def test_apply_config_saves_the_plan_it_applies_and_audits_beside_it(make_stack: MakeStack, tmp_path: Path) -> None:
    stack, config = _stack(make_stack)
    out = tmp_path / "now"
    outcome = stack.cli("apply", config, "--auto-approve", "--out", out)
    assert outcome.code == 0, outcome.output
    document = load(out / "plan.json")
    lines = _audit(out / "audit.jsonl")
    start, end = lines[0], lines[-1]
    assert start["event"] == "start" and start["plan"] == document["checksum"]
    assert start["plan_file"] == str(out / "plan.json")
    assert end["event"] == "end" and end["outcomes"]["applied"] == len(document["changes"])
    stack.converged(config)
