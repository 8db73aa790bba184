"""``core_course_*_categories``: the course category tree.

Mirrors ``course/classes/category.php`` through ``course/externallib.php``: a non-empty
idnumber is unique, a new category goes last among its siblings (see :mod:`..sortorder`),
``get_categories`` returns descendants unless ``addsubcategories=0``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ps2moodle_testkit.emulators.moodle.errors import dml_read_error, missing_record, moodle_exception
from ps2moodle_testkit.emulators.moodle.formatting import format_string, format_text, validate_format
from ps2moodle_testkit.emulators.moodle.functions.courses import delete_course
from ps2moodle_testkit.emulators.moodle.model import CONTEXT_COURSECAT, Category
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Need,
    Param,
    Single,
    Value,
    clean_param,
    default,
    optional,
)
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.moodle.sortorder import (
    MAX_COURSES_IN_CATEGORY,
    UNSORTED,
    move_courses,
    renumber_categories,
)


def require_category(site: MoodleSite, categoryid: int) -> Category:
    """``core_course_category::get($id, MUST_EXIST)``: its ``unknowncategory`` has no string
    in ``lang/en/error.php`` (only ``unknowcategory`` has), so Moodle answers the bare
    ``error/unknowncategory``."""
    category = site.categories.get(categoryid)
    if category is None:
        raise moodle_exception("unknowncategory", "error/unknowncategory")
    return category


def _descendants(site: MoodleSite, category: Category) -> list[Category]:
    prefix = category.path + "/"
    return [c for c in site.categories.by_id() if c.path.startswith(prefix)]


_CREATE_PARAMS = Single(
    {
        "categories": Multiple(
            Single(
                {
                    "name": Value(Param.TEXT),
                    "parent": Value(Param.INT, Need.DEFAULT, 0),
                    "idnumber": optional(Value(Param.RAW)),
                    "description": optional(Value(Param.RAW)),
                    "descriptionformat": Value(Param.INT, Need.DEFAULT, 1),
                    "theme": optional(Value(Param.THEME)),
                }
            )
        )
    }
)
_CREATE_RETURNS = Multiple(Single({"id": Value(Param.INT), "name": Value(Param.TEXT)}))


@external("core_course_create_categories", _CREATE_PARAMS, _CREATE_RETURNS, items=input_items("categories"))
def create_categories(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Create categories, all or nothing; each goes last among its siblings."""
    site = call.site
    created = []
    with site.db.transaction():
        for data in params["categories"]:
            if data["parent"] and data["parent"] not in site.categories:
                raise moodle_exception("unknowcategory", "Category not known!")
            validate_format(data["descriptionformat"])
            category = _create_category(site, data)
            created.append({"id": category.id, "name": format_string(category.name, call.raw)})
    return created


def _check_name_and_idnumber(site: MoodleSite, name: str | None, idnumber: str | None, categoryid: int = 0) -> None:
    if name is not None:
        if not name:
            raise moodle_exception("categorynamerequired", "The category name is required")
        if len(name) > 255:
            raise moodle_exception("categorytoolong", "Category name too long")
    if idnumber is not None:
        if len(idnumber) > 100:
            raise moodle_exception("idnumbertoolong", "ID number is too long")
        if idnumber != "" and any(c.id != categoryid for c in site.categories.find("idnumber", idnumber)):
            raise moodle_exception("categoryidnumbertaken", "ID number is already used for another category")


def _create_category(site: MoodleSite, data: dict[str, Any]) -> Category:
    """``core_course_category::create``."""
    _check_name_and_idnumber(site, data["name"], data.get("idnumber"))
    parent = site.categories.get(data["parent"]) if data["parent"] else None
    category = Category(
        id=site.categories.next_id(),
        name=data["name"],
        parent=parent.id if parent else 0,
        sortorder=UNSORTED,
        path="",
        depth=(parent.depth if parent else 0) + 1,
        idnumber=data.get("idnumber"),
        description=data.get("description", ""),
        descriptionformat=data["descriptionformat"],
        visible=parent.visible if parent else 1,
        timemodified=site.now(),
    )
    category = replace(category, path=f"{parent.path if parent else ''}/{category.id}")
    site.categories.put(category)
    parent_context = site.category_context(parent.id) if parent else site.system_context()
    site.create_context(CONTEXT_COURSECAT, category.id, parent_context.id if parent_context else None)
    renumber_categories(site)
    return category


_GET_PARAMS = Single(
    {
        "criteria": default(Multiple(Single({"key": Value(Param.ALPHA), "value": Value(Param.RAW)})), []),
        "addsubcategories": Value(Param.BOOL, Need.DEFAULT, True),
    }
)
_CATEGORY_RECORD = Single(
    {
        "id": Value(Param.INT),
        "name": Value(Param.TEXT),
        "idnumber": optional(Value(Param.RAW)),
        "description": Value(Param.RAW),
        "descriptionformat": Value(Param.INT),
        "parent": Value(Param.INT),
        "sortorder": Value(Param.INT),
        "coursecount": Value(Param.INT),
        "visible": optional(Value(Param.INT)),
        "visibleold": optional(Value(Param.INT)),
        "timemodified": optional(Value(Param.INT)),
        "depth": Value(Param.INT),
        "path": Value(Param.TEXT),
        "theme": optional(Value(Param.THEME)),
    }
)
_CRITERIA = {"id": Param.INT, "name": Param.TEXT, "parent": Param.INT, "idnumber": Param.RAW, "visible": Param.INT}


@external("core_course_get_categories", _GET_PARAMS, Multiple(_CATEGORY_RECORD), items=output_items)
def get_categories(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Categories matching all criteria, with their descendants unless ``addsubcategories=0``."""
    site = call.site
    conditions: dict[str, Any] = {}
    ids: list[int] | None = None
    for criterion in params["criteria"]:
        key = criterion["key"].strip()
        if key in conditions or (key == "ids" and ids is not None):
            continue
        if key == "ids":
            parts = str(clean_param(criterion["value"], Param.SEQUENCE, site)).split(",")
            if "" in parts:
                raise dml_read_error()
            ids = [int(part) for part in parts]
        elif key == "theme":
            conditions[key] = clean_param(criterion["value"], Param.THEME, site)
        elif key in _CRITERIA:
            conditions[key] = clean_param(criterion["value"], _CRITERIA[key], site)
        else:
            raise moodle_exception(
                "criteriaerror",
                "Missing permissions to search on a criterion.",
                f"You can not search on this criteria: {key}",
            )
    categories = site.categories.by_id()
    if conditions or ids is not None:
        matched = [c for c in categories if _matches(c, conditions) and (ids is None or c.id in ids)]
        if params["addsubcategories"]:
            extra = {k: v for k, v in conditions.items() if k in ("visible", "theme")}
            found = {c.id: c for c in matched}
            for category in matched:
                for child in _descendants(site, category):
                    if _matches(child, extra):
                        found.setdefault(child.id, child)
            matched = list(found.values())
        categories = matched
    records = [_category_record(call, category) for category in categories]
    return sorted(records, key=lambda record: str(record["sortorder"]))


def _matches(category: Category, conditions: dict[str, Any]) -> bool:
    return all(getattr(category, key) == value for key, value in conditions.items())


def _category_record(call: Call, category: Category) -> dict[str, Any]:
    return {
        "id": category.id,
        "name": format_string(category.name, call.raw),
        "idnumber": category.idnumber,
        "description": format_text(call, category.description, category.descriptionformat),
        "descriptionformat": category.descriptionformat,
        "parent": category.parent,
        "sortorder": category.sortorder,
        "coursecount": len(call.site.courses.find("category", category.id)),
        "visible": category.visible,
        "visibleold": category.visibleold,
        "timemodified": category.timemodified,
        "depth": category.depth,
        "path": category.path,
        "theme": category.theme,
    }


_UPDATE_PARAMS = Single(
    {
        "categories": Multiple(
            Single(
                {
                    "id": Value(Param.INT),
                    "name": optional(Value(Param.TEXT)),
                    "idnumber": optional(Value(Param.RAW)),
                    "parent": optional(Value(Param.INT)),
                    "description": optional(Value(Param.RAW)),
                    "descriptionformat": Value(Param.INT, Need.DEFAULT, 1),
                    "theme": optional(Value(Param.THEME)),
                }
            )
        )
    }
)


@external("core_course_update_categories", _UPDATE_PARAMS, None, items=input_items("categories"))
def update_categories(call: Call, params: dict[str, Any]) -> None:
    """Update categories, all or nothing; ``descriptionformat`` is rewritten to its default when omitted."""
    site = call.site
    with site.db.transaction():
        for data in params["categories"]:
            category = require_category(site, data["id"])
            parent = data.get("parent")
            if (
                parent is not None
                and parent != category.parent
                and parent != 0
                and site.category_context(parent) is None
            ):
                raise missing_record(
                    "context",
                    "SELECT * FROM {context} WHERE contextlevel = ? AND instanceid = ?",
                    [CONTEXT_COURSECAT, parent],
                )
            validate_format(data["descriptionformat"])
            _check_name_and_idnumber(site, data.get("name"), data.get("idnumber"), category.id)
            changes = {k: data[k] for k in ("name", "idnumber", "description", "descriptionformat") if k in data}
            category = replace(category, timemodified=site.now(), **changes)
            site.categories.put(category)
            if parent is not None and parent != category.parent:
                _move_category(site, category, parent)
            renumber_categories(site)


def _move_category(site: MoodleSite, category: Category, parentid: int) -> None:
    """``core_course_category::change_parent``: path and depth of the subtree follow."""
    parent = site.categories.get(parentid) if parentid else None
    if parent is not None and (parent.id == category.id or parent.path.startswith(category.path + "/")):
        raise moodle_exception("cannotmovecategory", "error/cannotmovecategory")
    old_path = category.path
    new_path = f"{parent.path if parent else ''}/{category.id}"
    shift = (parent.depth if parent else 0) + 1 - category.depth
    site.categories.put(
        replace(category, parent=parentid, path=new_path, depth=category.depth + shift, sortorder=UNSORTED)
    )
    for child in _descendants(site, replace(category, path=old_path)):
        site.categories.put(replace(child, path=new_path + child.path[len(old_path) :], depth=child.depth + shift))


_DELETE_PARAMS = Single(
    {
        "categories": Multiple(
            Single(
                {
                    "id": Value(Param.INT),
                    "newparent": optional(Value(Param.INT)),
                    "recursive": Value(Param.INT, Need.DEFAULT, 0),
                }
            )
        )
    }
)


@external("core_course_delete_categories", _DELETE_PARAMS, None, items=input_items("categories"))
def delete_categories(call: Call, params: dict[str, Any]) -> None:
    """Delete categories with their content (``recursive``) or moving it to ``newparent``/the parent."""
    site = call.site
    with site.db.transaction():
        for data in params["categories"]:
            category = require_category(site, data["id"])
            if data["recursive"]:
                _delete_full(site, category)
                continue
            newparent = data.get("newparent") or category.parent
            if data.get("newparent") and data["newparent"] not in site.categories:
                raise moodle_exception("newparentnotexists", "error/newparentnotexists")
            if not newparent:
                raise moodle_exception("movecatcontentstoroot", "error/movecatcontentstoroot")
            _delete_move(site, category, newparent)
        renumber_categories(site)


def _delete_full(site: MoodleSite, category: Category) -> None:
    for child in site.categories.find("parent", category.id):
        _delete_full(site, child)
    for course in site.courses.find("category", category.id):
        delete_course(site, course)
    _remove_category(site, category)


def _delete_move(site: MoodleSite, category: Category, newparent: int) -> None:
    for child in site.categories.find("parent", category.id):
        _move_category(site, child, newparent)
    # move_courses(): each row numbered from the end of its new category, in id order.
    courses = sorted(site.courses.find("category", category.id), key=lambda c: c.id)
    target = site.categories.get(newparent)
    base = target.sortorder if target is not None else 0
    moved = [
        replace(course, category=newparent, sortorder=base + MAX_COURSES_IN_CATEGORY - i)
        for i, course in enumerate(courses, start=1)
    ]
    for course in moved:
        site.courses.put(course)
    move_courses(site, moved)
    _remove_category(site, category)


def _remove_category(site: MoodleSite, category: Category) -> None:
    context = site.category_context(category.id)
    if context is not None:
        for cohort in site.cohorts.by_id():
            if cohort.contextid == context.id:
                for member in site.cohort_members.find("cohort", cohort.id):
                    site.cohort_members.delete(member.id)
                site.cohorts.delete(cohort.id)
        site.contexts.delete(context.id)
    site.course_orders.delete(category.id)
    site.categories.delete(category.id)
