"""A tiny in-memory database with the behaviours of Moodle's PostgreSQL that leak out.

- **Sequences are not transactional.** An id handed out inside a transaction that is
  later rolled back is gone for good, so the next record skips it (the recordings show
  category 5, course 6 and users 16 and 17 missing for exactly this reason).
- **Delegated transactions roll back everything written since they began**, and
  nothing written outside a transaction (``update_courses`` is not transactional).
- **A query without ORDER BY returns rows in storage order.** PostgreSQL writes every
  updated row as a new version at the end of the heap, so an unordered read lists the
  most recently written rows last (``get_cohorts`` after an update shows this).
  :meth:`Table.in_storage_order` models that; a rollback restores the old position.

Rows are frozen dataclasses with an ``id``; a change is a new row put in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ps2moodle_testkit.emulators.moodle.errors import dml_write_error


class Row(Protocol):
    """What a table stores: anything with an integer ``id``."""

    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=Row)


@dataclass
class _Change:
    table: Table[Any]
    row_id: int
    old: Any
    old_position: int | None


class Database:
    """The transaction journal shared by all tables of one site."""

    def __init__(self) -> None:
        self._journal: list[_Change] = []
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A delegated transaction: any exception rolls back what was written inside it."""
        start = len(self._journal)
        self._depth += 1
        try:
            yield
        except BaseException:
            self._rollback_to(start)
            raise
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._journal.clear()

    def _rollback_to(self, start: int) -> None:
        while len(self._journal) > start:
            change = self._journal.pop()
            change.table._restore(change.row_id, change.old, change.old_position)

    def _record(self, change: _Change) -> None:
        if self._depth:
            self._journal.append(change)


class Table(Generic[R]):
    """One table: rows by id, a never-rolled-back sequence, storage order and indexes.

    ``indexes`` maps an index name to a function giving a row's key; a key of ``None``
    leaves the row out of that index. Indexes named in ``unique`` are unique indexes, and
    ``lengths`` caps text columns: a write breaking either fails with
    ``dml_write_exception``, as on PostgreSQL.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        indexes: Mapping[str, Callable[[R], Hashable | None]] | None = None,
        *,
        unique: frozenset[str] = frozenset(),
        lengths: Mapping[str, int] | None = None,
    ) -> None:
        self.name = name
        self._db = db
        self._unique = unique
        self._lengths = dict(lengths or {})
        self._rows: dict[int, R] = {}
        self._positions: dict[int, int] = {}
        self._next_position = 0
        self._next_id = 1
        self._index_keys = dict(indexes or {})
        self._indexes: dict[str, dict[Hashable, dict[int, None]]] = {name: {} for name in self._index_keys}

    def next_id(self) -> int:
        """Take the next id from the sequence (never given back, even on rollback)."""
        value = self._next_id
        self._next_id += 1
        return value

    def restart_sequence(self, next_id: int) -> None:
        """Make the sequence continue at ``next_id`` (used to build a site's starting state)."""
        self._next_id = next_id

    def get(self, row_id: int) -> R | None:
        """The row with this id, if any."""
        return self._rows.get(row_id)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, row: R) -> None:
        """Insert or replace a row; it moves to the end of storage order."""
        self._check(row)
        old = self._rows.get(row.id)
        self._db._record(_Change(self, row.id, old, self._positions.get(row.id)))
        if old is not None:
            self._unindex(old)
        self._store(row, self._next_position)
        self._next_position += 1

    def delete(self, row_id: int) -> None:
        """Remove a row if present."""
        old = self._rows.get(row_id)
        if old is None:
            return
        self._db._record(_Change(self, row_id, old, self._positions.get(row_id)))
        self._unindex(old)
        del self._rows[row_id]
        del self._positions[row_id]

    def _check(self, row: R) -> None:
        for column, limit in self._lengths.items():
            value = getattr(row, column)
            if isinstance(value, str) and len(value) > limit:
                raise dml_write_error(f"ERROR:  value too long for type character varying({limit})")
        for name in self._unique:
            key = self._index_keys[name](row)
            if key is not None and any(other != row.id for other in self._indexes[name].get(key, {})):
                raise dml_write_error(
                    f'ERROR:  duplicate key value violates unique constraint "{self.name}_{name}_uix"'
                )

    def find(self, index: str, key: Hashable) -> list[R]:
        """Rows whose ``index`` key equals ``key``, by id."""
        ids = self._indexes[index].get(key, {})
        return [self._rows[row_id] for row_id in sorted(ids)]

    def first(self, index: str, key: Hashable) -> R | None:
        """The lowest-id row matching ``key`` in ``index``, if any."""
        ids = self._indexes[index].get(key)
        return self._rows[min(ids)] if ids else None

    def by_id(self) -> list[R]:
        """All rows, ordered by id."""
        return [self._rows[row_id] for row_id in sorted(self._rows)]

    def in_storage_order(self) -> list[R]:
        """All rows in the order an unordered SELECT returns them."""
        return sorted(self._rows.values(), key=lambda row: self._positions[row.id])

    def _store(self, row: R, position: int) -> None:
        self._rows[row.id] = row
        self._positions[row.id] = position
        for name, key_of in self._index_keys.items():
            key = key_of(row)
            if key is not None:
                self._indexes[name].setdefault(key, {})[row.id] = None

    def _unindex(self, row: R) -> None:
        for name, key_of in self._index_keys.items():
            key = key_of(row)
            if key is not None:
                bucket = self._indexes[name].get(key)
                if bucket is not None:
                    bucket.pop(row.id, None)
                    if not bucket:
                        del self._indexes[name][key]

    def _restore(self, row_id: int, old: R | None, position: int | None) -> None:
        current = self._rows.pop(row_id, None)
        self._positions.pop(row_id, None)
        if current is not None:
            self._unindex(current)
        if old is not None and position is not None:
            self._store(old, position)


def sql_like(pattern: str, text: str) -> bool:
    """A case-insensitive SQL ``LIKE`` (``ILIKE``): ``%`` any run, ``_`` one character, ``\\`` escapes."""
    regex = []
    escaped = False
    for char in pattern:
        if escaped:
            regex.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    return re.fullmatch("".join(regex), text, re.IGNORECASE | re.DOTALL) is not None
