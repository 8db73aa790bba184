"""Demo glue: a sandbox of both emulators for a config, the everyday changes the demo makes,
and the example plans kept in ``plan-output/examples/``."""

from pathlib import Path

import reconciler

#: The example configs shipped inside the product package (``examples/`` of the repository).
EXAMPLES = Path(reconciler.__file__).resolve().parent / "examples"
