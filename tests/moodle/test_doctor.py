"""``ps2moodle doctor`` against both emulators served on loopback, as an operator runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.powerschool.core import PowerSchoolEmulator
from reconciler.cli import app
from reconciler.model import Key, State
from tests.support.configs import minimal_config

runner = CliRunner()

#: Reads the config it is given and returns doctor's exit code and output.
Doctor = Callable[..., tuple[int, str]]

#: What doctor's config adds to the smallest one: a profile field to check.
_PROFILE_FIELD = """\
    students:
      custom_fields:
        - source: u_students_extension.gradelevel
          moodle: gradelevel
"""


@pytest.fixture
def doctor(
    site: MoodleSite,
    token: str,
    district: State,
    create_all: Callable[[State], dict[Key, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Doctor]:
    """A synced site (so owned accounts carry the profile field) and a PowerSchool."""
    create_all(district)
    schools = generate_district("tiny")
    powerschool = PowerSchoolEmulator(schools, client_id="doctor-id", client_secret="doctor-secret")
    monkeypatch.setenv("PS2M_DOCTOR_MOODLE_TOKEN", token)
    monkeypatch.setenv("PS2M_DOCTOR_PS_ID", "doctor-id")
    monkeypatch.setenv("PS2M_DOCTOR_PS_SECRET", "doctor-secret")
    moodle_server = site.serve()
    ps_server = powerschool.serve().start()
    numbers = ", ".join(map(str, schools.school_numbers))

    def run(schools: str = numbers) -> tuple[int, str]:
        path = tmp_path / "ps2moodle.yaml"
        config = minimal_config(
            moodle_url=moodle_server.url,
            token_env="PS2M_DOCTOR_MOODLE_TOKEN",
            name="d",
            powerschool_url=ps_server.url,
            client_id_env="PS2M_DOCTOR_PS_ID",
            client_secret_env="PS2M_DOCTOR_PS_SECRET",
            schools=schools,
        )
        path.write_text(config + _PROFILE_FIELD)
        result = runner.invoke(app, ["doctor", str(path)])
        return result.exit_code, result.output

    try:
        yield run
    finally:
        moodle_server.close()
        ps_server.close()


def test_a_ready_site_passes(doctor: Doctor) -> None:
    code, output = doctor()
    assert code == 0, output
    assert "0 problems" in output
    assert "all 26 the tool needs are available" in output  # deletion and unenrolment are off by default
    # The recorded site's service lacks the many-course enrolment read: slower, not broken.
    assert "core_enrol_get_enrolled_users_with_capability not in the token's service" in " ".join(output.split())
    assert "Role teacher: id 4 (seen on an enrolment), assignable in courses" in output
    assert "Profile field gradelevel: seen on" in output
    assert "Auth plugin manual: installed" in output


def test_a_site_with_the_many_course_read_has_no_warning_about_it(site: MoodleSite, doctor: Doctor) -> None:
    site.add_function("core_enrol_get_enrolled_users_with_capability")
    code, output = doctor()
    assert code == 0, output
    assert "core_enrol_get_enrolled_users_with_capability" not in output


def test_missing_function_role_and_profile_field_are_reported(site: MoodleSite, doctor: Doctor) -> None:
    site.remove_function("core_group_delete_groups")
    site.remove_role("teacher")
    site.remove_profile_field("gradelevel")
    code, output = doctor()
    assert code == 1
    text = " ".join(output.split())
    assert "1 function the tool calls is not in the token's service: core_group_delete_groups" in text
    assert "Role teacher: id 4 (Moodle's standard id) cannot be assigned in courses" in text
    assert "Profile field gradelevel: none of the" in text
    assert "3 problems" in text


def test_a_site_with_a_lower_max_input_vars_is_reported(site: MoodleSite, doctor: Doctor) -> None:
    site.config.max_input_vars = 2000
    code, output = doctor()
    assert code == 1
    assert "max_input_vars: a request of 5000 form fields lost its last field" in " ".join(output.split())


def test_wrong_school_number_and_wrong_token(site: MoodleSite, token: str, doctor: Doctor) -> None:
    code, output = doctor(schools="999")
    assert code == 1
    assert "no school numbered 999 in PowerSchool" in " ".join(output.split())
    site.revoke_token(token)
    code, output = doctor()
    assert code == 1
    assert "Moodle rejected the web-service token" in " ".join(output.split())
    assert token not in output
