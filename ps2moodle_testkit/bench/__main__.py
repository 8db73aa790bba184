"""``python -m ps2moodle_testkit.bench`` (``make bench``): the district-scale benchmark.

Prints a table per run and writes ``plan-output/bench/<run>.json``. The targets are
reported PASS or FAIL; they never fail the process (a benchmark measures, it does not
gate), only an error does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ps2moodle_testkit.bench.report import render, write_json
from ps2moodle_testkit.bench.runner import TITLES, Settings, run_benchmark


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(prog="python -m ps2moodle_testkit.bench", description=__doc__.split("\n\n")[0])
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
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    settings = Settings(
        scale=args.scale,
        workers=args.workers,
        runs=tuple(part.strip() for part in args.runs.split(",") if part.strip()),
        profile=args.profile,
        out_dir=args.out,
        seed=args.seed,
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


if __name__ == "__main__":
    sys.exit(main())
