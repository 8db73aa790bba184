"""Exit codes and the safety gate through the real commands, over loopback HTTP.

What a pipeline branches on: ``plan --detailed-exitcode`` (0 nothing to do, 2 changes,
1 error or refused), ``apply PLANFILE`` (0 all applied, 1 nothing done because the plan
is altered, stale or refused, 3 partly applied). And what a change-controlled team
relies on: a PowerSchool outage that empties a school is refused, an override needs a
written reason, is recorded in the plan and the audit log, and covers only that plan.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from .harness import MakeStack, Stack, config_text, connection, load, students_with_accounts

BODY = """
    schools: [100, 200]
    school_settings:
      100: { terms: ["24-25", S1, S2], all_courses: section }
"""


def _stack(make_stack: MakeStack, tail: str = "") -> tuple[Stack, Path]:
    text = config_text(connection("town", BODY), tail=tail)
    stack = make_stack(text)
    return stack, stack.write(text)


def test_an_emptied_school_is_refused_until_overridden_with_a_reason(make_stack: MakeStack, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    stack, config = _stack(make_stack, tail=f"audit_log: {audit}\n")
    stack.sync(config)
    # An outage: school 100 answers with no students at all.
    stack.sandbox.change("town", lambda d: replace(d, students=tuple(s for s in d.students if s.school_number != 100)))
    before = stack.view.everything()

    plan_file, outcome = stack.plan(config, "--detailed-exitcode", expect=1)
    assert "school 100 of connection town returned no active students" in outcome.output
    assert load(plan_file)["verdict"]["ok"] is False
    outcome = stack.apply(plan_file, config, expect=1)
    assert "safety checks refused this plan" in outcome.output
    assert stack.view.everything() == before

    # A reason is required: blank is no override.
    stack.plan(config, "--allow-unsafe", "   ", expect=1)
    plan_file, _ = stack.plan(config, "--allow-unsafe", "school 100 closed for good (board vote 2024-31)", expect=0)
    document = load(plan_file)
    assert document["verdict"] == {
        "ok": True,
        "violations": document["verdict"]["violations"],
        "override_reason": "school 100 closed for good (board vote 2024-31)",
    }
    assert document["verdict"]["violations"]
    stack.apply(plan_file, config)
    lines = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    overrides = [line for line in lines if line["event"] == "override"]
    assert [(o["plan"], o["reason"]) for o in overrides] == [
        (document["checksum"], "school 100 closed for good (board vote 2024-31)")
    ]
    applied = [line for line in lines if line["event"] == "change" and line["plan"] == document["checksum"]]
    assert len(applied) == len(document["changes"])
    assert {line["override_reason"] for line in applied} == {"school 100 closed for good (board vote 2024-31)"}
    # The override covered that plan only: the next plan is judged afresh (and is empty).
    stack.converged(config)


def test_a_plan_altered_by_hand_is_refused(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, "--detailed-exitcode", expect=2)
    document = load(plan_file)
    document["changes"][0]["after"]["name"] = "Something else"
    plan_file.write_text(json.dumps(document), encoding="utf-8")
    before = stack.view.everything()
    outcome = stack.apply(plan_file, config, expect=1)
    assert "has been altered since it was written" in outcome.output
    assert stack.view.everything() == before


def test_a_plan_made_from_another_config_is_refused(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, expect=0)
    config.write_text(config.read_text(encoding="utf-8").replace("S1, S2", "S1"), encoding="utf-8")
    outcome = stack.apply(plan_file, config, expect=1)
    assert "has changed since the plan was made" in outcome.output
    assert not stack.view.owned_accounts()


def test_a_partial_apply_exits_3_and_the_next_plan_finishes_the_job(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, expect=0)
    # Between review and apply, someone creates an account by hand with a student's email:
    # Moodle refuses that one student (emails are unique); everything else lands.
    student = min(students_with_accounts(stack.district("town"), [100, 200]), key=lambda s: s.id)
    taken = str(student.email).lower()
    squatter = stack.sandbox.moodle
    blocker = _create_user(stack, "handmade", taken)
    # A plan made now leaves that student out and says so, by key (no name or address in the notice).
    _, warned = stack.plan(config, expect=0)
    assert "1 account left out: another Moodle account already has its email" in warned.output
    assert f"ps2m:town:student:{student.dcid}" in warned.output
    assert taken not in warned.output.split("Notices:")[1]
    outcome = stack.apply(plan_file, config, expect=3)
    assert "failed" in outcome.output and "Run `ps2moodle plan` again" in outcome.output
    assert taken not in {a.email for a in stack.view.owned_accounts().values()}
    assert stack.view.owned_accounts()  # the rest was applied
    # Once the blocker is gone, the next plan holds only what is still to do, and converges.
    _delete_user(stack, blocker)
    plan_file, _ = stack.plan(config, "--detailed-exitcode", expect=2)
    assert 0 < len(load(plan_file)["changes"]) < 50
    stack.apply(plan_file, config)
    stack.converged(config)
    assert squatter is stack.sandbox.moodle


def _create_user(stack: Stack, username: str, email: str) -> int:
    from reconciler.moodle.client import MoodleClient

    with MoodleClient(stack.moodle_url, stack.secret("E2E_MOODLE_TOKEN")) as client:
        created = client.call(
            "core_user_create_users",
            {
                "users": [
                    {
                        "username": username,
                        "firstname": "Hand",
                        "lastname": "Made",
                        "email": email,
                        "auth": "manual",
                        "password": "Hand-made-1",
                    }
                ]
            },
        )
    return int(created[0]["id"])


def _delete_user(stack: Stack, user_id: int) -> None:
    from reconciler.moodle.client import MoodleClient

    with MoodleClient(stack.moodle_url, stack.secret("E2E_MOODLE_TOKEN")) as client:
        client.call("core_user_delete_users", {"userids": [user_id]})


def test_a_deadlocked_batch_is_re_sent_and_reported(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config, expect=0)
    # PostgreSQL kills one enrolment batch as a deadlock victim: Moodle keeps none of it.
    stack.site.faults.deadlock_next(1)
    outcome = stack.apply(plan_file, config, expect=0)
    assert "Moodle's database refused whole batches: 1 (deadlocks) written when re-sent, 0 refused again" in (
        outcome.output
    )
    stack.converged(config)
