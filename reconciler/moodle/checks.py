"""Is this Moodle ready for the tool? The checks behind ``ps2moodle doctor`` (no printing).

Moodle's web services list neither roles, nor auth plugins, nor custom profile fields,
so some checks ask Moodle a question it can only answer by refusing, *before* it writes
anything (each probe is a call Moodle rejects during validation):

- **auth plugins**: ``core_user_update_users`` for user id 0 with ``auth=X``. Moodle
  validates ``auth`` against the installed plugins first (invalid parameter when it is
  not installed), then finds no user 0 and answers with an ``invaliduserid`` warning.
  Whether the plugin is *enabled* is not visible; a disabled one cannot log in.
- **roles**: ``core_role_assign_roles`` of the role's id to user 0 in the site course.
  Moodle refuses a role the account cannot assign in courses (invalid parameter: the role
  is missing, or not assignable), and otherwise stops at ``role_assign``'s "userid can not
  be empty" (coding error). Which shortname an id carries is only visible on enrolments,
  so roles are also learned from a sample of owned courses (see :mod:`.roles`).
- **custom profile fields** can only be seen as values on user records (empty ones are
  left out). A field seen on a sampled owned account exists; one that none of the
  sampled owned accounts has is reported as a problem (missing, hidden from the
  service account, or never filled); before the first sync it cannot be verified.
- **max_input_vars**: a ``core_user_get_users_by_field`` request exactly as long as the
  configured limit, its ``field`` parameter last: a server with a lower limit drops it
  and refuses the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reconciler.config.model import Config
from reconciler.model import OWNED_PREFIX
from reconciler.moodle.client import RESERVED_FIELDS, MoodleClient
from reconciler.moodle.errors import InvalidParameter, InvalidToken, MoodleError, MoodleResponseError
from reconciler.moodle.grades import FUNCTION as GRADE_FUNCTION
from reconciler.moodle.privileges import probe_privileges
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.setup import SPEED_ONLY, SiteNeeds, site_needs
from reconciler.words import count

#: The Moodle version the tool is held to (4.5).
TESTED_VERSION = "2024100700"
#: Owned courses whose enrolled accounts are sampled for roles and profile fields.
SAMPLE_COURSES = 5
#: Auth plugins core_user_create_users refuses outright.
_NO_CREATE_AUTHS = frozenset({"mnet", "webservice"})


class Level(str, Enum):
    """How a finding affects readiness: only problems make doctor fail."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result: what was checked, what was found, and how to fix it."""

    level: Level
    subject: str
    detail: str
    fix: str = ""


def check_moodle(client: MoodleClient, config: Config, roles: RoleMap | None = None) -> list[Finding]:
    """Every Moodle check, in order; stops early when the site cannot be used at all."""
    return _Doctor(client, config, roles or RoleMap.from_settings(config.moodle)).run()


class _Doctor:
    def __init__(self, client: MoodleClient, config: Config, roles: RoleMap) -> None:
        self.client = client
        self.config = config
        self.roles = roles
        self.findings: list[Finding] = []
        self.functions: set[str] = set()
        self.userid = 0
        self.siteid = 1
        self.username = ""
        self.siteadmin = False
        self.needs: SiteNeeds = site_needs(config)
        #: A course other than the site course, seen while sampling (for the privilege probes).
        self.course_id: int | None = None

    def add(self, level: Level, subject: str, detail: str, fix: str = "") -> None:
        self.findings.append(Finding(level, subject, detail, fix))

    def has(self, *functions: str) -> bool:
        return all(f in self.functions for f in functions)

    def run(self) -> list[Finding]:
        if not self.site():
            return self.findings
        self.service_functions()
        self.grade_report()
        if self.has("core_user_get_users_by_field"):
            self.input_vars()
            self.debug_details()
        sampled = (
            self.sample() if self.has("core_course_get_courses_by_field", "core_enrol_get_enrolled_users") else None
        )
        if self.has("core_user_update_users"):
            self.auths()
        if self.has("core_role_assign_roles"):
            self.role_checks()
        if not self.siteadmin:
            self.privileges()
        self.profile_fields(sampled)
        return self.findings

    def site(self) -> bool:
        try:
            info = self.client.call("core_webservice_get_site_info")
        except InvalidToken as exc:
            self.add(
                Level.PROBLEM,
                "Moodle token",
                str(exc),
                "create a token for the service account (Site administration > Server > Web services > Manage "
                f"tokens) and put it where moodle.token points ({self.config.moodle.token})",
            )
            return False
        except MoodleResponseError as exc:
            fix = f"check moodle.url ({self.client.url}) and the account"
            if exc.errorcode == "accessexception":
                fix = (
                    "the token's user needs webservice/rest:use at system context and must be an authorised user "
                    "of the token's service (see `ps2moodle moodle-setup CONFIG`)"
                )
            self.add(Level.PROBLEM, "Moodle site", str(exc), fix)
            return False
        except MoodleError as exc:
            self.add(Level.PROBLEM, "Moodle site", str(exc), f"check moodle.url ({self.client.url}) and the account")
            return False
        self.userid = int(info.get("userid") or 0)
        self.siteid = int(info.get("siteid") or 1)
        self.functions = {str(f["name"]) for f in info.get("functions") or ()}
        self.username = str(info.get("username") or "")
        self.siteadmin = bool(info.get("userissiteadmin"))
        who = f"{self.username} (user id {self.userid}{', site admin' if self.siteadmin else ''})"
        self.add(Level.OK, "Moodle site", f"{info.get('sitename')}: Moodle {info.get('release')}, token of {who}")
        if self.siteadmin:
            self.add(
                Level.WARNING,
                "Least privilege",
                "the token belongs to a site administrator: the sync works, but it holds every right on the site",
                "give the sync its own user with the role `ps2moodle moodle-setup CONFIG` defines, and a token for it",
            )
        if str(info.get("version", "")) < TESTED_VERSION:
            self.add(
                Level.WARNING,
                "Moodle version",
                f"version {info.get('version')} is older than Moodle 4.5, which the tool is tested against",
            )
        return True

    def service_functions(self) -> None:
        wanted = [f for f in self.needs.functions if f not in SPEED_ONLY]
        missing = [f for f in wanted if f not in self.functions]
        slower = [f for f in self.needs.functions if f in SPEED_ONLY and f not in self.functions]
        if slower:
            self.add(
                Level.WARNING,
                "Web-service functions",
                f"{', '.join(slower)} not in the token's service: apply checks a plan by reading its courses one "
                "by one, several times slower on a large change",
                "add it to the token's external service (`ps2moodle moodle-setup CONFIG` lists its capabilities)",
            )
        if not missing:
            self.add(Level.OK, "Web-service functions", f"all {len(wanted)} the tool needs are available")
            return
        self.add(
            Level.PROBLEM,
            "Web-service functions",
            f"{count(len(missing), 'function')} the tool calls {'is' if len(missing) == 1 else 'are'} "
            "not in the token's service:\n" + "\n".join(f"  {name}" for name in missing),
            "add them to the token's external service (Site administration > Server > Web services > "
            "External services > Functions)",
        )

    def grade_report(self) -> None:
        if self.has(GRADE_FUNCTION):
            self.add(Level.OK, "Graded work", "plans mark changes that take someone away from graded work")
            return
        self.add(
            Level.WARNING,
            "Graded work",
            f"{GRADE_FUNCTION} is not in the token's service: plans cannot say who would lose access to graded "
            "work, and refuse unenrolments and account deletions they could not check",
            f"add {GRADE_FUNCTION} to the token's external service (capabilities gradereport/user:view and "
            "moodle/grade:viewall)",
        )

    def input_vars(self) -> None:
        limit = self.client.max_input_vars
        values = [self.userid] * (limit - RESERVED_FIELDS - 1)
        try:
            self.client.call("core_user_get_users_by_field", {"values": values, "field": "id"})
        except InvalidParameter:
            self.add(
                Level.PROBLEM,
                "max_input_vars",
                f"a request of {limit} form fields lost its last field: the site's PHP max_input_vars is lower "
                f"than moodle.max_input_vars={limit}, so large batches would be cut short silently",
                "set moodle.max_input_vars to the site's php.ini max_input_vars (Moodle 4.5 requires at least 5000)",
            )
        except MoodleError as exc:
            self.add(Level.WARNING, "max_input_vars", f"could not be checked: {exc}")
        else:
            self.add(Level.OK, "max_input_vars", f"the site takes requests of {limit} form fields")

    def debug_details(self) -> None:
        try:
            self.client.call("core_user_get_users_by_field", {"values": ["x"], "field": "id"})
        except MoodleResponseError as exc:
            if exc.debuginfo:
                self.add(Level.OK, "Error details", "Moodle says why it refuses a value")
                return
        except MoodleError:
            return
        self.add(
            Level.WARNING,
            "Error details",
            "Moodle hides why it refuses a value (every refusal reads 'Invalid parameter value detected')",
            f"add user id {self.userid} to Site administration > Development > Debugging > debugusers",
        )

    def sample(self) -> list[dict[str, Any]]:
        """Owned accounts from a few owned courses; teaches the role map their roles."""
        try:
            answer = self.client.call("core_course_get_courses_by_field", {}, raw=True)
        except MoodleError as exc:
            self.add(Level.WARNING, "Owned courses", f"could not be listed: {exc}")
            return []
        courses = [c for c in answer.get("courses") or () if c.get("format") != "site"]
        if any("idnumber" not in c for c in courses):
            self.add(
                Level.PROBLEM,
                "Ownership",
                "the service account cannot see course idnumbers, so it cannot tell which courses are the tool's",
                "give it moodle/course:update on the site (or make it a site admin)",
            )
        owned = [int(c["id"]) for c in courses if str(c.get("idnumber", "")).startswith(OWNED_PREFIX)]
        self.course_id = next((int(c["id"]) for c in courses), None)
        options = [{"name": "userfields", "value": "id,idnumber,customfields,roles"}]
        calls = [("core_enrol_get_enrolled_users", {"courseid": cid, "options": options}) for cid in owned]
        try:
            answers = self.client.call_many(calls[:SAMPLE_COURSES], raw=True)
        except MoodleError as exc:
            self.add(Level.WARNING, "Owned accounts", f"could not be sampled: {exc}")
            return []
        records = [rec for answer in answers for rec in answer]
        for rec in records:
            self.roles.learn((int(r["roleid"]), str(r["shortname"])) for r in rec.get("roles") or ())
        return [r for r in records if str(r.get("idnumber", "")).startswith(OWNED_PREFIX)]

    def privileges(self) -> None:
        """The capabilities the token's role holds, as far as probes that write nothing can tell."""
        wanted = self.needs.capabilities
        known = (self.roles.lookup(name) for name in self.needs.assignable_roles)
        role_id = next((found[0] for found in known if found is not None), None)
        found = probe_privileges(self.client, wanted, username=self.username, role_id=role_id, course_id=self.course_id)
        if found.lacking:
            self.add(
                Level.PROBLEM,
                "Capabilities",
                f"the token's role lacks {len(found.lacking)} capability(ies) the sync needs: "
                + ", ".join(found.lacking),
                "allow them in the sync role at system context (Site administration > Users > Permissions > Define "
                "roles), or import the role `ps2moodle moodle-setup CONFIG --format xml` writes",
            )
        unverified = [c for c in wanted if c not in found.held and c not in found.lacking]
        detail = f"{len(found.held)} of the {len(wanted)} the sync needs verified"
        if unverified:
            detail += f"; not verifiable without writing: {', '.join(unverified)}"
        self.add(Level.OK, "Capabilities", detail)

    def auths(self) -> None:
        for auth in sorted({p.auth for c in self.config.connections for p in (c.students, c.staff)}):
            subject = f"Auth plugin {auth}"
            if auth in _NO_CREATE_AUTHS:
                self.add(Level.PROBLEM, subject, "Moodle does not create accounts with this auth method")
                continue
            try:
                self.client.call("core_user_update_users", {"users": [{"auth": auth, "id": 0}]})
            except InvalidParameter:
                self.add(
                    Level.PROBLEM,
                    subject,
                    "not installed on the site",
                    "install the plugin, or change students.auth / staff.auth",
                )
            except MoodleError as exc:
                self.add(Level.WARNING, subject, f"could not be checked: {exc}")
            else:
                self.add(Level.OK, subject, "installed (doctor cannot see whether it is enabled for login)")

    def role_checks(self) -> None:
        for name in sorted({moodle for c in self.config.connections for _, moodle in c.roles}):
            subject = f"Role {name}"
            found = self.roles.lookup(name)
            if found is None:
                self.add(
                    Level.PROBLEM,
                    subject,
                    "no Moodle role id is known for this shortname",
                    f"set moodle.role_ids.{name} to its id (Site administration > Users > Permissions > Define roles)",
                )
                continue
            roleid, source = found
            probe = {"contextlevel": "course", "instanceid": self.siteid, "roleid": roleid, "userid": 0}
            try:
                self.client.call("core_role_assign_roles", {"assignments": [probe]})
            except InvalidParameter:
                self.add(
                    Level.PROBLEM,
                    subject,
                    f"id {roleid} ({source}) cannot be assigned in courses: no such role on this site, or the "
                    "service account may not assign it",
                    f"set moodle.role_ids.{name} to the role's id, or allow the service account's role to assign it "
                    "(Site administration > Users > Permissions > Define roles > Allow role assignments)",
                )
            except MoodleResponseError as exc:
                if exc.errorcode == "codingerror":
                    self.add(Level.OK, subject, f"id {roleid} ({source}), assignable in courses")
                else:
                    self.add(Level.WARNING, subject, f"id {roleid} ({source}) could not be checked: {exc}")
            except MoodleError as exc:
                self.add(Level.WARNING, subject, f"id {roleid} ({source}) could not be checked: {exc}")
            else:
                self.add(Level.WARNING, subject, f"id {roleid}: Moodle accepted a probe it should refuse")

    def profile_fields(self, sampled: list[dict[str, Any]] | None) -> None:
        wanted = sorted(
            {cf.moodle for c in self.config.connections for p in (c.students, c.staff) for cf in p.custom_fields}
        )
        if not wanted:
            return
        seen = _shortnames(sampled or [])
        for name in wanted:
            subject = f"Profile field {name}"
            if name in seen:
                self.add(Level.OK, subject, f"seen on {seen[name]} of {len(sampled or [])} sampled owned accounts")
            elif sampled:
                self.add(
                    Level.PROBLEM,
                    subject,
                    f"none of the {len(sampled)} sampled owned accounts has a value in it: the field does not "
                    "exist, is hidden from the service account, or was never filled (Moodle ignores unknown "
                    "fields silently)",
                    f"create it with shortname {name} in Site administration > Users > Accounts > User profile fields",
                )
            else:
                self.add(
                    Level.WARNING,
                    subject,
                    "cannot be verified before the first sync: Moodle lists no profile fields and ignores unknown "
                    "ones silently",
                    f"check that a field with shortname {name} exists in Site administration > Users > Accounts > "
                    "User profile fields",
                )


def _shortnames(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How many records carry a value in each custom profile field."""
    counts: dict[str, int] = {}
    for rec in records:
        for name in {str(cf.get("shortname")) for cf in rec.get("customfields") or ()}:
            counts[name] = counts.get(name, 0) + 1
    return counts
