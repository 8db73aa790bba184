"""The example systemd unit runs `ps2moodle serve` with options the command accepts, hardened."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import typer

from reconciler.cli import app

UNIT = Path(__file__).parents[2] / "examples" / "systemd" / "ps2moodle-serve.service"


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_exec_start_is_a_serve_command_line_the_cli_accepts() -> None:
    program, command, *args = shlex.split(unit()["Service"]["ExecStart"])
    assert program.endswith("/ps2moodle") and command == "serve"
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    context = serve.make_context("serve", args)  # parses and checks, runs nothing
    assert context.params["tls_cert"] and context.params["tls_key"]
    assert context.params["no_subscribe"] is False


def test_the_service_is_hardened_and_stops_gracefully() -> None:
    service = unit()["Service"]
    assert service["User"] != "root" and service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict" and service["CapabilityBoundingSet"] == ""
    assert service["UMask"] == "0077" and service["KillSignal"] == "SIGTERM"
