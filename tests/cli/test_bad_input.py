"""Every command, given bad input, says what is wrong and exits 1: never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app

CASES = [
    ["validate", "bad.yaml"],
    ["validate", "missing.yaml"],
    ["plan", "bad.yaml"],
    ["plan", "missing.yaml"],
    ["show", "empty.json"],
    ["show", "garbage.json"],
    ["show", "missing.json"],
    ["apply", "empty.json", "-c", "bad.yaml"],
    ["apply", "missing.json"],
    ["apply", "bad.yaml", "--auto-approve"],
    ["doctor", "bad.yaml"],
    ["doctor", "missing.yaml"],
    ["discover", "bad.yaml", "--connection", "x"],
    ["serve", "bad.yaml"],
    ["serve", "bad.yaml", "--tls-cert", "missing.pem", "--tls-key", "missing.key"],
    ["powerschool-plugin", "bad.yaml", "--contact", "it@example.org"],
    ["powerschool-plugin", "good.yaml", "--contact", "it@example.org", "--out", "no/such/dir/p.zip"],
    ["moodle-setup", "bad.yaml"],
    ["moodle-setup", "good.yaml", "--format", "xml", "--out", "no/such/dir/role.xml"],
    ["emulate", "moodle", "--port", "99999"],
    ["emulate", "powerschool", "--port", "-1"],
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("version: 1\nmoodle: [\n", encoding="utf-8")
    (tmp_path / "empty.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "garbage.json").write_text("not json\n", encoding="utf-8")
    example = Path(__file__).parents[2] / "examples" / "minimal.yaml"
    (tmp_path / "good.yaml").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_bad_input_is_an_error_message_not_a_traceback(args: list[str], folder: Path) -> None:
    code, output = _run(args)
    assert code in (1, 2), output  # 2: the command line itself is wrong (click's usage error)
    assert output.strip()


@pytest.mark.parametrize("which", ["moodle", "powerschool"])
def test_an_emulator_on_a_taken_port_says_so(which: str, taken_port: int) -> None:
    code, output = _run(["emulate", which, "--port", str(taken_port)])
    assert code == 1 and f"cannot listen on 127.0.0.1:{taken_port}" in output
