"""``ps2moodle moodle-setup``: the least-privilege Moodle setup a config needs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.cli.common import EXIT_ERROR, load_or_exit
from reconciler.moodle.setup import role_preset, setup_steps, site_needs
from reconciler.words import count


class SetupFormat(str, Enum):
    TEXT = "text"
    XML = "xml"


@app.command("moodle-setup", short_help="Print the least-privilege Moodle setup this config needs.")
def moodle_setup(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="The config file.")],
    fmt: Annotated[
        SetupFormat, typer.Option("--format", help="text: the steps; xml: the role preset to import.")
    ] = SetupFormat.TEXT,
    out_file: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write the role preset here (xml; default stdout).")
    ] = None,
    role: Annotated[str, typer.Option("--role", metavar="SHORTNAME", help="The sync role's shortname.")] = (
        "ps2moodle_sync"
    ),
    service: Annotated[str, typer.Option("--service", metavar="NAME", help="The external service's name.")] = (
        "ps2moodle"
    ),
) -> None:
    """Print what the Moodle site needs for this config, at least privilege: the external
    service with exactly the functions it calls, a role with exactly the capabilities those
    functions check (--format xml writes it as a role preset for Define roles > Import),
    and the steps to set up the sync user and its token."""
    config = load_or_exit(config_path)
    needs = site_needs(config)
    preset = role_preset(needs, role, "ps2moodle sync")
    if fmt is SetupFormat.XML:
        if out_file is None:
            out.print(Text(preset), end="")
            return
        try:
            out_file.write_text(preset, encoding="utf-8")
        except OSError as exc:
            err.print(Text(f"moodle-setup failed: cannot write {out_file}: {exc.strerror}", style="red"))
            raise typer.Exit(EXIT_ERROR) from None
        out.print(Text(f"wrote {out_file}: role {role}, {count(len(needs.capabilities), 'capability')}"))
        return
    preset_file = str(out_file or f"{role}.xml")
    out.print(Text(f"External service {service}: {count(len(needs.functions), 'function')}", style="bold"))
    for function in needs.functions:
        out.print(Text(f"  {function}"))
    out.print(Text(f"Role {role} (system context): {count(len(needs.capabilities), 'capability')}", style="bold"))
    for capability in needs.capabilities:
        out.print(Text(f"  {capability}"))
    out.print(Text(f"  allowed to assign: {', '.join(needs.assignable_roles)}"))
    out.print(Text("Steps", style="bold"))
    out.print(
        Text(f"  0. Write the role preset: ps2moodle moodle-setup {config_path} --format xml --out {preset_file}")
    )
    for number, step in enumerate(setup_steps(needs, role, preset_file, service), start=1):
        out.print(Text(f"  {number}. {step}"))
