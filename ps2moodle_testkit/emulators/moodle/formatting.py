"""Text as web services return it, and the URLs they build.

``format_string`` (course, category and group names) escapes a bare ``&`` to
``&amp;``, strips tags and escapes what is left of ``<`` and ``>``, unless the call
sent ``moodlewssettingraw=1``. User names and cohort names are returned raw.
``format_text`` (summaries, descriptions) returns the stored text unless the call sent
``moodlewssettingfilter=1`` (and not ``raw``): then the site's text filters run on it
(:mod:`.textfilters`). Not modelled: HTML Purifier's cleaning and the conversion of
non-HTML formats to HTML (the recorded texts are all simple HTML).
"""

from __future__ import annotations

import re

from ps2moodle_testkit.emulators.moodle import php, textfilters
from ps2moodle_testkit.emulators.moodle.errors import moodle_exception
from ps2moodle_testkit.emulators.moodle.registry import Call

#: FORMAT_MOODLE, FORMAT_HTML, FORMAT_PLAIN, FORMAT_MARKDOWN.
TEXT_FORMATS = (0, 1, 2, 4)

_BARE_AMPERSAND = re.compile(r"&(?![a-zA-Z0-9]+;|#[0-9]+;|#x[0-9a-fA-F]+;)")


def format_string(text: str, raw: bool = False) -> str:
    """``format_string`` with the default settings; ``raw`` (``moodlewssettingraw``) skips it."""
    if raw:
        return text
    text = _BARE_AMPERSAND.sub("&amp;", text)
    return php.strip_tags(text).replace("<", "&lt;").replace(">", "&gt;")


def format_text(call: Call, text: str, textformat: int) -> str:
    """``\\core_external\\util::format_text`` of a stored text: filtered only on request."""
    if call.raw or not call.filter or text == "":
        return text
    return textfilters.filter_text(text, textformat, lambda image: theme_image_url(call, image))


def theme_image_url(call: Call, image: str) -> str:
    """A core image of the site theme (``$OUTPUT->image_url``), such as ``u/f1`` or ``s/smiley``."""
    config = call.site.config
    return f"{config.wwwroot}/theme/image.php/{config.theme}/core/{config.themerev}/{image}"


def user_picture_url(call: Call, size: str) -> str:
    """The default profile picture (``f1`` large, ``f2`` small) of the site theme."""
    return theme_image_url(call, f"u/{size}")


def course_image_url(call: Call, contextid: int) -> str:
    """The generated course image of a course without an uploaded one."""
    return f"{call.site.config.wwwroot}/pluginfile.php/{contextid}/course/generated/course.svg"


def validate_format(textformat: int) -> None:
    """``\\core_external\\util::validate_format``: a known text format, else ``formatnotsupported``."""
    if textformat not in TEXT_FORMATS:
        raise moodle_exception("formatnotsupported", "error/formatnotsupported")
