"""A small hand-built plan that uses every action, for plan file, redaction and renderer tests.

Every person in it is invented; :data:`PERSONAL` lists each personal string the plan
holds, so tests can scan any output for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler import keys
from reconciler.model import (
    OWNED_PREFIX,
    Category,
    Course,
    Group,
    Key,
    Kind,
    User,
    cohort_member,
    enrolment,
    group_member,
)
from reconciler.plan.file import build_document, seal
from reconciler.plan.model import (
    Action,
    BrakeLimit,
    Brakes,
    Change,
    Notice,
    NoticeLevel,
    Plan,
    PlanDocument,
    Reason,
    SafetyVerdict,
)

CREATED = datetime(2026, 9, 1, 6, 30, tzinfo=UTC)
CONFIG_DIGEST = "sha256:" + "c0" * 32

LINCOLN = keys.category_key(("High Schools", "Lincoln"))
ENG = keys.section_course_key("north", 100, 5501)
BIO = keys.section_course_key("north", 600, 7702)
BIO_OLD = keys.section_course_key("north", 600, 7701)
ALG = keys.group_course_key("north", 100, "ALG1", 2026)
ALG_GROUP = keys.group_key("north", 100, 8801)
GRADE9 = keys.cohort_key("north", "grade_level", "9")

ZEB = keys.student_key("north", 1001)
OTTO = keys.student_key("north", 1002)
MARI = keys.student_key("north", 1003)
HAL = keys.student_key("north", 1004)
IGGY = keys.staff_key("north", 2001)
TABBY = keys.student_key("north", 1005)  # skipped: only named in a notice

#: Every personal string in the plan: usernames, names, emails, profile and custom values.
PERSONAL = (
    "zquimby",
    "Zebulon",
    "Quimby",
    "zebulon.quimby@students.example.org",
    "Quimbyville",
    "B12",
    "ovashti",
    "Ottoline",
    "Vashti",
    "Vashti-Okafor",
    "ottoline.vashti@students.example.org",
    "o.vashti.okafor@students.example.org",
    "Marrowdale",
    "Thistlewick",
    "mokonkwo",
    "Marisol",
    "Okonkwo-Brandt",
    "marisol.okb@students.example.org",
    "hpemberton",
    "Hollis",
    "Pemberton",
    "hollis.pemberton@students.example.org",
    "ifairweather",
    "Ignatius",
    "Fairweather",
    "ignatius.fairweather@staff.example.org",
    "T-4471",
    "tsilvermoon",
)


def _user(key: Key, username: str, first: str, last: str, email: str, **kw: Any) -> User:
    return User(key, username=username, firstname=first, lastname=last, email=email, **kw)


def sample_plan() -> Plan:
    """One plan, every action, two schools plus district-wide objects, in apply order."""
    zeb = _user(
        ZEB,
        "zquimby",
        "Zebulon",
        "Quimby",
        "zebulon.quimby@students.example.org",
        profile=(("city", "Quimbyville"),),
        customfields=(("homeroom", "B12"),),
    )
    otto_live = _user(
        OTTO,
        "ovashti",
        "Ottoline",
        "Vashti",
        "ottoline.vashti@students.example.org",
        profile=(("city", "Marrowdale"),),
        moodle_id=31,
    )
    otto = replace(
        otto_live,
        lastname="Vashti-Okafor",
        email="o.vashti.okafor@students.example.org",
        profile=(("city", "Thistlewick"),),
    )
    mari_live = _user(MARI, "mokonkwo", "Marisol", "Okonkwo-Brandt", "marisol.okb@students.example.org", moodle_id=32)
    hal_live = _user(
        HAL, "hpemberton", "Hollis", "Pemberton", "hollis.pemberton@students.example.org", suspended=True, moodle_id=33
    )
    iggy_foreign = _user(
        Key(Kind.USER, "T-4471"),
        "ifairweather",
        "Ignatius",
        "Fairweather",
        "ignatius.fairweather@staff.example.org",
        moodle_id=40,
    )
    iggy = replace(iggy_foreign, key=IGGY, moodle_id=None)
    lincoln = Category(LINCOLN, name="Lincoln")
    eng = Course(ENG, shortname="ENG1-1-S1-2026", fullname="English 9 1 (S1)", category=LINCOLN)
    bio_old = Course(BIO_OLD, shortname="BIO-1-S1-2026", fullname="Biology 1 (S1)", category=LINCOLN, moodle_id=51)
    bio = replace(bio_old, key=BIO, fullname="Biology I 1 (S1)", moodle_id=None)
    alg_group = Group(ALG_GROUP, course=ALG, name="ALG1 section 2")
    otto_bio = enrolment(BIO, OTTO, ["student"])
    member = cohort_member(GRADE9, MARI)
    changes = (
        Change(Action.CREATE, LINCOLN, None, lincoln, Reason.MISSING),
        Change(Action.CREATE, ENG, None, eng, Reason.MISSING),
        Change(Action.MOVE, BIO, bio_old, bio, Reason.MIGRATION),
        Change(Action.CREATE, ZEB, None, zeb, Reason.MISSING),
        Change(Action.ADOPT, IGGY, iggy_foreign, iggy, Reason.ADOPT_RULE, rule="i*"),
        Change(Action.UPDATE, OTTO, otto_live, otto, Reason.DIFFERS),
        Change(Action.UNSUSPEND, HAL, hal_live, replace(hal_live, suspended=False), Reason.RETURNED),
        Change(Action.CREATE, ALG_GROUP, None, alg_group, Reason.MISSING),
        Change(
            Action.CREATE,
            enrolment(ENG, ZEB, ["student"]).key,
            None,
            enrolment(ENG, ZEB, ["student"]),
            Reason.MISSING,
        ),
        Change(
            Action.CREATE,
            enrolment(ENG, IGGY, ["editingteacher"]).key,
            None,
            enrolment(ENG, IGGY, ["editingteacher"]),
            Reason.MISSING,
        ),
        Change(
            Action.CREATE,
            group_member(ALG_GROUP, ZEB).key,
            None,
            group_member(ALG_GROUP, ZEB),
            Reason.MISSING,
            group_course=ALG,
        ),
        Change(Action.SUSPEND, MARI, mari_live, replace(mari_live, suspended=True), Reason.INACTIVE),
        Change(
            Action.SUSPEND,
            otto_bio.key,
            replace(otto_bio, moodle_id=71),
            replace(otto_bio, suspended=True),
            Reason.DROPPED,
        ),
        Change(Action.DELETE, member.key, replace(member, moodle_id=81), None, Reason.NOT_IMPLIED),
    )
    notices = (
        Notice(
            NoticeLevel.WARNING,
            "tsilvermoon has no email and no email_fallback is configured; account skipped",
            TABBY.id,
        ),
        Notice(
            NoticeLevel.WARNING,
            "2 accounts share one email (mokonkwo, zquimby); Moodle refuses duplicate emails unless "
            "allowaccountssameemail is on, so all but one will fail to be created",
        ),
        Notice(NoticeLevel.INFO, "course 'ALG1-3-S1-2026' is no longer selected by the config; left as it is", ALG.id),
    )
    owned = {k.value: 40 for k in Kind}
    return Plan(changes=tuple(sorted(changes, key=Change.sort_key)), notices=notices, owned_counts=owned)


OVERRIDDEN = SafetyVerdict(
    ok=True, violations=("1 user suspend: more than the limit of 0 (suspend:user)",), override_reason="rollover week"
)


#: The default safety policy's brakes, with users never suspended without an override.
BRAKES = Brakes(
    (
        BrakeLimit("delete", 0),
        BrakeLimit("remove", 500, 5.0),
        BrakeLimit("suspend", 500, 5.0),
        BrakeLimit("suspend:user", 0),
        BrakeLimit("unenrol", 500, 5.0),
    ),
    min_existing=50,
)
#: The names of the sample's cohort and group.
NAMES = {GRADE9.id: "Grade 9", ALG_GROUP.id: "ALG1 section 2"}


def sample_doc(plan: Plan | None = None, verdict: SafetyVerdict = OVERRIDDEN) -> PlanDocument:
    """The plan document of :func:`sample_plan` (or ``plan``), made at a fixed time, with
    the sample's brakes and names."""
    return seal(
        build_document(
            plan or sample_plan(),
            config_digest=CONFIG_DIGEST,
            scope="all",
            verdict=verdict,
            created_at=CREATED,
            brakes=BRAKES,
            names=NAMES,
        )
    )


def first_labelled(doc: PlanDocument, name: str) -> PlanDocument:
    """``doc`` with its first change (a category create) labelled ``name`` (as text from
    outside would label it)."""
    key = Key(Kind.CATEGORY, f"{OWNED_PREFIX}cat:{name}")
    first = replace(doc.changes[0], key=key, after=Category(key, name=name))
    return replace(doc, changes=(first, *doc.changes[1:]))


def district_plan(*, schools: int, students: int, staff: int, sections: int, enrolments: int) -> Plan:
    """A first sync of a district: every account, course and enrolment is created.

    Sections are spread over the schools and students over the sections, so every
    school carries about the same share of the detail.
    """
    category = keys.category_key(("District",))
    changes: list[Change] = [Change(Action.CREATE, category, None, Category(category, name="District"))]
    people = [keys.student_key("d", n) for n in range(students)] + [keys.staff_key("d", n) for n in range(staff)]
    for n, key in enumerate(people):
        user = User(
            key, username=f"u{n:06d}", firstname=f"First{n}", lastname=f"Last{n}", email=f"u{n:06d}@example.org"
        )
        changes.append(Change(Action.CREATE, key, None, user, Reason.MISSING))
    courses = [keys.section_course_key("d", 100 + n % schools, n) for n in range(sections)]
    for n, key in enumerate(courses):
        course = Course(key, shortname=f"SEC{n:05d}-S1-2026", fullname=f"Section {n} (S1)", category=category)
        changes.append(Change(Action.CREATE, key, None, course, Reason.MISSING))
    for n in range(enrolments):
        section = courses[n % sections]
        member = enrolment(section, people[n % students], ["student"])
        changes.append(Change(Action.CREATE, member.key, None, member, Reason.MISSING))
    return Plan(changes=tuple(sorted(changes, key=Change.sort_key)), owned_counts={k.value: 0 for k in Kind})


def reseal(path: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Edit the plan file at ``path`` as anyone could: change its JSON, lay it out again as
    plan does, and recompute the sha256 of the bytes before the checksum line."""
    doc = json.loads(path.read_bytes())
    edit(doc)
    lines = [b"{"]
    for name, value in doc.items():
        head = f"  {json.dumps(name)}: ".encode()
        if name == "checksum":
            continue
        if isinstance(value, list) and value:
            items = [b"    " + _compact(item) for item in value]
            lines += [head + b"[", *(item + b"," for item in items[:-1]), items[-1], b"  ],"]
        else:
            lines.append(head + _compact(value) + b",")
    body = b"\n".join(lines) + b"\n"
    checksum = "sha256:" + hashlib.sha256(body).hexdigest()
    path.write_bytes(body + f'  "checksum": "{checksum}"\n}}\n'.encode())


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
