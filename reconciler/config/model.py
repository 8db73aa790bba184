"""The typed, frozen config that everything downstream reads (nothing reads raw YAML).

The loader (``reconciler.config.loader``) builds these from a YAML file validated against
``schema/config.schema.json``; tests build them directly. Secrets are held as references
(:class:`SecretRef`), never as values: a Config can be printed, logged or digested safely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from reconciler.errors import SecretError


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: an environment variable (``${NAME}``) or a file path.

    ``where`` names the config location, for error messages. The value is read only by
    :meth:`resolve`, only by the command that needs it, and is never stored here.
    """

    env: str | None = None
    file: str | None = None
    where: str = ""

    def resolve(self) -> str:
        """The secret's value, or :class:`SecretError` naming the reference (never a value)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"{self.where}: environment variable {self.env} is not set")
            if not value.strip():
                raise SecretError(f"{self.where}: environment variable {self.env} is set but empty")
            return value
        if self.file is not None:
            path = Path(self.file)
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretError(f"{self.where}: cannot read secret file {self.file}: {exc.strerror}") from None
            if not value:
                raise SecretError(f"{self.where}: secret file {self.file} is empty")
            return value
        raise SecretError(f"{self.where}: no secret reference given")

    def __str__(self) -> str:
        return f"${{{self.env}}}" if self.env else f"file:{self.file}"


@dataclass(frozen=True, slots=True)
class MoodleSettings:
    """How to reach Moodle. ``max_input_vars`` is the site's PHP limit (batches stay under it).
    ``role_ids`` maps role shortnames to ids on sites whose roles differ from Moodle's
    standard numbering (no web service lists roles). ``allow_accounts_same_email`` mirrors
    the site's ``allowaccountssameemail`` (off by default in Moodle)."""

    url: str
    token: SecretRef
    max_input_vars: int = 5000
    batch_size: int = 100
    concurrency: int = 4
    timeout_s: float = 120.0
    role_ids: tuple[tuple[str, int], ...] = ()
    allow_accounts_same_email: bool = False
    #: A private CA's PEM file (absolute); None: the system's trust store.
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class PowerSchoolSettings:
    """How to reach one PowerSchool server (URL normalized: no trailing slash)."""

    url: str
    client_id: SecretRef
    client_secret: SecretRef
    page_size: int = 100
    concurrency: int = 4
    timeout_s: float = 60.0
    #: A private CA's PEM file (absolute); None: the system's trust store.
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class CustomField:
    """A PowerSchool field copied into a Moodle custom profile field (by shortname)."""

    source: str
    moodle: str


@dataclass(frozen=True, slots=True)
class CohortRule:
    """System cohorts from a profile field: one cohort per distinct value.

    ``field`` is a student placeholder (``grade_level``) or a custom field's Moodle
    shortname; ``name`` a template with ``{value}`` (and ``{field}``). The cohort's
    idnumber is derived from connection, field and value only, so renaming never
    re-creates a cohort.
    """

    field: str
    name: str = "{field}: {value}"


class PasswordMode(str, Enum):
    """How new accounts with an internal auth (manual, nologin...) get a password."""

    GENERATE = "generate"  # Moodle generates and e-mails one (createpassword=1)
    INITIAL = "initial"  # a site-wide temporary password from a secret, changed at first login


@dataclass(frozen=True, slots=True)
class PeopleSettings:
    """How students (or staff) become Moodle accounts.

    ``username`` and every value of ``fields`` are templates over the person's
    placeholders; the connection's username prefix is prepended to the username.
    ``fields`` maps Moodle standard profile fields (firstname, lastname, email, city,
    institution, department...) to templates.
    """

    username: str = "{username}"
    fields: tuple[tuple[str, str], ...] = (
        ("email", "{email}"),
        ("firstname", "{first_name}"),
        ("lastname", "{last_name}"),
    )
    custom_fields: tuple[CustomField, ...] = ()
    auth: str = "manual"
    password: PasswordMode = PasswordMode.GENERATE
    initial_password: SecretRef | None = None
    #: Template for an email when PowerSchool has none (Moodle requires one); None skips the person.
    email_fallback: str | None = None
    #: Enroll status letters that make an active account (students only).
    enroll_statuses: tuple[str, ...] = ("A", "P")
    cohorts: tuple[CohortRule, ...] = ()


class CourseMode(str, Enum):
    """``section``: one Moodle course per PowerSchool section. ``group``: one Moodle course
    per PowerSchool course (per school and year), its sections as groups."""

    SECTION = "section"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class CourseRule:
    """A PowerSchool course selected for sync at one school."""

    number: str
    mode: CourseMode = CourseMode.SECTION
    category: str | None = None


@dataclass(frozen=True, slots=True)
class SchoolSettings:
    """What to sync from one school: its terms (by abbreviation), its courses, and the
    default category path (``"High Schools/Lincoln"``) for courses that name none.
    ``all_courses`` (a mode) selects every course of the school not listed in ``courses``."""

    number: int
    terms: tuple[str, ...] = ()
    category: str | None = None
    all_courses: CourseMode | None = None
    courses: tuple[CourseRule, ...] = ()

    def rule_for(self, course_number: str) -> CourseRule | None:
        """The rule that selects this course, or None when it is not synced."""
        for rule in self.courses:
            if rule.number == course_number:
                return rule
        if self.all_courses is not None:
            return CourseRule(course_number, self.all_courses, None)
        return None


@dataclass(frozen=True, slots=True)
class SectionMove:
    """A reviewed move: the Moodle course of section ``from_section`` of ``from_course``
    (at ``school``) continues as the course of ``to_course`` / ``to_section``."""

    school: int
    from_course: str
    from_section: str
    to_course: str
    to_section: str


@dataclass(frozen=True, slots=True)
class SectionMigration:
    """Section migration: ``field`` is the PowerSchool section extension field holding
    ``new_course_id`` or ``new_course_id.new_section_number``. A migration it proposes is
    planned only once listed in ``moves`` (reviewed in git); unlisted ones are reported."""

    field: str
    moves: tuple[SectionMove, ...] = ()


@dataclass(frozen=True, slots=True)
class Connection:
    """One PowerSchool server feeding Moodle. Prefixes keep connections apart."""

    name: str
    powerschool: PowerSchoolSettings
    schools: tuple[int, ...]
    username_prefix: str = ""
    course_number_prefix: str = ""
    course_name_template: str = "{course_name} {section_number} ({term_abbreviation})"
    course_shortname_template: str = (
        "{course_number_prefix}{school_number}-{course_number}-{section_number}-{term_abbreviation}-{year}"
    )
    #: Group-mode courses span a school year: their templates have no section placeholders.
    group_course_name_template: str = "{course_name} ({year_name})"
    group_course_shortname_template: str = "{course_number_prefix}{school_number}-{course_number}-{year}"
    students: PeopleSettings = field(default_factory=PeopleSettings)
    staff: PeopleSettings = field(default_factory=lambda: PeopleSettings(enroll_statuses=()))
    #: PowerSchool section role (``student``, ``lead``, ``co_teacher``...) -> Moodle role shortname.
    roles: tuple[tuple[str, str], ...] = (("co_teacher", "teacher"), ("lead", "editingteacher"), ("student", "student"))
    school_settings: tuple[SchoolSettings, ...] = ()
    section_migration: SectionMigration | None = None

    def settings_for(self, school_number: int) -> SchoolSettings:
        """The settings of one school (an empty one when the config gives none)."""
        for s in self.school_settings:
            if s.number == school_number:
                return s
        return SchoolSettings(school_number)

    @property
    def role_map(self) -> dict[str, str]:
        return dict(self.roles)


class UserRemoval(str, Enum):
    """What happens to an owned account no longer in PowerSchool."""

    SUSPEND = "suspend"
    DELETE = "delete"
    KEEP = "keep"


class EnrolmentRemoval(str, Enum):
    """What happens to an owned enrolment dropped in PowerSchool (suspend keeps grades)."""

    SUSPEND = "suspend"
    UNENROL = "unenrol"
    KEEP = "keep"


class MembershipRemoval(str, Enum):
    """What happens to an owned cohort or group membership no longer implied."""

    REMOVE = "remove"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class RemovalPolicy:
    """Staged removal: suspend before delete, never delete by default."""

    users: UserRemoval = UserRemoval.SUSPEND
    enrolments: EnrolmentRemoval = EnrolmentRemoval.SUSPEND
    cohort_members: MembershipRemoval = MembershipRemoval.REMOVE
    group_members: MembershipRemoval = MembershipRemoval.REMOVE


@dataclass(frozen=True, slots=True)
class Threshold:
    """A brake: at most ``count`` objects and at most ``percent`` of what we own of that kind."""

    count: int | None = None
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class ProtectedRule:
    """Objects never touched: of ``kind``, whose label (username, shortname, idnumber) matches
    the glob ``match``."""

    kind: str
    match: str


@dataclass(frozen=True, slots=True)
class SafetyPolicy:
    """Brakes on removal. ``thresholds`` is keyed by ``<action>`` or ``<action>:<kind>``
    (``suspend``, ``suspend:user``, ``delete``, ``unenrol``, ``remove``...); a per-kind key wins."""

    thresholds: tuple[tuple[str, Threshold], ...] = (
        ("adopt:user", Threshold(count=0)),
        ("delete", Threshold(count=0)),
        ("remove", Threshold(count=500, percent=5.0)),
        ("suspend", Threshold(count=500, percent=5.0)),
        ("unenrol", Threshold(count=500, percent=5.0)),
    )
    #: Percentages apply only once we own at least this many of a kind.
    min_existing: int = 50
    #: Refuse when a school that has students in Moodle returns none from PowerSchool.
    empty_school_guard: bool = True
    #: Refuse a plan that would unenrol, or delete the account of, someone with graded
    #: work in a course (checked in Moodle for exactly those changes).
    graded_work_guard: bool = True
    protected: tuple[ProtectedRule, ...] = ()


@dataclass(frozen=True, slots=True)
class AdoptRule:
    """Take over existing, unowned Moodle objects of ``kind`` whose unique name
    (username for users, shortname for courses, name path for categories, name for
    cohorts) matches the glob ``match``. Each takeover is its own reviewed plan action,
    braked like a removal (``adopt:user`` defaults to 0: a person must say yes).

    ``require`` names attributes the existing object must already share with the one
    PowerSchool implies (``email``, ``firstname``, ``lastname``, ``profile.<field>``,
    ``customfields.<shortname>``...) before it is adopted: a matching login alone is
    not proof that an account belongs to the same person."""

    kind: str
    match: str = "*"
    require: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """``ps2moodle serve``: change sync over HTTPS.

    A full sync runs every ``interval_s`` seconds of quiet; a PowerSchool change
    notification schedules one ``debounce_s`` after the first event of a burst (the
    events meanwhile join it). ``auto_apply`` applies a plan only when the safety gate
    passes it without an override; otherwise plans are only written to ``out_dir`` for
    review, the last ``keep_runs`` of them kept. ``webhook_key`` is the subscription key
    PowerSchool sends back; without it the webhook is off and only the schedule runs.
    ``callback_url`` is where PowerSchool reaches the webhook: with both, serve subscribes
    PowerSchool itself.
    """

    interval_s: float = 3600.0
    debounce_s: float = 60.0
    auto_apply: bool = False
    webhook_key: SecretRef | None = None
    out_dir: str = "plan-output/serve"
    #: Run folders kept (the newest); older ones are deleted after each run.
    keep_runs: int = 100
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, validated config. ``digest`` is the sha256 of its canonical content
    (comments and formatting do not change it); a saved plan records it."""

    moodle: MoodleSettings
    connections: tuple[Connection, ...]
    removal: RemovalPolicy = field(default_factory=RemovalPolicy)
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)
    adopt: tuple[AdoptRule, ...] = ()
    audit_log: str | None = None
    serve: ServeSettings = field(default_factory=ServeSettings)
    source: str = "<memory>"
    digest: str = ""

    def connection(self, name: str) -> Connection:
        for c in self.connections:
            if c.name == name:
                return c
        raise KeyError(name)
