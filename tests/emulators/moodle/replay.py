"""The Moodle emulator's contract tests' machinery: replaying the golden recordings, and calls in process.

The recordings of a real Moodle 4.5 live in ``shared/golden/moodle`` (or where
``PS2M_GOLDEN_MOODLE`` points). :class:`Replayer` sends one recorded request to an
emulator served over real HTTP on loopback, the way the recorder sent it, and
compares the answer with the recording after the normalizations the recordings' README
allows (:func:`normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from ps2moodle_testkit.emulators.moodle import MoodleSite

#: The token used for every replay (the recorder's own token is not in the files).
TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
#: The recording site's URL; the emulator's differs (an ephemeral port).
RECORDED_SITE_URL = "http://127.0.0.1:8080"
#: When the production sequence was recorded; the emulator's clock starts there so that
#: recorded enrolment windows (timestart/timeend) are in the past exactly as they were.
RECORDED_AT = 1795886650


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
        fields: list[tuple[str, str]] = [("wstoken", meta.get("wstoken", TOKEN)), ("wsfunction", record["function"])]
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


# -- the recorded sequence ---------------------------------------------------------------------


#: Records whose list order is PostgreSQL heap order: compared order-insensitively.
HEAP_ORDER = {
    125: "core_course_get_courses without ids: unordered SELECT, heap order on the real site",
    126: "core_course_get_courses with ids: unordered get_records_list, heap order on the real site",
}


def _by_id(got: Any, want: Any) -> bool:
    return isinstance(got, list) and isinstance(want, list) and sorted(got, key=_id) == sorted(want, key=_id)


def _id(item: Any) -> int:
    return int(item["id"]) if isinstance(item, dict) else 0


def replay_sequence(replayer: Any, records: list[dict[str, Any]]) -> list[str]:
    """Replay every record in order; describe each mismatch."""
    failures = []
    for record in records:
        if "setup" in record:
            replayer.setup(record)
            continue
        compare = _by_id if record["seq"] in HEAP_ORDER else None
        result = replayer.replay(record, compare=compare)
        if not result.matches:
            failures.append(
                f"seq {record['seq']} {record['function']} ({record['case']}):\n"
                f"   got {result.status} {str(result.response)[:1500]}\n"
                f"  want {record['status']} {str(record['response'])[:1500]}"
            )
    return failures
