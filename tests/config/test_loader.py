"""load_config / check_config: good files become the exact Config; bad ones every located issue."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.config.issues import ConfigIssue
from reconciler.config.loader import check_config, load_config
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
    Threshold,
    UserRemoval,
)
from reconciler.errors import ConfigError, SecretError
from tests.support.configs import WriteConfig

FULL = """\
version: 1
moodle:
  url: https://moodle.example.org/lms/
  token: ${MOODLE_TOKEN}
  max_input_vars: 8000
  batch_size: 50
  concurrency: 2
  timeout_s: 30
  role_ids: {teacher: 14, editingteacher: 13}
connections:
  - name: north
    powerschool:
      url: https://ps.example.org/
      client_id_file: secrets/ps_id
      client_secret: ${PS_SECRET}
      page_size: 500
      concurrency: 8
      timeout_s: 5.5
    schools: [200, 100]
    username_prefix: n.
    course_number_prefix: N-
    course_name_template: "{course_name}"
    course_shortname_template: "{course_number_prefix}{school_name}-{course_number}-{section_number}-{term_name}-{year}"
    group_course_name_template: "{course_name} {year_name}"
    group_course_shortname_template: "{course_number_prefix}{school_number}-{course_number}-{year_name}"
    students:
      username: "s{student_number}"
      fields: {institution: "{school_name}", email: "{student_number}@x.example.org"}
      custom_fields: [{source: u_students_extension.homeroom, moodle: hr}]
      auth: nologin
      password: initial
      initial_password: ${FIRST_PASSWORD}
      email_fallback: "{dcid}@x.example.org"
      enroll_statuses: [A]
      cohorts: [{field: hr}, {field: grade_level, name: "Grade {value}"}]
    staff:
      auth: oauth2
      password: initial
      initial_password_file: /run/staff_password
    roles: {student: student, aide: teacher}
    section_migration:
      field: u_sections.new_course_id
      moves:
        - {school: 100, from_course: ENG1, from_section: "2", to_course: ENG2}
        - {school: 200, from_course: M1, from_section: "1", to_course: M1, to_section: "4"}
    school_settings:
      200: {terms: [S1], all_courses: group}
      100:
        terms: ["24-25", S2]
        category: High/North
        courses:
          ENG1:
          "0100": {mode: group, category: Arts/Music}
      300:
  - name: south
    powerschool:
      url: https://ps.south.example.org
      client_id: ${SOUTH_ID}
      client_secret: ${SOUTH_SECRET}
    schools: [300]
    username_prefix: s.
removal: {users: delete, enrolments: unenrol, cohort_members: keep, group_members: keep}
safety:
  thresholds:
    "suspend:user": {count: 10}
    unenrol: {percent: 2.5, count: null}
  min_existing: 10
  empty_school_guard: false
  protected: [{kind: user, match: "admin*"}]
adopt: [{kind: course}, {kind: user, match: "t*", require: [email, customfields.homeroom]}]
audit_log: logs/audit.jsonl
"""


def _where(path: Path, line: int, col: int, key: str) -> str:
    return f"{path}:{line}:{col}: {key}"


def test_every_setting_reaches_the_config(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config(FULL.replace("    schools: [200, 100]", "    schools: [200, 100, 300]"))

    config = load_config(path)

    standard = PeopleSettings()
    assert config == Config(
        moodle=MoodleSettings(
            url="https://moodle.example.org/lms",
            token=SecretRef(env="MOODLE_TOKEN", where=_where(path, 4, 3, "moodle.token")),
            max_input_vars=8000,
            batch_size=50,
            concurrency=2,
            timeout_s=30.0,
            role_ids=(("editingteacher", 13), ("teacher", 14)),
        ),
        connections=(
            Connection(
                name="north",
                powerschool=PowerSchoolSettings(
                    url="https://ps.example.org",
                    client_id=SecretRef(
                        file=str(tmp_path / "secrets" / "ps_id"),
                        where=_where(path, 14, 7, "connections[0].powerschool.client_id_file"),
                    ),
                    client_secret=SecretRef(
                        env="PS_SECRET", where=_where(path, 15, 7, "connections[0].powerschool.client_secret")
                    ),
                    page_size=500,
                    concurrency=8,
                    timeout_s=5.5,
                ),
                schools=(200, 100, 300),
                username_prefix="n.",
                course_number_prefix="N-",
                course_name_template="{course_name}",
                course_shortname_template=(
                    "{course_number_prefix}{school_name}-{course_number}-{section_number}-{term_name}-{year}"
                ),
                group_course_name_template="{course_name} {year_name}",
                group_course_shortname_template="{course_number_prefix}{school_number}-{course_number}-{year_name}",
                students=PeopleSettings(
                    username="s{student_number}",
                    fields=(
                        ("email", "{student_number}@x.example.org"),
                        ("firstname", "{first_name}"),
                        ("institution", "{school_name}"),
                        ("lastname", "{last_name}"),
                    ),
                    custom_fields=(CustomField("u_students_extension.homeroom", "hr"),),
                    auth="nologin",
                    password=PasswordMode.INITIAL,
                    initial_password=SecretRef(
                        env="FIRST_PASSWORD", where=_where(path, 32, 7, "connections[0].students.initial_password")
                    ),
                    email_fallback="{dcid}@x.example.org",
                    enroll_statuses=("A",),
                    cohorts=(CohortRule("hr"), CohortRule("grade_level", "Grade {value}")),
                ),
                staff=PeopleSettings(
                    fields=standard.fields,
                    auth="oauth2",
                    password=PasswordMode.INITIAL,
                    initial_password=SecretRef(
                        file="/run/staff_password",
                        where=_where(path, 39, 7, "connections[0].staff.initial_password_file"),
                    ),
                    enroll_statuses=(),
                ),
                roles=(("aide", "teacher"), ("student", "student")),
                section_migration=SectionMigration(
                    field="u_sections.new_course_id",
                    moves=(
                        SectionMove(100, "ENG1", "2", "ENG2", "2"),
                        SectionMove(200, "M1", "1", "M1", "4"),
                    ),
                ),
                school_settings=(
                    SchoolSettings(
                        100,
                        terms=("24-25", "S2"),
                        category="High/North",
                        courses=(
                            CourseRule("ENG1", CourseMode.SECTION, None),
                            CourseRule("0100", CourseMode.GROUP, "Arts/Music"),
                        ),
                    ),
                    SchoolSettings(200, terms=("S1",), all_courses=CourseMode.GROUP),
                    SchoolSettings(300),
                ),
            ),
            Connection(
                name="south",
                powerschool=PowerSchoolSettings(
                    url="https://ps.south.example.org",
                    client_id=SecretRef(
                        env="SOUTH_ID", where=_where(path, 58, 7, "connections[1].powerschool.client_id")
                    ),
                    client_secret=SecretRef(
                        env="SOUTH_SECRET", where=_where(path, 59, 7, "connections[1].powerschool.client_secret")
                    ),
                ),
                schools=(300,),
                username_prefix="s.",
            ),
        ),
        removal=RemovalPolicy(
            users=UserRemoval.DELETE,
            enrolments=EnrolmentRemoval.UNENROL,
            cohort_members=MembershipRemoval.KEEP,
            group_members=MembershipRemoval.KEEP,
        ),
        safety=SafetyPolicy(
            thresholds=(
                ("adopt:user", Threshold(count=0)),
                ("delete", Threshold(count=0)),
                ("remove", Threshold(count=500, percent=5.0)),
                ("suspend", Threshold(count=500, percent=5.0)),
                ("suspend:user", Threshold(count=10)),
                ("unenrol", Threshold(percent=2.5)),
            ),
            min_existing=10,
            empty_school_guard=False,
            protected=(ProtectedRule("user", "admin*"),),
        ),
        adopt=(AdoptRule("course"), AdoptRule("user", "t*", ("email", "customfields.homeroom"))),
        audit_log=str(tmp_path / "logs" / "audit.jsonl"),
        source=str(path),
        digest=config.digest,
    )


def test_the_smallest_config_takes_every_default(write_config: WriteConfig, valid_text: str) -> None:
    path = write_config(valid_text)

    config = load_config(path)

    assert config == Config(
        moodle=MoodleSettings(
            url="https://moodle.example.org",
            token=SecretRef(env="MOODLE_TOKEN", where=_where(path, 4, 3, "moodle.token")),
        ),
        connections=(
            Connection(
                name="district",
                powerschool=PowerSchoolSettings(
                    url="https://ps.example.org",
                    client_id=SecretRef(
                        env="PS_CLIENT_ID", where=_where(path, 9, 7, "connections[0].powerschool.client_id")
                    ),
                    client_secret=SecretRef(
                        env="PS_CLIENT_SECRET", where=_where(path, 10, 7, "connections[0].powerschool.client_secret")
                    ),
                ),
                schools=(100,),
            ),
        ),
        source=str(path),
        digest=config.digest,
    )
    assert len(config.digest) == 64
    assert check_config(path) == []


def test_secrets_are_references_resolved_only_when_asked(
    write_config: WriteConfig, valid_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOODLE_TOKEN", raising=False)
    path = write_config(valid_text)

    token = load_config(path).moodle.token  # loads although the variable is unset

    with pytest.raises(SecretError, match=rf"^{path}:4:3: moodle.token: environment variable MOODLE_TOKEN is not set"):
        token.resolve()
    monkeypatch.setenv("MOODLE_TOKEN", "t0ken-value")
    assert token.resolve() == "t0ken-value"
    assert "t0ken-value" not in repr(load_config(path))


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_variable_is_named_as_empty_not_unset(
    write_config: WriteConfig, valid_text: str, monkeypatch: pytest.MonkeyPatch, empty: str
) -> None:
    # Before: MOODLE_TOKEN="" was reported as "not set", sending people to look for a typo.
    monkeypatch.setenv("MOODLE_TOKEN", empty)
    token = load_config(write_config(valid_text)).moodle.token
    with pytest.raises(SecretError, match=r"moodle.token: environment variable MOODLE_TOKEN is set but empty$"):
        token.resolve()


def test_no_message_ever_quotes_a_secret(write_config: WriteConfig, valid_text: str) -> None:
    text = (
        valid_text.replace("${MOODLE_TOKEN}", "s3cret-token")
        .replace("${PS_CLIENT_ID}", "s3cret-id")
        .replace("${PS_CLIENT_SECRET}", "s3cret-secret")
        .replace("https://ps.example.org", "https://admin:s3cret-pw@ps.example.org")
        + "    students:\n"
        + "      password: s3cret-enum\n"
        + "      initial_password: s3cret-initial\n"
        + "      passwd: s3cret-unknown\n"
        + "    staff: s3cret-type\n"
    )

    issues = check_config(write_config(text))

    assert len(issues) == 9
    assert not [i for i in issues if "s3cret" in str(i)]


def test_three_independent_mistakes_are_three_issues(write_config: WriteConfig, valid_text: str) -> None:
    text = valid_text.replace("  token:", "  tokens: x\n  token:") + (
        '    course_name_template: "{course} {section_number}"\nremoval:\n  users: purge\n'
    )

    issues = check_config(write_config(text))

    assert [(i.line, i.col, i.path) for i in issues] == [
        (4, 3, "moodle.tokens"),
        (13, 27, "connections[0].course_name_template"),
        (15, 10, "removal.users"),
    ]
    assert issues[0].message.startswith("unknown key 'tokens'; did you mean 'token'?")
    assert issues[1].message.startswith("unknown placeholder {course}; did you mean {course_name}?")
    assert issues[2].message == "must be one of: suspend, delete, keep"


def test_several_mistakes_in_one_list_are_all_reported(write_config: WriteConfig, valid_text: str) -> None:
    text = valid_text.replace("[100]", "[100, -1, x, 100, 2.0]")

    issues = check_config(write_config(text))

    assert [(i.path, i.message) for i in issues] == [
        ("connections[0].schools[1]", "must be at least 0"),
        ("connections[0].schools[2]", "must be a whole number, not text"),
        ("connections[0].schools[3]", "is already listed as connections[0].schools[0]"),
        ("connections[0].schools[4]", "must be a whole number, not a decimal number"),
    ]


def test_the_digest_ignores_comments_layout_order_and_anchor_holders(write_config: WriteConfig) -> None:
    block = """\
        # a comment
        version: 1
        moodle:
          url: https://moodle.example.org
          token: ${T}
        connections:
          - name: d
            powerschool: {url: "https://ps.example.org", client_id: "${I}", client_secret: "${S}"}
            schools: [100]
        """
    flow = """\
        x-notes: {anything: 1}
        connections: [{schools: [100], name: d, powerschool: {client_secret: "${S}", client_id: "${I}",
                      url: "https://ps.example.org"}}]
        moodle: {token: "${T}", url: "https://moodle.example.org"}
        version: 1
        """

    first = load_config(write_config(block, "a.yaml")).digest
    second = load_config(write_config(flow, "b.yaml")).digest
    changed = load_config(write_config(block.replace("[100]", "[101]"), "c.yaml")).digest
    served = load_config(write_config(dedent(block) + "serve: {interval_s: 600}\n", "d.yaml")).digest

    assert first == second
    assert changed != first
    assert served == first  # how the server runs is not what Moodle should hold


def test_thresholds_merge_with_the_defaults_by_key(write_config: WriteConfig, valid_text: str) -> None:
    text = valid_text + "safety:\n  thresholds:\n    delete: {count: null}\n    suspend: {percent: 1}\n"

    thresholds = dict(load_config(write_config(text)).safety.thresholds)

    assert thresholds == {
        "delete": Threshold(),
        "suspend": Threshold(percent=1.0),
        "unenrol": Threshold(count=500, percent=5.0),
        "remove": Threshold(count=500, percent=5.0),
        "adopt:user": Threshold(count=0),
    }


def test_several_connections_with_their_own_prefixes_are_valid(write_config: WriteConfig, valid_text: str) -> None:
    second = (
        "  - name: south\n"
        "    powerschool: {url: 'https://s.example.org', client_id: '${A}', client_secret: '${B}'}\n"
        "    schools: [100]\n"
        "    username_prefix: s.\n"
        "    course_number_prefix: S-\n"
    )
    text = valid_text.replace("    schools: [100]\n", "    schools: [100]\n    course_number_prefix: N-\n") + second

    config = load_config(write_config(text))

    assert [(c.username_prefix, c.course_number_prefix) for c in config.connections] == [("", "N-"), ("s.", "S-")]


@pytest.mark.parametrize(
    "addition",
    [
        '    course_shortname_template: "{school_name}/{course_number}.{section_number} {term_name} {year_name}"\n',
        '    course_name_template: "{{literal}} {course_name}"\n',
        "    students:\n      cohorts: [{field: hr, name: '{field}={value}'}]\n"
        "      custom_fields: [{source: u_ext.homeroom, moodle: hr}]\n",
        "    students:\n      password: initial\n      initial_password_file: pw.txt\n",
        "    school_settings:\n      100:\n",
        "    school_settings:\n      '100': {terms: [S1], courses: {ENG1: , MTH1: {}}}\n",
        "    roles: {lead: editingteacher, counsellor: teacher}\n",
        "    section_migration: {field: u_sections.new_course_id}\n",
    ],
    ids=["shortname-alternatives", "literal-braces", "cohort-on-custom-field", "initial-password-file",
         "empty-school", "course-defaults", "custom-role", "migration-without-moves"],
)  # fmt: skip
def test_valid_variations_load(write_config: WriteConfig, valid_text: str, addition: str) -> None:
    assert check_config(write_config(valid_text + addition)) == []


def test_a_school_given_twice_as_number_and_text_is_a_duplicate(write_config: WriteConfig, valid_text: str) -> None:
    text = valid_text + "    school_settings:\n      100: {terms: [S1]}\n      '100': {terms: [S2]}\n"

    issues = check_config(write_config(text))

    assert [(i.line, i.col, i.message) for i in issues] == [
        (14, 7, "duplicate key '100': it is already given on line 13")
    ]


def test_the_shortname_needs_a_school_only_with_several_schools(write_config: WriteConfig, valid_text: str) -> None:
    template = '    course_shortname_template: "{course_number}-{section_number}-{term_abbreviation}-{year}"\n'

    one_school = check_config(write_config(valid_text + template, "one.yaml"))
    two_schools = check_config(write_config(valid_text.replace("[100]", "[100, 200]") + template, "two.yaml"))

    assert one_school == []
    assert [i.message for i in two_schools] == [
        "must use {school_number} or {school_name}: Moodle short names are unique, and without it this "
        "connection's schools reuse course and section numbers"
    ]


def test_group_templates_have_no_section_placeholders(write_config: WriteConfig, valid_text: str) -> None:
    text = valid_text + '    group_course_name_template: "{course_name} {section_number}"\n'

    issues = check_config(write_config(text))

    assert [i.path for i in issues] == ["connections[0].group_course_name_template"]
    assert issues[0].message.startswith(
        "placeholder {section_number} has no value in group-mode course templates. Group-mode course templates may use:"
    )


def test_an_unreadable_file_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    message = "cannot read the file: No such file or directory"
    assert check_config(missing) == [ConfigIssue(str(missing), 0, 0, "", message)]
    assert str(check_config(missing)[0]) == f"{missing}: cannot read the file: No such file or directory"
    assert [i.message for i in check_config(tmp_path)] == ["cannot read the file: Is a directory"]


def test_text_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nmoodle: {url: é\xe9}\n".encode("latin-1").replace(b"\xe9\xe9", b"\xc3\xa9\xe9"))

    assert check_config(path) == [ConfigIssue(str(path), 2, 16, "", "the file is not UTF-8 text")]


def test_a_byte_order_mark_is_accepted(tmp_path: Path, valid_text: str) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + valid_text.encode("utf-8"))

    assert check_config(path) == []


def test_a_control_character_is_located(write_config: WriteConfig) -> None:
    path = write_config("version: 1\nmoodle: a\x07b\n")

    assert check_config(path) == [
        ConfigIssue(str(path), 2, 10, "", "invalid YAML: special characters are not allowed (character #x0007)")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file holds no settings: a config needs at least version, moodle and connections"),
        ("---\n", "the file holds no settings: a config needs at least version, moodle and connections"),
        ("just words\n", "must be a mapping (key: value), not text"),
    ],
)
def test_a_file_without_settings_is_one_issue(write_config: WriteConfig, text: str, message: str) -> None:
    path = write_config(text)

    assert check_config(path) == [ConfigIssue(str(path), 1, 1, "", message)]


def test_config_error_lists_every_issue(write_config: WriteConfig, valid_text: str) -> None:
    path = write_config(valid_text.replace("version: 1", "version: 3") + "extra: 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert [(i.line, i.path) for i in caught.value.issues] == [(1, "version"), (12, "extra")]
    assert str(caught.value).splitlines()[0] == f"{path}:1:10: version: must be 1"
