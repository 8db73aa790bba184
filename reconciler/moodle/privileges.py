"""Which capabilities the token's user holds, found without changing anything (doctor's check).

No web service lists a user's capabilities, so each probe is a call whose answer tells:
a read that shows a field only to holders of a capability, or a write Moodle refuses
*after* its capability check and before it writes (the order of checks in Moodle 4.5's
functions, held to ``shared/golden/moodle/leastpriv``). A missing capability answers
``nopermissions`` (or, for a course context, ``errorcoursecontextnotvalid``); any other
answer means the capability is there:

- ``core_user_get_users_by_field`` of the guest account (id 1): empty without
  moodle/user:viewdetails, no username without viewalldetails, no e-mail without
  moodle/site:viewuseridentity (the silent, error-free refusals of the recording);
- ``core_course_get_categories``: idnumbers only for moodle/category:manage;
- ``core_course_get_courses_by_field`` of the site course: idnumber only for moodle/course:update;
- ``core_group_get_course_groups`` of the site course (it has none);
- ``core_enrol_get_enrolled_users`` of a course the doctor saw (course access, participants);
- ``core_enrol_get_enrolled_users_with_capability`` of that course, without then with
  ``onlyactive`` (moodle/role:review, then moodle/course:enrolreview: Moodle checks them
  in that order, after the participants);
- creating a user whose username is taken, a course whose shortname is taken, enrolling
  or unenrolling in the site course (no manual enrolment there), assigning a role to
  user 0, updating and deleting user 0: refused after the capability check (the front
  page never has an enrolment instance, and user 0 does not exist, so none can write).

Capabilities no such probe reaches (cohorts; the per-field course capabilities) are
reported as not verifiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleError, MoodleResponseError
from reconciler.moodle.live.enrolments import MANY_COURSES

#: The error codes of a capability refusal (a course context the user may not enter counts).
_REFUSED = frozenset({"nopermissions", "errorcoursecontextnotvalid", "requireloginerror"})
_SITE_COURSE = 1
_GUEST = 1


@dataclass(frozen=True, slots=True)
class Privileges:
    """``held``/``lacking``: capabilities a probe showed; the others could not be verified."""

    held: frozenset[str]
    lacking: tuple[str, ...]


def probe_privileges(
    client: MoodleClient,
    capabilities: Sequence[str],
    *,
    username: str,
    role_id: int | None,
    course_id: int | None,
) -> Privileges:
    """Probe each of ``capabilities`` that a probe reaches. ``username`` is the token's
    user (a taken username), ``role_id`` a role the config enrols with, ``course_id`` a
    course other than the site course."""
    prober = _Prober(client, frozenset(capabilities))
    prober.note("webservice/rest:use", True)  # the caller's site-info call was answered
    prober.user_details()
    category = prober.categories()
    shortname = prober.site_course()
    prober.refusal("moodle/course:managegroups", "core_group_get_course_groups", {"courseid": _SITE_COURSE})
    if course_id is not None:
        prober.participants(course_id)
        prober.many_courses(course_id)
    user = {"username": username, "firstname": "probe", "lastname": "probe", "email": "probe@example.invalid"}
    prober.refusal("moodle/user:create", "core_user_create_users", {"users": [{**user, "createpassword": 1}]})
    prober.refusal("moodle/user:update", "core_user_update_users", {"users": [{"id": 0, "auth": "manual"}]})
    prober.refusal("moodle/user:delete", "core_user_delete_users", {"userids": [0]})
    if category is not None and shortname:
        course = {"fullname": "probe", "shortname": shortname, "categoryid": category}
        prober.refusal("moodle/course:create", "core_course_create_courses", {"courses": [course]})
    if role_id is not None:
        enrolment = {"roleid": role_id, "userid": 0, "courseid": _SITE_COURSE}
        prober.refusal("enrol/manual:enrol", "enrol_manual_enrol_users", {"enrolments": [enrolment]})
        assignment = {"roleid": role_id, "userid": 0, "contextlevel": "course", "instanceid": _SITE_COURSE}
        prober.refusal("moodle/role:assign", "core_role_assign_roles", {"assignments": [assignment]})
    unenrolment = {"userid": 0, "courseid": _SITE_COURSE}
    prober.refusal("enrol/manual:unenrol", "enrol_manual_unenrol_users", {"enrolments": [unenrolment]})
    return Privileges(frozenset(prober.held), tuple(c for c in capabilities if c in prober.lacking))


class _Prober:
    def __init__(self, client: MoodleClient, wanted: frozenset[str]) -> None:
        self.client = client
        self.wanted = wanted
        self.held: set[str] = set()
        self.lacking: set[str] = set()

    def note(self, capability: str, held: bool) -> None:
        if capability in self.wanted:
            (self.held if held else self.lacking).add(capability)

    def read(self, function: str, params: dict[str, Any]) -> Any | None:
        try:
            return self.client.call(function, params, raw=True)
        except MoodleError:
            return None

    def refusal(self, capability: str, function: str, params: dict[str, Any]) -> None:
        """A call Moodle refuses whatever happens; only *how* it refuses tells."""
        if capability not in self.wanted:
            return
        try:
            self.client.call(function, params)
        except MoodleResponseError as exc:
            self.note(capability, exc.errorcode not in _REFUSED)
        except MoodleError:
            return  # the site did not answer: not verified
        else:
            self.note(capability, True)

    def user_details(self) -> None:
        found = self.read("core_user_get_users_by_field", {"field": "id", "values": [_GUEST]})
        if not isinstance(found, list):
            return
        self.note("moodle/user:viewdetails", bool(found))
        if found:
            self.note("moodle/user:viewalldetails", "username" in found[0])
            self.note("moodle/site:viewuseridentity", "email" in found[0])

    def categories(self) -> int | None:
        listed = self.read("core_course_get_categories", {})
        if not isinstance(listed, list) or not listed:
            return None
        self.note("moodle/category:manage", all("idnumber" in c for c in listed))
        return int(listed[0]["id"])

    def site_course(self) -> str | None:
        answer = self.read("core_course_get_courses_by_field", {"field": "id", "value": _SITE_COURSE})
        courses = answer.get("courses") if isinstance(answer, dict) else None
        if not courses:
            return None
        self.note("moodle/course:update", "idnumber" in courses[0])
        return str(courses[0].get("shortname") or "") or None

    def participants(self, course_id: int) -> None:
        options = [{"name": "userfields", "value": "id"}, {"name": "limitnumber", "value": 1}]
        try:
            self.client.call("core_enrol_get_enrolled_users", {"courseid": course_id, "options": options}, raw=True)
        except MoodleResponseError as exc:
            if exc.errorcode in ("errorcoursecontextnotvalid", "requireloginerror"):
                self.note("moodle/course:view", False)
            elif exc.errorcode == "nopermissions":
                self.note("moodle/course:view", True)
                self.note("moodle/course:viewparticipants", False)
        except MoodleError:
            return
        else:
            self.note("moodle/course:view", True)
            self.note("moodle/course:viewparticipants", True)

    def many_courses(self, course_id: int) -> None:
        """The capabilities the many-course enrolment read checks beyond the participants."""
        if "moodle/course:viewparticipants" not in self.held:
            return  # refused before the checks that tell
        only_one = {"name": "limitnumber", "value": 1}
        course = [{"courseid": course_id, "capabilities": [""]}]
        for capability, options in (
            ("moodle/role:review", [only_one]),
            ("moodle/course:enrolreview", [only_one, {"name": "onlyactive", "value": 1}]),
        ):
            if capability not in self.wanted:
                continue
            try:
                self.client.call(MANY_COURSES, {"coursecapabilities": course, "options": options}, raw=True)
            except MoodleResponseError as exc:
                if exc.errorcode != "nopermissions":
                    return  # not in the service, or the site did not answer: not verified
                self.note(capability, False)
                return  # the next check is never reached
            except MoodleError:
                return
            self.note(capability, True)
