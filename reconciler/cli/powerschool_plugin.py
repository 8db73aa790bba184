"""``ps2moodle powerschool-plugin``: the PowerSchool plugin ZIP a connection needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.cli.common import EXIT_ERROR, choose_connection, load_or_exit
from reconciler.errors import SourceError
from reconciler.powerschool.plugin import PluginError, plugin_spec, plugin_xml, plugin_zip
from reconciler.words import count


@app.command("powerschool-plugin", short_help="Write the PowerSchool plugin ZIP this config needs.")
def powerschool_plugin(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="The config file.")],
    contact: Annotated[
        str, typer.Option("--contact", metavar="EMAIL", help="Publisher contact e-mail PowerSchool shows.")
    ],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE.zip", help="The ZIP to write (default: NAME-plugin.zip)."),
    ] = None,
    connection: Annotated[
        str | None,
        typer.Option("--connection", metavar="NAME", help="The connection (needed when the config has several)."),
    ] = None,
) -> None:
    """Write the plugin ZIP to install in PowerSchool (System > System Settings > Plugin
    Management Configuration > Install): read-only v1 access and an access request for
    exactly the fields this config reads. Its Data Configuration page then shows the
    client ID and secret for the config."""
    config = load_or_exit(config_path)
    chosen = choose_connection(config, connection, config_path)
    try:
        xml = plugin_xml(plugin_spec(chosen, contact))
    except (PluginError, SourceError) as exc:
        err.print(Text(f"powerschool-plugin failed: {exc}", style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    target = out_file or Path(f"{chosen.name}-plugin.zip")
    try:
        target.write_bytes(plugin_zip(xml))
    except OSError as exc:
        err.print(Text(f"powerschool-plugin failed: cannot write {target}: {exc.strerror}", style="red"))
        raise typer.Exit(EXIT_ERROR) from None
    fields = xml.count("<field ")
    out.print(Text(f"wrote {target}: plugin {chosen.name!r}, v1 READ, {count(fields, 'table field')}"))
