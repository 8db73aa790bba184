"""Template placeholders: parsing, rendering, and the catalogues."""

from __future__ import annotations

import pytest

from reconciler.config import templates
from reconciler.config.templates import TemplateError, placeholders, render


def test_placeholders_are_the_names_a_template_uses() -> None:
    assert placeholders("{last_name}, {first_name} ({last_name})") == {"last_name", "first_name"}
    assert placeholders("no placeholders") == set()
    assert placeholders("{{literal}} {year}") == {"year"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{user.name}", "has {user.name}: a placeholder is a plain lowercase name"),
        ("{names[0]}", "has {names[0]}: a placeholder is a plain lowercase name"),
        ("{}", "has {}: a placeholder is a plain lowercase name"),
        ("{0}", "has {0}: a placeholder is a plain lowercase name"),
        ("{First}", "has {First}: a placeholder is a plain lowercase name"),
        ("{year:04d}", "formats {year}: placeholders take no format spec"),
        ("{year!r}", "formats {year}: placeholders take no format spec"),
        ("{year", "is malformed: expected '}' before end of string"),
        ("year}", "is malformed: Single '}' encountered in format string"),
    ],
)
def test_malformed_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        placeholders(template)

    assert str(caught.value).startswith(message)


def test_render_fills_each_placeholder_with_its_text() -> None:
    values = {"course_name": "Biology", "section_number": "3", "year": 2024, "unused": "x"}

    assert render("{course_name} {section_number} ({year}) {{{year}}}", values) == "Biology 3 (2024) {2024}"


def test_render_names_a_missing_value() -> None:
    with pytest.raises(TemplateError, match=r"^template '\{a\}-\{b\}' needs a value for \{b\}$"):
        render("{a}-{b}", {"a": 1})


def test_render_refuses_a_malformed_template() -> None:
    with pytest.raises(TemplateError, match="malformed"):
        render("{a", {"a": 1})


@pytest.mark.parametrize("catalogue", [templates.STUDENT, templates.STAFF, templates.COURSE, templates.COHORT])
def test_every_catalogued_placeholder_can_be_written(catalogue: templates.Catalogue) -> None:
    for name, meaning in catalogue.items():
        assert placeholders(f"{{{name}}}") == {name}
        assert meaning


def test_group_course_templates_have_everything_but_the_section() -> None:
    assert set(templates.COURSE) - set(templates.GROUP_COURSE) == {"section_number", "teachers", "expression"}
    assert set(templates.GROUP_COURSE) < set(templates.COURSE)
