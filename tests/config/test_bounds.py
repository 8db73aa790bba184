"""Loading is bounded: an oversized file, an alias bomb or a huge plain list is refused
quickly with one message that names the real cause, and nothing else."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.config import document
from reconciler.config.loader import MAX_CONFIG_BYTES, check_config

from .conftest import WriteConfig


def test_a_file_over_the_size_cap_is_refused_at_once_naming_the_limit(tmp_path: Path, valid_text: str) -> None:
    # Before: a 23 MB plain list took 1:41 and 1 GB, then blamed aliases it did not have.
    path = tmp_path / "export.yaml"
    path.write_text(valid_text + "".join(f"# row {n:08d} of an export\n" for n in range(800_000)), encoding="utf-8")
    assert path.stat().st_size > 20_000_000
    started = time.perf_counter()
    issues = check_config(path)
    assert time.perf_counter() - started < 1.0
    assert [(i.line, i.col, i.message) for i in issues] == [
        (
            1,
            1,
            "the file is larger than 1024 KiB, the most a config may be (a district's config is a few KB): "
            "is it the right file?",
        )
    ]
    assert MAX_CONFIG_BYTES == 1024 * 1024


def test_a_file_just_under_the_cap_is_read(write_config: WriteConfig, valid_text: str) -> None:
    padding = MAX_CONFIG_BYTES - len(valid_text.encode()) - 10
    path = write_config(valid_text + "#" * padding + "\n")
    assert check_config(path) == []


def test_an_alias_bomb_is_one_issue_without_follow_on_errors(
    write_config: WriteConfig, valid_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the values left out after the limit drew "missing required key" and type
    # errors for settings that were written correctly further down.
    monkeypatch.setattr(document, "_MAX_VALUES", 5000)
    lines = ["x-a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"x-a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 5)]
    path = write_config("\n".join(lines) + "\n" + valid_text)
    issues = check_config(path)
    assert [i.message for i in issues] == ["aliases expand this file to over 5000 values; write it out plainly"]


def test_a_huge_plain_list_is_not_blamed_on_aliases(
    write_config: WriteConfig, valid_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(document, "_MAX_VALUES", 5000)
    path = write_config(valid_text + "x-list:\n" + "".join(f"  - {n}\n" for n in range(6000)))
    issues = check_config(path)
    assert [i.message for i in issues] == [
        "the file holds over 5000 values, far more than a config (a few thousand): is it the right file?"
    ]
