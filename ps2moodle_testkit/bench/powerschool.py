"""Benchmark: read a generated district through the emulated PowerSchool over loopback HTTP.

    python -m ps2moodle_testkit.bench.powerschool [--scale district] [--seed 1] [--page-size 100] [--concurrency 4]

The emulator runs in a child process (generation time and its memory are reported apart),
the client in this one. Reported: requests made against the minimum possible at the page
size (one token plus ceil(rows / page size) for each kind of list, however it is split),
wall time against the time spent waiting on HTTP, and the client's peak memory.
This is a script, not a test: it prints, and the numbers go in reports.
"""

from __future__ import annotations

import multiprocessing
import re
import resource
import time
from collections import defaultdict
from datetime import date
from multiprocessing.connection import Connection
from typing import Annotated, Any

import typer

from ps2moodle_testkit.emulators.district import SECTION_FIELD, STAFF_FIELDS, STUDENT_FIELDS
from ps2moodle_testkit.emulators.generator import ScaleName, generate_district
from ps2moodle_testkit.emulators.powerschool import Plugin, PowerSchoolEmulator
from ps2moodle_testkit.script import script
from reconciler.powerschool.client import ListRead, PowerSchoolClient
from reconciler.powerschool.source import read_roster


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(pipe: Connection, scale: str, seed: int, page_size: int) -> None:
    """Child process: generate, serve on loopback, report, and stop when told."""
    started = time.perf_counter()
    district = generate_district(scale, seed, start_year=2024)
    generated = time.perf_counter() - started
    emulator = PowerSchoolEmulator(district, plugin=Plugin(max_page_size=page_size, table_max_page_size=page_size))
    with emulator.serve() as server:
        pipe.send(
            {
                "url": server.url,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
                "generated_s": generated,
                "rss_mb": _peak_rss_mb(),
                "schools": district.school_numbers,
                "summary": (
                    f"{len(district.school_numbers)} schools, {len(district.students):,} students, "
                    f"{len(district.users):,} staff, {len(district.courses):,} courses, "
                    f"{len(district.sections):,} sections, {len(district.enrolments):,} enrolments"
                ),
            }
        )
        pipe.recv()
        pipe.send({"stats": dict(emulator.stats), "rss_mb": _peak_rss_mb()})


def minimum_requests(lists: list[ListRead]) -> tuple[int, dict[str, tuple[int, int]]]:
    """The fewest requests that could fetch these lists' records at their page size: one
    token, plus ceil(rows / page size) per kind of list (per-school splits pooled)."""
    kinds: dict[str, list[ListRead]] = defaultdict(list)
    for item in lists:
        kinds[re.sub(r"/\d+", "/{id}", item.path)].append(item)
    per_kind = {}
    for path, items in kinds.items():
        rows = sum(i.count for i in items)
        per_kind[path] = (rows, max(1, -(-rows // items[0].page_size)))
    return 1 + sum(pages for _, pages in per_kind.values()), per_kind


def run(scale: str, seed: int, page_size: int, concurrency: int) -> list[str]:
    """Run the benchmark; the report, as lines."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, scale, seed, page_size), daemon=True)
    process.start()
    try:
        info: dict[str, Any] = parent.recv()
        before = _peak_rss_mb()
        client = PowerSchoolClient(info["url"], info["client_id"], info["client_secret"], concurrency=concurrency)
        started = time.perf_counter()
        with client:
            roster = read_roster(
                client,
                info["schools"],
                student_fields=STUDENT_FIELDS,
                staff_fields=STAFF_FIELDS,
                section_field=SECTION_FIELD,
                today=date(2024, 12, 2),
            )
        wall = time.perf_counter() - started
        parent.send("stop")
        server: dict[str, Any] = parent.recv()
    finally:
        process.join(timeout=30)
    stats = client.stats
    made = sum(stats.values())
    minimum, per_kind = minimum_requests(client.lists)
    waits = client.wait_s / concurrency
    lines = [
        f"PowerSchool read benchmark: {scale} scale (seed {seed}), page size {page_size}, "
        f"concurrency {concurrency}, loopback HTTP to an emulator in another process",
        f"district:  {info['summary']}; generated in {info['generated_s']:.1f} s "
        f"(emulator process peak RSS {server['rss_mb']:.0f} MB)",
        f"roster:    {len(roster.students):,} students, {len(roster.staff):,} staff, {len(roster.courses):,} courses, "
        f"{len(roster.sections):,} sections, {len(roster.enrolments):,} enrolments",
        f"requests:  {made:,} = {stats['token']} token + {stats['metadata']} metadata + {stats['count']:,} counts "
        f"+ {stats['page']:,} pages + {stats['retry']} retries (the server saw {sum(server['stats'].values()):,})",
        f"minimum:   {minimum:,} = 1 token + {minimum - 1:,} pages of {page_size} over {len(per_kind)} kinds of list",
        f"ratio:     {made / minimum:.3f} requests per necessary request "
        f"({stats['page'] / (minimum - 1):.3f} for pages alone; counts add {stats['count'] / minimum:.3f})",
        f"time:      {wall:.1f} s wall; HTTP waits {client.wait_s:.1f} s over {concurrency} threads = {waits:.1f} s; "
        f"wall / waits = {wall / waits:.2f}",
        f"memory:    client peak RSS {_peak_rss_mb():.0f} MB (before reading {before:.0f} MB)",
        "per kind of list (rows, minimum pages):",
    ]
    lines += [f"  {path:42} {rows:>9,} {pages:>7,}" for path, (rows, pages) in sorted(per_kind.items())]
    return lines


app = script()


@app.command()
def main(
    scale: Annotated[ScaleName, typer.Option(help="Size of the generated district.")] = ScaleName.DISTRICT,
    seed: Annotated[int, typer.Option(help="Seed of the generated district.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, help="Records per page, the emulator's and the client's.")] = 100,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests the client keeps in flight.")] = 4,
) -> None:
    """Read a generated district through the emulated PowerSchool over loopback HTTP, and report."""
    for line in run(scale.value, seed, page_size, concurrency):
        print(line)


if __name__ == "__main__":
    app(prog_name="python -m ps2moodle_testkit.bench.powerschool")
