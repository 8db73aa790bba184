"""A checked document -> the typed, frozen :class:`Config`.

Runs only on documents that passed the schema and the semantic checks, so it reads keys
without re-checking them. Defaults come from the dataclasses in ``model.py``, never from
here. Secrets stay references; ``*_file`` and other relative paths are taken relative to
the config file's directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from reconciler.config.document import Document
from reconciler.config.document import Path as DocPath
from reconciler.config.issues import format_path
from reconciler.config.model import (
    AdoptRule,
    CohortRule,
    Config,
    Connection,
    CourseMode,
    CourseRule,
    CustomField,
    EnrolmentRemoval,
    MembershipRemoval,
    MoodleSettings,
    PasswordMode,
    PeopleSettings,
    PowerSchoolSettings,
    ProtectedRule,
    RemovalPolicy,
    SafetyPolicy,
    SchoolSettings,
    SecretRef,
    SectionMigration,
    SectionMove,
    ServeSettings,
    Threshold,
    UserRemoval,
)

Data = dict[str, Any]

_CONNECTION_TEXTS = (
    "username_prefix",
    "course_number_prefix",
    "course_name_template",
    "course_shortname_template",
    "group_course_name_template",
    "group_course_shortname_template",
)
_REMOVAL_TYPES = {
    "users": UserRemoval,
    "enrolments": EnrolmentRemoval,
    "cohort_members": MembershipRemoval,
    "group_members": MembershipRemoval,
}


def build_config(doc: Document, *, digest: str) -> Config:
    """The Config a checked document describes; ``digest`` identifies its content."""
    root = cast(Data, doc.data)  # checked: a mapping
    build = _Builder(doc)
    return Config(
        moodle=build.moodle(root["moodle"]),
        connections=tuple(build.connection(("connections", i), c) for i, c in enumerate(root["connections"])),
        removal=RemovalPolicy(**{k: _REMOVAL_TYPES[k](v) for k, v in root.get("removal", {}).items()}),
        safety=_safety(root.get("safety", {})),
        adopt=tuple(_adopt_rule(rule) for rule in root.get("adopt", [])),
        audit_log=build.local_path(root["audit_log"]) if "audit_log" in root else None,
        serve=build.serve(root.get("serve", {})),
        source=doc.file,
        digest=digest,
    )


def _default(cls: type[Any], name: str) -> Any:
    """The dataclass default of one field (factories called), so defaults live only in model.py."""
    spec = next(f for f in dataclasses.fields(cls) if f.name == name)
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default


def _given(data: Data, names: Iterable[str]) -> Data:
    """The settings of ``names`` that the document gives (the others keep their defaults)."""
    return {name: data[name] for name in names if name in data}


def _seconds(data: Data) -> Data:
    return {"timeout_s": float(data["timeout_s"])} if "timeout_s" in data else {}


class _Builder:
    """Builds the parts that need the document: secret locations and relative paths."""

    def __init__(self, doc: Document) -> None:
        self._doc = doc
        self._base = Path(doc.file).parent

    def local_path(self, value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else self._base / path)

    def secret(self, path: DocPath, data: Data, key: str) -> SecretRef:
        """The reference under ``key`` (``${NAME}``) or ``key_file``; ``where`` locates it for errors."""
        written = key if key in data else f"{key}_file"
        line, col = self._doc.position((*path, written), key=True)
        where = f"{self._doc.file}:{line}:{col}: {format_path((*path, written))}"
        if written == key:
            return SecretRef(env=data[key][2:-1], where=where)
        return SecretRef(file=self.local_path(data[written]), where=where)

    def ca_file(self, data: Data) -> Data:
        return {"ca_file": self.local_path(data["ca_file"])} if "ca_file" in data else {}

    def moodle(self, data: Data) -> MoodleSettings:
        return MoodleSettings(
            url=data["url"].rstrip("/"),
            token=self.secret(("moodle",), data, "token"),
            role_ids=tuple(sorted(data.get("role_ids", {}).items())),
            **_given(data, ("max_input_vars", "batch_size", "concurrency", "allow_accounts_same_email")),
            **_seconds(data),
            **self.ca_file(data),
        )

    def connection(self, path: DocPath, data: Data) -> Connection:
        ps: Data = data["powerschool"]
        ps_path = (*path, "powerschool")
        powerschool = PowerSchoolSettings(
            url=ps["url"].rstrip("/"),
            client_id=self.secret(ps_path, ps, "client_id"),
            client_secret=self.secret(ps_path, ps, "client_secret"),
            **_given(ps, ("page_size", "concurrency")),
            **_seconds(ps),
            **self.ca_file(ps),
        )
        extra: Data = _given(data, _CONNECTION_TEXTS)
        if "roles" in data:
            extra["roles"] = tuple(sorted(data["roles"].items()))
        if "section_migration" in data:
            extra["section_migration"] = _migration(data["section_migration"])
        return Connection(
            name=data["name"],
            powerschool=powerschool,
            schools=tuple(data["schools"]),
            students=self.people((*path, "students"), data.get("students", {}), _default(Connection, "students")),
            staff=self.people((*path, "staff"), data.get("staff", {}), _default(Connection, "staff")),
            school_settings=tuple(
                sorted((_school(int(n), s or {}) for n, s in data.get("school_settings", {}).items()), key=_number)
            ),
            **extra,
        )

    def serve(self, data: Data) -> ServeSettings:
        given: Data = {name: float(data[name]) for name in ("interval_s", "debounce_s") if name in data}
        if "webhook_key" in data or "webhook_key_file" in data:
            given["webhook_key"] = self.secret(("serve",), data, "webhook_key")
        if "out_dir" in data:
            given["out_dir"] = self.local_path(data["out_dir"])
        return ServeSettings(**_given(data, ("auto_apply", "keep_runs", "callback_url")), **given)

    def people(self, path: DocPath, data: Data, defaults: PeopleSettings) -> PeopleSettings:
        given = _given(data, ("username", "auth", "email_fallback"))
        if "password" in data:
            given["password"] = PasswordMode(data["password"])
        if "initial_password" in data or "initial_password_file" in data:
            given["initial_password"] = self.secret(path, data, "initial_password")
        if "enroll_statuses" in data:
            given["enroll_statuses"] = tuple(data["enroll_statuses"])
        return dataclasses.replace(
            defaults,
            fields=tuple(sorted((dict(defaults.fields) | data.get("fields", {})).items())),
            custom_fields=tuple(CustomField(**c) for c in data.get("custom_fields", [])),
            cohorts=tuple(CohortRule(**c) for c in data.get("cohorts", [])),
            **given,
        )


def _number(school: SchoolSettings) -> int:
    return school.number


def _school(number: int, data: Data) -> SchoolSettings:
    return SchoolSettings(
        number=number,
        terms=tuple(data.get("terms", ())),
        category=data.get("category"),
        all_courses=CourseMode(data["all_courses"]) if "all_courses" in data else None,
        courses=tuple(_course(n, rule or {}) for n, rule in data.get("courses", {}).items()),
    )


def _course(number: str, data: Data) -> CourseRule:
    return CourseRule(number, CourseMode(data.get("mode", CourseMode.SECTION.value)), data.get("category"))


def _migration(data: Data) -> SectionMigration:
    return SectionMigration(
        field=data["field"],
        moves=tuple(
            SectionMove(
                school=m["school"],
                from_course=m["from_course"],
                from_section=m["from_section"],
                to_course=m["to_course"],
                to_section=m.get("to_section", m["from_section"]),
            )
            for m in data.get("moves", [])
        ),
    )


def _adopt_rule(data: Data) -> AdoptRule:
    return AdoptRule(data["kind"], data.get("match", "*"), tuple(data.get("require", ())))


def _safety(data: Data) -> SafetyPolicy:
    # A threshold given replaces the default of its key; the other defaults stay.
    thresholds = dict(_default(SafetyPolicy, "thresholds"))
    for key, limit in data.get("thresholds", {}).items():
        percent = limit.get("percent")
        thresholds[key] = Threshold(count=limit.get("count"), percent=None if percent is None else float(percent))
    return SafetyPolicy(
        thresholds=tuple(sorted(thresholds.items())),
        protected=tuple(ProtectedRule(**rule) for rule in data.get("protected", [])),
        **_given(data, ("min_existing", "empty_school_guard")),
    )
