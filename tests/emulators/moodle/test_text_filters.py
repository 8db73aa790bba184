"""``moodlewssettingfilter=1``: the emoticon and urltolink filters on ``format_text`` fields.

The expected URL conversions are input/output pairs from Moodle's own filter tests
(``filter/urltolink/tests/text_filter_test.php``); the emoticon markup is the
``core/pix_icon`` rendering Moodle's ``weblib_format_text_test`` asserts.
"""

from __future__ import annotations

from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle import MoodleSite
from ps2moodle_testkit.emulators.moodle.textfilters import filter_text, replace_emoticons, urls_to_links

from .replay import flatten

_LINK = '<a href="{href}" class="_blanktarget">{text}</a>'

MOODLE_URL_CASES = {
    "URL: http://moodle.org:8080/s/i=1": "URL: "
    + _LINK.format(href="http://moodle.org:8080/s/i=1", text="http://moodle.org:8080/s/i=1"),
    "URL: www.bbc.co.uk.": "URL: " + _LINK.format(href="http://www.bbc.co.uk", text="www.bbc.co.uk") + ".",
    "(http://moodle.org) - URL": "(" + _LINK.format(href="http://moodle.org", text="http://moodle.org") + ") - URL",
    "[www.moodle.org/main#anchor] - URL": "["
    + _LINK.format(href="http://www.moodle.org/main#anchor", text="www.moodle.org/main#anchor")
    + "] - URL",
    "URL: http://cc.org/url_(with)_(par)_go/?i=2": "URL: "
    + _LINK.format(href="http://cc.org/url_(with)_(par)_go/?i=2", text="http://cc.org/url_(with)_(par)_go/?i=2"),
    "URL: www.moodle.org/s/i=1&amp;j=2.": "URL: "
    + _LINK.format(href="http://www.moodle.org/s/i=1&amp;j=2", text="www.moodle.org/s/i=1&amp;j=2")
    + ".",
    "URL: http://moodle.org)<br />": "URL: "
    + _LINK.format(href="http://moodle.org", text="http://moodle.org")
    + ")<br />",
    "URL: <p>text www.moodle.org&lt;/p> text": "URL: <p>text "
    + _LINK.format(href="http://www.moodle.org", text="www.moodle.org")
    + "&lt;/p> text",
    "URL: www.moodle.org?u=1.23": "URL: "
    + _LINK.format(href="http://www.moodle.org?u=1.23", text="www.moodle.org?u=1.23"),
    'URL: <a href="http://moodle.org"> www.moodle.org</a>': 'URL: <a href="http://moodle.org"> www.moodle.org</a>',
    'URL: <a href="http://moodle.org">http://moodle.org</a> www.moodle.org': 'URL: <a href="http://moodle.org">'
    "http://moodle.org</a> " + _LINK.format(href="http://www.moodle.org", text="www.moodle.org"),
    "This contains http, http:// and www but no actual links.": "This contains http, http:// and www but no actual "
    "links.",
    "This is a story about moodle.coming to a cinema near you.": "This is a story about moodle.coming to a cinema "
    "near you.",
    "http://Iñtërnâtiônàlizætiøn.com?ô=nëø": _LINK.format(
        href="http://Iñtërnâtiônàlizætiøn.com?ô=nëø", text="http://Iñtërnâtiônàlizætiøn.com?ô=nëø"
    ),
    'image<img src="http://moodle.org/logo/logo-240x60.gif" />': 'image<img src="http://moodle.org/logo/logo-240x60.gif"'
    " />",
    '<td background="www.moodle.org">&nbsp;</td>': '<td background="www.moodle.org">&nbsp;</td>',
    '<table style="background-image: url( http://moodle.org/pic.jpg );">': '<table style="background-image: url( '
    'http://moodle.org/pic.jpg );">',
    "URL: http://127.0.0.1/one%28parenthesis%29/path?param=value": "URL: "
    + _LINK.format(
        href="http://127.0.0.1/one%28parenthesis%29/path?param=value",
        text="http://127.0.0.1/one%28parenthesis%29/path?param=value",
    ),
    "h3 (www.styles.com/h3) < h1 (www.styles.com/h1)": "h3 ("
    + _LINK.format(href="http://www.styles.com/h3", text="www.styles.com/h3")
    + ") < h1 ("
    + _LINK.format(href="http://www.styles.com/h1", text="www.styles.com/h1")
    + ")",
}


@pytest.mark.parametrize("text", list(MOODLE_URL_CASES))
def test_urltolink_converts_as_moodles_own_tests_expect(text: str) -> None:
    assert urls_to_links(text) == MOODLE_URL_CASES[text]


def test_urltolink_embeds_images_it_linked_itself() -> None:
    assert urls_to_links("see https://y.org/pic.png") == (
        'see <img class="filter_urltolink_image" alt="" src="https://y.org/pic.png" />'
    )
    assert urls_to_links("a" + "b" * 4096 + " www.x.org") == (
        "a" + "b" * 4096 + " " + _LINK.format(href="http://www.x.org", text="www.x.org")
    )
    assert urls_to_links("x www." + "a" * 4100 + ".org") == "x www." + "a" * 4100 + ".org"  # ReDoS guard


def _image(name: str) -> str:
    return f"http://moodle.test/theme/image.php/boost/core/9/{name}"


def _smiley(alt: str = "smile", image: str = "smiley") -> str:
    return f'<img class="icon emoticon" alt="{alt}" title="{alt}" src="{_image("s/" + image)}" />'


def test_emoticons_become_the_themes_images_outside_nolink_pre_and_script() -> None:
    assert replace_emoticons("Hello(n) :-) (heart)", _image) == (
        f"Hello{_smiley('No', 'no')} {_smiley()} {_smiley('heart', 'heart')}"
    )
    kept = '<span class="nolink"><span>(n)</span>(n)</span>'
    assert replace_emoticons(kept + "(n)", _image) == kept + _smiley("No", "no")
    assert replace_emoticons("<pre><pre>(n)</pre>(n)</pre>(n)", _image) == (
        "<pre><pre>(n)</pre>(n)</pre>" + _smiley("No", "no")
    )
    script = "<script language='javascript'>alert('(grr)');</script>"
    assert replace_emoticons(script, _image) == script


def test_only_moodle_html_and_markdown_texts_are_filtered() -> None:
    for textformat in (0, 1, 4):
        assert filter_text(":-)", textformat, _image) == _smiley()
    assert filter_text(":-) www.x.org", 2, _image) == ":-) www.x.org"


# -- through the web services ------------------------------------------------------------------


def _filtered(ws: Any, function: str, *settings: tuple[str, str], **params: Any) -> Any:
    return ws.raw(function, [*settings, *flatten(params)]).json()


_SUMMARY = "<p>Notes :-) at http://example.org/notes</p>"


def _summary_filtered(site: MoodleSite) -> str:
    theme = f"{site.config.wwwroot}/theme/image.php/boost/core/{site.config.themerev}"
    smiley = f'<img class="icon emoticon" alt="smile" title="smile" src="{theme}/s/smiley" />'
    link = _LINK.format(href="http://example.org/notes", text="http://example.org/notes")
    return f"<p>Notes {smiley} at {link}</p>"


def test_filter_setting_filters_course_summaries_not_names(ws: Any, site: MoodleSite) -> None:
    course = {"fullname": "Fun :-) www.example.org", "shortname": "F1", "categoryid": 1, "summary": _SUMMARY}
    courseid = ws("core_course_create_courses", courses=[course])[0]["id"]
    on = ("moodlewssettingfilter", "1")

    by_field = _filtered(ws, "core_course_get_courses_by_field", on, field="id", value=str(courseid))["courses"][0]
    assert by_field["summary"] == _summary_filtered(site)
    assert by_field["fullname"] == "Fun :-) www.example.org"  # format_string: no filter runs (filterall off)
    listed = _filtered(ws, "core_course_get_courses", on, options={"ids": [courseid]})[0]
    assert listed["summary"] == _summary_filtered(site)

    for settings in ((), (("moodlewssettingfilter", "0"),), (on, ("moodlewssettingraw", "1"))):
        plain = _filtered(ws, "core_course_get_courses_by_field", *settings, field="id", value=str(courseid))
        assert plain["courses"][0]["summary"] == _SUMMARY


def test_filter_setting_filters_category_group_and_cohort_descriptions(ws: Any, site: MoodleSite) -> None:
    on = ("moodlewssettingfilter", "1")
    category = ws("core_course_create_categories", categories=[{"name": "K", "description": _SUMMARY}])[0]
    categories = _filtered(ws, "core_course_get_categories", on, criteria=[{"key": "id", "value": category["id"]}])
    assert categories[0]["description"] == _summary_filtered(site)

    courseid = ws("core_course_create_courses", courses=[{"fullname": "C", "shortname": "C", "categoryid": 1}])[0]["id"]
    ws("core_group_create_groups", groups=[{"courseid": courseid, "name": "G :-)", "description": _SUMMARY}])
    group = _filtered(ws, "core_group_get_course_groups", on, courseid=courseid)[0]
    assert (group["name"], group["description"]) == ("G :-)", _summary_filtered(site))

    cohort = {"categorytype": {"type": "system", "value": ""}, "name": "H", "idnumber": "h", "description": _SUMMARY}
    ws("core_cohort_create_cohorts", cohorts=[cohort])
    listed = _filtered(ws, "core_cohort_search_cohorts", on, query="H", context={"contextid": 1})
    assert listed["cohorts"][0]["description"] == _summary_filtered(site)
    assert (
        ws("core_cohort_search_cohorts", query="H", context={"contextid": 1})["cohorts"][0]["description"] == _SUMMARY
    )
