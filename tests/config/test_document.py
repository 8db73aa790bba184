"""parse_document: YAML text to plain data that remembers where everything was written."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.config import document
from reconciler.config.document import Document, parse_document


def _parse(text: str) -> Document:
    doc, issues = parse_document(textwrap.dedent(text), "c.yaml")
    assert issues == []
    assert doc is not None
    return doc


def _messages(text: str) -> list[tuple[int, int, str, str]]:
    _, issues = parse_document(textwrap.dedent(text), "c.yaml")
    return [(i.line, i.col, i.path, i.message) for i in issues]


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = _parse(
        """\
        moodle:
          url: https://x.example.org
        schools: [100, 200]
        """
    )

    assert doc.data == {"moodle": {"url": "https://x.example.org"}, "schools": [100, 200]}
    assert doc.keys[("moodle", "url")] == (2, 3)
    assert doc.values[("moodle", "url")] == (2, 8)
    assert doc.values[("schools", 1)] == (3, 16)
    assert doc.position(("moodle", "token")) == (2, 3)  # missing: its mapping's place
    assert doc.position(("moodle",), key=True) == (1, 1)


def test_an_empty_value_is_located_at_its_key() -> None:
    doc = _parse("a:\nb: 1\n")

    assert doc.data == {"a": None, "b": 1}
    assert doc.position(("a",)) == (1, 1)


def test_keys_are_kept_exactly_as_written() -> None:
    doc = _parse("0100: a\n100: b\ntrue: c\n2024-01-01: d\n")

    assert list(doc.data) == ["0100", "100", "true", "2024-01-01"]


def test_scalars_become_plain_values() -> None:
    doc = _parse("a: 0x1F\nb: 1_000\nc: 2.5\nd: true\ne: ~\nf: yes\ng: 2024-09-01\nh: !!str 12\n")

    assert doc.data == {"a": 31, "b": 1000, "c": 2.5, "d": True, "e": None, "f": "yes", "g": "2024-09-01", "h": "12"}
    assert [type(v) for v in doc.data.values()] == [int, int, float, bool, type(None), str, str, str]


def test_every_duplicate_key_is_reported_in_one_run() -> None:
    messages = _messages("a: 1\nb: 2\na: 3\nc:\n  d: 1\n  d: 2\n")

    assert messages == [
        (3, 1, "a", "duplicate key 'a': it is already given on line 1"),
        (6, 3, "c.d", "duplicate key 'd': it is already given on line 5"),
    ]


def test_merge_keys_bring_shared_settings_and_explicit_keys_win() -> None:
    doc = _parse(
        """\
        x-base: &base {auth: manual, username: "{username}"}
        x-more: &more {auth: oauth2, email_fallback: "{dcid}@x.org"}
        students:
          <<: [*base, *more]
          username: "s{student_number}"
        """
    )

    assert doc.data["students"] == {
        "username": "s{student_number}",
        "auth": "manual",
        "email_fallback": "{dcid}@x.org",
    }
    assert doc.values[("students", "auth")] == (1, 22)  # where the shared value is written
    assert doc.values[("students", "username")] == (5, 13)


def test_an_alias_repeats_the_anchored_value() -> None:
    doc = _parse("a: &terms [S1, S2]\nb: *terms\n")

    assert doc.data == {"a": ["S1", "S2"], "b": ["S1", "S2"]}


def test_an_anchor_may_be_redefined() -> None:
    doc = _parse("a: &x 1\nb: &x 2\nc: *x\n")

    assert doc.data == {"a": 1, "b": 2, "c": 2}


def test_a_value_that_contains_itself_is_reported() -> None:
    assert _messages("a: &loop [*loop]\n") == [(1, 4, "a[0]", "this alias refers to a value that contains it (a loop)")]
    assert _messages("a: &m {<<: *m}\n") == [(1, 4, "a", "this merge refers to a mapping that contains it (a loop)")]


def test_unusual_yaml_is_reported_where_it_is() -> None:
    assert _messages("a: !!float .inf\n") == [(1, 4, "a", "must be a finite number")]
    assert _messages("a: !!int twelve\n") == [(1, 4, "a", "this is not a valid int")]
    assert _messages("? [a, b]\n: 1\n") == [(1, 3, "", "a key must be plain text, not a list or a mapping")]
    assert _messages("a: !!set {x}\n") == [(1, 4, "a", "the YAML tag !!set is not supported; remove it")]
    assert _messages("a: {<<: [1]}\n") == [(1, 10, "a", "'<<' merges a mapping or a list of mappings, nothing else")]


def test_syntax_errors_are_located_without_quoting_the_line() -> None:
    doc, issues = parse_document("token: abc123\nurl: x: y\n", "c.yaml")

    assert doc is None
    assert [(i.line, i.col, i.message) for i in issues] == [(2, 7, "invalid YAML: mapping values are not allowed here")]


def test_absurdly_deep_nesting_is_refused_not_a_crash() -> None:
    assert _messages("a: " + "[" * 60 + "]" * 60 + "\n") == [(1, 53, "", "invalid YAML: nested deeper than 50 levels")]


def test_aliases_that_multiply_without_end_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "_MAX_VALUES", 5000)  # the real limit, far above any config, takes seconds
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]

    messages = _messages("\n".join(lines) + "\n")

    assert [m[3] for m in messages] == ["aliases expand this file to over 5000 values; write it out plainly"]
