"""``python -m reconciler.bench`` (``make bench``): the district-scale benchmark.

Prints a table per run and writes ``plan-output/bench/<run>.json``. The targets are
reported PASS or FAIL; they never fail the process (a benchmark measures, it does not
gate), only an error does.

``--moodle-url URL`` runs the same runs against that Moodle (a staging site) with the
token in ``--moodle-token-env``: the writes are real (the first apply creates the
generated district's accounts, courses and enrolments there), so it says so and asks
first (``--yes`` answers for a script).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reconciler.bench.report import render, write_json
from reconciler.bench.runner import TITLES, Settings, run_benchmark


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(prog="python -m reconciler.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("tiny", "small", "district"), default="district")
    parser.add_argument("--workers", type=int, default=4, help="Moodle PHP workers: calls served at once (default 4)")
    parser.add_argument(
        "--runs",
        default="a,b,c",
        # argparse formats help with %: the 1% of run c must be written %%.
        help="comma-separated: " + "; ".join(f"{k} = {v}" for k, v in TITLES.items()).replace("%", "%%"),
    )
    parser.add_argument("--profile", action="store_true", help="name the hottest functions of each side")
    parser.add_argument("--out", type=Path, default=Path("plan-output/bench"), help="where the JSON and plans go")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated district and the change")
    parser.add_argument("--moodle-url", help="run against this Moodle (a staging site: the writes are real)")
    parser.add_argument(
        "--moodle-token-env",
        default="PS2MOODLE_BENCH_TOKEN",
        help="the environment variable holding that Moodle's web-service token (default PS2MOODLE_BENCH_TOKEN)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask before writing to --moodle-url")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    token = ""
    if args.moodle_url:
        token = os.environ.get(args.moodle_token_env, "")
        if not token:
            parser.error(f"--moodle-url needs the site's token in the environment variable {args.moodle_token_env}")
        if not _confirmed(args.moodle_url, args.scale, args.yes):
            print("nothing written", file=sys.stderr)
            return 1
    settings = Settings(
        scale=args.scale,
        workers=args.workers,
        runs=tuple(part.strip() for part in args.runs.split(",") if part.strip()),
        profile=args.profile,
        out_dir=args.out,
        seed=args.seed,
        moodle_url=args.moodle_url,
        moodle_token=token,
    )
    try:
        runs = run_benchmark(settings, lambda line: print(f"bench: {line}", file=sys.stderr, flush=True))
    except ValueError as exc:
        parser.error(str(exc))
    for run in runs:
        print(render(run), flush=True)
        path = write_json(run, settings.out_dir, scale=settings.scale, workers=settings.workers)
        print(f"written to {path}\n", flush=True)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
