"""Fixtures of the config tests: writing config files into a temporary directory."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.configs import WriteConfig, minimal_config


@pytest.fixture
def valid_text() -> str:
    """The text of the smallest valid config; tests append to it or replace parts of it."""
    return minimal_config()


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Writes (dedented) YAML text to a file in tmp_path and returns its path."""

    def write(text: str, name: str = "ps2moodle.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
