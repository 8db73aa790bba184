"""``core_course_*_courses`` and ``get_courses_by_field``: courses and their settings.

Mirrors ``course/externallib.php`` and ``course/lib.php`` (``create_course``,
``update_course``, ``delete_course``) of Moodle 4.5. Creation is all-or-nothing;
update and delete are not transactional and report per-course warnings, and an update
can fail half-way after writing the course row (moving into a missing category).
``get_courses`` reads without ORDER BY, so it lists courses in storage order.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.errors import (
    MoodleError,
    invalid_parameter,
    missing_record,
    moodle_exception,
    php_error,
)
from ps2moodle_testkit.emulators.moodle.formatting import course_image_url, format_string, format_text, validate_format
from ps2moodle_testkit.emulators.moodle.model import (
    CONTEXT_COURSE,
    ENROL_INSTANCE_DISABLED,
    ENROL_INSTANCE_ENABLED,
    ENROL_USER_ACTIVE,
    SITEID,
    Course,
    CourseSection,
    EnrolInstance,
)
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Param,
    Single,
    Value,
    clean_param,
    default,
    opt,
    optional,
    warnings_description,
)
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.moodle.sortorder import (
    course_sortorder,
    course_sortorders,
    move_courses,
    place_new_course,
    remove_course,
)

_YEAR = 365 * 24 * 3600
_FILTERS = ("displayh5p", "activitynames", "mathjaxloader", "emoticon", "urltolink", "mediaplugin")
_COURSE_COLUMNS = frozenset(f.name for f in fields(Course))
# Default instances of the enabled enrol plugins: (plugin, status).
_DEFAULT_INSTANCES = (
    ("manual", ENROL_INSTANCE_ENABLED),
    ("guest", ENROL_INSTANCE_DISABLED),
    ("self", ENROL_INSTANCE_DISABLED),
)


_FORMAT_OPTIONS_IN = optional(Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})))
_CUSTOM_FIELDS_IN = optional(Multiple(Single({"shortname": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})))

_CREATE_COURSE = Single(
    {
        "fullname": Value(Param.TEXT),
        "shortname": Value(Param.TEXT),
        "categoryid": Value(Param.INT),
        "idnumber": opt(Param.RAW),
        "summary": opt(Param.RAW),
        "summaryformat": default(Value(Param.INT), 1),
        "format": default(Value(Param.PLUGIN), "topics"),
        "showgrades": default(Value(Param.INT), 1),
        "newsitems": default(Value(Param.INT), 5),
        "startdate": opt(Param.INT),
        "enddate": opt(Param.INT),
        "numsections": opt(Param.INT),
        "maxbytes": default(Value(Param.INT), 0),
        "showreports": default(Value(Param.INT), 0),
        "visible": opt(Param.INT),
        "hiddensections": opt(Param.INT),
        "groupmode": default(Value(Param.INT), 0),
        "groupmodeforce": default(Value(Param.INT), 0),
        "defaultgroupingid": default(Value(Param.INT), 0),
        "enablecompletion": opt(Param.INT),
        "completionnotify": opt(Param.INT),
        "lang": opt(Param.SAFEDIR),
        "forcetheme": opt(Param.PLUGIN),
        "courseformatoptions": _FORMAT_OPTIONS_IN,
        "customfields": _CUSTOM_FIELDS_IN,
    }
)


def course_context_id(site: MoodleSite, courseid: int) -> int:
    """The context id of an existing course."""
    context = site.course_context(courseid)
    return context.id if context is not None else 0


def _tomorrow_midnight(site: MoodleSite) -> int:
    # The course form's default start: midnight after now, in the server timezone (UTC).
    day = datetime.fromtimestamp(site.now(), UTC).date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _validate_dates(data: dict[str, Any]) -> None:
    """``course_validate_dates`` on the fields given."""
    start, end = data.get("startdate"), data.get("enddate")
    if start and end and end < start:
        raise moodle_exception("enddatebeforestartdate", "The course end date must be after the start date.")
    if not start and end:
        raise moodle_exception("nostartdatenoenddate", "This course has no start date so it cannot have an end date.")


def _invalid_param(name: str) -> MoodleError:
    return moodle_exception("errorinvalidparam", f'The param "{name}" is invalid.')


@external(
    "core_course_create_courses",
    Single({"courses": Multiple(_CREATE_COURSE)}),
    Multiple(Single({"id": Value(Param.INT), "shortname": Value(Param.RAW)})),
    items=input_items("courses"),
)
def create_courses(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Create courses, all or nothing, each with the default enrol instances."""
    site = call.site
    created = []
    with site.db.transaction():
        for data in params["courses"]:
            category = site.categories.get(data["categoryid"])
            if category is None:
                raise moodle_exception(
                    "errorcatcontextnotvalid",
                    f"You cannot execute functions in the category context (category id:{data['categoryid']}). "
                    "The context error message was: Invalid parameter value detected",
                )
            if php.trim(data["fullname"]) == "":
                raise _invalid_param("fullname")
            if php.trim(data["shortname"]) == "":
                raise _invalid_param("shortname")
            if "lang" in data and data["lang"] not in site.config.installed_langs:
                raise _invalid_param("lang")
            validate_format(data["summaryformat"])
            course = _create_course(site, data, category.visible)
            created.append({"id": course.id, "shortname": course.shortname})
    return created


def _format_options(data: dict[str, Any]) -> dict[str, Any]:
    """Course format options sent in ``courseformatoptions`` become course settings."""
    options = {item["name"]: item["value"] for item in data.get("courseformatoptions") or []}
    return {key: php.intval(value) for key, value in options.items() if key in ("hiddensections", "coursedisplay")}


def _check_unique(site: MoodleSite, data: dict[str, Any], old: Course | None) -> None:
    """Shortname and non-empty idnumber unique among courses (compared exactly, as on PostgreSQL).

    On update only a changed value is checked, against the other courses.
    """
    for field, code, what in (
        ("shortname", "shortnametaken", "Short name"),
        ("idnumber", "courseidnumbertaken", "ID number"),
    ):
        value = data.get(field)
        if not value or (old is not None and value == getattr(old, field)):
            continue
        if any(old is None or course.id != old.id for course in site.courses.find(field, value)):
            raise moodle_exception(code, f"{what} is already used for another course ({value})")


def _create_course(site: MoodleSite, data: dict[str, Any], category_visible: int) -> Course:
    """``create_course``: uniqueness, dates, defaults, context, enrol instances, sortorder."""
    if site.courses.find("shortname", data["shortname"]):
        raise moodle_exception("shortnametaken", f"Short name is already used for another course ({data['shortname']})")
    if data.get("idnumber") and site.courses.find("idnumber", data["idnumber"]):
        raise moodle_exception(
            "courseidnumbertaken", f"ID number is already used for another course ({data['idnumber']})"
        )
    _validate_dates(data)
    now = site.now()
    startdate = data["startdate"] if "startdate" in data else _tomorrow_midnight(site)
    columns = {key: value for key, value in data.items() if key in _COURSE_COLUMNS}
    columns |= _format_options(data)
    columns.setdefault("visible", category_visible)
    columns.setdefault("enablecompletion", 1)
    course = Course(
        **{
            **columns,
            "id": site.courses.next_id(),
            "category": data["categoryid"],
            "sortorder": 0,
            "theme": "",
            "startdate": startdate,
            "enddate": data.get("enddate", startdate + _YEAR if startdate else 0),
            "visibleold": columns["visible"],
            "timecreated": now,
            "timemodified": now,
            "cacherev": now,
        }
    )
    site.courses.put(course)
    category_context = site.category_context(course.category)
    site.create_context(CONTEXT_COURSE, course.id, category_context.id if category_context else None)
    place_new_course(site, course)
    for number in range(data.get("numsections", 0) + 1):
        site.sections.put(CourseSection(site.sections.next_id(), course.id, number))
    for sortorder, (plugin, status) in enumerate(
        p for p in _DEFAULT_INSTANCES if p[0] in site.config.enrol_plugins_enabled
    ):
        roleid = 5 if plugin in ("manual", "self") else 0
        site.enrol_instances.put(
            EnrolInstance(site.enrol_instances.next_id(), plugin, course.id, status, sortorder, roleid)
        )
    return course


_UPDATE_COURSE = Single(
    {"id": Value(Param.INT)}
    | {
        key: optional(desc)
        for key, desc in _CREATE_COURSE.keys.items()
        if key not in ("courseformatoptions", "customfields")
    }
    | {"courseformatoptions": _FORMAT_OPTIONS_IN, "customfields": _CUSTOM_FIELDS_IN}
)


@external(
    "core_course_update_courses",
    Single({"courses": Multiple(_UPDATE_COURSE)}),
    Single({"warnings": warnings_description()}),
    items=input_items("courses"),
)
def update_courses(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Update courses without a transaction; each failure becomes a warning, earlier writes stay."""
    warnings = []
    for data in params["courses"]:
        try:
            _update_one(call.site, data)
        except MoodleError as error:
            warnings.append(
                {"item": "course", "itemid": data["id"], "warningcode": error.errorcode, "message": error.message}
            )
    return {"warnings": warnings}


def _update_one(site: MoodleSite, data: dict[str, Any]) -> None:
    old = site.courses.get(data["id"])
    if old is None:
        raise missing_record("course", "SELECT id,category FROM {course} WHERE id = ?", [data["id"]])
    for name in ("fullname", "shortname"):
        if name in data and data[name] != getattr(old, name) and php.trim(data[name]) == "":
            raise _invalid_param(name)
    if "lang" in data and data["lang"] != old.lang and data["lang"] not in site.config.installed_langs:
        raise _invalid_param("lang")
    if "summaryformat" in data and data["summaryformat"] != old.summaryformat:
        validate_format(data["summaryformat"])
    _update_course(site, old, data)


def _update_course(site: MoodleSite, old: Course, data: dict[str, Any]) -> None:
    """``update_course``: checks, then the row write, then the category move that may fail."""
    if old.id == SITEID:
        raise moodle_exception("invalidcourse", "error/invalidcourse")
    _check_unique(site, data, old)
    _validate_dates(data)
    changes = {key: value for key, value in data.items() if key in _COURSE_COLUMNS and key != "id"}
    changes |= _format_options(data)
    movecat = bool(data.get("categoryid")) and data["categoryid"] != old.category
    if movecat:
        changes["category"] = data["categoryid"]
    visible = changes.get("visible", old.visible)
    if visible != old.visible:
        changes["visibleold"] = visible
    elif movecat:
        category = site.categories.get(data["categoryid"])
        if category is None or not category.visible:
            # Moving into a hidden (or missing) category hides the course.
            changes["visible"] = 0
    now = site.now()
    # The row keeps the number it has now; it shows only if the course's category disappears.
    number = course_sortorder(site, old)
    course = replace(old, timemodified=now, cacherev=max(now, old.cacherev + 1), sortorder=number, **changes)
    site.courses.put(course)
    if movecat:
        remove_course(site, old)
        category_context = site.category_context(course.category)
        if category_context is None:
            raise missing_record(
                "course_categories", "SELECT * FROM {course_categories} WHERE id = ?", [course.category]
            )
        context = site.course_context(course.id)
        if context is not None:
            site.contexts.put(replace(context, parentid=category_context.id))
        move_courses(site, [course])


_DELETE_PARAMS = Single({"courseids": Multiple(Value(Param.INT))})


@external(
    "core_course_delete_courses",
    _DELETE_PARAMS,
    Single({"warnings": warnings_description()}),
    items=input_items("courseids"),
)
def delete_courses(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Delete courses one by one, no transaction; unknown ids and the front page become warnings."""
    site = call.site
    warnings = []
    for courseid in params["courseids"]:
        course = site.courses.get(courseid)
        if course is None:
            warnings.append(
                {
                    "item": "course",
                    "itemid": courseid,
                    "warningcode": "unknowncourseidnumber",
                    "message": f"Unknown course ID {courseid}",
                }
            )
            continue
        if course.id == SITEID:
            warnings.append(
                {
                    "item": "course",
                    "itemid": courseid,
                    "warningcode": "cannotdeletecategorycourse",
                    "message": f"Course {courseid} failed to be deleted",
                }
            )
            continue
        delete_course(site, course)
    return {"warnings": warnings}


def delete_course(site: MoodleSite, course: Course) -> None:
    """``delete_course``: the course, its context, enrolments, roles and groups."""
    for instance in site.enrol_instances.find("course", course.id):
        for enrolment in site.user_enrolments.find("instance", instance.id):
            site.user_enrolments.delete(enrolment.id)
        site.enrol_instances.delete(instance.id)
    for group in site.groups.find("course", course.id):
        for member in site.group_members.find("group", group.id):
            site.group_members.delete(member.id)
        site.groups.delete(group.id)
    context = site.course_context(course.id)
    if context is not None:
        for assignment in site.role_assignments.find("context", context.id):
            site.role_assignments.delete(assignment.id)
        site.contexts.delete(context.id)
    for section in site.sections.find("course", course.id):
        site.sections.delete(section.id)
    remove_course(site, course)
    site.courses.delete(course.id)


# -- reading courses -------------------------------------------------------------------

_GET_PARAMS = Single({"options": default(Single({"ids": optional(Multiple(Value(Param.INT)))}), {})})
_NAME_VALUE = Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)}))
_CUSTOM_FIELDS_OUT = optional(
    Multiple(
        Single(
            {
                "name": Value(Param.RAW),
                "shortname": Value(Param.ALPHANUMEXT),
                "type": Value(Param.RAW),
                "valueraw": Value(Param.RAW),
                "value": Value(Param.RAW),
            }
        )
    )
)
_GET_RETURNS = Multiple(
    Single(
        {
            "id": Value(Param.INT),
            "shortname": Value(Param.RAW),
            "categoryid": Value(Param.INT),
            "categorysortorder": opt(Param.INT),
            "fullname": Value(Param.RAW),
            "displayname": Value(Param.RAW),
            "idnumber": opt(Param.RAW),
            "summary": Value(Param.RAW),
            "summaryformat": Value(Param.INT),
            "format": Value(Param.PLUGIN),
            "showgrades": opt(Param.INT),
            "newsitems": opt(Param.INT),
            "startdate": Value(Param.INT),
            "enddate": Value(Param.INT),
            "numsections": opt(Param.INT),
            "maxbytes": opt(Param.INT),
            "showreports": opt(Param.INT),
            "visible": opt(Param.INT),
            "hiddensections": opt(Param.INT),
            "groupmode": opt(Param.INT),
            "groupmodeforce": opt(Param.INT),
            "defaultgroupingid": opt(Param.INT),
            "timecreated": opt(Param.INT),
            "timemodified": opt(Param.INT),
            "enablecompletion": opt(Param.INT),
            "completionnotify": opt(Param.INT),
            "lang": opt(Param.SAFEDIR),
            "forcetheme": opt(Param.PLUGIN),
            "courseformatoptions": optional(_NAME_VALUE),
            "showactivitydates": Value(Param.BOOL),
            "showcompletionconditions": Value(Param.BOOL),
            "customfields": _CUSTOM_FIELDS_OUT,
        }
    )
)


def _format_options_out(course: Course, with_indentation: bool) -> list[dict[str, Any]]:
    if course.format == "site":
        return [] if with_indentation else [{"name": "numsections", "value": 1}]
    options: list[dict[str, Any]] = [
        {"name": "hiddensections", "value": course.hiddensections},
        {"name": "coursedisplay", "value": course.coursedisplay},
    ]
    if with_indentation:
        options.append({"name": "indentation", "value": "1"})
    return options


@external("core_course_get_courses", _GET_PARAMS, _GET_RETURNS, items=output_items)
def get_courses(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """All courses (front page included) or those of ``options[ids]``, in storage order."""
    site = call.site
    ids = params["options"].get("ids")
    courses = [c for c in site.courses.in_storage_order() if not ids or c.id in ids]
    numbers = course_sortorders(site, courses)
    return [_course_summary(call, course, numbers[course.id]) for course in courses]


def _course_summary(call: Call, course: Course, sortorder: int) -> dict[str, Any]:
    name = format_string(course.fullname, call.raw)
    info: dict[str, Any] = {
        "id": course.id,
        "fullname": name,
        "shortname": format_string(course.shortname, call.raw),
        "displayname": name,
        "categoryid": course.category,
        "summary": format_text(call, course.summary, course.summaryformat),
        "summaryformat": course.summaryformat,
        "format": course.format,
        "startdate": course.startdate,
        "enddate": course.enddate,
        "showactivitydates": course.showactivitydates,
        "showcompletionconditions": course.showcompletionconditions,
        "categorysortorder": sortorder,
        "idnumber": course.idnumber,
        "showgrades": course.showgrades,
        "showreports": course.showreports,
        "newsitems": course.newsitems,
        "visible": course.visible,
        "maxbytes": course.maxbytes,
        "numsections": call.site.last_section_number(course.id),
        "groupmode": course.groupmode,
        "groupmodeforce": course.groupmodeforce,
        "defaultgroupingid": course.defaultgroupingid,
        "lang": clean_param(course.lang, Param.LANG, call.site),
        "timecreated": course.timecreated,
        "timemodified": course.timemodified,
        "forcetheme": clean_param(course.theme, Param.THEME, call.site),
        "enablecompletion": course.enablecompletion,
        "completionnotify": course.completionnotify,
        "courseformatoptions": _format_options_out(course, with_indentation=False),
    }
    if course.format != "site":
        info["hiddensections"] = course.hiddensections
    return info


_BY_FIELD_PARAMS = Single({"field": default(Value(Param.ALPHA), ""), "value": default(Value(Param.RAW), "")})
_BY_FIELD_COURSE = Single(
    {
        "id": Value(Param.INT),
        "fullname": Value(Param.RAW),
        "displayname": Value(Param.RAW),
        "shortname": Value(Param.RAW),
        "courseimage": Value(Param.RAW),
        "categoryid": Value(Param.INT),
        "categoryname": Value(Param.RAW),
        "sortorder": opt(Param.INT),
        "summary": Value(Param.RAW),
        "summaryformat": Value(Param.INT),
        "summaryfiles": optional(Multiple(Single({"filename": Value(Param.RAW)}))),
        "overviewfiles": Multiple(Single({"filename": Value(Param.RAW)})),
        "showactivitydates": Value(Param.BOOL),
        "showcompletionconditions": Value(Param.BOOL),
        "contacts": Multiple(Single({"id": Value(Param.INT), "fullname": Value(Param.NOTAGS)})),
        "enrollmentmethods": Multiple(Value(Param.PLUGIN)),
        "customfields": _CUSTOM_FIELDS_OUT,
        "idnumber": opt(Param.RAW),
        "format": opt(Param.PLUGIN),
        "showgrades": opt(Param.INT),
        "newsitems": opt(Param.INT),
        "startdate": opt(Param.INT),
        "enddate": opt(Param.INT),
        "maxbytes": opt(Param.INT),
        "showreports": opt(Param.INT),
        "visible": opt(Param.INT),
        "groupmode": opt(Param.INT),
        "groupmodeforce": opt(Param.INT),
        "defaultgroupingid": opt(Param.INT),
        "enablecompletion": opt(Param.INT),
        "completionnotify": opt(Param.INT),
        "lang": opt(Param.SAFEDIR),
        "theme": opt(Param.PLUGIN),
        "marker": opt(Param.INT),
        "legacyfiles": opt(Param.INT),
        "calendartype": opt(Param.PLUGIN),
        "timecreated": opt(Param.INT),
        "timemodified": opt(Param.INT),
        "requested": opt(Param.INT),
        "cacherev": opt(Param.INT),
        "filters": optional(
            Multiple(
                Single(
                    {"filter": Value(Param.PLUGIN), "localstate": Value(Param.INT), "inheritedstate": Value(Param.INT)}
                )
            )
        ),
        "courseformatoptions": optional(_NAME_VALUE),
    }
)
_BY_FIELD_TYPES = {
    "id": Param.INT,
    "category": Param.INT,
    "ids": Param.SEQUENCE,
    "shortname": Param.TEXT,
    "idnumber": Param.RAW,
    "sectionid": Param.INT,
}


@external(
    "core_course_get_courses_by_field",
    _BY_FIELD_PARAMS,
    Single({"courses": Multiple(_BY_FIELD_COURSE), "warnings": warnings_description()}),
    items=lambda params, result: len(result["courses"]),
)
def get_courses_by_field(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Courses where ``field`` equals ``value`` (every course, by id, when ``field`` is empty)."""
    site = call.site
    field = params["field"]
    if not field:
        courses = site.courses.by_id()
    else:
        kind = _BY_FIELD_TYPES.get(field)
        if kind is None:
            raise invalid_parameter("Invalid field name")
        value = clean_param(params["value"], kind, site)
        courses = _courses_where(site, field, value)
    numbers = course_sortorders(site, courses)
    return {"courses": [_course_details(call, course, numbers[course.id]) for course in courses], "warnings": []}


def _courses_where(site: MoodleSite, field: str, value: php.Scalar) -> list[Course]:
    if field == "ids":
        wanted = list(dict.fromkeys(php.to_string(value).split(",")))
        found = []
        for part in wanted:
            course = site.courses.get(php.intval(part))
            if course is None or not part.isdigit():
                # util::validate_courses(keepfails) sets a property on the missing course: a PHP Error.
                raise php_error('Attempt to assign property "contextvalidated" on null')
            found.append(course)
        return found
    if field == "id":
        course = site.courses.get(int(value or 0))
        return [course] if course else []
    if field == "sectionid":
        section = site.sections.get(int(value or 0))
        course = site.courses.get(section.course) if section is not None else None
        return [course] if course is not None else []
    if field == "idnumber" and value == "":
        # The idnumber index leaves empty values out; the query matches them.
        return [course for course in site.courses.by_id() if course.idnumber == ""]
    return site.courses.find(field, value)


def _course_details(call: Call, course: Course, sortorder: int) -> dict[str, Any]:
    site = call.site
    contextid = course_context_id(site, course.id)
    category = site.categories.get(course.category)
    name = format_string(course.fullname, call.raw)
    details: dict[str, Any] = {
        "id": course.id,
        "fullname": name,
        "displayname": name,
        "shortname": format_string(course.shortname, call.raw),
        "courseimage": course_image_url(call, contextid),
        "categoryid": course.category,
        "categoryname": format_string(category.name, call.raw) if category else "",
        "sortorder": sortorder,
        "summary": format_text(call, course.summary, course.summaryformat),
        "summaryformat": course.summaryformat,
        "summaryfiles": [],
        "overviewfiles": [],
        "showactivitydates": course.showactivitydates,
        "showcompletionconditions": course.showcompletionconditions,
        "contacts": _contacts(site, course, contextid),
        "enrollmentmethods": [
            i.enrol
            for i in sorted(site.enrol_instances.find("course", course.id), key=lambda i: (i.sortorder, i.id))
            if i.status == ENROL_INSTANCE_ENABLED
        ],
        "filters": [{"filter": filter_name, "localstate": 0, "inheritedstate": 1} for filter_name in _FILTERS],
    }
    for name_ in ("format", "showgrades", "newsitems", "startdate", "enddate", "maxbytes", "showreports", "visible"):
        details[name_] = getattr(course, name_)
    for name_ in ("groupmode", "groupmodeforce", "defaultgroupingid", "enablecompletion", "completionnotify"):
        details[name_] = getattr(course, name_)
    details["lang"] = clean_param(course.lang, Param.LANG, site)
    details["theme"] = clean_param(course.theme, Param.THEME, site)
    for name_ in (
        "marker",
        "idnumber",
        "legacyfiles",
        "calendartype",
        "timecreated",
        "timemodified",
        "requested",
        "cacherev",
    ):
        details[name_] = getattr(course, name_)
    options = _format_options_out(course, with_indentation=True)
    if options:
        details["courseformatoptions"] = options
    return details


def _contacts(site: MoodleSite, course: Course, contextid: int) -> list[dict[str, Any]]:
    """Course contacts: users holding a ``coursecontact`` role with an active enrolment."""
    enrolled = set()
    for instance in site.enrol_instances.find("course", course.id):
        if instance.status == ENROL_INSTANCE_ENABLED:
            enrolled |= {
                e.userid for e in site.user_enrolments.find("instance", instance.id) if e.status == ENROL_USER_ACTIVE
            }
    contacts = []
    for assignment in site.role_assignments.find("context", contextid):
        user = site.users.get(assignment.userid)
        if assignment.roleid in site.config.coursecontact_roles and user and user.id in enrolled and not user.deleted:
            contacts.append({"id": user.id, "fullname": user.fullname})
    return list({c["id"]: c for c in contacts}.values())
