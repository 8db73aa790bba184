"""Both emulators served on loopback from processes of their own, behind the cost models.

Each emulator runs in a child process so its work never competes with the tool's for
the interpreter lock, and the tool's peak memory is the tool's alone. The parent talks to
a child over a pipe: ``snapshot`` returns and resets its meters (see :mod:`.metering`),
``district`` (PowerSchool only) swaps in changed data, ``stop`` ends it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

from ps2moodle_testkit.bench.metering import MeteredCost, MeteredMoodle, MeteredPowerSchool, Meters
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.http import LoopbackServer
from ps2moodle_testkit.emulators.moodle import MoodleHandler, MoodleSite
from ps2moodle_testkit.emulators.moodle.faults import CostModel
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.moodle.grades import FUNCTION as GRADE_FUNCTION
from reconciler.moodle.live.enrolments import MANY_COURSES

#: The token the benchmark's Moodle site accepts.
MOODLE_TOKEN = "bench-moodle-token"
#: Seconds a real PowerSchool takes per page.
PAGE_S = 0.05

_Commands = dict[str, Callable[..., Any]]


@dataclass(frozen=True)
class Costs:
    """The cost models: a real Moodle 4.5 (per call and per item, ``workers`` calls served
    at once) and a real PowerSchool (per page). ``scale`` multiplies every cost (below 1
    only for smoke tests: the emulators' own work then shows in the ratios)."""

    workers: int = 4
    scale: float = 1.0

    def model(self) -> CostModel:
        """The Moodle cost model, scaled."""
        base = CostModel()
        return CostModel(
            per_call_ms=base.per_call_ms * self.scale,
            per_item_ms={name: ms * self.scale for name, ms in base.per_item_ms.items()},
            max_concurrent=self.workers,
        )

    def moodle(self, meters: Meters) -> MeteredCost:
        """The Moodle cost model, scaled, recording each call's charge in ``meters``."""
        model = self.model()
        return MeteredCost(
            meters,
            per_call_ms=model.per_call_ms,
            per_item_ms=model.per_item_ms,
            max_concurrent=model.max_concurrent,
        )

    @property
    def page_s(self) -> float:
        return PAGE_S * self.scale


class ServerProcess:
    """One emulator in a child process; :attr:`info` is what it reported when ready."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=target, args=(child, *args), daemon=True)
        self._process.start()
        child.close()
        self.info: dict[str, str] = self._conn.recv()

    def ask(self, command: str, *args: Any) -> Any:
        """Run ``command`` in the child and return its answer."""
        self._conn.send((command, args))
        return self._conn.recv()

    def close(self) -> None:
        """Stop the child (it closes its server) and wait for it."""
        if self._process.is_alive():
            self._conn.send(("stop", ()))
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
        self._conn.close()


@dataclass
class Servers:
    """The benchmark's PowerSchool and Moodle, running."""

    powerschool: ServerProcess
    #: None when the runs go to a Moodle of the user's (a staging site).
    moodle: ServerProcess | None

    @classmethod
    def start(
        cls, district: District, costs: Costs, profile_fields: tuple[str, ...], *, moodle: bool = True
    ) -> Servers:
        """Serve ``district`` from PowerSchool and, unless ``moodle`` is false, an empty
        Moodle 4.5 site with ``profile_fields``."""
        powerschool = ServerProcess(_serve_powerschool, district, costs)
        try:
            site = ServerProcess(_serve_moodle, costs, profile_fields) if moodle else None
        except BaseException:
            powerschool.close()
            raise
        return cls(powerschool, site)

    def snapshot(self) -> dict[str, Any]:
        """The servers' meters since the last snapshot, by side (Moodle's empty when it is
        not served here)."""
        site = self.moodle.ask("snapshot") if self.moodle is not None else {"endpoints": {}, "server_cpu_s": 0.0}
        return {"powerschool": self.powerschool.ask("snapshot"), "moodle": site}

    def change_district(self, district: District) -> None:
        """PowerSchool serves ``district`` from now on (same credentials)."""
        self.powerschool.ask("district", district)

    def close(self) -> None:
        if self.moodle is not None:
            self.moodle.close()
        self.powerschool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _serve(conn: Connection, server: LoopbackServer, info: dict[str, str], commands: _Commands) -> None:
    """Answer the parent's commands until ``stop``, then close ``server``."""
    server.start()
    conn.send(info)
    try:
        while True:
            command, args = conn.recv()
            if command == "stop":
                break
            conn.send(commands[command](*args))
    finally:
        server.close()


def _serve_powerschool(conn: Connection, district: District, costs: Costs) -> None:
    emulator = PowerSchoolEmulator(district)
    meters = Meters()
    metered = MeteredPowerSchool(emulator, meters, costs.page_s)
    server = LoopbackServer(metered)

    def change(changed: District) -> None:
        metered.emulator = PowerSchoolEmulator(
            changed, client_id=emulator.client_id, client_secret=emulator.client_secret
        )

    info = {"url": server.url, "client_id": emulator.client_id, "client_secret": emulator.client_secret}
    _serve(conn, server, info, {"snapshot": meters.snapshot, "district": change})


def _serve_moodle(conn: Connection, costs: Costs, profile_fields: tuple[str, ...]) -> None:
    site = MoodleSite.fresh(token=MOODLE_TOKEN)
    site.setup("add_service_function", GRADE_FUNCTION)  # plans check graded work (gradework)
    site.add_function(MANY_COURSES)  # as moodle-setup lists it: apply reads many courses a call
    for shortname in profile_fields:
        site.add_profile_field(shortname, shortname.replace("_", " ").title())
    meters = Meters()
    site.cost = costs.moodle(meters)
    server = LoopbackServer(MeteredMoodle(MoodleHandler(site), meters))
    site.config.wwwroot = server.url
    _serve(conn, server, {"url": server.url, "token": MOODLE_TOKEN}, {"snapshot": meters.snapshot})
