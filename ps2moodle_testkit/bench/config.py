"""The benchmark's config: every school of a generated district, built in code.

It has the shape of ``examples/district.yaml`` spread over the whole district: every
school with every term of the current school year and every course it offers;
elementary schools in group mode (one course per homeroom, each class a group), middle
and high schools in section mode (one course per section); custom profile fields,
cohorts by grade and school, and the co-teaching roles. Thresholds allow the benchmark's
1% change (about 1,200 suspended enrolments at district scale) without an override, as a
district of that size would configure them.
"""

from __future__ import annotations

from ps2moodle_testkit.emulators.district import District
from reconciler.config.model import (
    CohortRule,
    Config,
    Connection,
    CourseMode,
    CustomField,
    MoodleSettings,
    PeopleSettings,
    PowerSchoolSettings,
    SafetyPolicy,
    SchoolSettings,
    SecretRef,
    Threshold,
)

#: The environment variables the config's secrets refer to (the servers hand out the values).
MOODLE_TOKEN_ENV = "BENCH_MOODLE_TOKEN"
PS_CLIENT_ID_ENV = "BENCH_PS_CLIENT_ID"
PS_CLIENT_SECRET_ENV = "BENCH_PS_CLIENT_SECRET"

CONNECTION = "bench"

STUDENT_FIELDS = (
    CustomField("u_students_extension.preferredname", "preferredname"),
    CustomField("u_studentsuserfields.transcriptaddrzip", "zip"),
)
STAFF_FIELDS = (CustomField("u_def_ext_schoolstaff.department", "ps_department"),)
#: Custom profile fields the Moodle site must have before the first apply.
PROFILE_FIELDS = tuple(f.moodle for f in (*STUDENT_FIELDS, *STAFF_FIELDS))

_CATEGORY_OF_KIND = {"elementary": "Elementary Schools", "middle": "Middle Schools", "high": "High Schools"}


def bench_config(
    district: District, *, moodle_url: str, powerschool_url: str, workers: int, max_input_vars: int = 5000
) -> Config:
    """The config syncing all of ``district`` into the Moodle at ``moodle_url``; ``workers``
    is the Moodle client's concurrency (the site's parallel workers)."""
    schools = [s for s in district.schools if s.kind in _CATEGORY_OF_KIND]
    settings = []
    for school in schools:
        year = [t for t in district.terms if t.school_number == school.number and t.year_id == district.year_id]
        terms = sorted({t.abbreviation for t in year})
        mode = CourseMode.GROUP if school.kind == "elementary" else CourseMode.SECTION
        settings.append(
            SchoolSettings(
                school.number,
                terms=tuple(terms),
                category=f"{_CATEGORY_OF_KIND[school.kind]}/{school.name}",
                all_courses=mode,
            )
        )
    connection = Connection(
        name=CONNECTION,
        powerschool=PowerSchoolSettings(
            url=powerschool_url,
            client_id=SecretRef(env=PS_CLIENT_ID_ENV, where="powerschool.client_id"),
            client_secret=SecretRef(env=PS_CLIENT_SECRET_ENV, where="powerschool.client_secret"),
        ),
        schools=tuple(s.number for s in schools),
        course_name_template="{course_name} {section_number} ({term_abbreviation}, {teachers})",
        group_course_name_template="{course_name} {year_name} ({school_name})",
        students=PeopleSettings(
            fields=(
                ("email", "{email}"),
                ("firstname", "{first_name}"),
                ("lastname", "{last_name}"),
                ("institution", "{school_name}"),
                ("department", "Grade {grade_level}"),
            ),
            custom_fields=STUDENT_FIELDS,
            email_fallback="{student_number}@students.bench.example.org",
            cohorts=(CohortRule("grade_level", "Grade {value}"), CohortRule("school_name", "{value} students")),
        ),
        staff=PeopleSettings(
            auth="oauth2",
            custom_fields=STAFF_FIELDS,
            email_fallback="{teacher_number}@bench.example.org",
            enroll_statuses=(),
        ),
        roles=(
            ("aide", "teacher"),
            ("co_teacher", "editingteacher"),
            ("job_share_teacher", "editingteacher"),
            ("lead", "editingteacher"),
            ("special_ed_teacher", "teacher"),
            ("student", "student"),
        ),
        school_settings=tuple(settings),
    )
    safety = SafetyPolicy(
        thresholds=(
            ("delete", Threshold(count=0)),
            ("suspend", Threshold(count=5000, percent=5.0)),
            ("unenrol", Threshold(count=5000, percent=5.0)),
        )
    )
    return Config(
        moodle=MoodleSettings(
            url=moodle_url,
            token=SecretRef(env=MOODLE_TOKEN_ENV, where="moodle.token"),
            max_input_vars=max_input_vars,
            concurrency=workers,
        ),
        connections=(connection,),
        safety=safety,
        source="<benchmark>",
        # Saved plans bind to this; the benchmark's config never changes between plan and apply.
        digest=f"benchmark:{district.scale}:{district.seed}",
    )
