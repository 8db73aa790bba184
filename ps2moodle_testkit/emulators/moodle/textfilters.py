"""The text filters of a stock Moodle 4.5 that change what a web service returns.

A call with ``moodlewssettingfilter=1`` has ``format_text`` fields (summaries,
descriptions) run through the site's filter chain, after cleaning. The recorded site
lists six active filters, in this order: displayh5p, activitynames, mathjaxloader,
emoticon, urltolink, mediaplugin. Only two change plain course text: ``emoticon``
(``:-)`` to the theme's smiley image) and ``urltolink`` (bare URLs to links, links to
images to ``<img>``). The others act on H5P links, activity names, TeX and media links,
which the emulated site never holds. ``format_string`` fields pass through no filter:
``filterall`` is off, and both filters skip text without an original format anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: FORMAT_MOODLE, FORMAT_HTML, FORMAT_MARKDOWN: the default ``formats`` setting of both filters.
FILTERED_FORMATS = frozenset({0, 1, 4})

#: ``emoticon_manager::default_emoticons()``: text, image, alt text (``core_pix`` / ``core`` strings),
#: in the order ``str_replace`` tries them.
EMOTICONS = (
    (":-)", "smiley", "smile"),
    (":)", "smiley", "smile"),
    (":-D", "biggrin", "big grin"),
    (";-)", "wink", "wink"),
    (":-/", "mixed", "mixed"),
    ("V-.", "thoughtful", "thoughtful"),
    (":-P", "tongueout", "tongueout"),
    (":-p", "tongueout", "tongueout"),
    ("B-)", "cool", "cool"),
    ("^-)", "approve", "approve"),
    ("8-)", "wideeyes", "wide eyes"),
    (":o)", "clown", "clown"),
    (":-(", "sad", "sad"),
    (":(", "sad", "sad"),
    ("8-.", "shy", "shy"),
    (":-I", "blush", "blush"),
    (":-X", "kiss", "kiss"),
    ("8-o", "surprise", "surprise"),
    ("P-|", "blackeye", "black eye"),
    ("8-[", "angry", "angry"),
    ("(grr)", "angry", "angry"),
    ("xx-P", "dead", "dead"),
    ("|-.", "sleepy", "sleepy"),
    ("}-]", "evil", "evil"),
    ("(h)", "heart", "heart"),
    ("(heart)", "heart", "heart"),
    ("(y)", "yes", "Yes"),
    ("(n)", "no", "No"),
    ("(martin)", "martin", "martin"),
    ("( )", "egg", "egg"),
)

ImageUrl = Callable[[str], str]


def filter_text(text: str, textformat: int, image_url: ImageUrl) -> str:
    """The filter chain's ``post_clean`` stage; ``image_url`` maps ``s/smiley`` to the theme's URL."""
    if textformat not in FILTERED_FORMATS:
        return text
    return urls_to_links(replace_emoticons(text, image_url))


# -- filter_emoticon ---------------------------------------------------------------------

_NO_EMOTICON_ZONES = re.compile(r"(</?(?:span|script|pre)[^>]*>)", re.IGNORECASE | re.DOTALL)
_ZONE_STARTS = (
    re.compile(r"^<script", re.I | re.S),
    re.compile(r'^<span[^>]+class="nolink[^"]*"', re.I | re.S),
    re.compile(r"^<pre", re.I | re.S),
)


def emoticon_markup(imagename: str, alt: str, image_url: ImageUrl) -> str:
    """``pix_emoticon`` rendered by the ``core/pix_icon`` template."""
    return f'<img class="icon emoticon" alt="{alt}" title="{alt}" src="{image_url("s/" + imagename)}" />'


def replace_emoticons(text: str, image_url: ImageUrl) -> str:
    """``filter_emoticon``: emoticons outside ``<script>``, ``<pre>`` and ``<span class="nolink">``."""
    result = []
    exclude = 0
    for fragment in (part for part in _NO_EMOTICON_ZONES.split(text) if part):
        if exclude == 0 and any(start.search(fragment) for start in _ZONE_STARTS):
            exclude += 1
        if exclude > 0:
            if any(tag in fragment for tag in ("</span", "</script", "</pre")):
                exclude -= 1
                if exclude == 1:  # Moodle's correction for counting the opening tag twice
                    exclude -= 1
            elif any(tag in fragment for tag in ("<span", "<script", "<pre")):
                exclude += 1
        elif "<span" not in fragment or "</span" not in fragment:
            for emoticon, imagename, alt in EMOTICONS:  # PHP's str_replace with arrays: one after another
                fragment = fragment.replace(emoticon, emoticon_markup(imagename, alt, image_url))
        result.append(fragment)
    return "".join(result)


# -- filter_urltolink --------------------------------------------------------------------

# PCRE's \pL (any letter), which Python's re spells as "a word character, not a digit or _".
_LETTER = r"[^\W\d_]"
_PATHCHAR = rf"(?:{_LETTER}|[0-9.!$&'()*+,;=_~:@-]|%[a-f0-9]{{2}})"
_QUERYCHAR = rf"(?:{_LETTER}|[0-9.!$&'()*+,;=_~:@/?-]|%[a-f0-9]{{2}})"
_DOMAIN_CHAR = rf"(?:{_LETTER}|[0-9])"
_DOMAIN_SEGMENT = rf"(?:{_DOMAIN_CHAR}(?:{_DOMAIN_CHAR}|-)*{_DOMAIN_CHAR}|{_DOMAIN_CHAR})"
_URL = re.compile(
    r"(?:http(s)?://|(?<!://)(www\.))"
    rf"((?:{_DOMAIN_SEGMENT}\.)+{_DOMAIN_SEGMENT}|(?:(?:[0-9]{{1,3}}\.){{3}}[0-9]{{1,3}}))"
    rf"((?::\d*)?(?:/{_PATHCHAR}*)*(?:\?{_QUERYCHAR}*)?(?:\#{_QUERYCHAR}*)?)"
    r"(?<![]),.;])",
    re.IGNORECASE,
)
_HTML_TAG = re.compile(r"(<[^<|>]*>)")
_ATTRIBUTE_CHUNK = re.compile(r'(background=")|(action=")|(style="background)|(href=")|(src=")|(url [(])')
#: Existing links and ``nolink`` spans are set aside first (``filter_save_ignore_tags``).
_IGNORED = (
    re.compile(r"<a\s[^>]+?>(.*?)</a>", re.IGNORECASE | re.DOTALL),
    re.compile(r'<span[^>]+?class="nolink"[^>]*?>(.*?)</span>', re.IGNORECASE | re.DOTALL),
)
_IMAGE_LINK = re.compile(r'<a href="([^"]+\.(jpg|png|gif))" class="_blanktarget">([^>]*)</a>', re.I | re.S)
#: ``TEXTFILTER_EXCL_SEPARATOR``: placeholders look like tags, so the URL pass skips them.
_SEPARATOR = "\x1f%\x1f"


def urls_to_links(text: str) -> str:
    """``filter_urltolink`` with its defaults (``embedimages`` on)."""
    text, ignored = _set_aside(text)
    chunks = [chunk for chunk in _HTML_TAG.split(text) if chunk]
    for index, chunk in enumerate(chunks):
        if chunk.strip().startswith("<") or _ATTRIBUTE_CHUNK.search(chunk):
            continue
        words = chunk.split(" ")
        chunks[index] = " ".join(_link(word) if len(word.encode()) < 4096 else word for word in words)
    text = "".join(chunks)
    for placeholder, original in reversed(ignored):
        text = text.replace(placeholder, original)
    return _IMAGE_LINK.sub(_embed_image, text)


def _link(word: str) -> str:
    def anchor(match: re.Match[str]) -> str:
        secure, www, host, rest = (group or "" for group in match.groups())
        return f'<a href="http{secure}://{www}{host}{rest}" class="_blanktarget">{match.group(0)}</a>'

    return _URL.sub(anchor, word)


def _set_aside(text: str) -> tuple[str, list[tuple[str, str]]]:
    ignored: list[tuple[str, str]] = []
    for pattern in _IGNORED:
        for key, value in enumerate(dict.fromkeys(match.group(0) for match in pattern.finditer(text))):
            ignored.append((f"<#{len(ignored) + 1}{_SEPARATOR}{key}#>", value))
        for placeholder, value in ignored:
            text = text.replace(value, placeholder)
    return text, ignored


def _embed_image(match: re.Match[str]) -> str:
    if match.group(1) != match.group(3):
        return match.group(0)  # not a link this filter made: its text is not its URL
    return f'<img class="filter_urltolink_image" alt="" src="{match.group(1)}" />'
