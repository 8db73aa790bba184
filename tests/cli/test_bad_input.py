"""Every command, given bad input, says what is wrong and exits 1: never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from enum import Enum
from pathlib import Path

import pytest
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.render.files import save_plan
from tests.support.commands import leaves, walk
from tests.support.plans import sample_doc

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


# Every command, found by walking the app (the test kit's included), run with each of its
# file inputs made bad in turn, each output made unwritable, each typed option given a
# value of the wrong type. The others keep a baseline: a valid config, a saved plan.
BAD_INPUTS = {
    "missing": "no-such-file.yaml",
    "a directory": "a-directory",
    "binary": "binary.yaml",  # what an unreadable file gives root, which reads anything
    "empty": "empty.yaml",
}
UNWRITABLE = "good.yaml/out"  # under a file: no folder can be made there
OUTPUTS = {"out_dir", "out_file"}
BASELINE = {"plan_file": "plan.json"}
#: Options a command needs for another to matter: moodle-setup writes --out only as XML.
NEEDS = {("moodle-setup",): {"fmt": ["--format", "xml"]}}


def _value(param: TyperArgument | TyperOption, bad: str | None = None) -> list[str]:
    value = bad if bad is not None else BASELINE.get(param.name or "", "good.yaml")
    if isinstance(param, TyperArgument):
        return [value]
    return [param.opts[0], value]


def _cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    for path in leaves():
        command = dict(walk())[path]
        params = [p for p in command.params if p.name != "help"]
        baseline = {p.name: _value(p) for p in params if p.required or isinstance(p, TyperArgument)}
        if "contact" in baseline:
            baseline["contact"] = ["--contact", "it@example.org"]
        baseline |= NEEDS.get(path, {})
        for param in params:
            annotation = param.type_descriptor.annotation  # type: ignore[attr-defined]
            if getattr(param, "is_flag", False):
                continue
            if param.name in OUTPUTS:
                bad = {"unwritable": UNWRITABLE}
            elif annotation in (Path, list[Path]):
                bad = BAD_INPUTS
            elif annotation in (int, float) or (isinstance(annotation, type) and issubclass(annotation, Enum)):
                bad = {"wrong type": "nope"}
            else:
                continue
            for what, value in bad.items():
                args = {**baseline, param.name: _value(param, value)}
                cases.append((f"{' '.join(path)} {param.name} {what}", [*path, *(a for v in args.values() for a in v)]))
    return cases


CASES_ALL = _cases()


@pytest.fixture
def every_kind(folder: Path) -> Path:
    (folder / "a-directory").mkdir()
    (folder / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01\x80" * 20)
    (folder / "empty.yaml").write_bytes(b"")
    save_plan(sample_doc(), folder)
    return folder


def test_the_walk_reaches_every_command() -> None:
    reached = {case.split(" ")[0] for case, _ in CASES_ALL}
    assert reached >= {"apply", "plan", "show", "validate", "doctor", "discover", "serve", "moodle-setup"}
    assert reached >= {"powerschool-plugin", "demo", "emulate"}


@pytest.mark.parametrize("args", [args for _, args in CASES_ALL], ids=[case for case, _ in CASES_ALL])
def test_every_command_explains_bad_input_without_a_traceback(args: list[str], every_kind: Path) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    # validate's report is its output; every other command explains on stderr.
    explained = result.stderr + (result.stdout if args[0] == "validate" else "")
    assert explained.strip(), result.output
