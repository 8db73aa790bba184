"""The test kit's commands, ``emulate`` (a group: ``powerschool``, ``moodle``) and ``demo``,
which ``ps2moodle`` finds through the ``ps2moodle.commands`` entry points in pyproject.toml."""

from ps2moodle_testkit.cli import emulate_moodle  # noqa: F401  (adds `emulate moodle`)
from ps2moodle_testkit.cli.demo import demo
from ps2moodle_testkit.cli.emulate import emulate_app

__all__ = ["demo", "emulate_app"]
