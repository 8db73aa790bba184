"""The command line: the only place that prints or chooses exit codes.

``app`` is the typer application; each command lives in its own module here and
registers itself on import. Commands of other installed packages (the test kit's
``emulate`` and ``demo``) come through the ``ps2moodle.commands`` entry points
(:mod:`reconciler.cli.plugins`).
"""

from reconciler.cli import (
    discover,  # noqa: F401
    doctor,  # noqa: F401
    moodle_setup,  # noqa: F401
    plan,  # noqa: F401
    powerschool_plugin,  # noqa: F401
    serve,  # noqa: F401
    show,  # noqa: F401
    validate,  # noqa: F401  (registers commands)
)
from reconciler.cli.app import app

__all__ = ["app"]
