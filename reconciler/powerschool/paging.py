"""Counted, paged, concurrent reads that never accept a short answer.

A :class:`Read` names one list (a v1 collection or a table query) and how to turn its
records into values. A :class:`Batch` runs many reads together with the client's bounded
concurrency: first every count (``.../count``), then every page at the largest page size
the plugin allows, all pages of all reads in one pool. The count alone is not trusted to
end a list: when its last page comes back full, the following pages are read until one
comes back short or empty (a count that under-reports, rows added while paging). The
count is the yardstick for completeness in both directions: a page holding fewer records
than it should, or fewer distinct records than counted, raises
:class:`TruncatedReadError`; more records than counted raises :class:`CountMismatchError`.
Either way no roster, and so no plan, comes from the read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from reconciler.errors import CountMismatchError, SourceError, TruncatedReadError
from reconciler.powerschool import quirks
from reconciler.powerschool.client import ListRead, PowerSchoolClient

T = TypeVar("T")
Record = Mapping[str, Any]


@dataclass(frozen=True)
class Read(Generic[T]):
    """One list to read completely.

    ``resource`` picks the plugin's maximum page size (``student``, ``schema_table_query``);
    ``records`` takes a page's JSON to its records; ``convert`` makes a value of each; ``key``
    identifies a value, so a record seen twice (offset paging while data changes) counts once.
    ``q`` is a :func:`~reconciler.powerschool.client.fiql` filter, applied to the count too.
    ``uncounted`` picks values the count is known to leave out (PowerSchool's district
    school count omits the Graduated Students school it lists).
    """

    label: str
    path: str
    resource: str
    records: Callable[[Any], Sequence[Record]]
    convert: Callable[[Record], T]
    key: Callable[[T], Hashable]
    q: str = ""
    params: tuple[tuple[str, str], ...] = ()
    uncounted: Callable[[T], bool] = lambda _value: False


class Pending(Generic[T]):
    """A read added to a batch; ``count`` and ``items`` are set once the batch has run."""

    def __init__(self, read: Read[T]) -> None:
        self.read = read
        self.listing = ListRead(read.label, read.path, 0, 1)
        self.items: list[T] = []
        self._pages: dict[int, list[T]] = {}

    @property
    def count(self) -> int:
        """Records PowerSchool counted."""
        return self.listing.count

    def expected(self, page: int) -> int:
        """How many records page ``page`` must hold."""
        size = self.listing.page_size
        return max(0, min(size, self.count - (page - 1) * size))

    def continues(self) -> bool:
        """Whether the list may go on past the pages read: the last one came back full
        (or, for a list counted empty, none was read yet)."""
        last = max(self._pages, default=0)
        return last == 0 or len(self._pages[last]) >= self.listing.page_size


class Batch:
    """Reads run together: add them, then :meth:`run`."""

    def __init__(self, client: PowerSchoolClient) -> None:
        self._client = client
        self._pending: list[Pending[Any]] = []

    def add(self, read: Read[T]) -> Pending[T]:
        """Queue ``read``; its results appear on the returned :class:`Pending`."""
        pending = Pending(read)
        self._pending.append(pending)
        return pending

    def run(self) -> None:
        """Count, fetch every counted page, then read on where the last one was full;
        raises on the first failure, cancelling the rest."""
        with ThreadPoolExecutor(max_workers=self._client.concurrency, thread_name_prefix="powerschool") as pool:
            _all(pool, [pool.submit(self._count, p) for p in self._pending])
            futures = [pool.submit(self._page, p, n) for p in self._pending for n in range(1, p.listing.pages + 1)]
            _all(pool, futures)
            _all(pool, [pool.submit(self._past_count, p) for p in self._pending if p.continues()])
        for pending in self._pending:
            self._assemble(pending)

    def _count(self, pending: Pending[Any]) -> None:
        read = pending.read
        page_size = self._client.max_page_size(read.resource)
        body = self._client.get(f"{read.path}/count", [("q", read.q)] if read.q else [], kind="count")
        try:
            count = quirks.count(body)
        except ValueError as exc:
            raise SourceError(f"PowerSchool {read.label}: unreadable count ({exc})") from None
        pending.listing = ListRead(read.label, read.path, count, page_size)
        self._client.note_list(pending.listing)

    def _past_count(self, pending: Pending[Any]) -> None:
        """Pages after the counted ones, one at a time, until one is short or empty."""
        page = pending.listing.pages
        while pending.continues():
            page += 1
            self._page(pending, page)

    def _page(self, pending: Pending[Any], page: int) -> None:
        read = pending.read
        params = [*read.params, *([("q", read.q)] if read.q else []), ("page", str(page))]
        params.append(("pagesize", str(pending.listing.page_size)))
        body = self._client.get(read.path, params, kind="page")
        try:
            records = read.records(body)
            items = [read.convert(r) for r in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"PowerSchool {read.label}: unexpected data on page {page} ({exc})") from None
        expected = pending.expected(page)
        if len(records) < expected:
            raise TruncatedReadError(
                f"truncated read: {read.label}: page {page} of {pending.listing.pages} held {len(records)} records, "
                f"expected {expected} (of {pending.count} counted)"
            )
        pending._pages[page] = items

    def _assemble(self, pending: Pending[Any]) -> None:
        read = pending.read
        seen: set[Hashable] = set()
        items = []
        for page in sorted(pending._pages):
            for item in pending._pages.pop(page):
                key = read.key(item)
                if key not in seen:
                    seen.add(key)
                    items.append(item)
        if len(items) < pending.count:
            raise TruncatedReadError(
                f"truncated read: {read.label}: {len(items)} distinct records, PowerSchool counted {pending.count}"
            )
        counted = sum(1 for item in items if not read.uncounted(item))
        if counted > pending.count:
            raise CountMismatchError(
                f"count mismatch: {read.label} ({read.path}): {counted} records read, PowerSchool counted "
                f"{pending.count}; a read that disagrees with its count is not used (rows added while reading, "
                "or a count that under-reports): re-run, and if it persists check the count in PowerSchool"
            )
        pending.items = items


def _all(pool: ThreadPoolExecutor, futures: list[Future[None]]) -> None:
    """Wait for every future; on the first failure cancel what has not started and raise it."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in done:
        error = future.exception()
        if error is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            raise error
