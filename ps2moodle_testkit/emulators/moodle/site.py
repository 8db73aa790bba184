"""The emulated site: its configuration, its tables, its clock and its tokens.

:class:`MoodleSite` is the one object every web-service function works on. It holds
:class:`SiteConfig` (settings a test may change: the service's functions, enabled
auth plugins, debugging, ``max_input_vars``...), one :class:`~.db.Table` per Moodle
table, and the helpers several functions share (contexts, role assignability, the
out-of-band setup steps). ``MoodleSite.fresh()`` builds the site the golden files
were recorded on (see :mod:`.fresh`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ps2moodle_testkit.emulators.moodle import gradebook
from ps2moodle_testkit.emulators.moodle.db import Database, Table
from ps2moodle_testkit.emulators.moodle.errors import missing_record
from ps2moodle_testkit.emulators.moodle.faults import CostModel, Faults, RowLocks
from ps2moodle_testkit.emulators.moodle.fresh import populate
from ps2moodle_testkit.emulators.moodle.model import (
    CONTEXT_BLOCK,
    CONTEXT_COURSE,
    CONTEXT_COURSECAT,
    CONTEXT_MODULE,
    CONTEXT_SYSTEM,
    CONTEXT_USER,
    ENROL_INSTANCE_DISABLED,
    Category,
    Cohort,
    CohortMember,
    Context,
    Course,
    CourseOrder,
    CourseSection,
    EnrolInstance,
    Grade,
    GradeCategory,
    GradeItem,
    Group,
    GroupMember,
    Preference,
    ProfileData,
    ProfileField,
    Role,
    RoleAssignment,
    User,
    UserEnrolment,
)
from ps2moodle_testkit.emulators.moodle.permissions import CAPABILITY_ARCHETYPES, Permissions

if TYPE_CHECKING:
    import httpx

    from ps2moodle_testkit.emulators.http import LoopbackServer

Clock = Callable[[], float]

# Column lengths of mdl_user (lib/db/install.xml); PostgreSQL refuses longer values.
_USER_LENGTHS = {
    "username": 100,
    "firstname": 100,
    "lastname": 100,
    "email": 100,
    "idnumber": 255,
    "city": 120,
    "country": 2,
    "phone1": 20,
    "phone2": 20,
    "institution": 255,
    "department": 255,
    "address": 255,
}


@dataclass
class PasswordPolicy:
    """``$CFG->passwordpolicy`` and its limits (Moodle's defaults)."""

    enabled: bool = True
    minlength: int = 8
    digits: int = 1
    lower: int = 1
    upper: int = 1
    nonalphanum: int = 1


@dataclass
class SiteConfig:
    """Site settings a test or the CLI may change after building the site."""

    sitename: str = "Real Moodle Test"
    wwwroot: str = "http://moodle.test"
    release: str = "4.5.5+ (Build: 20250613)"
    version: str = "2024100705.01"
    #: Plugin versions reported in ``get_site_info`` (core functions report ``version``).
    component_versions: dict[str, str] = field(
        default_factory=lambda: {"enrol_manual": "2024100700", "gradereport_user": "2024100700"}
    )
    #: The functions of the one external service the token belongs to, in service order.
    service_functions: list[str] = field(default_factory=list)
    #: Auth plugins installed (``auth/<name>/auth.php`` exists).
    installed_auths: frozenset[str] = frozenset(
        {"manual", "nologin", "email", "webservice", "ldap", "oauth2", "cas", "db", "lti", "mnet", "none", "shibboleth"}
    )
    #: ``$CFG->auth``: enabled plugins besides manual and nologin, which are always on.
    enabled_auths: tuple[str, ...] = ("email", "webservice")
    enrol_plugins_enabled: tuple[str, ...] = ("manual", "guest", "self", "cohort")
    installed_langs: frozenset[str] = frozenset({"en"})
    installed_themes: frozenset[str] = frozenset({"boost", "classic"})
    #: The capabilities ``PARAM_CAPABILITY`` accepts: those whose holders the emulator knows.
    capabilities: frozenset[str] = frozenset(CAPABILITY_ARCHETYPES)
    max_input_vars: int = 5000
    allowaccountssameemail: bool = False
    extendedusernamechars: bool = False
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    #: The REST protocol; when off the server answers 403 with an empty body.
    rest_enabled: bool = True
    #: Developer debugging: error bodies carry ``debuginfo``.
    debug: bool = False
    #: ``$CFG->coursecontact``: roles listed as course contacts.
    coursecontact_roles: tuple[int, ...] = (3,)
    theme: str = "boost"
    #: Theme revision in image URLs.
    themerev: int = 0
    #: The token owner's private access key, as ``get_site_info`` shows it.
    userprivateaccesskey: str = field(default_factory=lambda: secrets.token_hex(16))


class RequestCount:
    """How many requests the site is handling, and a wait for none."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._count = 0

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is being handled; False after ``timeout_s`` with some still are."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout_s)


class MoodleSite:
    """An in-memory Moodle 4.5 site reachable through its REST web services.

    All state lives here; :meth:`transport` and :meth:`serve` give the two ways in.
    Calls are serialised by :attr:`lock` (Moodle's own isolation is per request, and
    the emulator keeps it simple); timing faults and costs are applied outside it.
    """

    def __init__(self, config: SiteConfig | None = None, clock: Clock = time.time) -> None:
        self.config = config or SiteConfig()
        self.clock = clock
        self.lock = threading.RLock()
        self.faults = Faults()
        self.cost: CostModel | None = None
        #: Rows held by the write calls in flight (used with the cost model).
        self.row_locks = RowLocks()
        self.test_hooks = False
        #: Requests being handled (a client that went away leaves its calls running).
        self.requests = RequestCount()
        #: token -> user id.
        self.tokens: dict[str, int] = {}
        #: What roles allow a user who is not a site admin (see :mod:`.permissions`).
        self.permissions = Permissions()
        self.db = Database()
        db = self.db
        self.users: Table[User] = Table(
            db,
            "user",
            {
                "username": lambda u: (u.mnethostid, u.username),
                "email": lambda u: (u.mnethostid, u.email.lower()),
                "idnumber": lambda u: u.idnumber,
            },
            unique=frozenset({"username"}),
            lengths=_USER_LENGTHS,
        )
        self.profile_fields: Table[ProfileField] = Table(db, "user_info_field", {"shortname": lambda f: f.shortname})
        self.profile_data: Table[ProfileData] = Table(
            db,
            "user_info_data",
            {"user": lambda d: d.userid, "user_field": lambda d: (d.userid, d.fieldid)},
            unique=frozenset({"user_field"}),
        )
        self.preferences: Table[Preference] = Table(
            db,
            "user_preferences",
            {"user": lambda p: p.userid, "user_name": lambda p: (p.userid, p.name)},
            unique=frozenset({"user_name"}),
        )
        self.contexts: Table[Context] = Table(
            db, "context", {"instance": lambda c: (c.contextlevel, c.instanceid)}, unique=frozenset({"instance"})
        )
        self.roles: Table[Role] = Table(db, "role", {"shortname": lambda r: r.shortname})
        self.role_assignments: Table[RoleAssignment] = Table(
            db,
            "role_assignments",
            {
                "context_user": lambda a: (a.contextid, a.userid),
                "context": lambda a: a.contextid,
                "user": lambda a: a.userid,
            },
        )
        self.categories: Table[Category] = Table(
            db,
            "course_categories",
            {"idnumber": lambda c: c.idnumber or None, "parent": lambda c: c.parent},
            lengths={"name": 255, "idnumber": 100},
        )
        self.courses: Table[Course] = Table(
            db,
            "course",
            {
                "shortname": lambda c: c.shortname,
                "idnumber": lambda c: c.idnumber or None,
                "category": lambda c: c.category,
            },
            lengths={"fullname": 254, "shortname": 255, "idnumber": 100},
        )
        self.course_orders: Table[CourseOrder] = Table(db, "course_order")
        self.sections: Table[CourseSection] = Table(db, "course_sections", {"course": lambda s: s.course})
        self.enrol_instances: Table[EnrolInstance] = Table(db, "enrol", {"course": lambda e: e.courseid})
        self.user_enrolments: Table[UserEnrolment] = Table(
            db,
            "user_enrolments",
            {
                "instance_user": lambda e: (e.enrolid, e.userid),
                "instance": lambda e: e.enrolid,
                "user": lambda e: e.userid,
            },
            unique=frozenset({"instance_user"}),
        )
        self.cohorts: Table[Cohort] = Table(
            db, "cohort", {"idnumber": lambda c: c.idnumber}, lengths={"name": 254, "idnumber": 100}
        )
        self.cohort_members: Table[CohortMember] = Table(
            db,
            "cohort_members",
            {
                "cohort_user": lambda m: (m.cohortid, m.userid),
                "cohort": lambda m: m.cohortid,
                "user": lambda m: m.userid,
            },
            unique=frozenset({"cohort_user"}),
        )
        self.groups: Table[Group] = Table(
            db, "groups", {"course": lambda g: g.courseid}, lengths={"name": 254, "idnumber": 100, "enrolmentkey": 50}
        )
        self.group_members: Table[GroupMember] = Table(
            db,
            "groups_members",
            {"group_user": lambda m: (m.groupid, m.userid), "group": lambda m: m.groupid, "user": lambda m: m.userid},
            unique=frozenset({"group_user"}),
        )
        self.grade_categories: Table[GradeCategory] = Table(
            db, "grade_categories", {"course": lambda c: c.courseid}, unique=frozenset({"course"})
        )
        self.grade_items: Table[GradeItem] = Table(db, "grade_items", {"course": lambda i: i.courseid})
        self.grades: Table[Grade] = Table(
            db,
            "grade_grades",
            {"item_user": lambda g: (g.itemid, g.userid), "user": lambda g: g.userid},
            unique=frozenset({"item_user"}),
        )

    @classmethod
    def fresh(cls, token: str = "emulator-token", *, debug: bool = False, clock: Clock = time.time) -> MoodleSite:
        """The site the golden files were recorded on, in its state before the first record.

        ``token`` is a permanent token of the admin (user 2) for the site's service.
        """
        site = cls(clock=clock)
        site.config.debug = debug
        populate(site)
        site.tokens[token] = 2
        return site

    # -- time -------------------------------------------------------------------------

    def now(self) -> int:
        """The site's current unix time."""
        return int(self.clock())

    # -- ways in ----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An ``httpx.MockTransport`` that serves this site in process."""
        from ps2moodle_testkit.emulators.moodle.transport import moodle_transport

        return moodle_transport(self)

    def serve(self, port: int = 0) -> LoopbackServer:
        """Serve this site over HTTP on 127.0.0.1 from a thread; ``.url`` is its base URL, ``.close()`` stops it."""
        from ps2moodle_testkit.emulators.moodle.transport import serve_moodle

        return serve_moodle(self, port)

    # -- configuration knobs ----------------------------------------------------------

    def add_function(self, name: str) -> None:
        """Add a function to the token's service (Site administration > Server > Web services >
        External services > Functions): site info then lists it, and calls are let through."""
        if name not in self.config.service_functions:
            self.config.service_functions.append(name)

    def remove_function(self, name: str) -> None:
        """Take a function out of the token's service (calls then fail with an access exception)."""
        self.config.service_functions = [f for f in self.config.service_functions if f != name]

    def remove_role(self, shortname: str) -> None:
        """Delete a role and its assignments, as deleting it in the admin UI does."""
        role = self.roles.first("shortname", shortname)
        if role is None:
            raise KeyError(f"no role {shortname!r}")
        for assignment in self.role_assignments.by_id():
            if assignment.roleid == role.id:
                self.role_assignments.delete(assignment.id)
        self.roles.delete(role.id)

    def add_profile_field(
        self, shortname: str, name: str, datatype: str = "text", options: tuple[str, ...] = (), default: str = ""
    ) -> ProfileField:
        """Create a custom user profile field."""
        profile_field = ProfileField(self.profile_fields.next_id(), shortname, name, datatype, options, default)
        self.profile_fields.put(profile_field)
        return profile_field

    def remove_profile_field(self, shortname: str) -> None:
        """Delete a custom user profile field and every user's value for it."""
        profile_field = self.profile_fields.first("shortname", shortname)
        if profile_field is None:
            raise KeyError(f"no profile field {shortname!r}")
        for data in self.profile_data.by_id():
            if data.fieldid == profile_field.id:
                self.profile_data.delete(data.id)
        self.profile_fields.delete(profile_field.id)

    def add_token(self, token: str, userid: int = 2) -> None:
        """Issue a permanent token for ``userid`` on the site's service."""
        self.tokens[token] = userid

    def revoke_token(self, token: str) -> None:
        """Delete a token; later calls with it fail with ``invalidtoken``."""
        self.tokens.pop(token, None)

    # -- out-of-band setup steps (the ``{"setup": ...}`` lines of _sequence.jsonl) ----

    def setup(self, name: str, *args: str | int) -> int | None:
        """Apply a change made directly in the site, not through web services.

        - ``unsuspend USERID``: set the user's ``suspended`` flag back to 0;
        - ``delete_manual COURSEID``: delete the course's manual enrol instance;
        - ``disable_manual COURSEID``: disable it (status 1);
        - ``ctx COURSEID``: look up the course's context id (returned);
        - ``create_sync_user``, ``grant_capability``, ``allow_assign``: see :meth:`.Permissions.setup`.
        - the gradebook steps of ``grades/`` (:func:`.gradebook.setup`): ``add_service_function
          NAME`` (:meth:`add_function`, for any function), ``add_graded_item COURSEID ITEMNAME
          [GRADEMAX]``, ``set_grade COURSEID ITEMNAME USERID GRADE`` (``null`` clears it).
        """
        if name in ("create_sync_user", "grant_capability", "allow_assign"):
            with self.lock:
                return self.permissions.setup(self, name, *args)
        with self.lock:
            if name in gradebook.SETUP_STEPS:
                gradebook.setup(self, name, *args)
                return None
            target = int(args[0]) if args else 0
            if name == "unsuspend":
                user = self.users.get(target)
                if user is None:
                    raise KeyError(f"no user {target}")
                self.users.put(replace(user, suspended=False))
                return None
            if name in ("delete_manual", "disable_manual"):
                for instance in self.enrol_instances.find("course", target):
                    if instance.enrol != "manual":
                        continue
                    if name == "delete_manual":
                        self.enrol_instances.delete(instance.id)
                    else:
                        self.enrol_instances.put(replace(instance, status=ENROL_INSTANCE_DISABLED))
                return None
            if name == "ctx":
                context = self.context_of(CONTEXT_COURSE, target)
                if context is None:
                    raise KeyError(f"no course {target}")
                return context.id
        raise ValueError(f"unknown setup step {name!r}")

    # -- helpers shared by the functions -----------------------------------------------

    def context_of(self, level: int, instanceid: int) -> Context | None:
        """The context of an instance (``context_xxx::instance(..., IGNORE_MISSING)``)."""
        return self.contexts.first("instance", (level, instanceid))

    def system_context(self) -> Context:
        """The system context (id 1)."""
        context = self.context_of(CONTEXT_SYSTEM, 0)
        assert context is not None
        return context

    def create_context(self, level: int, instanceid: int, parentid: int | None) -> Context:
        """Create the context of a new instance, taking an id from the context sequence."""
        context = Context(self.contexts.next_id(), level, instanceid, parentid)
        self.contexts.put(context)
        return context

    def parent_context_ids(self, context: Context) -> list[int]:
        """The context and its ancestors, innermost first."""
        chain: list[int] = []
        current: Context | None = context
        while current is not None:
            chain.append(current.id)
            current = self.contexts.get(current.parentid) if current.parentid else None
        return chain

    def last_section_number(self, courseid: int) -> int:
        """A course's highest section number (``get_last_section_number``)."""
        return max((section.section for section in self.sections.find("course", courseid)), default=0)

    def require_local_user(self, userid: int) -> User:
        """A live local user (``get_record('user', [id, deleted=0, mnethostid], MUST_EXIST)``)."""
        user = self.users.get(userid)
        if user is None or user.deleted or user.mnethostid != 1:
            raise missing_record(
                "user", "SELECT * FROM {user} WHERE id = ? AND deleted = ? AND mnethostid = ?", [userid, 0, 1]
            )
        return user

    def is_siteadmin(self, userid: int) -> bool:
        """``is_siteadmin``: the fresh site's only admin is user 2."""
        return userid == 2

    def assignable_roles(self, context: Context) -> list[Role]:
        """``get_assignable_roles`` for a site admin: roles allowed at the context's level."""
        return [role for role in self.roles.by_id() if context.contextlevel in role.contextlevels]

    def auth_is_internal(self, auth: str) -> bool:
        """``auth_plugin_base::is_internal`` for the core plugins."""
        return auth in ("manual", "email", "nologin", "none", "lti", "db", "webservice")

    def category_context(self, categoryid: int) -> Context | None:
        """A category's context, if it exists."""
        return self.context_of(CONTEXT_COURSECAT, categoryid)

    def course_context(self, courseid: int) -> Context | None:
        """A course's context, if it exists."""
        return self.context_of(CONTEXT_COURSE, courseid)

    def context_name_level(self, level: str) -> int | None:
        """A context level from its name (``system``, ``coursecat``...), as ``contextlevel`` params take it."""
        return {
            "system": CONTEXT_SYSTEM,
            "user": CONTEXT_USER,
            "coursecat": CONTEXT_COURSECAT,
            "course": CONTEXT_COURSE,
            "module": CONTEXT_MODULE,
            "block": CONTEXT_BLOCK,
        }.get(level)

    @property
    def installed_auths(self) -> frozenset[str]:
        """For :class:`~.params.Installed`."""
        return self.config.installed_auths

    @property
    def installed_langs(self) -> frozenset[str]:
        """For :class:`~.params.Installed`."""
        return self.config.installed_langs

    @property
    def installed_themes(self) -> frozenset[str]:
        """For :class:`~.params.Installed`."""
        return self.config.installed_themes

    @property
    def capabilities(self) -> frozenset[str]:
        """For :class:`~.params.Installed`."""
        return self.config.capabilities

    @property
    def extendedusernamechars(self) -> bool:
        """For :class:`~.params.Installed`."""
        return self.config.extendedusernamechars
