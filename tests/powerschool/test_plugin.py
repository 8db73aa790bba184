"""The plugin ZIP `ps2moodle powerschool-plugin` writes: valid against PowerSchool's
public plugin XSD, and, installed in the emulated PowerSchool, exactly sufficient for
the config's reads (one field short is refused with the field named)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import xmlschema
from typer.testing import CliRunner

from ps2moodle_testkit.emulators.district import SECTION_FIELD, STAFF_FIELDS, STUDENT_FIELDS, District
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from ps2moodle_testkit.emulators.powerschool.plugins import PluginRefused, install_plugin
from reconciler.cli import app
from reconciler.cli.doctor import powerschool_findings
from reconciler.config.model import (
    Connection,
    CustomField,
    PeopleSettings,
    PowerSchoolSettings,
    SecretRef,
    SectionMigration,
)
from reconciler.errors import SourceError
from reconciler.moodle.checks import Level
from reconciler.powerschool.plugin import NAMESPACE, PluginError, plugin_spec, plugin_xml, plugin_zip
from reconciler.powerschool.source import fetch_roster
from tests.support.roster_oracle import expected_roster

from .helpers import TODAY, URL, differences

#: grantholle/powerschool-plugin-xml-builder src/plugin.xsd (MIT), verbatim.
PUBLIC_XSD = Path(__file__).parent / "data" / "plugin.xsd"
#: PowerSchool 25.2 added ``accessLevelV1Api`` (NONE|READ|FULL) to <oauth> (reference §1.1);
#: the public XSD predates it. This is that XSD with the one attribute added.
V1_ATTRIBUTE = (
    '<xs:attribute name="accessLevelV1Api" use="optional"><xs:simpleType><xs:restriction base="xs:string">'
    '<xs:enumeration value="NONE"/><xs:enumeration value="READ"/><xs:enumeration value="FULL"/>'
    "</xs:restriction></xs:simpleType></xs:attribute>"
)


def schema_25_2() -> xmlschema.XMLSchema:
    text = PUBLIC_XSD.read_text()
    anchor = '<xs:attribute name="account_token"'
    assert text.count(anchor) == 1
    return xmlschema.XMLSchema(text.replace(anchor, V1_ATTRIBUTE + anchor))


def connection(**changes: object) -> Connection:
    settings: dict[str, object] = {
        "name": "springfield",
        "powerschool": PowerSchoolSettings(URL, SecretRef(env="PS_ID"), SecretRef(env="PS_SECRET")),
        "schools": (200,),
        "students": PeopleSettings(custom_fields=(CustomField(STUDENT_FIELDS[0], "preferredname"),)),
        "staff": PeopleSettings(custom_fields=(CustomField(STAFF_FIELDS[0], "department"),)),
        "section_migration": SectionMigration(SECTION_FIELD),
    }
    return Connection(**{**settings, **changes})  # type: ignore[arg-type]


def xml_for(conn: Connection) -> str:
    return plugin_xml(plugin_spec(conn, "sis-admin@example.org"))


def granted(xml: str) -> set[tuple[str, str]]:
    root = ET.fromstring(xml)
    return {(f.get("table", ""), f.get("field", "")) for f in root.iter(f"{{{NAMESPACE}}}field")}


def test_plugin_xml_is_valid_against_the_public_xsd_with_the_25_2_v1_attribute() -> None:
    xml = xml_for(connection())
    schema_25_2().validate(xml)
    # The verbatim public XSD accepts everything but the 25.2 attribute it predates.
    errors = list(xmlschema.XMLSchema(PUBLIC_XSD).iter_errors(xml))
    assert len(errors) == 1 and "accessLevelV1Api" in str(errors[0])
    xmlschema.XMLSchema(PUBLIC_XSD).validate(xml.replace(' accessLevelV1Api="READ"', ""))
    root = ET.fromstring(xml)
    assert root.find(f"{{{NAMESPACE}}}oauth").get("accessLevelV1Api") == "READ"  # type: ignore[union-attr]


def test_the_access_request_holds_the_configs_custom_and_extension_fields() -> None:
    fields = granted(xml_for(connection()))
    student_table, student_field = STUDENT_FIELDS[0].upper().split(".")
    assert (student_table, student_field) in fields
    assert tuple(STAFF_FIELDS[0].upper().split(".")) in fields
    assert tuple(SECTION_FIELD.upper().split(".")) in fields and ("CC", "DATELEFT") in fields
    plain = granted(xml_for(connection(students=PeopleSettings(), staff=PeopleSettings(), section_migration=None)))
    assert plain < fields and not any(t.startswith("U_") for t, _ in plain)


def test_a_configs_plugin_is_sufficient_and_one_field_short_is_refused_naming_it(
    tiny: District, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = connection()
    xml = xml_for(conn)
    emulator = PowerSchoolEmulator(tiny, plugin=install_plugin(plugin_zip(xml)))
    monkeypatch.setenv("PS_ID", emulator.client_id)
    monkeypatch.setenv("PS_SECRET", emulator.client_secret)
    roster = fetch_roster(conn, transport=emulator.transport(), today=TODAY)
    want = expected_roster(
        tiny,
        [200],
        today=TODAY,
        student_fields=STUDENT_FIELDS[:1],
        staff_fields=STAFF_FIELDS,
        section_field=SECTION_FIELD,
    )
    assert differences(roster, want) == []

    short = re.sub(r'\s*<field table="SECTIONTEACHER" field="ROLEID" access="ViewOnly" />', "", xml)
    assert len(granted(short)) == len(granted(xml)) - 1
    emulator.plugin = install_plugin(plugin_zip(short))
    with pytest.raises(SourceError) as refused:
        fetch_roster(conn, transport=emulator.transport(), today=TODAY)
    assert "HTTP 403" in str(refused.value) and "roleid: No access to the field" in str(refused.value)


def test_a_plugin_without_the_v1_attribute_cannot_read_v1(tiny: District, monkeypatch: pytest.MonkeyPatch) -> None:
    xml = xml_for(connection()).replace(' accessLevelV1Api="READ"', "")
    emulator = PowerSchoolEmulator(tiny, plugin=install_plugin(plugin_zip(xml)))
    monkeypatch.setenv("PS_ID", emulator.client_id)
    monkeypatch.setenv("PS_SECRET", emulator.client_secret)
    with pytest.raises(SourceError, match="accessLevelV1Api"):
        fetch_roster(connection(), transport=emulator.transport(), today=TODAY)


def test_what_plugin_management_refuses() -> None:
    with pytest.raises(PluginRefused, match=r"plugin\.xml at its root"):
        install_plugin(b"not a zip")
    xml = xml_for(connection())
    with pytest.raises(PluginRefused, match="no <oauth/>"):
        install_plugin(plugin_zip(re.sub(r"<oauth[^>]*/>", "", xml)))


def test_values_the_xsd_would_refuse_are_named() -> None:
    with pytest.raises(PluginError, match=r"email .* longer than PowerSchool.s 40"):
        plugin_xml(plugin_spec(connection(), "x" * 41 + "@example.org"))
    with pytest.raises(PluginError, match="email must not be empty"):
        plugin_xml(plugin_spec(connection(), " "))


def test_the_command_writes_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Path(__file__).parents[2] / "examples" / "minimal.yaml"
    result = CliRunner().invoke(app, ["powerschool-plugin", str(config), "--contact", "it@example.org"])
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("*-plugin.zip")
    assert written.name in result.output
    with zipfile.ZipFile(io.BytesIO(written.read_bytes())) as archive:
        assert archive.namelist() == ["plugin.xml"]
        schema_25_2().validate(archive.read("plugin.xml").decode())
    again = CliRunner().invoke(
        app, ["powerschool-plugin", str(config), "--contact", "it@example.org", "--out", "b.zip"]
    )
    assert again.exit_code == 0 and (tmp_path / "b.zip").read_bytes() == written.read_bytes()


def test_the_command_names_a_missing_connection(tmp_path: Path) -> None:
    config = Path(__file__).parents[2] / "examples" / "minimal.yaml"
    result = CliRunner().invoke(
        app, ["powerschool-plugin", str(config), "--contact", "a@b.org", "--connection", "nope", "--out", "x.zip"]
    )
    assert result.exit_code == 1 and "no connection named 'nope'" in result.output
    assert "Traceback" not in result.output


def test_doctor_names_the_fields_a_live_plugin_lacks(tiny: District, monkeypatch: pytest.MonkeyPatch) -> None:
    xml = xml_for(connection())
    short = re.sub(r'\s*<field table="CC" field="DATELEFT" access="ViewOnly" />', "", xml)
    emulator = PowerSchoolEmulator(tiny, plugin=install_plugin(plugin_zip(short)))
    monkeypatch.setenv("PS_ID", emulator.client_id)
    monkeypatch.setenv("PS_SECRET", emulator.client_secret)
    with emulator.serve() as server:
        conn = connection(
            powerschool=PowerSchoolSettings(server.url, SecretRef(env="PS_ID"), SecretRef(env="PS_SECRET"))
        )
        findings = powerschool_findings(conn)
        (problem,) = [f for f in findings if f.level is Level.PROBLEM]
        assert problem.subject == "Plugin fields" and problem.detail.endswith(": CC.DATELEFT")
        emulator.plugin = install_plugin(plugin_zip(xml))
        fine = powerschool_findings(conn)
    assert [f.detail for f in fine if f.subject == "Plugin fields"] == [
        "the plugin may read every field the sync reads"
    ]
    assert all(f.level is Level.OK for f in fine)
