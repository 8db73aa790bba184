"""``ps2moodle emulate moodle``: serve a fresh emulated Moodle 4.5 on loopback.

The site is the one the golden recordings start from (admin user 2 owns the token).
With ``--test-hooks`` it also answers ``POST /_emulator/setup`` for out-of-band setup
steps; with ``--debug`` error bodies carry ``debuginfo``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.text import Text

from ps2moodle_testkit.cli.emulate import emulate_app, listening, serve_until_interrupted
from ps2moodle_testkit.emulators.http import LoopbackServer
from ps2moodle_testkit.emulators.moodle import MoodleSite, serve_moodle
from reconciler.cli.app import out


def moodle_server(port: int, token: str, *, test_hooks: bool, debug: bool) -> tuple[MoodleSite, LoopbackServer]:
    """A fresh emulated site and its loopback server, not yet serving."""
    site = MoodleSite.fresh(token, debug=debug)
    site.test_hooks = test_hooks
    return site, serve_moodle(site, port, start=False)


@emulate_app.command("moodle")
def moodle(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    token: Annotated[
        str | None, typer.Option(help="The admin's web-service token (default: a new random one).")
    ] = None,
    test_hooks: Annotated[
        bool, typer.Option("--test-hooks", help="Answer POST /_emulator/setup (setup steps done out of band).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Developer debugging: errors carry debuginfo.")] = False,
) -> None:
    """Serve a fresh emulated Moodle 4.5 until Ctrl-C."""
    token = token or secrets.token_hex(16)
    site, server = listening(port, lambda: moodle_server(port, token, test_hooks=test_hooks, debug=debug))
    out.print(Text(f"Moodle emulator: {site.config.sitename}, Moodle {site.config.release}"))
    out.print(Text(f"url:   {server.url}"))
    out.print(Text(f"token: {token}"))
    if test_hooks:
        out.print(Text(f"test hooks: POST {server.url}/_emulator/setup"))
    serve_until_interrupted(server)
