"""NO_COLOR (https://no-color.org: any non-empty value) and --no-color: not one escape
code on a terminal; colour stays on by default. Run in a pseudo-terminal, as a person would."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.render.files import save_plan
from tests.support.plans import sample_doc

ESC = b"\x1b"


def on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """What ``ps2moodle ARGS`` writes to a terminal (stdout and stderr both)."""
    leader, follower = os.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    environ |= {"TERM": "xterm-256color", "COLUMNS": "100"} | env
    command = [sys.executable, "-c", "from reconciler.cli import app; app(prog_name='ps2moodle')", *args]
    with subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=environ) as child:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError as exc:  # EIO: the child closed the terminal
                assert exc.errno == errno.EIO
                break
            if not chunk:
                break
            chunks.append(chunk)
        child.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(save_plan(sample_doc(), tmp_path_factory.mktemp("plan")).json)


@pytest.fixture(scope="module")
def config() -> str:
    return str(Path(__file__).parents[2] / "examples" / "minimal.yaml")


def _runs(plan_json: str, config: str) -> list[list[str]]:
    return [["show", plan_json], ["validate", config], ["validate", "missing.yaml"], ["--help"]]


def test_a_terminal_gets_colour_by_default(plan_json: str, config: str) -> None:
    shown = on_a_terminal(["show", plan_json], {})
    assert shown.count(ESC) > 10, "the test would see colour if there were any"
    assert ESC in on_a_terminal(["validate", config], {"NO_COLOR": ""}), "an empty NO_COLOR leaves colour on"


@pytest.mark.parametrize("how", ["NO_COLOR=1", "NO_COLOR=0", "--no-color"])
def test_no_color_means_no_escape_code_at_all(how: str, plan_json: str, config: str) -> None:
    for args in _runs(plan_json, config):
        if how == "--no-color":
            written = on_a_terminal([how, *args], {})
        else:
            name, value = how.split("=")
            written = on_a_terminal(args, {name: value})
        assert written.strip(), args
        assert ESC not in written, (args, written[:300])
