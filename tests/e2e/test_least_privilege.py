"""A sync user that is not a site admin, with exactly what `ps2moodle moodle-setup` says:
the role preset it writes imported as Moodle's "Define roles → Import" does, the external
service holding exactly its functions. Plan and apply run through the real commands; and
doctor names a capability the role lacks, and warns about an admin token."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from ps2moodle_testkit.emulators.moodle import MoodleSite

from .harness import MOODLE_TOKEN_ENV, MakeStack, Stack, config_text, connection

SYNC_TOKEN = "5a17c0de5a17c0de5a17c0de5a17c0de"

BODY = """
    schools: [100, 200]
    students:
      cohorts:
        - field: grade_level
    school_settings:
      100:
        terms: ["24-25", S1, S2, Q1, Q2, Q3, Q4]
        all_courses: section
        courses:
          LIBK5: { mode: group }
"""


def sync_user(stack: Stack, config: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Set the site up as moodle-setup's steps say; the token becomes the config's. Returns
    (user id, role id)."""
    preset = stack.cli("moodle-setup", config, "--format", "xml")
    assert preset.code == 0, preset.output
    text = stack.cli("moodle-setup", config)
    functions = [line.strip() for line in text.output.split("Role ")[0].splitlines()[1:]]
    site: MoodleSite = stack.site
    with site.lock:
        site.config.service_functions = functions
        userid = site.permissions.setup(site, "create_sync_user", "ps2moodle-sync", SYNC_TOKEN)
        assert userid is not None
        # create_sync_user's own role holds nothing; the imported preset is what counts.
        roleid = site.permissions.import_preset(site, preset.output)
        site.permissions.assign_at_system(site, roleid, userid)
    monkeypatch.setenv(MOODLE_TOKEN_ENV, SYNC_TOKEN)
    return userid, roleid


def test_the_moodle_setup_role_plans_and_applies_without_admin_rights(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    config = stack.write(text)
    userid, _ = sync_user(stack, config, monkeypatch)
    assert not stack.site.is_siteadmin(userid)

    doctor = stack.cli("doctor", config)
    assert doctor.code == 0, doctor.output
    assert "0 problems" in doctor.output and "site admin" not in doctor.output
    # Before the first sync there is no course but the site course to probe course access on.
    assert "Capabilities: 12 of the 21 the sync needs verified" in doctor.output

    document = stack.sync(config)  # plan, apply that plan, plan again: no changes
    kinds = {c["kind"] for c in document["changes"]}
    assert {"user", "course", "category", "cohort", "enrolment", "group", "group_member"} <= kinds
    view = stack.view
    assert view.owned_accounts() and view.cohorts()
    courses = view.owned_courses()
    assert any(view.seats(c.id) for c in courses.values())


def test_doctor_names_each_capability_the_role_lacks(make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    config = stack.write(text)
    stack.sync(config)  # as the admin: owned courses for doctor to sample
    _, roleid = sync_user(stack, config, monkeypatch)
    granted = stack.site.permissions.capabilities[roleid]
    verified = sorted(
        granted
        - {"moodle/cohort:manage", "moodle/course:changefullname"}
        - {"moodle/course:changeshortname", "moodle/course:changecategory", "moodle/course:changeidnumber"}
    )
    for capability in verified:
        granted.discard(capability)
        doctor = stack.cli("doctor", config)
        granted.add(capability)
        if capability == "webservice/rest:use":
            assert doctor.code == 1 and "needs webservice/rest:use at system context" in doctor.output, doctor.output
            continue
        assert doctor.code == 1, (capability, doctor.output)
        assert f"lacks 1 capability(ies) the sync needs: {capability}\n" in doctor.output, (capability, doctor.output)


def test_doctor_warns_that_an_admin_token_is_not_least_privilege(make_stack: MakeStack) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    doctor = stack.cli("doctor", stack.write(text))
    assert "Least privilege: the token belongs to a site administrator" in doctor.output
    assert "ps2moodle moodle-setup CONFIG" in doctor.output


def test_the_role_preset_has_the_shape_moodle_imports(make_stack: MakeStack) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    preset = stack.cli("moodle-setup", stack.write(text), "--format", "xml").output
    role = ET.fromstring(preset)
    # admin/roles/role_schema.xml: this sequence, every element optional.
    order = ["shortname", "name", "description", "archetype", "contextlevels"]
    order += ["allowassign", "allowoverride", "allowswitch", "permissions"]
    assert [child.tag for child in role] == order
    assert [level.text for level in role.iter("level")] == ["system"]
    assert {s.text for s in role.find("allowassign")} == {"student", "editingteacher", "teacher"}  # type: ignore[union-attr]
    allowed = [a.text for a in role.find("permissions")]  # type: ignore[union-attr]
    assert allowed == sorted(allowed) and "webservice/rest:use" in allowed
    assert {c.tag for c in role.find("permissions")} == {"allow"}  # type: ignore[union-attr]
