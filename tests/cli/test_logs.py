"""-v, -q and --log-format: one handler, JSON lines with time, level, logger, message, and
never a credential."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from reconciler.cli.logs import LogFormat, configure, raise_to, scrub


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    configure(level, LogFormat.TEXT)


def test_json_lines_carry_time_level_logger_message(capsys: pytest.CaptureFixture[str]) -> None:
    configure(logging.INFO, LogFormat.JSON)
    logging.getLogger("reconciler.pipeline").info("plan: reading %s", "Moodle")
    logging.getLogger("reconciler.pipeline").debug("not at INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["level"] == "INFO" and entry["logger"] == "reconciler.pipeline"
    assert entry["message"] == "plan: reading Moodle"
    assert entry["time"].endswith("+00:00")


def test_an_exception_is_named_not_traced(capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in LogFormat:
        configure(logging.WARNING, fmt)
        try:
            raise ValueError("bad page")
        except ValueError:
            logging.getLogger("x").exception("read failed")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("read failed: ValueError: bad page") == 2


@pytest.mark.parametrize(
    ("message", "hidden"),
    [
        ("POST /webservice/rest/server.php?wstoken=abc123def&wsfunction=x", "abc123def"),
        ("client_secret=s3cr3t-value", "s3cr3t-value"),
        ("Authorization: Bearer eyJhbGciOi.J9", "eyJhbGciOi.J9"),
        ("token: 0123456789abcdef", "0123456789abcdef"),
        ("webhook_key=k-1", "k-1"),
    ],
)
def test_credentials_are_masked_in_both_formats(message: str, hidden: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert hidden not in scrub(message) and "***" in scrub(message)
    for fmt in LogFormat:
        configure(logging.WARNING, fmt)
        logging.getLogger("reconciler.net").warning(message)
    assert hidden not in capsys.readouterr().err


def test_ordinary_messages_are_left_alone() -> None:
    text = "plan: 3 users to create, key user:1234 in school 100"
    assert scrub(text) == text


def test_quiet_shows_errors_only_and_a_commands_verbose_raises_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure(logging.ERROR, LogFormat.TEXT)
    logging.getLogger("r").warning("a warning")
    logging.getLogger("r").error("an error")
    raise_to(logging.INFO)
    logging.getLogger("r").info("a note")
    err = capsys.readouterr().err
    assert "a warning" not in err and "an error" in err and "a note" in err
