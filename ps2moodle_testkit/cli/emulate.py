"""``ps2moodle emulate``: serve an emulated system on loopback for tests, demos and trials.

``emulate_app`` is a typer sub-app: each emulator adds its own command to it
(``emulate powerschool`` here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.text import Text

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import ScaleName, generate_district
from ps2moodle_testkit.emulators.http import LoopbackServer
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.cli.app import err, out
from reconciler.net import BackgroundServer

T = TypeVar("T")

emulate_app = typer.Typer(
    help="Serve an emulated PowerSchool or Moodle on 127.0.0.1 (tests, demos, trials).",
    short_help="Serve an emulated PowerSchool or Moodle.",
    rich_markup_mode=None,
    no_args_is_help=True,
)


#: The school year the example configs select ("24-25", S1, S2): the emulator serves it
#: unless told otherwise, so following the README against it syncs every section.
EXAMPLES_YEAR = 2024


def powerschool_server(
    scale: str, seed: int, port: int, year: int = EXAMPLES_YEAR
) -> tuple[PowerSchoolEmulator, LoopbackServer]:
    """A PowerSchool emulator over a sample district whose school year starts in ``year``
    (default: the examples' year), and its loopback server, not yet started. Credentials
    are generated afresh for every run."""
    district = generate_district(scale, seed, start_year=year)
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
        int, typer.Option(help="Calendar year the school year starts in (the examples' terms are 2024-25's).")
    ] = EXAMPLES_YEAR,
) -> None:
    """Serve an emulated PowerSchool until Ctrl-C.

    Its data is a generated sample district: no real person is in it."""
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
