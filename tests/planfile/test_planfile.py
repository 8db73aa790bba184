"""The saved plan: what it records, that it refuses alteration, and that it can tell stale."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler import __version__
from reconciler.errors import PlanFileError
from reconciler.model import Enrolment, Key, Kind, Resource, State, User, enrolment
from reconciler.plan.file import FORMAT_VERSION, build_document, change_record, read_plan, render_json, seal
from reconciler.plan.model import Action, BrakeLimit, Change, Plan, Reason, SafetyVerdict
from reconciler.plan.stale import find_stale
from reconciler.redact import redact_document
from reconciler.render.files import save_plan
from tests.support.plans import (
    BIO,
    BIO_OLD,
    BRAKES,
    CONFIG_DIGEST,
    CREATED,
    ENG,
    HAL,
    IGGY,
    MARI,
    NAMES,
    OTTO,
    ZEB,
    reseal,
    sample_doc,
    sample_plan,
)


def _live(plan: Plan) -> State:
    """Moodle exactly as the plan saw it: every owned ``before``; the adopted account as foreign."""
    owned: list[Resource] = []
    foreign: dict[Key, Resource] = {}
    for change in plan.changes:
        if change.before is None:
            continue
        if change.action.value == "adopt":
            foreign[change.key] = change.before
        else:
            owned.append(change.before)
    return State.of(owned, foreign=foreign)


def _replace_owned(live: State, key: Key, new: Resource | None) -> State:
    items = [r for r in live if r.key != key]
    return State.of([*items, new] if new is not None else items, foreign=live.foreign)


# --- what the document records ---------------------------------------------------------


def _record(doc: Any) -> Any:
    """The document as its file holds it."""
    return json.loads(render_json(doc))


def test_document_records_plan_inputs_and_verdict() -> None:
    plan = sample_plan()
    doc = sample_doc(plan)
    data = _record(doc)
    assert data["format_version"] == doc.format_version == FORMAT_VERSION
    assert (data["tool"], data["tool_version"]) == ("ps2moodle", __version__)
    assert data["created_at"] == "2026-09-01T06:30:00Z"
    assert (data["scope"], data["config_digest"], data["redacted"]) == ("all", CONFIG_DIGEST, False)
    assert data["verdict"] == {
        "ok": True,
        "violations": ["1 user suspend: more than the limit of 0 (suspend:user)"],
        "override_reason": "rollover week",
    }
    assert data["changes"] == json.loads(json.dumps([change_record(c) for c in plan.changes]))
    assert data["notices"] == [{"level": n.level.value, "message": n.message, "key": n.key} for n in plan.notices]
    assert data["summary"]["total"] == len(plan.changes)
    assert data["summary"]["by_action"] == plan.action_totals()
    assert data["summary"]["by_kind"] == plan.counts()
    text = render_json(doc)
    before_checksum = text[: text.index('  "checksum": ')]
    assert doc.checksum == "sha256:" + hashlib.sha256(before_checksum.encode("utf-8")).hexdigest()
    assert text.endswith(f'  "checksum": "{doc.checksum}"\n}}\n')


def test_a_change_records_what_apply_must_still_find() -> None:
    # The live object each change acts on, with its Moodle id: apply compares Moodle with it.
    plan = sample_plan()
    changes = {c["key"]: c for c in _record(sample_doc(plan))["changes"]}
    for change in plan.changes:
        recorded = changes[change.key.id]
        if change.before is None:
            assert (recorded["before"], recorded["before_id"]) == (None, None)
        else:
            assert recorded["before"] == change.before.to_dict(implied_key=change.key.id)
            assert recorded["before_id"] == change.before.moodle_id
    # The key of before or after is left out where it is the change's; a move and an adopt
    # name the key they take the object from.
    assert changes[BIO.id]["before"]["key"] == BIO_OLD.id
    assert changes[IGGY.id]["before"]["key"] == "T-4471"
    assert all("key" not in c["after"] for c in changes.values() if c["after"] is not None)
    # Nothing is held twice: no label (the resource names itself), no list of fields (apply
    # writes what differs between before and after, and that is what renderings show).
    assert all("label" not in c and "fields" not in c for c in changes.values())


def test_sealing_twice_gives_the_same_checksum_and_an_edit_after_sealing_is_caught() -> None:
    doc = sample_doc()
    assert seal(doc).checksum == sample_doc().checksum
    with pytest.raises(ValueError, match="changed after it was sealed"):
        seal(replace(doc, scope="users"))


def test_documents_are_deterministic_but_for_the_time() -> None:
    first, second = sample_doc(), sample_doc()
    assert render_json(first) == render_json(second)
    later = build_document(
        sample_plan(),
        config_digest=CONFIG_DIGEST,
        scope="all",
        verdict=SafetyVerdict(ok=True),
        created_at=CREATED + timedelta(hours=1),
    )
    same_time = build_document(
        sample_plan(), config_digest=CONFIG_DIGEST, scope="all", verdict=SafetyVerdict(ok=True), created_at=CREATED
    )
    first, second = _record(seal(later)), _record(seal(same_time))
    assert {k for k in first if first[k] != second[k]} == {"created_at", "checksum"}


def test_created_at_is_stored_in_utc_and_must_be_aware() -> None:
    eastern = CREATED.astimezone(timezone(timedelta(hours=-4)))
    doc = build_document(
        sample_plan(), config_digest="", scope="all", verdict=SafetyVerdict(ok=True), created_at=eastern
    )
    assert doc.created_at == "2026-09-01T06:30:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        build_document(
            sample_plan(),
            config_digest="",
            scope="all",
            verdict=SafetyVerdict(ok=True),
            created_at=datetime(2026, 1, 1),
        )


# --- save and load ---------------------------------------------------------------------


def test_save_writes_the_document_and_its_renderings(tmp_path: Path) -> None:
    doc = sample_doc()
    paths = save_plan(doc, tmp_path / "out")
    assert paths.document == doc
    assert paths.json.read_text(encoding="utf-8") == render_json(doc)
    assert paths.text.read_text(encoding="utf-8").endswith("1 to remove.\n")
    assert paths.markdown.read_text(encoding="utf-8").startswith("<!-- ps2moodle plan ")
    assert paths.html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plan.html", "plan.json", "plan.md", "plan.txt"]


def test_redacted_save_keeps_plan_json_complete(tmp_path: Path) -> None:
    doc = sample_doc()
    paths = save_plan(doc, tmp_path, redact=True)
    assert "zquimby" in paths.json.read_text(encoding="utf-8")  # apply needs the real data
    for rendering in (paths.text, paths.markdown, paths.html):
        assert "zquimby" not in rendering.read_text(encoding="utf-8")
    read_plan(paths.json)


def test_load_gives_back_the_document_and_the_plan(tmp_path: Path) -> None:
    plan = sample_plan()
    doc = sample_doc(plan)
    loaded_doc = read_plan(save_plan(doc, tmp_path).json)
    assert loaded_doc == doc
    loaded = loaded_doc.plan
    assert loaded.changes == plan.changes
    assert [(c.rule, c.group_course, c.course_name, c.member) for c in loaded.changes] == [
        (c.rule, c.group_course, c.course_name, c.member) for c in plan.changes
    ]
    assert [c.before.moodle_id for c in loaded.changes if c.before] == [
        c.before.moodle_id for c in plan.changes if c.before
    ]
    assert loaded.notices == plan.notices
    assert loaded.owned_counts == plan.owned_counts


def test_an_empty_plan_loads_back(tmp_path: Path) -> None:
    doc = sample_doc(Plan(), SafetyVerdict(ok=True))
    loaded = read_plan(save_plan(doc, tmp_path).json)
    assert loaded == doc and loaded.changes == ()


def test_names_with_line_breaks_of_every_kind_load_back(tmp_path: Path) -> None:
    # The file is read one b"\n" line at a time; names may hold escaped newlines and the
    # raw U+2028, U+0085 and U+000B that other line splitters break at.
    odd = User(ZEB, username="zquimby", firstname="Ze\nbu\u2028lon\u0085", lastname="Qu\x0bim\rby", moodle_id=None)
    plan = Plan(changes=(Change(Action.CREATE, ZEB, None, odd, Reason.MISSING),))
    loaded = read_plan(save_plan(sample_doc(plan), tmp_path).json)
    assert loaded.changes == plan.changes


def test_an_unwritable_directory_is_a_plan_file_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(PlanFileError, match="cannot write the plan"):
        save_plan(sample_doc(), tmp_path / "taken" / "plan-output")


# --- refusing what was not written by plan ------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = save_plan(sample_doc(), tmp_path_factory.mktemp("plan")).json
    return path, path.read_bytes()


def test_every_byte_of_a_change_is_covered_by_the_checksum(saved: tuple[Path, bytes], tmp_path: Path) -> None:
    _, data = saved
    # The adopted account's change: one line of plan.json.
    start = data.index(b'{"action":"adopt"')
    end = data.index(b"\n", start)
    altered = tmp_path / "plan.json"
    for pos in range(start, end):
        tampered = bytearray(data)
        tampered[pos] ^= 0x01
        altered.write_bytes(bytes(tampered))
        with pytest.raises(PlanFileError):
            read_plan(altered)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(b'"action":"suspend"', b'"action":"delete" ', id="action"),
        pytest.param(b'"before_id":31', b'"before_id":32', id="moodle-id"),
        pytest.param(b'"ok":true', b'"ok":false', id="verdict"),
        pytest.param(b'"reason":"missing"', b'"reason":"differs"', id="reason"),
        pytest.param(b'"email":"o.vashti.okafor@', b'"email":"x.vashti.okafor@', id="after"),
        pytest.param(b'  "scope": "all",', b'  "scope":"all", ', id="whitespace"),
    ],
)
def test_a_hand_edit_is_refused_with_a_clear_message(
    saved: tuple[Path, bytes], tmp_path: Path, old: bytes, new: bytes
) -> None:
    _, data = saved
    assert old in data
    altered = tmp_path / "plan.json"
    altered.write_bytes(data.replace(old, new, 1))
    with pytest.raises(PlanFileError, match="has been altered since it was written"):
        read_plan(altered)


def test_crlf_line_endings_are_refused_and_named(saved: tuple[Path, bytes], tmp_path: Path) -> None:
    _, data = saved
    altered = tmp_path / "plan.json"
    altered.write_bytes(data.replace(b"\n", b"\r\n"))
    with pytest.raises(PlanFileError, match="line endings were changed to CRLF"):
        read_plan(altered)


def _rewrite(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda d: d.pop("checksum"), "has been altered", id="no-checksum"),
        pytest.param(lambda d: d.update(format_version=1), "has format version 1; this ps2moodle", id="version"),
        pytest.param(lambda d: d.pop("format_version"), "not a ps2moodle plan file", id="not-a-plan"),
    ],
)
def test_documents_of_the_wrong_shape_are_refused(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = _record(sample_doc())
    mutate(doc)
    with pytest.raises(PlanFileError, match=message):
        read_plan(_rewrite(tmp_path, doc))


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        pytest.param(
            lambda d: d["changes"][0].update(action="teleport"), "'teleport' is not a valid Action", id="action"
        ),
        pytest.param(
            lambda d: d["changes"][0].update(reason="because"), "'because' is not a valid Reason", id="reason"
        ),
        pytest.param(lambda d: d["verdict"].update(ok="yes"), "expected true or false", id="verdict"),
        pytest.param(lambda d: d["summary"].update(total=3), "summary does not count its changes", id="summary"),
        pytest.param(lambda d: d["changes"][0].pop("after"), "KeyError", id="missing"),
        pytest.param(lambda d: d["changes"][0].update(after=None), "neither before nor after", id="empty"),
    ],
)
def test_a_re_checksummed_but_malformed_document_is_refused(
    tmp_path: Path, edit: Callable[[dict[str, Any]], object], complaint: str
) -> None:
    path = save_plan(sample_doc(), tmp_path).json
    reseal(path, edit)
    with pytest.raises(PlanFileError, match=f"is malformed: .*{complaint}"):
        read_plan(path)


def test_a_re_checksummed_edit_loads(tmp_path: Path) -> None:
    # The resealing is faithful: an edit that keeps the document well formed loads.
    path = save_plan(sample_doc(), tmp_path).json
    reseal(path, lambda d: d.update(scope="users"))
    assert read_plan(path).scope == "users"


def test_brakes_and_names_load_back_and_a_plan_without_them_reads_as_having_none(tmp_path: Path) -> None:
    path = save_plan(sample_doc(), tmp_path).json
    loaded = read_plan(path)
    assert loaded.brakes == BRAKES and loaded.names == NAMES
    assert loaded.brakes.limit_for("suspend", Kind.USER) == BrakeLimit("suspend:user", 0)
    assert loaded.brakes.limit_for("suspend", Kind.ENROLMENT) == BrakeLimit("suspend", 500, 5.0)

    def without(doc: dict[str, Any]) -> None:
        del doc["brakes"], doc["names"]

    reseal(path, without)
    older = read_plan(path)
    assert older.brakes is None and older.names == {}
    assert older.changes == loaded.changes


def test_a_redacted_view_cannot_be_loaded(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="redacted view of plan sha256:"):
        read_plan(_rewrite(tmp_path, _record(redact_document(sample_doc()))))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read plan file .*: No such file", id="missing"),
        pytest.param(b"\xff\xfe not utf-8", "not UTF-8", id="binary"),
        pytest.param(b'{"format_version": 1,', "is not valid JSON", id="truncated"),
        pytest.param(b'{"format_version": NaN}', "is not valid JSON", id="nan"),
        pytest.param(b"[1, 2]", "not a ps2moodle plan file", id="array"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_message(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PlanFileError, match=message):
        read_plan(path)


# --- stale plans -------------------------------------------------------------------------


def test_a_plan_is_fresh_against_the_moodle_it_was_made_from() -> None:
    plan = sample_plan()
    assert find_stale(plan, _live(plan)) == []


def test_a_changed_live_object_is_reported_by_field() -> None:
    plan = sample_plan()
    live = _live(plan)
    otto = live.get(OTTO)
    assert isinstance(otto, User)
    live = _replace_owned(live, OTTO, replace(otto, email="changed.by.hand@example.org", firstname="Otto"))
    assert find_stale(plan, live) == [
        f"user:{OTTO.id} (ovashti): changed in Moodle since the plan was made (email, firstname)"
    ]


def test_a_re_created_live_object_is_reported() -> None:
    plan = sample_plan()
    live = _live(plan)
    hal = live.get(HAL)
    assert hal is not None
    live = _replace_owned(live, HAL, replace(hal, moodle_id=999))
    assert find_stale(plan, live) == [
        f"user:{HAL.id} (hpemberton): changed in Moodle since the plan was made (Moodle id (it was re-created))"
    ]


def test_a_deleted_live_object_is_reported() -> None:
    plan = sample_plan()
    live = _replace_owned(_live(plan), MARI, None)
    assert find_stale(plan, live) == [
        f"user:{MARI.id} (mokonkwo): the plan would suspend it, but it is no longer in Moodle"
    ]


def test_a_key_a_create_needs_that_now_exists_is_reported() -> None:
    plan = sample_plan()
    now_there = User(ZEB, username="zquimby", firstname="Zebulon", lastname="Quimby", moodle_id=77)
    live = _replace_owned(_live(plan), ZEB, now_there)
    assert find_stale(plan, live) == [f"user:{ZEB.id} (zquimby): the plan would create it, but it now exists in Moodle"]


def test_a_name_a_create_needs_that_an_unowned_object_took_is_reported() -> None:
    plan = sample_plan()
    live = _live(plan)
    squatter = User(Key(Kind.USER, ""), username="zquimby", firstname="Z", lastname="Q", moodle_id=78)
    live = State.of(live, foreign={**live.foreign, ZEB: squatter})
    assert find_stale(plan, live) == [
        f"user:{ZEB.id} (zquimby): the plan would create it, but an object the tool does not own now holds its name"
    ]


def test_adopt_and_move_targets_are_checked() -> None:
    plan = sample_plan()
    live = _live(plan)
    taken = State.of([*live, User(IGGY, username="ifairweather", firstname="I", lastname="F", moodle_id=40)])
    assert find_stale(plan, taken) == [
        f"user:{IGGY.id} (ifairweather): the plan would adopt it, but the tool already owns it now"
    ]
    gone = State.of(live, foreign={})
    assert find_stale(plan, gone) == [
        f"user:{IGGY.id} (ifairweather): the plan would adopt it, but it is no longer in Moodle"
    ]
    bio_old = live.get(BIO_OLD)
    assert bio_old is not None
    moved_already = State.of([*live, replace(bio_old, key=BIO)], foreign=live.foreign)
    assert find_stale(plan, moved_already) == [
        f"course:{BIO.id} (BIO-1-S1-2026): the plan would move it, but it now exists in Moodle"
    ]


def test_stale_sentences_name_fields_never_values() -> None:
    plan = sample_plan()
    live = _live(plan)
    otto = live.get(OTTO)
    assert isinstance(otto, User)
    live = _replace_owned(live, OTTO, replace(otto, email="secret.new.address@example.org"))
    assert "secret.new.address" not in " ".join(find_stale(plan, live))


def test_creation_time_is_utc() -> None:
    assert sample_doc().created_at == CREATED.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_line_is_standard_json(tmp_path: Path) -> None:
    # orjson writes the lines; the standard library must read each as the same value.
    odd = User(ZEB, username="zquimby", firstname='Ze"\\bu\x00\u2028é\U0001f600', lastname="\ud7ff\t", moodle_id=None)
    plan = Plan(changes=(*sample_plan().changes, Change(Action.CREATE, ZEB, None, odd, Reason.MISSING)))
    data = save_plan(sample_doc(plan), tmp_path).json.read_bytes()
    assert json.loads(data) == orjson.loads(data)
    body = data.split(b"\n")[1:-3]
    items = [line.strip().rstrip(b",") for line in body if line.startswith(b"    ")]
    assert [json.loads(item) for item in items] == [orjson.loads(item) for item in items]
    assert json.loads(items[-1])["after"]["firstname"] == odd.firstname


def test_a_shown_username_or_course_name_that_is_not_the_objects_is_stale() -> None:
    plan = sample_plan()
    live = _live(plan)
    enrol = next(c for c in plan.changes if c.key == enrolment(ENG, ZEB, ["student"]).key)
    made = enrol.resource
    assert isinstance(made, Enrolment)
    honest = replace(enrol, member="zquimby", course_name="ENG1-1-S1-2026")  # as the plan creates them

    def stale_with(change: Change) -> list[str]:
        return find_stale(replace(plan, changes=(*plan.changes, change)), live)

    assert stale_with(honest) == []
    assert stale_with(replace(honest, member="hpemberton")) == [
        f"{enrol.key}: the username it shows is not {made.user}'s (was the file edited?)"
    ]
    assert stale_with(replace(honest, course_name="BIO-1-S1-2026")) == [
        f"{enrol.key}: the course name it shows is not {made.course}'s (was the file edited?)"
    ]
