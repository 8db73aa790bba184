"""``python -m ps2moodle_testkit.bench`` (``make bench``): the district-scale benchmark.

Prints a table per run and writes ``plan-output/bench/<run>.json``. The targets are
reported PASS or FAIL; they never fail the process (a benchmark measures, it does not
gate), only an error does.

``--moodle-url URL`` runs the same runs against that Moodle (a staging site) with the
token in ``--moodle-token-env``: the writes are real (the first apply creates the
generated district's accounts, courses and enrolments there), so it says so and asks
first (``--yes`` answers for a script).
"""

from __future__ import annotations

import os
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
    moodle_url: Annotated[
        str | None, typer.Option(help="Run against this Moodle (a staging site: the writes are real).")
    ] = None,
    moodle_token_env: Annotated[
        str, typer.Option(help="The environment variable holding that Moodle's web-service token.")
    ] = "PS2MOODLE_BENCH_TOKEN",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before writing to --moodle-url.")] = False,
) -> None:
    """Run the benchmark: a table per run on stdout, progress on stderr."""
    token = ""
    if moodle_url:
        token = os.environ.get(moodle_token_env, "")
        if not token:
            raise typer.BadParameter(
                f"needs the site's token in the environment variable {moodle_token_env}", param_hint="--moodle-url"
            )
        if not _confirmed(moodle_url, scale.value, yes):
            print("nothing written", file=sys.stderr)
            raise typer.Exit(1)
    settings = Settings(
        scale=scale.value,
        workers=workers,
        runs=tuple(part.strip() for part in runs.split(",") if part.strip()),
        profile=profile,
        out_dir=out,
        seed=seed,
        moodle_url=moodle_url,
        moodle_token=token,
    )
    try:
        figures = run_benchmark(settings, lambda line: print(f"bench: {line}", file=sys.stderr, flush=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--runs") from None
    for run in figures:
        print(render(run), flush=True)
        path = write_json(run, settings.out_dir, scale=settings.scale, workers=settings.workers)
        print(f"written to {path}\n", flush=True)


def _confirmed(url: str, scale: str, yes: bool) -> bool:
    """Say what the runs write to ``url``; ask unless ``yes`` (never without a terminal)."""
    print(
        f"The benchmark will WRITE to the Moodle at {url}: the first apply creates the generated {scale} "
        "district's accounts, categories, courses, cohorts, groups and enrolments there, and the 1% change "
        "suspends some. Use a staging site you can reset, whose token has the tool's functions and whose "
        "custom profile fields include preferredname, zip and ps_department (`ps2moodle doctor` checks).",
        file=sys.stderr,
    )
    if yes:
        return True
    if not sys.stdin.isatty():
        print("refusing without a terminal to ask on; pass --yes to go ahead", file=sys.stderr)
        return False
    return input(f"Type the site's URL ({url}) to go on: ").strip() == url


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark from the command line (``argv``: the arguments; default: the process's).
    Always ends in ``SystemExit`` with the exit code, like any typer command line."""
    app(args=argv, prog_name=PROG)


if __name__ == "__main__":
    main()
