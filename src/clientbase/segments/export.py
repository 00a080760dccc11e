"""The segment's CSV download at its old address (/segments/<id>/export.csv), kept for links and
scripts that read it: its fixed columns, comma-separated, through the one exporter of
clientbase.exports. The page's Export button opens the export form instead."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from clientbase.core.file_fields import neutralise
from clientbase.customers.models import Customer
from clientbase.exports.columns import Column, resolve_columns
from clientbase.exports.selectors import export_rows
from clientbase.exports.writers import csv_chunks

__all__ = ["LEGACY_COLUMNS", "csv_rows", "legacy_columns", "neutralise"]

# The columns this address always had, in its order: scripts read them by position.
LEGACY_COLUMNS = (
    "id",
    "name",
    "kind",
    "status",
    "city",
    "phone",
    "email",
    "manager",
    "vip",
    "orders_count",
    "revenue",
    "last_order",
)


def legacy_columns() -> list[Column]:
    # Codes, as this address always wrote: scripts compare them.
    return resolve_columns("customers", LEGACY_COLUMNS, codes=True)


def csv_rows(customers: QuerySet[Customer]) -> Iterator[str]:
    columns = legacy_columns()
    return csv_chunks(export_rows(customers, columns), columns, delimiter=",")
