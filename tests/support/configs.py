"""Config files for tests: the smallest valid config, written once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

#: Writes (dedented) YAML text to a file in the test's temporary directory and returns its
#: path: ``write_config(text, name="ps2moodle.yaml")`` (the config tests' fixture).
WriteConfig = Callable[..., Path]


def minimal_config(
    *,
    moodle_url: str = "https://moodle.example.org",
    token_env: str = "MOODLE_TOKEN",
    name: str = "district",
    powerschool_url: str = "https://ps.example.org",
    client_id_env: str = "PS_CLIENT_ID",
    client_secret_env: str = "PS_CLIENT_SECRET",
    schools: str = "100",
) -> str:
    """The smallest valid config: one Moodle, one connection whose last line is its
    ``schools`` list (written as ``[schools]``). Secrets come from the named environment
    variables. Tests append top-level settings, or the connection's own at the indentation
    of ``schools:``."""
    return (
        "version: 1\n"
        "moodle:\n"
        f"  url: {moodle_url}\n"
        f"  token: ${{{token_env}}}\n"
        "connections:\n"
        f"  - name: {name}\n"
        "    powerschool:\n"
        f"      url: {powerschool_url}\n"
        f"      client_id: ${{{client_id_env}}}\n"
        f"      client_secret: ${{{client_secret_env}}}\n"
        f"    schools: [{schools}]\n"
    )
