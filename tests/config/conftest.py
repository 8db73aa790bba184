"""Fixtures of the config tests: writing config files into a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

#: The smallest valid config; tests append to it or replace parts of it.
VALID = """\
version: 1
moodle:
  url: https://moodle.example.org
  token: ${MOODLE_TOKEN}
connections:
  - name: district
    powerschool:
      url: https://ps.example.org
      client_id: ${PS_CLIENT_ID}
      client_secret: ${PS_CLIENT_SECRET}
    schools: [100]
"""

WriteConfig = Callable[..., Path]


@pytest.fixture
def valid_text() -> str:
    """The text of the smallest valid config."""
    return VALID


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Writes (dedented) YAML text to a file in tmp_path and returns its path."""

    def write(text: str, name: str = "ps2moodle.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
