"""The rows of the emulated Moodle database: one frozen dataclass per table.

Field names follow Moodle's columns (``lib/db/install.xml``) so the code reads like
the PHP it mirrors. Only the columns the web services read or write are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

# Context levels (CONTEXT_*).
CONTEXT_SYSTEM = 10
CONTEXT_USER = 30
CONTEXT_COURSECAT = 40
CONTEXT_COURSE = 50
CONTEXT_MODULE = 70
CONTEXT_BLOCK = 80

# Enrolment and enrol-instance statuses (ENROL_*).
ENROL_USER_ACTIVE = 0
ENROL_USER_SUSPENDED = 1
ENROL_INSTANCE_ENABLED = 0
ENROL_INSTANCE_DISABLED = 1

FORMAT_HTML = 1
SITEID = 1


@dataclass(frozen=True, slots=True)
class User:
    """``mdl_user``."""

    id: int
    username: str
    email: str
    firstname: str
    lastname: str
    auth: str = "manual"
    password: str = ""
    idnumber: str = ""
    confirmed: bool = True
    deleted: bool = False
    suspended: bool = False
    mnethostid: int = 1
    phone1: str = ""
    phone2: str = ""
    institution: str = ""
    department: str = ""
    address: str = ""
    city: str = ""
    country: str = ""
    lang: str = "en"
    calendartype: str = "gregorian"
    theme: str = ""
    timezone: str = "99"
    firstaccess: int = 0
    lastaccess: int = 0
    description: str | None = None
    descriptionformat: int = FORMAT_HTML
    mailformat: int = 1
    maildisplay: int = 2
    trackforums: int = 0
    firstnamephonetic: str = ""
    lastnamephonetic: str = ""
    middlename: str = ""
    alternatename: str = ""
    interests: str = ""
    timecreated: int = 0
    timemodified: int = 0

    @property
    def fullname(self) -> str:
        """Moodle's default ``fullnamedisplay``: first name, a space, last name."""
        return f"{self.firstname} {self.lastname}"


@dataclass(frozen=True, slots=True)
class ProfileField:
    """``mdl_user_info_field``: a custom user profile field."""

    id: int
    shortname: str
    name: str
    datatype: str = "text"
    options: tuple[str, ...] = ()
    defaultdata: str = ""


@dataclass(frozen=True, slots=True)
class ProfileData:
    """``mdl_user_info_data``: one user's value for one profile field."""

    id: int
    userid: int
    fieldid: int
    data: str


@dataclass(frozen=True, slots=True)
class Preference:
    """``mdl_user_preferences``."""

    id: int
    userid: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Context:
    """``mdl_context``."""

    id: int
    contextlevel: int
    instanceid: int
    parentid: int | None


@dataclass(frozen=True, slots=True)
class Role:
    """``mdl_role`` plus the context levels it can be assigned at."""

    id: int
    shortname: str
    archetype: str
    sortorder: int
    contextlevels: tuple[int, ...]
    name: str = ""


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """``mdl_role_assignments``."""

    id: int
    roleid: int
    contextid: int
    userid: int
    component: str = ""
    itemid: int = 0
    timemodified: int = 0


@dataclass(frozen=True, slots=True)
class Category:
    """``mdl_course_categories``."""

    id: int
    name: str
    parent: int
    sortorder: int
    path: str
    depth: int
    idnumber: str | None = None
    description: str = ""
    descriptionformat: int = FORMAT_HTML
    visible: int = 1
    visibleold: int = 1
    timemodified: int = 0
    theme: str = ""


@dataclass(frozen=True, slots=True)
class Course:
    """``mdl_course`` with the format options the web services expose."""

    id: int
    category: int
    sortorder: int
    fullname: str
    shortname: str
    idnumber: str = ""
    summary: str = ""
    summaryformat: int = FORMAT_HTML
    format: str = "topics"
    showgrades: int = 1
    newsitems: int = 5
    startdate: int = 0
    enddate: int = 0
    marker: int = 0
    maxbytes: int = 0
    legacyfiles: int = 0
    showreports: int = 0
    visible: int = 1
    visibleold: int = 1
    groupmode: int = 0
    groupmodeforce: int = 0
    defaultgroupingid: int = 0
    lang: str = ""
    calendartype: str = ""
    theme: str = ""
    timecreated: int = 0
    timemodified: int = 0
    requested: int = 0
    enablecompletion: int = 1
    completionnotify: int = 0
    cacherev: int = 0
    showactivitydates: bool = True
    showcompletionconditions: bool | None = True
    hiddensections: int = 1
    coursedisplay: int = 0


@dataclass(frozen=True, slots=True)
class CourseSection:
    """``mdl_course_sections``: section 0 (general) and the numbered sections of a course."""

    id: int
    course: int
    section: int
    name: str | None = None
    summary: str = ""
    summaryformat: int = FORMAT_HTML
    visible: int = 1


@dataclass(frozen=True, slots=True)
class CourseOrder:
    """A category's courses in sortorder (keyed by category id); ``None`` is a departed course's gap."""

    id: int
    courses: tuple[int | None, ...] = ()


@dataclass(frozen=True, slots=True)
class EnrolInstance:
    """``mdl_enrol``: one enrolment method of one course."""

    id: int
    enrol: str
    courseid: int
    status: int
    sortorder: int
    roleid: int = 0


@dataclass(frozen=True, slots=True)
class UserEnrolment:
    """``mdl_user_enrolments``."""

    id: int
    enrolid: int
    userid: int
    status: int = ENROL_USER_ACTIVE
    timestart: int = 0
    timeend: int = 0
    timecreated: int = 0
    timemodified: int = 0


@dataclass(frozen=True, slots=True)
class Cohort:
    """``mdl_cohort``."""

    id: int
    contextid: int
    name: str
    idnumber: str
    description: str = ""
    descriptionformat: int = FORMAT_HTML
    visible: bool = True
    theme: str = ""
    timecreated: int = 0
    timemodified: int = 0


@dataclass(frozen=True, slots=True)
class CohortMember:
    """``mdl_cohort_members``."""

    id: int
    cohortid: int
    userid: int
    timeadded: int = 0


@dataclass(frozen=True, slots=True)
class Group:
    """``mdl_groups``."""

    id: int
    courseid: int
    name: str
    idnumber: str = ""
    description: str = ""
    descriptionformat: int = FORMAT_HTML
    enrolmentkey: str | None = None
    visibility: int = 0
    participation: bool = True
    timecreated: int = 0
    timemodified: int = 0


@dataclass(frozen=True, slots=True)
class GroupMember:
    """``mdl_groups_members``."""

    id: int
    groupid: int
    userid: int
    component: str = ""
    itemid: int = 0
    timeadded: int = 0
