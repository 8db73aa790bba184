"""``ps2moodle emulate``: serve an emulated system on loopback for tests, demos and trials.

``emulate_app`` is a typer sub-app: each emulator adds its own command to it
(``emulate powerschool`` here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Annotated, TypeVar

import typer
from rich.text import Text

from reconciler.cli.app import app, err, out
from reconciler.emulators.district import District, generate_district
from reconciler.emulators.http import LoopbackServer
from reconciler.emulators.powerschool import PowerSchoolEmulator
from reconciler.net import BackgroundServer
from reconciler.powerschool.roster import school_year_of

T = TypeVar("T")

emulate_app = typer.Typer(
    help="Serve an emulated PowerSchool or Moodle on 127.0.0.1 (tests, demos, trials).", no_args_is_help=True
)
app.add_typer(emulate_app, name="emulate")


class ScaleName(str, Enum):
    """Sample district sizes."""

    TINY = "tiny"
    SMALL = "small"
    DISTRICT = "district"


def powerschool_server(
    scale: str, seed: int, port: int, year: int | None = None
) -> tuple[PowerSchoolEmulator, LoopbackServer]:
    """A PowerSchool emulator over a sample district whose school year starts in ``year``
    (default: the current one), and its loopback server, not yet started. Credentials are
    generated afresh for every run."""
    district = generate_district(scale, seed, start_year=year or school_year_of(date.today()))
    emulator = PowerSchoolEmulator(district)
    return emulator, emulator.serve(port)


def describe(district: District) -> str:
    """One line on what a sample district holds."""
    return (
        f"{district.name}, {district.start_year}-{district.start_year + 1}: {len(district.school_numbers)} schools "
        f"({', '.join(map(str, district.school_numbers[:6]))}{'...' if len(district.school_numbers) > 6 else ''}), "
        f"{len(district.students):,} students, {len(district.users):,} staff, {len(district.sections):,} sections, "
        f"{len(district.enrolments):,} enrolments"
    )


@emulate_app.command("powerschool")
def powerschool(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    scale: Annotated[ScaleName, typer.Option(help="Size of the sample district.")] = ScaleName.SMALL,
    seed: Annotated[int, typer.Option(help="Seed of the sample district (same seed, same district).")] = 1,
    year: Annotated[
        int | None, typer.Option(help="Calendar year the school year starts in (default: the current one).")
    ] = None,
) -> None:
    """Serve an emulated PowerSchool over a generated sample district until Ctrl-C."""
    emulator, server = listening(port, lambda: powerschool_server(scale.value, seed, port, year))
    out.print(Text(f"PowerSchool emulator: {describe(emulator.district)}"))
    out.print(Text(f"url:           {server.url}"))
    out.print(Text(f"client_id:     {emulator.client_id}"))
    out.print(Text(f"client_secret: {emulator.client_secret}"))
    serve_until_interrupted(server)


def listening(port: int, start: Callable[[], T]) -> T:
    """``start()``, or exit 1 with the reason when the port cannot be listened on (taken, not allowed)."""
    try:
        return start()
    except OSError as exc:
        err.print(Text(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", style="red"))
        raise typer.Exit(1) from None


def serve_until_interrupted(server: BackgroundServer) -> None:
    """Serve in the foreground until Ctrl-C, then release the port."""
    err.print(Text("Serving on loopback only. Press Ctrl-C to stop."))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print(Text("stopped"))
    finally:
        server.close()
