"""``python -m ps2moodle_testkit.bench`` (``make bench``): the district-scale benchmark.

Prints a table per run and writes ``plan-output/bench/<run>.json``. The targets are
reported PASS or FAIL; they never fail the process (a benchmark measures, it does not
gate), only an error does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ps2moodle_testkit.bench.report import render, write_json
from ps2moodle_testkit.bench.runner import TITLES, Settings, run_benchmark
from ps2moodle_testkit.emulators.generator import ScaleName
from ps2moodle_testkit.script import script

PROG = "python -m ps2moodle_testkit.bench"
app = script()


@app.command()
def bench(
    scale: Annotated[ScaleName, typer.Option(help="Size of the generated district.")] = ScaleName.DISTRICT,
    workers: Annotated[int, typer.Option(min=1, help="Moodle PHP workers: calls served at once.")] = 4,
    runs: Annotated[
        str, typer.Option(help="Comma-separated: " + "; ".join(f"{k} = {v}" for k, v in TITLES.items()) + ".")
    ] = "a,b,c",
    profile: Annotated[bool, typer.Option("--profile", help="Name the hottest functions of each side.")] = False,
    out: Annotated[Path, typer.Option(help="Where the JSON and plans go.")] = Path("plan-output/bench"),
    seed: Annotated[int, typer.Option(help="Seed of the generated district and the change.")] = 1,
) -> None:
    """Run the benchmark: a table per run on stdout, progress on stderr."""
    settings = Settings(
        scale=scale.value,
        workers=workers,
        runs=tuple(part.strip() for part in runs.split(",") if part.strip()),
        profile=profile,
        out_dir=out,
        seed=seed,
    )
    try:
        figures = run_benchmark(settings, lambda line: print(f"bench: {line}", file=sys.stderr, flush=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--runs") from None
    for run in figures:
        print(render(run), flush=True)
        path = write_json(run, settings.out_dir, scale=settings.scale, workers=settings.workers)
        print(f"written to {path}\n", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark from the command line (``argv``: the arguments; default: the process's).
    Always ends in ``SystemExit`` with the exit code, like any typer command line."""
    app(args=argv, prog_name=PROG)


if __name__ == "__main__":
    main()
