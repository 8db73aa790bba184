"""Command-line conventions every command keeps: one meaning per short flag, help that
reads well, the global options, shell completion."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

import pytest
from typer.core import TyperArgument, TyperGroup, TyperOption
from typer.testing import CliRunner

from reconciler.cli import app
from tests.support.commands import walk

COMMANDS = [path for path, _ in walk()]
#: click's help is at most 78 columns wide (80 less a margin), and as wide on most terminals.
WIDTH = 78


def test_a_short_flag_means_one_thing_everywhere() -> None:
    meanings: dict[str, set[str]] = defaultdict(set)
    for _path, command in walk():
        for param in command.params:
            if isinstance(param, TyperOption):
                longs = [o for o in param.opts if o.startswith("--")]
                for short in (o for o in param.opts if re.fullmatch(r"-[A-Za-z]", o)):
                    meanings[short].add(f"{'/'.join(longs)}")
    clashes = {short: names for short, names in meanings.items() if len(names) > 1}
    assert not clashes, f"short flags with two meanings: {clashes}"
    assert {"-v", "-q", "-c", "-f"} <= set(meanings), "the walk reaches the global and the commands' flags"


def test_the_clash_check_sees_a_clash() -> None:
    """The walk above would see a short flag reused: discover's --connection is not -c."""
    discover = dict(walk())[("discover",)]
    connection = next(p for p in discover.params if p.name == "connection")
    assert "-c" not in connection.opts


def _help(path: tuple[str, ...], width: int = WIDTH) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "ps2moodle" for p in COMMANDS])
def test_help_reads_well(path: tuple[str, ...]) -> None:
    width = WIDTH
    text = _help(path, width)
    lines = text.splitlines()
    assert "<bool>" not in text
    assert all(len(line) <= width for line in lines if not line.startswith("Usage:")), "none wider than the terminal"
    cut = [line for line in lines if line.rstrip().endswith("...") and not line.startswith("Usage:")]
    assert not cut, f"a summary cut short: {cut}"
    for line, following in itertools.pairwise(lines):
        # A word split at its hyphen across lines ("plan-" / "output") reads as two words.
        assert not (re.search(r"\w-$", line) and re.match(r"\s*[a-z]", following)), f"{line!r} / {following!r}"


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "ps2moodle" for p in COMMANDS])
def test_every_command_and_option_has_a_short_help(path: tuple[str, ...]) -> None:
    command = dict(walk())[path]
    assert (command.short_help or command.help or "").strip(), f"{path} has no help"
    for param in command.params:
        if isinstance(param, TyperOption | TyperArgument):
            assert (param.help or "").strip(), f"{' '.join(path)} {param.name} has no help"
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            summary = sub.get_short_help_str(WIDTH - 26)
            assert not summary.endswith("..."), f"{name}: its first sentence is too long for a summary"


def test_global_options_are_listed_and_completion_is_offered() -> None:
    text = _help(())
    for option in ("-v, --verbose", "-q, --quiet", "--log-format", "--no-color", "--version"):
        assert option in text
    assert "--install-completion" in text and "--show-completion" in text


def test_verbose_and_quiet_together_are_refused() -> None:
    result = CliRunner().invoke(app, ["-v", "-q", "validate", "x.yaml"])
    assert result.exit_code == 2
    assert "not both" in result.output
