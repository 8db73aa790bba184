"""An HTTP client for PowerSchool's read API that survives the real server.

- OAuth client credentials (reference §1): Basic-authenticated ``POST /oauth/access_token``;
  the token is reused until shortly before it expires, and a 401 triggers exactly one
  re-authentication of the request that got it.
- Bounded retries (:mod:`reconciler.retry`, shared with the Moodle client) on connection
  errors, timeouts, 429 (honouring ``Retry-After``), 500/502/503/504, and any "too many
  requests" answer. Every request the client makes is a read, so retrying is safe; a
  certificate that does not verify or a host that does not resolve is not retried.
- TLS verification stays on (``ca_file`` names a private CA); a plain-http URL is refused
  unless it points at loopback (an emulator); the URL is normalized (no trailing slash).
- ``q=`` filters are sent with their structure unencoded (:func:`fiql`), as PowerSchool
  parses them before decoding.

Nothing here logs or raises the client secret or the token: errors name the host, the
path and PowerSchool's own message.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from reconciler import __version__
from reconciler.config.model import PowerSchoolSettings
from reconciler.errors import SourceError
from reconciler.net import client_tls, plain_http_refusal
from reconciler.powerschool import quirks
from reconciler.retry import Retry, RetryPolicy, lasting_cause, retry_after, run
from reconciler.words import count

log = logging.getLogger(__name__)

Params = Sequence[tuple[str, str]]
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def normalize_url(url: str) -> str:
    """``https://host[:port][/path]`` without a trailing slash, or :class:`SourceError`.

    Plain http is allowed only for a loopback host: anywhere else the client secret and
    student data would cross the network unencrypted.
    """
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        raise SourceError("PowerSchool URL is not a valid URL") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https") or not parsed.host:
        raise SourceError("PowerSchool URL must look like https://district.powerschool.com")
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    where = f"{scheme}://{host}"
    if parsed.userinfo:
        raise SourceError(f"PowerSchool URL {where} must not carry credentials; use client_id and client_secret")
    if parsed.query or parsed.fragment:
        raise SourceError(f"PowerSchool URL {where} must not have a query or fragment")
    refusal = plain_http_refusal(url, "PowerSchool", "the client secret and student data")
    if refusal:
        raise SourceError(refusal)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{where}{port}{parsed.path.rstrip('/')}"


def fiql(*clauses: tuple[str, str, object]) -> str:
    """A ``q=`` filter, AND-ed, ready for the query string: ``(field, op, value)`` with op
    ``==``, ``!=``, ``=gt=``, ``=ge=``, ``=lt=`` or ``=le=``; a tuple value is a list (IN).
    Only the values are percent-encoded: PowerSchool reads ``;`` ``=`` ``(`` ``,``
    before decoding, so encoding them breaks the filter (reference §7.1)."""
    parts = []
    for name, op, value in clauses:
        if isinstance(value, tuple):
            encoded = "(" + ",".join(quote(str(v), safe="") for v in value) + ")"
        else:
            encoded = quote(str(value), safe="")
        parts.append(f"{name}{op}{encoded}")
    return ";".join(parts)


@dataclass(frozen=True, slots=True)
class ListRead:
    """One counted list the client read: what, where, how many records, at what page size."""

    label: str
    path: str
    count: int
    page_size: int

    @property
    def pages(self) -> int:
        """Page requests needed (none for an empty list: its count said so)."""
        return -(-self.count // self.page_size)


@dataclass
class _Token:
    value: str
    expires_at: float


class PowerSchoolClient:
    """Authenticated, retried GETs against one PowerSchool server.

    ``transport`` replaces the network (tests pass an emulator's ``httpx.MockTransport``);
    ``sleep`` and ``clock`` can be replaced to make waits observable. ``stats`` counts
    HTTP exchanges by kind: ``token``, ``metadata``, ``count``, ``page``, plus ``retry``
    and ``reauth`` for the extra ones; ``lists`` records every counted list read and
    ``wait_s`` the seconds spent waiting on HTTP, summed over threads.
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout_s: float = 60.0,
        concurrency: int = 4,
        page_size: int = 100,
        retry: RetryPolicy | None = None,
        ca_file: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = normalize_url(url)
        try:
            verify = client_tls(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(f"cannot use PowerSchool ca_file {ca_file}: {exc.strerror or exc}") from None
        if not client_id or not client_secret:
            raise SourceError("PowerSchool client id and client secret must not be empty")
        self.concurrency = max(1, concurrency)
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.stats: Counter[str] = Counter()
        self.lists: list[ListRead] = []
        self.wait_s = 0.0
        self._basic = httpx.BasicAuth(client_id, client_secret)
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._metadata_lock = threading.Lock()
        self._token: _Token | None = None
        self._token_failure: SourceError | None = None
        self._metadata: dict[str, Any] | None = None
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
            verify=verify,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"ps2moodle/{__version__}"},
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )

    @classmethod
    def from_settings(cls, settings: PowerSchoolSettings, **kwargs: Any) -> PowerSchoolClient:
        """A client for a configured server; the secrets are resolved here, and only here."""
        return cls(
            settings.url,
            settings.client_id.resolve(),
            settings.client_secret.resolve(),
            timeout_s=settings.timeout_s,
            concurrency=settings.concurrency,
            page_size=settings.page_size,
            ca_file=settings.ca_file,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"PowerSchoolClient({self.base_url!r})"

    def close(self) -> None:
        """Release the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------

    def get(self, path: str, params: Params = (), *, kind: str = "page") -> Any:
        """GET ``path`` (``/ws/v1/...``) and return the decoded JSON. ``q`` in ``params``
        must already be built with :func:`fiql`; other values are encoded here."""
        query = "&".join(f"{quote(k, safe='')}={v if k == 'q' else quote(v, safe=',*')}" for k, v in params)
        return self.decode(self.send("GET", path, query=query, kind=kind), path)

    def send(self, method: str, path: str, *, query: str = "", body: Any = None, kind: str = "page") -> httpx.Response:
        """One authenticated request (``body`` sent as JSON), retried like every other; after
        a 401 once more with a fresh token. The answer as it came: see :meth:`decode`."""
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        content = None if body is None else json.dumps(body).encode("utf-8")
        reauthenticated = False
        while True:
            token = self._current_token()
            headers = {"Authorization": f"Bearer {token}"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            request = partial(self._http.request, method, url, headers=headers, content=content)
            response = self._exchange(kind, path, request)
            if response.status_code == 401 and not reauthenticated:
                # The token expired or was revoked: one fresh token, one more try.
                self._forget_token(token)
                reauthenticated = True
                self._count("reauth")
                continue
            return response

    def decode(self, response: httpx.Response, path: str) -> Any:
        """The JSON of an answer, or a :class:`SourceError` naming a refusal and PowerSchool's reason."""
        return self._json(response, path)

    def max_page_size(self, resource: str) -> int:
        """The plugin's maximum page size for ``resource`` (``student``, ``staff``,
        ``schema_table_query``...) from ``/ws/v1/metadata``; the configured page size when
        the server does not say."""
        with self._metadata_lock:  # one metadata request, however many threads ask
            if self._metadata is None:
                body = self.get("/ws/v1/metadata", kind="metadata")
                self._metadata = dict(quirks.block(body.get("metadata") if isinstance(body, dict) else None))
            metadata = self._metadata
        value = metadata.get(f"{resource}_max_page_size")
        return quirks.integer(value) if value not in (None, "") else self.page_size

    def note_list(self, read: ListRead) -> None:
        """Record a counted list (the paging engine calls this once per list)."""
        with self._lock:
            self.lists.append(read)
        log.info(
            "PowerSchool %s: %s, %s of %d",
            read.label,
            count(read.count, "record"),
            count(read.pages, "page"),
            read.page_size,
        )

    # -- plumbing --------------------------------------------------------------------------

    def _count(self, kind: str) -> None:
        with self._lock:
            self.stats[kind] += 1

    def _exchange(self, kind: str, path: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        """One request with bounded retries on transient failures; other answers return.
        Every request here is a read (or the token request), so any of them may be repeated."""

        def attempt(number: int) -> httpx.Response:
            self._count(kind if number == 1 else "retry")
            started = time.perf_counter()
            try:
                response = send()
            except httpx.TransportError as exc:
                cause = lasting_cause(exc)
                if cause:
                    raise SourceError(f"PowerSchool {self.base_url}{path}: {cause}") from None
                raise Retry(self._failed(path, number, type(exc).__name__)) from None
            with self._lock:
                self.wait_s += time.perf_counter() - started
            if _transient(response):
                failure = f"HTTP {response.status_code}"
                raise Retry(self._failed(path, number, failure), after=retry_after(response))
            return response

        def retrying(number: int, error: Exception, wait: float) -> None:
            log.warning("%s; retrying in %.1fs", error, wait)

        return run(attempt, self.retry, sleep=self._sleep, on_retry=retrying)

    def _failed(self, path: str, attempts: int, failure: str) -> SourceError:
        return SourceError(f"PowerSchool {self.base_url}{path} failed {attempts} times (last: {failure})")

    def _json(self, response: httpx.Response, path: str) -> Any:
        if response.status_code >= 400:
            try:
                detail = quirks.error_detail(response.json())
            except ValueError:
                detail = ""
            raise SourceError(
                f"PowerSchool refused {path} (HTTP {response.status_code})" + (f": {detail}" if detail else "")
            )
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise SourceError(f"PowerSchool answered {path} with {content_type or 'no content type'}, not JSON")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"PowerSchool sent invalid JSON for {path}") from None

    def _current_token(self) -> str:
        with self._token_lock:
            if self._token_failure is not None:
                # Threads queued behind a failed token request fail with it, instead of
                # each retrying a server that just refused or failed five times.
                raise self._token_failure
            token = self._token
            if token is None or self._clock() >= token.expires_at:
                try:
                    token = self._token = self._request_token()
                except SourceError as exc:
                    self._token_failure = exc
                    raise
            return token.value

    def _forget_token(self, stale: str) -> None:
        with self._token_lock:
            if self._token is not None and self._token.value == stale:
                self._token = None

    def _request_token(self) -> _Token:
        url = f"{self.base_url}/oauth/access_token"
        response = self._exchange(
            "token",
            "/oauth/access_token",
            lambda: self._http.post(url, auth=self._basic, data={"grant_type": "client_credentials"}),
        )
        if response.status_code in (400, 401, 403):
            raise SourceError(
                f"PowerSchool {self.base_url} refused the client id and secret (HTTP {response.status_code}); "
                "check that the plugin is enabled and the credentials are current"
            )
        body = self._json(response, "/oauth/access_token")
        try:
            value = quirks.text(body["access_token"])
            lifetime = quirks.seconds(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError):
            raise SourceError(f"PowerSchool {self.base_url} sent a token response without a usable token") from None
        # Renew a little early so a token never expires between check and use.
        margin = min(60.0, lifetime / 10)
        return _Token(value, self._clock() + lifetime - margin)


def _transient(response: httpx.Response) -> bool:
    if response.status_code in _RETRY_STATUSES:
        return True
    if response.status_code >= 400:
        return "too many requests" in response.text[:500].lower()
    return False
