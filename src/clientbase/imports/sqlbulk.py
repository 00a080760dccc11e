"""Set-based SQL for imports: id allocation, multi-row inserts and chunked lookups.

The ORM's bulk_create builds a model instance per row, which alone costs more than the whole
import budget at a million rows; these helpers send plain tuples on the same connection and
transaction as the ORM, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

# Below SQLite's and PostgreSQL's parameter limits with room to spare.
LOOKUP_CHUNK = 2000
INSERT_CHUNK = 5000


def chunks(values: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def select_in(
    model: type[Model],
    columns: Sequence[str],
    key: str,
    values: Sequence[Any],
    *,
    lock: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """Rows of `columns` whose `key` is one of `values`: one query per 50,000 values.

    The values travel as one parameter (a JSON array for SQLite's json_each, an array on
    PostgreSQL), so neither the ORM nor the parameter limit costs anything per value. The
    rows are raw: no field conversions (a date is text on SQLite).
    """
    if not values:
        return
    table = model._meta.db_table
    selected = ", ".join(f'"{c}"' for c in columns)
    if connection.vendor == "sqlite":
        condition = f'"{key}" IN (SELECT value FROM json_each(%s))'  # noqa: S608
    else:
        condition = f'"{key}" = ANY(%s)'
    sql = f'SELECT {selected} FROM "{table}" WHERE {condition}'  # noqa: S608
    if lock and connection.vendor == "postgresql":
        # SQLite's IMMEDIATE transaction already holds the only write lock.
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        for chunk in chunks(values, 50_000):
            param = json.dumps(list(chunk)) if connection.vendor == "sqlite" else list(chunk)
            cursor.execute(sql, [param])
            yield from cursor.fetchall()


def allocate_ids(model: type[Model], count: int) -> list[int]:
    """Reserve `count` primary keys for rows inserted with explicit ids.

    Must run inside the transaction that inserts them. On SQLite that transaction holds the
    write lock (IMMEDIATE), so max(id) + 1.. is ours alone; the table is AUTOINCREMENT, so
    sqlite_sequence is consulted too and ids of deleted rows are never reused. On PostgreSQL
    the ids come from the column's own sequence and may have gaps, never duplicates.
    """
    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f'SELECT MAX(COALESCE((SELECT MAX(id) FROM "{table}"), 0), '  # noqa: S608
                "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
                [table],
            )
            start = int(cursor.fetchone()[0]) + 1
            return list(range(start, start + count))
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [int(row[0]) for row in cursor.fetchall()]


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    constants: dict[str, str] | None = None,
    ignore: bool = False,
) -> None:
    """INSERT many rows of `columns` into the model's table in one executemany.

    `constants` maps further columns to SQL literals written by this module (never user
    input): the same value for every row costs nothing to bind, and '[]' reaches a JSON
    column as JSON on both databases.
    """
    table = model._meta.db_table
    constants = constants or {}
    quoted = ", ".join(f'"{c}"' for c in (*columns, *constants))
    marks = ", ".join(["%s"] * len(columns) + list(constants.values()))
    conflict = " ON CONFLICT DO NOTHING" if ignore else ""
    sql = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks}){conflict}'  # noqa: S608
    source = iter(rows)
    with connection.cursor() as cursor:
        # A few thousand rows at a time: the tuples of a whole batch at once would hold
        # every value of it as a Python object, doubling an import's memory.
        while chunk := list(itertools.islice(source, INSERT_CHUNK)):
            cursor.executemany(sql, chunk)


def update_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    where: str,
    also: str = "",
) -> int:
    """UPDATE rows one statement per row (executemany): values for `columns`, then `where`'s.

    `also` is a further SET clause written by this module, e.g. a version increment.
    """
    rows = list(rows)
    if not rows:
        return 0
    table = model._meta.db_table
    sets = ", ".join([*(f'"{c}" = %s' for c in columns), *([also] if also else [])])
    with connection.cursor() as cursor:
        cursor.executemany(f'UPDATE "{table}" SET {sets} WHERE {where}', rows)  # noqa: S608
        return cursor.rowcount


def db_datetime(value: dt.datetime | None) -> Any:
    """A datetime as the connection stores it (naive UTC text on SQLite)."""
    if value is None:
        return None
    return connection.ops.adapt_datetimefield_value(value)


def ranges(ids: Sequence[int]) -> list[list[int]]:
    """[1, 2, 3, 7, 8] -> [[1, 3], [7, 8]]: compact, for undo records."""
    result: list[list[int]] = []
    for value in sorted(ids):
        if result and value == result[-1][1] + 1:
            result[-1][1] = value
        else:
            result.append([value, value])
    return result


def expand(id_ranges: Iterable[Sequence[int]]) -> Iterator[int]:
    for first, last in id_ranges:
        yield from range(int(first), int(last) + 1)
