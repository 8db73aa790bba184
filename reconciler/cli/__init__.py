"""The command line: the only place that prints or chooses exit codes.

``app`` is the typer application; each command lives in its own module here and
registers itself on import.
"""

from reconciler.cli.app import app
from reconciler.cli import validate  # noqa: F401  (registers commands)

__all__ = ["app"]
