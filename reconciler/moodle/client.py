"""The Moodle web-service client: one POST per call, Moodle's encoding and error envelope,
batches sized to PHP's ``max_input_vars``, bounded concurrency, safe retries.

Wire format (``shared/reference/moodle-ws.md`` §1, held to the golden recordings):

- ``POST {url}/webservice/rest/server.php`` with a form body holding ``wstoken``,
  ``wsfunction`` and ``moodlewsrestformat=json`` (the default format is XML);
- nested parameters in PHP bracket notation with explicit, ordered indexes
  (``users[0][username]``); booleans as ``1``/``0``; ``None`` is left out (Moodle has no
  null on the wire); an empty list cannot be sent at all;
- errors come back as HTTP 200 with ``{"exception", "errorcode", "message"}``; functions
  with no return value answer ``null``.

PHP keeps only the first ``max_input_vars`` (+1) form fields of a request and silently
drops the rest, so a too-large batch is cut short without an error. Three defences:
batches are sized by counting form fields against the configured limit; list parameters
are sent *before* top-level scalars, so a cut drops a required scalar and Moodle fails
loudly instead of answering for a subset; and callers check result counts
(:meth:`MoodleClient.expect_list`).
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote_plus

import httpx

from reconciler.config.model import MoodleSettings
from reconciler.moodle.errors import (
    MoodleError,
    MoodleTransportError,
    OutcomeUnknown,
    TruncatedRequest,
    error_from_envelope,
)
from reconciler.net import client_tls, plain_http_refusal
from reconciler.retry import Retry, RetryPolicy, lasting_cause, retry_after, run

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

REST_PATH = "/webservice/rest/server.php"
#: wstoken, wsfunction and moodlewsrestformat ride on every request.
RESERVED_FIELDS = 3
#: Moodle 4.5 refuses to install with a smaller PHP max_input_vars.
MOODLE_MIN_INPUT_VARS = 5000

#: Functions that only read: repeating them is always safe.
READ_FUNCTIONS = frozenset(
    {
        "core_webservice_get_site_info",
        "core_user_get_users_by_field",
        "core_user_get_users",
        "core_course_get_categories",
        "core_course_get_courses",
        "core_course_get_courses_by_field",
        "core_enrol_get_enrolled_users",
        "core_enrol_get_enrolled_users_with_capability",
        "core_enrol_get_users_courses",
        "core_cohort_get_cohorts",
        "core_cohort_get_cohort_members",
        "core_group_get_course_groups",
        "core_group_get_group_members",
        "gradereport_user_get_grade_items",
    }
)

#: Writes that end in the same state when repeated: upserts, absolute updates, and
#: membership changes that are no-ops when already done (moodle-ws.md §2, §3.1).
IDEMPOTENT_WRITES = frozenset(
    {
        "core_user_update_users",
        "core_course_update_categories",
        "core_course_update_courses",
        "core_cohort_update_cohorts",
        "enrol_manual_enrol_users",
        "enrol_manual_unenrol_users",
        "core_role_assign_roles",
        "core_role_unassign_roles",
        "core_cohort_add_cohort_members",
        "core_cohort_delete_cohort_members",
        "core_group_add_group_members",
        "core_group_delete_group_members",
        "core_group_delete_groups",
    }
)


class _CutShort(Exception):
    """A 200 answer that is not the JSON Moodle sends, after Moodle ran (or may have run)
    the call: the start of a JSON document whose rest was lost on the way, or, to a write,
    a PHP error page printed part way through it."""


def _looks_cut_short(body: bytes) -> bool:
    """Whether an undecodable body is truncated JSON (or empty), not some other page (a
    login form, a wrong URL): Moodle's JSON answers start with one of these."""
    start = body.lstrip()[:1]
    return not start or start in b'{["-0123456789ntf'


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    elif isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{prefix}: an empty list cannot be sent to Moodle; leave the parameter out instead")
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    elif isinstance(value, int | str):
        out.append((prefix, str(value)))
    else:
        raise TypeError(f"{prefix}: cannot send a {type(value).__name__} to Moodle")


def encode(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The form fields of ``params`` in Moodle's REST encoding.

    Lists and structures come first and top-level scalars last, so that a request cut by
    ``max_input_vars`` loses a required scalar and fails instead of silently answering
    for fewer items. Moodle reads parameters by name, so this order changes nothing else.
    """
    out: list[tuple[str, str]] = []
    nested = [(k, v) for k, v in params.items() if isinstance(v, Mapping | list | tuple)]
    scalars = [(k, v) for k, v in params.items() if not isinstance(v, Mapping | list | tuple)]
    for key, value in (*nested, *scalars):
        _flatten(key, value, out)
    return out


#: What ``quote_plus`` leaves as it is.
_FORM_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


def form_body(fields: Sequence[tuple[str, str]]) -> str:
    """``urllib.parse.urlencode(fields)``, byte for byte, at a fraction of its cost: values
    that need no quoting (ids, most names) are not quoted, and names (``users[7][email]``,
    the same few thousand in every batch) are quoted once. A district's first apply sends
    four million fields."""
    return "&".join(
        f"{_form_name(name)}={value if _FORM_PLAIN.fullmatch(value) else quote_plus(value)}" for name, value in fields
    )


@lru_cache(maxsize=1 << 16)
def _form_name(name: str) -> str:
    return quote_plus(name)


def count_fields(value: Any) -> int:
    """How many form fields a value takes once encoded (None takes none)."""
    if value is None:
        return 0
    if isinstance(value, Mapping):
        return sum(count_fields(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(count_fields(v) for v in value)
    return 1


def _cuts(sizes: Sequence[int], cap: int, budget: int) -> list[int]:
    """End indexes of greedy batches of at most ``cap`` items and ``budget`` fields."""
    cuts: list[int] = []
    count = used = 0
    for index, size in enumerate(sizes):
        if count and (count >= cap or used + size > budget):
            cuts.append(index)
            count = used = 0
        count += 1
        used += size
    if count:
        cuts.append(len(sizes))
    return cuts


class CallStats:
    """How many HTTP requests went to each function (retries included; not those that
    never reached the server), and the seconds they took.

    Thread-safe; benchmarks compare these with the minimum number of calls possible.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0

    def record(self, function: str, seconds: float) -> None:
        """Count one request."""
        with self._lock:
            self.calls[function] += 1
            self.seconds += seconds

    @property
    def total(self) -> int:
        """Every request made so far."""
        return sum(self.calls.values())

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self.calls.clear()
            self.seconds = 0.0


class MoodleClient:
    """Calls Moodle's REST web services with one token.

    ``max_input_vars`` is the server's PHP limit on form fields; every request stays
    within it. ``batch_size`` is the preferred number of items per write (about 100 was
    fastest on a real site; see ``golden/moodle/timings.txt``). ``concurrency`` bounds
    the requests in flight at once. Reads, and writes that are safe to repeat, are
    retried ``retries`` times (:mod:`reconciler.retry`: backoff from ``backoff_s`` with
    jitter, or the server's Retry-After); other writes only when the request never left
    (connection refused). ``sleep`` can be replaced to observe the waits. Plain http is
    refused unless to loopback; ``ca_file`` names a private CA. The token is never logged.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        max_input_vars: int = MOODLE_MIN_INPUT_VARS,
        batch_size: int = 100,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        ca_file: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_input_vars <= RESERVED_FIELDS + 2:
            raise ValueError(f"max_input_vars={max_input_vars} leaves no room for parameters")
        if batch_size < 1 or concurrency < 1 or retries < 0:
            raise ValueError("batch_size and concurrency must be at least 1, retries at least 0")
        refusal = plain_http_refusal(url, "Moodle", "the web service token and student data")
        if refusal:
            raise MoodleError(refusal)
        try:
            verify = client_tls(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MoodleError(f"cannot use Moodle ca_file {ca_file}: {exc.strerror or exc}") from None
        self.url = url.rstrip("/")
        self._token = token
        self.max_input_vars = max_input_vars
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(attempts=retries + 1, base_delay_s=backoff_s)
        self.stats = CallStats()
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport,
            verify=verify,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: MoodleSettings, *, transport: httpx.BaseTransport | None = None) -> MoodleClient:
        """A client for the config's Moodle section; resolves the token secret now."""
        return cls(
            settings.url,
            settings.token.resolve(),
            max_input_vars=settings.max_input_vars,
            batch_size=settings.batch_size,
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s,
            ca_file=settings.ca_file,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"MoodleClient({self.url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> MoodleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # One call -------------------------------------------------------------------

    def call(self, function: str, params: Mapping[str, Any] | None = None, *, raw: bool = False) -> Any:
        """Call one function and return its decoded answer (None for functions without one).

        ``raw`` asks Moodle for text exactly as stored (no ``&amp;`` escaping or
        filtering): use it on reads whose values are compared. Raises a
        :class:`~reconciler.moodle.errors.MoodleResponseError` subclass for Moodle's error
        envelope and :class:`MoodleTransportError` (or :class:`OutcomeUnknown` for an
        unanswered write) when no usable answer came back.
        """
        fields = [("wstoken", self._token), ("wsfunction", function), ("moodlewsrestformat", "json")]
        if raw:
            fields.append(("moodlewssettingraw", "1"))
        fields += encode(params or {})
        if len(fields) > self.max_input_vars:
            raise MoodleError(
                f"{function}: {len(fields)} form fields exceed max_input_vars={self.max_input_vars}; split the call"
            )
        body = form_body(fields)
        repeatable = function in READ_FUNCTIONS or function in IDEMPOTENT_WRITES

        def attempt(_number: int) -> Any:
            started = time.monotonic()
            try:
                response = self._http.post(
                    self.url + REST_PATH,
                    content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                cause = lasting_cause(exc)
                if cause:
                    raise MoodleTransportError(f"{function}: cannot reach Moodle at {self.url}: {cause}") from None
                # The request never left: repeating it is safe for any function.
                raise Retry(
                    MoodleTransportError(f"{function}: cannot reach Moodle at {self.url} ({type(exc).__name__}: {exc})")
                ) from None
            except httpx.TransportError as exc:
                self.stats.record(function, time.monotonic() - started)
                error = self._lost(function, f"{type(exc).__name__}: {exc}")
                if repeatable:
                    raise Retry(error) from None
                raise error from None
            elapsed = time.monotonic() - started
            self.stats.record(function, elapsed)
            log.debug("%s: %d fields, HTTP %d, %.3fs", function, len(fields), response.status_code, elapsed)
            if response.status_code == 200:
                try:
                    return self._decode(function, response, len(fields))
                except _CutShort as exc:
                    error = self._lost(function, str(exc))
                    if repeatable:
                        raise Retry(error) from None
                    raise error from None
            error, retry = self._bad_status(function, response.status_code, repeatable)
            if retry:
                raise Retry(error, after=retry_after(response))
            raise error

        def retrying(number: int, error: Exception, wait: float) -> None:
            log.info("%s; retry %d/%d in %.1fs", error, number, self.retry.attempts - 1, wait)

        return run(attempt, self.retry, sleep=self._sleep, on_retry=retrying)

    def _lost(self, function: str, what: str) -> MoodleTransportError:
        """The error for a call that was sent but got no usable answer: Moodle may have run
        it. A read can only fail; a write's outcome is unknown (OutcomeUnknown), even after
        the retries of a repeatable one, and is settled by reading the objects back."""
        if function in READ_FUNCTIONS:
            return MoodleTransportError(f"{function}: no answer from Moodle ({what})")
        return OutcomeUnknown(f"{function}: sent, but no answer came back ({what}); it may or may not have happened")

    def _bad_status(self, function: str, status: int, repeatable: bool) -> tuple[MoodleTransportError, bool]:
        if status == 403:
            return MoodleTransportError(
                f"{function}: HTTP 403 from {self.url}: web services or the REST protocol are disabled on the site "
                "(Site administration > Server > Web services)"
            ), False
        if status == 429:
            # A rate limit answers before the request is handed to Moodle.
            return MoodleTransportError(f"{function}: HTTP {status} (server busy)"), True
        if status >= 500:
            # A 503 or 504 may come from a proxy that gave up on a call Moodle then finished.
            return self._lost(function, f"HTTP {status}"), repeatable
        return MoodleTransportError(f"{function}: HTTP {status} from {self.url}{REST_PATH}; check moodle.url"), False

    def _decode(self, function: str, response: httpx.Response, fields: int) -> Any:
        try:
            body = json.loads(response.content)
        except ValueError:
            if _looks_cut_short(response.content):
                raise _CutShort(f"its answer was cut short after {len(response.content)} bytes") from None
            start = " ".join(response.text[:80].split())
            if function not in READ_FUNCTIONS:
                # The plan's reads reached this URL first: a write answered so died part way.
                raise _CutShort(f"its answer is not JSON: it starts {start!r}") from None
            raise MoodleTransportError(
                f"{function}: Moodle's answer is not JSON (it starts {start!r}); check that moodle.url is the site root"
            ) from None
        if isinstance(body, dict) and "exception" in body:
            raise error_from_envelope(function, body, fields=fields)
        return body

    # Many calls -----------------------------------------------------------------

    def budget(self, *, raw: bool = False, fixed: int = 0) -> int:
        """Form fields left for list items in one request, after the reserved fields, the
        ``raw`` setting and ``fixed`` fields of other parameters."""
        return self.max_input_vars - RESERVED_FIELDS - (1 if raw else 0) - fixed

    def batches(
        self,
        items: Sequence[T],
        fields: Callable[[T], int],
        *,
        limit: int | None = None,
        raw: bool = False,
        fixed: int = 0,
    ) -> list[list[T]]:
        """Split ``items`` into consecutive batches of at most ``limit`` items (default:
        the preferred ``batch_size``) whose encoded size, ``fields(item)`` each, fits the
        request budget; as few batches as that allows, evened out."""
        sizes = [fields(item) for item in items]
        budget = self.budget(raw=raw, fixed=fixed)
        if sizes and max(sizes) > budget:
            raise MoodleError(
                f"one item needs {max(sizes)} form fields but max_input_vars={self.max_input_vars} leaves {budget}"
            )
        cuts = _cuts(sizes, limit or self.batch_size, budget)
        if len(cuts) > 1:
            # Same number of batches, sizes evened out (the last one is not a straggler).
            even = _cuts(sizes, math.ceil(len(sizes) / len(cuts)), budget)
            cuts = even if len(even) == len(cuts) else cuts
        return [list(items[start:end]) for start, end in zip([0, *cuts], cuts, strict=False)]

    def read_limit(self, count: int) -> int:
        """Items per read call: spread ``count`` over the workers, never below the
        preferred batch size (per-request overhead) and never past ``max_input_vars``
        (applied by :meth:`batches`)."""
        return max(self.batch_size, math.ceil(count / self.concurrency))

    def read_batches(
        self, values: Sequence[T], *, fixed: Mapping[str, Any] | None = None, raw: bool = True
    ) -> list[list[T]]:
        """The values of a read's one list parameter, split over as few calls as the
        limits allow (spread over the workers); ``fixed`` are the call's other parameters."""
        extra = count_fields(dict(fixed or {}))
        return self.batches(values, count_fields, limit=self.read_limit(len(values)), raw=raw, fixed=extra)

    def call_many(self, calls: Sequence[tuple[str, Mapping[str, Any]]], *, raw: bool = False) -> list[Any]:
        """Independent calls ``(function, params)`` with bounded concurrency; answers in order."""
        return self.map(lambda call: self.call(call[0], call[1], raw=raw), calls)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, concurrency: int | None = None) -> list[R]:
        """``fn`` over ``items`` with at most ``concurrency`` (default: the client's) at
        once; results in input order; the first failure is raised once all have ended."""
        todo = list(items)
        workers = min(concurrency or self.concurrency, len(todo))
        if workers <= 1:
            return [fn(item) for item in todo]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="moodle") as pool:
            return list(pool.map(fn, todo))

    @staticmethod
    def expect_list(function: str, answer: Any, *, sent: int | None = None) -> list[Any]:
        """``answer`` as a list; with ``sent``, exactly that many items (fewer means the
        request was cut by ``max_input_vars``)."""
        if not isinstance(answer, list):
            raise MoodleTransportError(f"{function}: expected a list from Moodle, got {type(answer).__name__}")
        if sent is not None and len(answer) != sent:
            if len(answer) < sent:
                raise TruncatedRequest(function, sent, len(answer))
            raise MoodleTransportError(f"{function}: sent {sent} items, Moodle answered for {len(answer)}")
        return answer
