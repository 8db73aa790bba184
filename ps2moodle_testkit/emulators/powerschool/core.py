"""The emulated PowerSchool server: one request handler over one generated district.

:class:`PowerSchoolEmulator` is a :class:`ps2moodle_testkit.emulators.http.Handler`: reach it in
process with :meth:`~PowerSchoolEmulator.transport` or over HTTP on loopback with
:meth:`~PowerSchoolEmulator.serve`. It implements the checklist of reference §9: OAuth
client credentials with expiring tokens, the ``/ws/v1`` resources with their envelopes,
counts, paging and ``q=`` filters, table queries, PowerQueries, the plugin's access
settings, and the serialization quirks (:class:`Quirks`, all on by default). Fault
switches (:class:`Faults`) make it fail the ways a real server does.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

import httpx

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.http import LoopbackServer, Reply, mock_transport
from ps2moodle_testkit.emulators.powerschool import fiql
from ps2moodle_testkit.emulators.powerschool.events import EventSubscriptions
from ps2moodle_testkit.emulators.powerschool.powerqueries import POWERQUERIES, PowerQuery
from ps2moodle_testkit.emulators.powerschool.resources import Collection, Resources
from ps2moodle_testkit.emulators.powerschool.tables import Table, schema_tables
from ps2moodle_testkit.emulators.powerschool.wire import Quirks, expires_in, table_value, v1_json, v1_xml

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass(frozen=True, slots=True)
class Plugin:
    """How the API plugin is set up in PowerSchool (its Data Configuration page)."""

    #: Maximum (and default) page size of every /ws/v1 resource.
    max_page_size: int = 100
    #: ``schema_table_query_max_page_size``: the same for table queries.
    table_max_page_size: int = 100
    #: Seconds a token lives (PowerSchool's default is 30 days).
    token_lifetime_s: int = 30 * 86400
    #: ``accessLevelV1Api``: READ or FULL allow /ws/v1, NONE (or absent) denies it.
    v1_access: str = "READ"
    #: ``access_request``: the ``table.column`` fields the plugin may read on /ws/schema;
    #: None allows every field.
    access_request: frozenset[str] | None = None
    #: The admin's "minimum time interval (ms) between API requests per plugin"; 0 = off.
    min_request_interval_ms: int = 0


@dataclass
class Faults:
    """Failures to inject, changeable while the emulator runs. Counters count down as
    faults fire; ``match`` limits them to requests whose path contains it."""

    #: The next N requests answer ``server_error_status``.
    server_errors: int = 0
    server_error_status: int = 500
    #: The next N requests answer 429 with ``Retry-After: retry_after_s``.
    throttled: int = 0
    retry_after_s: int = 1
    #: Matching requests wait this long before they are handled: every one, or only the
    #: next ``slow_requests`` when that is set.
    latency_s: float = 0.0
    slow_requests: int | None = None
    #: The token in use expires after N more authorised requests (then 401).
    expire_token_after: int | None = None
    #: The next N pages holding two or more records come back one record short.
    short_pages: int = 0
    #: Every matching count reports this many more (negative: fewer) records than there are.
    count_off_by: int = 0
    match: str = ""


class _Refusal(Exception):
    """An error answer, raised from deep inside request handling."""

    def __init__(self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.reply: Reply = (status, {"Content-Type": JSON_TYPE, **(headers or {})}, _dump(body))


def _dump(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _ok(body: object) -> Reply:
    return 200, {"Content-Type": JSON_TYPE}, _dump(body)


@dataclass
class _Request:
    method: str
    path: str
    params: dict[str, str]
    raw: dict[str, str]
    headers: Mapping[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def wants_xml(self, quirks: Quirks) -> bool:
        return quirks.xml_without_accept and "json" not in self.headers.get("accept", "").lower()


Route = tuple[str, re.Pattern[str], str, Callable[["PowerSchoolEmulator", _Request], Reply]]


@dataclass
class _Token:
    value: str
    expires_at: float


@dataclass
class _State:
    token: _Token | None = None
    last_request: float | None = None
    cache: OrderedDict[tuple[Any, ...], list[Any]] = field(default_factory=OrderedDict)


class PowerSchoolEmulator:
    """An emulated PowerSchool serving ``district``.

    ``client_id`` and ``client_secret`` are generated (UUIDs, as PowerSchool shows them)
    unless given. ``stats`` counts requests by kind (``token``, ``v1``, ``v1_count``,
    ``table``, ``table_count``, ``query``, ``query_count``...) and refusals by status.
    """

    def __init__(
        self,
        district: District,
        *,
        quirks: Quirks | None = None,
        plugin: Plugin | None = None,
        faults: Faults | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        subscriptions: EventSubscriptions | None = None,
    ) -> None:
        self.district = district
        #: The plugin's event subscription set (shared when a changed district replaces this emulator).
        self.subscriptions = subscriptions or EventSubscriptions()
        self.quirks = quirks or Quirks()
        self.plugin = plugin or Plugin()
        self.faults = faults or Faults()
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or str(uuid.uuid4())
        self.stats: Counter[str] = Counter()
        #: Every access token handed out, in order (tests check none leaks anywhere).
        self.issued_tokens: list[str] = []
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._state = _State()
        self._resources = Resources(district, staff_users_dcid=self.quirks.staff_users_dcid)
        self._tables = schema_tables(district)
        self._collections: dict[tuple[str, int | None], Collection] = {}

    # -- the two ways in ---------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """An httpx transport reaching this emulator in process."""
        return mock_transport(self)

    def serve(self, port: int = 0) -> LoopbackServer:
        """A loopback HTTP server for this emulator (not yet started)."""
        return LoopbackServer(self, port)

    # -- request handling ------------------------------------------------------------------

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        raw = dict(_raw_pairs(query))
        request = _Request(method, path, {k: unquote_plus(v) for k, v in raw.items()}, raw, headers, body)
        try:
            try:
                return self._route(request)
            except fiql.QueryError as exc:
                raise _Refusal(400, {"message": str(exc)}) from None
        except _Refusal as refusal:
            self._count(f"status_{refusal.reply[0]}")
            return refusal.reply

    def _route(self, request: _Request) -> Reply:
        self._before(request)
        for verb, pattern, kind, handler in _ROUTES:
            match = pattern.fullmatch(request.path)
            if match and verb == request.method:
                request.match = match
                self._count(kind + ("_count" if request.path.endswith("/count") else ""))
                if kind not in ("token", "time", "metadata"):
                    self._authorise(request)
                return handler(self, request)
        self._count("other")
        raise _Refusal(404, {"message": "Not Found"})

    def _count(self, kind: str) -> None:
        with self._lock:
            self.stats[kind] += 1

    def _fault_applies(self, request: _Request) -> bool:
        return self.faults.match in request.path

    def _before(self, request: _Request) -> None:
        """Latency, throttling and server errors, in that order."""
        faults = self.faults
        with self._lock:
            slow = faults.latency_s > 0 and self._fault_applies(request) and faults.slow_requests != 0
            if slow and faults.slow_requests is not None:
                faults.slow_requests -= 1
        if slow:
            self._sleep(faults.latency_s)
        with self._lock:
            now = self._clock()
            interval = self.plugin.min_request_interval_ms / 1000
            last = self._state.last_request
            if interval and last is not None and now - last < interval:
                wait = math.ceil(interval - (now - last))
                raise _Refusal(
                    429,
                    {"message": f"Too many requests. Please wait {wait} seconds and try again."},
                    {"Retry-After": str(wait)},
                )
            self._state.last_request = now
            if faults.throttled and self._fault_applies(request):
                faults.throttled -= 1
                raise _Refusal(429, {"message": "Too many requests"}, {"Retry-After": str(faults.retry_after_s)})
            if faults.server_errors and self._fault_applies(request):
                faults.server_errors -= 1
                status = faults.server_error_status
                raise _Refusal(
                    status, {"message": "org.hibernate.exception.GenericJDBCException: could not execute query"}
                )

    def _authorise(self, request: _Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        with self._lock:
            token = self._state.token
            valid = token is not None and scheme.lower() == "bearer" and _same(value, token.value)
            if valid and token is not None and self._clock() >= token.expires_at:
                valid = False
            faults = self.faults
            if valid and faults.expire_token_after is not None:
                if faults.expire_token_after <= 0:
                    faults.expire_token_after = None
                    self._state.token = None
                    valid = False
                else:
                    faults.expire_token_after -= 1
        if not valid:
            raise _Refusal(
                401,
                {"message": "Unauthorized"},
                {
                    "WWW-Authenticate": 'Bearer error="invalid_token",realm="PowerSchool",'
                    'error_description="The access token has expired"'
                },
            )
        if request.path.startswith("/ws/v1/") and self.plugin.v1_access.upper() not in ("READ", "FULL"):
            raise _Refusal(403, {"message": "Forbidden: the plugin has no access to the v1 API (accessLevelV1Api)"})

    # -- OAuth -------------------------------------------------------------------------------

    def _token(self, request: _Request) -> Reply:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = secret = ""
        if scheme.lower() != "basic" or not (_same(client_id, self.client_id) and _same(secret, self.client_secret)):
            raise _Refusal(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        form = dict(parse_qsl(request.body.decode("utf-8", "replace")))
        grant = form.get("grant_type") or request.params.get("grant_type")
        if grant != "client_credentials":
            raise _Refusal(400, {"error": "unsupported_grant_type"})
        with self._lock:
            now = self._clock()
            token = self._state.token
            if token is None or now >= token.expires_at:
                token = _Token(str(uuid.uuid4()), now + self.plugin.token_lifetime_s)
                self._state.token = token
                self.issued_tokens.append(token.value)
            remaining = max(0, int(token.expires_at - now))
        return _ok(
            {"access_token": token.value, "token_type": "Bearer", "expires_in": expires_in(remaining, self.quirks)}
        )

    # -- /ws/v1 ------------------------------------------------------------------------------

    def _v1(self, request: _Request, root: str, resource: object) -> Reply:
        tree = {root: resource}
        if request.wants_xml(self.quirks):
            return 200, {"Content-Type": "application/xml;charset=UTF-8"}, v1_xml(resource, root)
        return _ok(v1_json(tree, self.quirks))

    def _time(self, request: _Request) -> Reply:
        now = datetime.now(UTC)
        return self._v1(
            request,
            "time",
            {"date": now.date(), "time": now.strftime("%H:%M:%S"), "timestamp": int(now.timestamp() * 1000)},
        )

    def _metadata(self, request: _Request) -> Reply:
        data: dict[str, object] = {
            "powerschool_version": "24.7.0.0",
            "state": "MA",
            "district_timezone": "America/New_York",
        }
        token = self._state.token
        header = request.headers.get("authorization", "")
        if token is not None and header == f"Bearer {token.value}":
            size = self.plugin.max_page_size
            data.update({f"{r}_max_page_size": size for r in ("course", "school", "section", "section_enrollment")})
            data.update({f"{r}_max_page_size": size for r in ("staff", "student", "term")})
            data["schema_table_query_max_page_size"] = self.plugin.table_max_page_size
            data["plugin_id"] = 1234
        return self._v1(request, "metadata", data)

    def _district(self, request: _Request) -> Reply:
        return self._v1(
            request,
            "district",
            {
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.district.name)),
                "name": self.district.name,
                "district_number": "0410",
            },
        )

    def _collection(self, key: tuple[str, int | None], build: Callable[[], Collection]) -> Collection:
        """A list endpoint's collection, built once (paging asks for it again and again)."""
        with self._lock:
            found = self._collections.get(key)
            if found is None:
                found = self._collections[key] = build()
            return found

    def _school(self, request: _Request) -> int:
        """The school number of ``/ws/v1/school/{dcid}/...`` (404 when unknown)."""
        assert request.match is not None
        school = self._resources.school_by_dcid.get(int(request.match["id"]))
        if school is None or school.kind == "office":
            raise _Refusal(404, {"message": "Not Found"})
        return school.number

    def _list(self, request: _Request, collection: Collection, *, default: str = "") -> Reply:
        q = request.raw.get("q") or default
        rows = self._select(("v1", collection.singular, id(collection)), collection.rows, collection, q)
        if request.path.endswith("/count"):
            if collection.singular == "school" and self.quirks.graduated_school_uncounted:
                rows = [s for s in rows if getattr(s, "kind", "") != "graduated"]
            return _ok({"resource": {"count": self._counted(request, rows)}})
        page = self._page(request, rows, self.plugin.max_page_size)
        expansions = frozenset(e.strip() for e in request.params.get("expansions", "").split(",") if e.strip())
        extensions = tuple(e.strip().lower() for e in request.params.get("extensions", "").split(",") if e.strip())
        wrapper: dict[str, object] = {}
        if collection.expansions:
            wrapper["@expansions"] = collection.expansions
        if collection.extensions is not None:
            wrapper["@extensions"] = collection.extensions
        wrapper[collection.singular] = [collection.render(row, expansions, extensions) for row in page]
        return self._v1(request, collection.plural, wrapper)

    def _select(
        self,
        key: tuple[Any, ...],
        rows: Sequence[object],
        source: Table | Collection,
        q: str,
        sort: tuple[str, ...] = (),
        descending: bool = False,
    ) -> list[Any]:
        """The filtered, sorted rows of a query (cached: paging re-asks the same query)."""
        cache_key = (*key, q, sort, descending)
        with self._lock:
            cached = self._state.cache.get(cache_key)
            if cached is not None:
                self._state.cache.move_to_end(cache_key)
                return cached
            clauses = fiql.parse(q, decoded=not self.quirks.raw_fiql) if q else ()
            fiql.compile_filter(clauses, source.columns)  # rejects unknown fields even when indexed
            if isinstance(source, Table):
                rows, clauses = _candidates(source, clauses, rows)
            if clauses:
                test = fiql.compile_filter(clauses, source.columns)
                selected = [row for row in rows if test(row)]
            else:
                selected = list(rows)
            if isinstance(source, Collection):
                selected.sort(key=source.sort)
            elif sort:
                getters = [source.columns[c].get for c in sort]
                selected.sort(key=lambda row: tuple(_sortable(g(row)) for g in getters), reverse=descending)
            self._state.cache[cache_key] = selected
            if len(self._state.cache) > 256:
                self._state.cache.popitem(last=False)
            return selected

    def _counted(self, request: _Request, rows: Sequence[object]) -> int:
        """What a count endpoint reports: the rows, unless a fault makes it lie."""
        return max(0, len(rows) + (self.faults.count_off_by if self._fault_applies(request) else 0))

    def _page(
        self,
        request: _Request,
        rows: list[Any],
        max_size: int,
        *,
        zero_is_all: bool = False,
        default: int | None = None,
    ) -> list[Any]:
        try:
            page = int(request.params.get("page") or 1)
            size = int(request.params.get("pagesize") or (default or max_size))
        except ValueError:
            raise _Refusal(400, {"message": "Bad Request: page and pagesize must be integers"}) from None
        if page < 1 or size < 0 or (size == 0 and not zero_is_all):
            raise _Refusal(400, {"message": "Bad Request: invalid page or pagesize"})
        if size == 0:
            chunk = rows
        else:
            size = min(size, max_size)  # larger requests are clamped to the plugin's maximum
            chunk = rows[(page - 1) * size : page * size]
        with self._lock:
            if self.faults.short_pages and len(chunk) >= 2 and self._fault_applies(request):
                self.faults.short_pages -= 1
                chunk = chunk[:-1]
        return chunk

    def _schools(self, request: _Request) -> Reply:
        return self._list(request, self._collection(("school", None), self._resources.schools))

    def _district_students(self, request: _Request) -> Reply:
        return self._list(request, self._collection(("student", None), partial(self._resources.students, None)))

    def _school_resources(self, request: _Request) -> Reply:
        assert request.match is not None
        kind = request.match["kind"]
        number = self._school(request)
        r = self._resources
        builders: dict[str, Callable[[int], Collection]] = {
            "student": r.students,
            "staff": r.staff_of,
            "course": r.courses_of,
            "section": r.sections_of,
            "term": r.terms_of,
        }
        default = ""
        if kind == "student" and self.quirks.students_active_by_default:
            default = "school_enrollment.enroll_status_code==0"
        return self._list(request, self._collection((kind, number), partial(builders[kind], number)), default=default)

    def _section_enrollments(self, request: _Request) -> Reply:
        assert request.match is not None
        section = self._resources.section_by_dcid.get(int(request.match["id"]))
        if section is None:
            raise _Refusal(404, {"message": "Not Found"})
        collection = self._collection(
            ("section_enrollment", section.id), partial(self._resources.enrollments_of, section)
        )
        return self._list(request, collection)

    def _single(self, request: _Request) -> Reply:
        assert request.match is not None
        kind, key = request.match["kind"], int(request.match["id"])
        r = self._resources
        expansions = frozenset(e.strip() for e in request.params.get("expansions", "").split(",") if e.strip())
        extensions = tuple(e.strip().lower() for e in request.params.get("extensions", "").split(",") if e.strip())
        lookups: dict[
            str, tuple[Mapping[int, object], Callable[[object, frozenset[str], tuple[str, ...]], dict[str, Any]]]
        ] = {
            "school": (r.school_by_dcid, r.school),
            "student": (r.student_by_dcid, r.student),
            "staff": (r.staff_by_dcid, r.staff),
            "course": (self.district.course_by_dcid, r.course),
            "section": (r.section_by_dcid, r.section),
            "term": (r.term_by_dcid, r.term),
        }
        if kind == "section_enrollment":
            row: object = key - self.district.enrolments.DCID_BASE
            if not 0 <= key - self.district.enrolments.DCID_BASE < len(self.district.enrolments):
                raise _Refusal(404, {"message": "Not Found"})
            return self._v1(request, kind, r.section_enrollment(row))
        found, render = lookups[kind]
        row = found.get(key)
        if row is None:
            raise _Refusal(404, {"message": "Not Found"})
        return self._v1(request, kind, render(row, expansions, extensions))

    # -- /ws/v1/event_subscription (reference §12.1) -----------------------------------------

    def _subscription(self, request: _Request) -> Reply:
        if request.method == "GET":
            current = self.subscriptions.get()
            if current is None:
                raise _Refusal(404, {"message": "Not Found"})
            return _ok(current)
        if request.method == "DELETE":
            if not self.subscriptions.delete():
                raise _Refusal(404, {"message": "Not Found"})
            return 204, {}, b""
        if "json" not in request.headers.get("content-type", "").lower():
            raise _Refusal(415, {"message": "Invalid content-type"})
        try:
            created = self.subscriptions.put(json.loads(request.body or b"null"))
        except ValueError as exc:  # not JSON, or a SubscriptionError
            raise _Refusal(400, {"message": f"Bad Request: {exc}"}) from None
        return (201, {"Content-Type": JSON_TYPE}, b"") if created else (204, {}, b"")

    # -- /ws/schema/table --------------------------------------------------------------------

    def _table(self, request: _Request) -> Table:
        assert request.match is not None
        table = self._tables.get(request.match["table"].lower())
        if table is None:
            raise _Refusal(404, {"message": f"Table not found: {request.match['table']}"})
        return table

    def _check_access(self, table: Table, columns: Sequence[str]) -> None:
        allowed = self.plugin.access_request
        if allowed is None:
            return
        denied = [c for c in columns if f"{table.name}.{c}" not in allowed]
        if denied:
            raise _Refusal(
                403,
                {
                    "message": "At least one column lacks sufficient permission",
                    "errors": [{"resource": table.title, "field": c, "code": "No access to the field"} for c in denied],
                },
            )

    def _projection(self, request: _Request, table: Table) -> list[str]:
        text = request.params.get("projection", "")
        if not text:
            raise _Refusal(400, {"message": "A projection is required"})
        names: list[str] = []
        for part in text.split(","):
            name = part.strip().lower()
            if name in ("*", f"{table.name}.*"):
                allowed = self.plugin.access_request
                names.extend(c for c in table.columns if allowed is None or f"{table.name}.{c}" in allowed)
            elif name.removeprefix(f"{table.name}.") in table.columns:
                names.append(name.removeprefix(f"{table.name}."))
            else:
                raise _Refusal(400, {"message": f"Invalid column in projection: {part.strip()}"})
        return names

    def _table_rows(self, request: _Request, table: Table) -> list[Any]:
        q = request.raw.get("q", "")
        clauses = fiql.parse(q, decoded=not self.quirks.raw_fiql) if q else ()
        self._check_access(table, [c.field for c in clauses if c.field in table.columns])
        sort = [c.strip().lower() for c in request.params.get("sort", "").split(",") if c.strip()]
        unknown = [c for c in sort if c not in table.columns]
        if unknown:
            raise _Refusal(400, {"message": f"Invalid sort column: {unknown[0]}"})
        descending = request.params.get("sortdescending", "false").lower() == "true"
        return self._select(("table", table.name), table.rows, table, q, tuple(sort), descending)

    def _table_records(self, table: Table, rows: Sequence[object], columns: Sequence[str]) -> list[dict[str, Any]]:
        specs = [(c, table.columns[c].get, table.columns[c].kind) for c in columns]
        key, title, quirks = table.columns[table.key].get, self._table_title(table), self.quirks
        return [
            {
                "id": key(row),
                "name": title,
                "tables": {table.name: {c: table_value(get(row), kind, quirks) for c, get, kind in specs}},
            }
            for row in rows
        ]

    def _table_title(self, table: Table) -> str:
        return table.title if self.quirks.capitalized_table_name else table.name

    def _records(self, title: str, records: list[dict[str, Any]], extra: Mapping[str, object] | None = None) -> Reply:
        body: dict[str, object] = {"name": title, **(extra or {})}
        if records or not self.quirks.empty_list_omitted:
            body["record"] = records
        return _ok(body)

    def _table_query(self, request: _Request) -> Reply:
        table = self._table(request)
        columns = self._projection(request, table)
        self._check_access(table, columns)
        rows = self._table_rows(request, table)
        page = self._page(request, rows, self.plugin.table_max_page_size)
        return self._records(self._table_title(table), self._table_records(table, page, columns))

    def _table_count(self, request: _Request) -> Reply:
        table = self._table(request)
        return _ok({"count": self._counted(request, self._table_rows(request, table))})

    def _table_metadata(self, request: _Request) -> Reply:
        table = self._table(request)
        allowed = self.plugin.access_request
        columns = [
            {"name": c, "access": "ViewOnly" if allowed is None or f"{table.name}.{c}" in allowed else "NoAccess"}
            for c in table.columns
        ]
        return _ok({"name": table.name, "comment": "", "primaryKey": table.key, "columns": columns})

    def _table_row(self, request: _Request) -> Reply:
        table = self._table(request)
        assert request.match is not None
        key = int(request.match["id"])
        columns = self._projection(request, table)
        self._check_access(table, columns)
        get = table.columns[table.key].get
        row = next((r for r in table.rows if get(r) == key), None)
        if row is None:
            raise _Refusal(404, {"message": "Not Found"})
        (record,) = self._table_records(table, [row], columns)
        return _ok(record)

    # -- /ws/schema/query ---------------------------------------------------------------------

    def _powerquery(self, request: _Request) -> Reply:
        assert request.match is not None
        query = POWERQUERIES.get(request.match["name"])
        if query is None:
            raise _Refusal(404, {"message": f"Named query not found: {request.match['name']}"})
        if "json" not in request.headers.get("content-type", "").lower():
            raise _Refusal(415, {"message": "Invalid content-type"})
        try:
            args = json.loads(request.body or b"null")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise _Refusal(
                400, {"message": "Bad Request: the body must be a JSON object of arguments (send {} for none)"}
            )
        self._check_query_access(query)
        try:
            rows = query.run(self.district, args)
        except (KeyError, TypeError, ValueError) as exc:
            raise _Refusal(400, {"message": f"Bad Request: invalid argument or invalid data type ({exc})"}) from None
        if request.path.endswith("/count"):
            return _ok({"count": len(rows)})
        page = self._page(request, rows, max_size=sys.maxsize, zero_is_all=True, default=100)
        extra: dict[str, object] = {"count": len(rows)} if request.params.get("count", "").lower() == "true" else {}
        if query.flattened:
            records = page
        else:
            records = [{"id": int(r[query.key]), "name": query.title, "tables": {query.table: r}} for r in page]
        return self._records(query.title, records, extra)

    def _check_query_access(self, query: PowerQuery) -> None:
        allowed = self.plugin.access_request
        if allowed is None:
            return
        denied = [f for f in query.fields if f not in allowed]
        if denied:
            raise _Refusal(
                403,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": query.name, "field": f, "code": "No access to the field"} for f in denied],
                },
            )


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _sortable(value: object) -> tuple[bool, object]:
    return (value is None, value if value is not None else 0)


def _candidates(
    table: Table, clauses: tuple[fiql.Clause, ...], rows: Sequence[object]
) -> tuple[Sequence[object], tuple[fiql.Clause, ...]]:
    """Start from the index bucket when a clause pins the indexed (integer) column to one
    value; that clause is then answered and dropped."""
    for clause in clauses:
        if clause.field == table.index and clause.op == "==" and len(clause.values) == 1:
            value = clause.values[0]
            if value.lstrip("-").isdigit():
                return table.bucket(int(value)), tuple(c for c in clauses if c is not clause)
    return rows, clauses


def _raw_pairs(query: str) -> list[tuple[str, str]]:
    """Query parameters with their values still percent-encoded (names decoded)."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), value))
    return pairs


_ROUTES: list[Route] = [
    ("POST", re.compile(r"/oauth/access_token/?"), "token", PowerSchoolEmulator._token),
    ("GET", re.compile(r"/ws/v1/time"), "time", PowerSchoolEmulator._time),
    ("GET", re.compile(r"/ws/v1/metadata"), "metadata", PowerSchoolEmulator._metadata),
    ("GET", re.compile(r"/ws/v1/district"), "v1", PowerSchoolEmulator._district),
    *(
        (verb, re.compile(r"/ws/v1/event_subscription"), "subscription", PowerSchoolEmulator._subscription)
        for verb in ("PUT", "GET", "DELETE")
    ),
    ("GET", re.compile(r"/ws/v1/district/school(/count)?"), "v1", PowerSchoolEmulator._schools),
    ("GET", re.compile(r"/ws/v1/district/student(/count)?"), "v1", PowerSchoolEmulator._district_students),
    (
        "GET",
        re.compile(r"/ws/v1/school/(?P<id>\d+)/(?P<kind>student|staff|course|section|term)(?P<count>/count)?"),
        "v1",
        PowerSchoolEmulator._school_resources,
    ),
    (
        "GET",
        re.compile(r"/ws/v1/section/(?P<id>\d+)/section_enrollment(?P<count>/count)?"),
        "v1",
        PowerSchoolEmulator._section_enrollments,
    ),
    (
        "GET",
        re.compile(r"/ws/v1/(?P<kind>school|student|staff|course|section|term|section_enrollment)/(?P<id>\d+)"),
        "v1",
        PowerSchoolEmulator._single,
    ),
    ("GET", re.compile(r"/ws/schema/table/(?P<table>\w+)/count"), "table", PowerSchoolEmulator._table_count),
    ("GET", re.compile(r"/ws/schema/table/(?P<table>\w+)/metadata"), "table", PowerSchoolEmulator._table_metadata),
    ("GET", re.compile(r"/ws/schema/table/(?P<table>\w+)/(?P<id>\d+)"), "table", PowerSchoolEmulator._table_row),
    ("GET", re.compile(r"/ws/schema/table/(?P<table>\w+)"), "table", PowerSchoolEmulator._table_query),
    (
        "POST",
        re.compile(r"/ws/schema/query/(?P<name>[\w.]+?)(?P<count>/count)?"),
        "query",
        PowerSchoolEmulator._powerquery,
    ),
]
