"""Locks on a name for the rest of a transaction: writes of one key that must not interleave."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection


def names_lock(namespace: str, names: Iterable[str]) -> None:
    """Hold a lock on each `namespace:name` until the current transaction ends.

    PostgreSQL: transaction-level advisory locks on a 64-bit hash of each name, taken in
    sorted order so two callers with overlapping names cannot deadlock (a hash collision only
    makes two unrelated names wait for each other). SQLite needs none: every write
    transaction starts with BEGIN IMMEDIATE (settings.DATABASES), so it already runs alone.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("names_lock() only makes sense inside transaction.atomic()")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in sorted({f"{namespace}:{name}" for name in names}):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
