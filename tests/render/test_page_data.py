"""The data plan.html embeds: every change once, each person's rows about that person,
and the JSON exactly what the standard library writes (orjson writes it, faster)."""

from __future__ import annotations

import json

from reconciler.render.html import page_data, page_json
from reconciler.render.view import Layout
from tests.support.plans import sample_doc

#: Text a plan may carry: every character up to U+3000 (controls, quotes, backslashes,
#: markup, line separators, bidi marks), a byte-order mark, private use and an emoji.
_AWKWARD = "".join(map(chr, range(0x3000))) + "\ufeff\ue000\uffff\U0001f600\U0010ffff"


def test_page_json_is_the_standard_librarys_compact_json_with_markup_escaped() -> None:
    data: dict[str, object] = {
        "s": [_AWKWARD, "", 'a "quoted" \\ path', "</script><!--&"],
        "c": [(0, 1, -1, 2), (3, 3, 3, 3)],
        "p": [[0, [0, 1]], [1, []]],
    }
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    expected = expected.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    assert page_json(data) == expected.encode("utf-8")
    assert b"<" not in page_json(data) and json.loads(page_json(data))["s"][0] == _AWKWARD


def test_every_change_is_one_row_and_each_persons_rows_are_about_them() -> None:
    doc = sample_doc()
    layout = Layout(doc)
    data = page_data(layout)
    strings, rows, persons = data["s"], data["c"], data["p"]
    assert isinstance(strings, list) and isinstance(rows, list) and isinstance(persons, list)
    assert len(rows) == len(doc.changes)
    for (title, listed), person in zip(persons, layout.people, strict=True):
        assert strings[title] == person.title
        assert len(listed) == len(person.changes) and len(set(listed)) == len(listed)
        for row in listed:
            assert strings[rows[row][5]] in person.title  # the row's person column names them
