"""Shared machinery for the Moodle emulator's contract tests: the golden recordings and a replayer.

The recordings of a real Moodle 4.5 live in ``shared/golden/moodle`` (or where
``PS2M_GOLDEN_MOODLE`` points). :class:`Replayer` sends one recorded request to an
emulator served over real HTTP on loopback, the way the recorder sent it, and
compares the answer with the recording after the normalizations the recordings' README
allows (:func:`normalize`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from reconciler.emulators.http import LoopbackServer
from reconciler.emulators.moodle import MoodleSite

# CI lays shared/ beside the clone: <clone>/../shared/golden/moodle.
_CANDIDATES = (
    Path(__file__).resolve().parents[3].parent / "shared" / "golden" / "moodle",
    Path("/work/shared/golden/moodle"),
)

#: The token used for every replay (the recorder's own token is not in the files).
TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#: What ``request_meta.wstoken`` says in recordings that left the working token out.
VALID_TOKEN_PLACEHOLDER = "(valid token)"
#: The recording site's URL; the emulator's differs (an ephemeral port).
RECORDED_SITE_URL = "http://127.0.0.1:8080"
#: When the production sequence was recorded; the emulator's clock starts there so that
#: recorded enrolment windows (timestart/timeend) are in the past exactly as they were.
RECORDED_AT = 1795886650


def golden_dir() -> Path | None:
    """Where the recordings are, if present."""
    override = os.environ.get("PS2M_GOLDEN_MOODLE")
    for path in (Path(override),) if override else _CANDIDATES:
        if (path / "production" / "_sequence.jsonl").is_file():
            return path
    return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of one .jsonl file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def golden() -> Path:
    """The recordings directory (the tests need it; they fail loudly without it)."""
    found = golden_dir()
    assert found is not None, "golden Moodle recordings not found: set PS2M_GOLDEN_MOODLE"
    return found


@pytest.fixture(scope="session")
def sequence(golden: Path) -> list[dict[str, Any]]:
    """``production/_sequence.jsonl``: every record in recording order, setup lines included."""
    return read_jsonl(golden / "production" / "_sequence.jsonl")


@pytest.fixture(scope="session")
def max_input_vars_cases(golden: Path) -> list[dict[str, Any]]:
    """``production/_max_input_vars.jsonl``: requests past the limit, with summarized answers."""
    return read_jsonl(golden / "production" / "_max_input_vars.jsonl")


@pytest.fixture(scope="session")
def normalized() -> Callable[[Any, str], Any]:
    """:func:`normalize`, for tests that compare answers themselves."""
    return normalize


@pytest.fixture(scope="session")
def debug_records(golden: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``debug/`` recordings by (function, case); they mirror the production records."""
    records = {}
    for path in sorted((golden / "debug").glob("*.jsonl")):
        for record in read_jsonl(path):
            records[(record["function"], record["case"])] = record
    return records


# -- normalization ---------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"(?<!\d)1[5-9]\d{8}(?!\d)")
_XML_FUNCTIONS = re.compile(r'(<KEY name="functions"><MULTIPLE>\n)(.*?)(</MULTIPLE>)', re.DOTALL)
_XML_ITEM = re.compile(r"<SINGLE>\n.*?</SINGLE>\n", re.DOTALL)
_XML_KEY = re.compile(r'(<KEY name="userprivateaccesskey"><VALUE>)[0-9a-f]+')


def _sorted_xml_functions(match: re.Match[str]) -> str:
    return match.group(1) + "".join(sorted(_XML_ITEM.findall(match.group(2)))) + match.group(3)


def normalize(value: Any, site_url: str) -> Any:
    """What the README allows to differ, and one named site-specific value.

    - timestamps (unix times of this decade, also inside strings such as a deleted
      user's renamed username or the theme revision in image URLs);
    - the site URL;
    - the order of the site-info function list;
    - ``userprivateaccesskey``: a random key generated per site (named mapping).
    """
    if isinstance(value, dict):
        normalized = {key: normalize(item, site_url) for key, item in value.items()}
        if "userprivateaccesskey" in normalized:
            normalized["userprivateaccesskey"] = "<private-access-key>"
        if isinstance(normalized.get("functions"), list) and "siteurl" in normalized:
            normalized["functions"] = sorted(normalized["functions"], key=lambda f: f["name"])
        return normalized
    if isinstance(value, list):
        return [normalize(item, site_url) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 1_500_000_000 <= value < 2_000_000_000:
        return "<ts>"
    if isinstance(value, str):
        text = value.replace(site_url, "<site>").replace(site_url.replace("/", "\\/"), "<site>")
        text = _TIMESTAMP.sub("<ts>", text)
        text = _XML_KEY.sub(r"\1<private-access-key>", text)
        return _XML_FUNCTIONS.sub(_sorted_xml_functions, text)
    return value


# -- replay ----------------------------------------------------------------------------------


@dataclass
class Result:
    """One replayed record: what came back, and whether it matches the recording."""

    status: int
    content_type: str
    response: Any
    matches: bool


class Replayer:
    """Replays recorded requests against one emulated site at ``url`` (``site`` is the
    in-process site when the test started it, None for one served by another process)."""

    def __init__(self, url: str, site: MoodleSite | None = None) -> None:
        self.site = site
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)

    def send(self, record: dict[str, Any]) -> httpx.Response:
        """Send a recorded call as the recorder did: reserved fields first, then the parameters."""
        meta = record.get("request_meta", {})
        token = meta.get("wstoken", TOKEN)
        # Later recordings (grades/) write a placeholder where the recorder's token went.
        token = TOKEN if token == VALID_TOKEN_PLACEHOLDER else token
        fields: list[tuple[str, str]] = [("wstoken", token), ("wsfunction", record["function"])]
        if meta.get("moodlewsrestformat") != "(omitted)":
            fields.append(("moodlewsrestformat", "json"))
        fields += list(record["params"].items())
        if meta.get("http_method") == "GET":
            return self.client.get("/webservice/rest/server.php", params=fields)
        return self.client.post(
            "/webservice/rest/server.php",
            content=urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def setup(self, record: dict[str, Any]) -> Any:
        """Apply an out-of-band setup step through the test hook."""
        reply = self.client.post("/_emulator/setup", json={"setup": record["setup"], "args": record["args"]})
        reply.raise_for_status()
        return reply.json()["result"]

    def replay(
        self, record: dict[str, Any], expected: Any | None = None, compare: Callable[[Any, Any], bool] | None = None
    ) -> Result:
        """Send a record and compare its answer with ``expected`` (default: the recorded response)."""
        reply = self.send(record)
        content_type = reply.headers.get("content-type", "")
        body: Any = reply.json() if content_type.startswith("application/json") else reply.text
        want = normalize(record["response"] if expected is None else expected, RECORDED_SITE_URL)
        got = normalize(body, self.url)
        equal = (compare or (lambda a, b: a == b))(got, want)
        meta_type = record.get("request_meta", {}).get("content_type")
        matches = equal and reply.status_code == record["status"] and (meta_type is None or meta_type == content_type)
        return Result(reply.status_code, content_type, body, matches)


@pytest.fixture
def make_replayer() -> Iterator[Callable[..., Replayer]]:
    """Start fresh emulated sites on loopback (debug or not); all are stopped afterwards."""
    servers: list[LoopbackServer] = []
    replayers: list[Replayer] = []

    def start(*, debug: bool = False) -> Replayer:
        started = time.monotonic()
        site = MoodleSite.fresh(TOKEN, debug=debug, clock=lambda: RECORDED_AT + time.monotonic() - started)
        site.test_hooks = True
        server = site.serve()
        servers.append(server)
        replayers.append(Replayer(server.url, site))
        return replayers[-1]

    yield start
    for replayer in replayers:
        replayer.client.close()
    for server in servers:
        server.close()


# -- in-process calls ------------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested parameters as PHP form fields: ``users[0][username]``; booleans as 1/0."""
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in flatten(item, f"{prefix}[{key}]" if prefix else key)]
    if isinstance(value, list | tuple):
        return [pair for i, item in enumerate(value) for pair in flatten(item, f"{prefix}[{i}]")]
    if isinstance(value, bool):
        return [(prefix, "1" if value else "0")]
    return [(prefix, str(value))]


class WebService:
    """Calls functions of an emulated site in process, through its MockTransport."""

    def __init__(self, site: MoodleSite, token: str = TOKEN) -> None:
        self.site = site
        self.token = token
        self.http = httpx.Client(transport=site.transport(), base_url="http://moodle.test")

    def raw(self, function: str, fields: list[tuple[str, str]], *, fmt: str | None = "json") -> httpx.Response:
        """POST the given form fields after the reserved ones."""
        reserved = [("wstoken", self.token), ("wsfunction", function)]
        if fmt is not None:
            reserved.append(("moodlewsrestformat", fmt))
        return self.http.post(
            "/webservice/rest/server.php",
            content=urlencode(reserved + fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def __call__(self, function: str, **params: Any) -> Any:
        """Call a function with nested parameters; return the decoded JSON answer."""
        return self.raw(function, flatten(params)).json()


@pytest.fixture
def site() -> MoodleSite:
    """A fresh emulated site with test hooks on."""
    fresh = MoodleSite.fresh(TOKEN)
    fresh.test_hooks = True
    return fresh


@pytest.fixture
def ws(site: MoodleSite) -> Iterator[WebService]:
    """In-process web-service calls to :func:`site`."""
    service = WebService(site)
    yield service
    service.http.close()
