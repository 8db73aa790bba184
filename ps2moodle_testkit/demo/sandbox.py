"""A whole emulated district in one process: PowerSchool emulators, a Moodle site, and the
config that joins them. The demo, the end-to-end tests and the benchmark build on it.

The sandbox plays the district's IT admin: it generates each connection's district, sets
up Moodle the way the config expects (the custom profile fields it names), and hands out
the credentials as the environment variables the config refers to. Everything else goes
through the real clients, exactly as against real servers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle import MoodleSite
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from ps2moodle_testkit.emulators.powerschool.events import changes
from reconciler.config.loader import load_config
from reconciler.config.model import Config, Connection, SecretRef
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.grades import FUNCTION as GRADE_FUNCTION
from reconciler.moodle.live.enrolments import MANY_COURSES
from reconciler.pipeline import RosterReader
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster

#: The Moodle token the sandbox's site accepts.
MOODLE_TOKEN = "sandbox-moodle-token"


@dataclass
class Sandbox:
    """Emulated PowerSchool servers (one per connection) and one emulated Moodle site."""

    config: Config
    districts: dict[str, District]
    powerschool: dict[str, PowerSchoolEmulator]
    moodle: MoodleSite
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, config_path: str | Path, *, scale: str = "small", seed: int = 1, start_year: int = 2024) -> Sandbox:
        """Generate a district per connection (seeds ``seed``, ``seed + 1``...) for ``config_path``."""
        config = load_config(config_path)
        site = MoodleSite.fresh(token=MOODLE_TOKEN)
        # A site set up as the README says: the grade report in the service too.
        site.setup("add_service_function", GRADE_FUNCTION)
        site.add_function(MANY_COURSES)  # moodle-setup lists it: apply reads many courses a call
        for shortname in sorted(_profile_fields(config)):
            site.add_profile_field(shortname, shortname.replace("_", " ").title())
        districts: dict[str, District] = {}
        emulators: dict[str, PowerSchoolEmulator] = {}
        environment: dict[str, str] = {}
        _assign(environment, config.moodle.token, MOODLE_TOKEN)
        for i, connection in enumerate(config.connections):
            district = generate_district(scale, seed + i, start_year)
            emulator = PowerSchoolEmulator(district)
            districts[connection.name] = district
            emulators[connection.name] = emulator
            _assign(environment, connection.powerschool.client_id, emulator.client_id)
            _assign(environment, connection.powerschool.client_secret, emulator.client_secret)
        return cls(config, districts, emulators, site, environment)

    def moodle_client(self, *, concurrency: int | None = None) -> MoodleClient:
        """A client for the emulated site, in process, with the config's batch settings.
        ``concurrency=1`` makes Moodle ids come out in one reproducible order."""
        settings = self.config.moodle
        return MoodleClient(
            settings.url,
            MOODLE_TOKEN,
            max_input_vars=settings.max_input_vars,
            batch_size=settings.batch_size,
            concurrency=concurrency or settings.concurrency,
            transport=self.moodle.transport(),
        )

    def roster_reader(self) -> RosterReader:
        """Reads a connection's roster from its emulator through the real client (needs
        :attr:`environment` applied to ``os.environ``, as the config's secrets come from there)."""

        def read(connection: Connection) -> Roster:
            district = self.districts[connection.name]
            transport = self.powerschool[connection.name].transport()
            return fetch_roster(connection, transport=transport, year_id=district.year_id)

        return read

    def change(self, connection: str, edit: Callable[[District], District]) -> District:
        """Change one connection's PowerSchool data (the emulator keeps its credentials and
        its event subscription, which is notified of what changed)."""
        old = self.powerschool[connection]
        previous = self.districts[connection]
        district = edit(previous)
        self.districts[connection] = district
        self.powerschool[connection] = PowerSchoolEmulator(
            district, client_id=old.client_id, client_secret=old.client_secret, subscriptions=old.subscriptions
        )
        old.subscriptions.notify(changes(previous, district))
        return district


def _assign(environment: dict[str, str], ref: SecretRef, value: str) -> None:
    if ref.env is None:
        raise ValueError(f"{ref.where}: the sandbox hands out secrets through ${{ENV}} references only")
    environment[ref.env] = value


def _profile_fields(config: Config) -> set[str]:
    return {
        custom.moodle
        for connection in config.connections
        for people in (connection.students, connection.staff)
        for custom in people.custom_fields
    }
