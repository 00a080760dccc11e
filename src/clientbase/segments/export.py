"""CSV export of a segment's members: streamed, with spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from clientbase.customers.models import Customer

# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2000


def neutralise(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def header() -> list[str]:
    return [
        _("Id"),
        _("Name"),
        _("Kind"),
        _("Status"),
        _("City"),
        _("Phone"),
        _("E-mail"),
        _("Manager"),
        _("VIP"),
        _("Orders"),
        _("Revenue"),
        _("Last order"),
    ]


def _row(customer: Customer) -> list[str]:
    stats = getattr(customer, "stats", None)
    phone = customer.primary_phone
    return [
        str(customer.pk),
        neutralise(customer.display_name),
        customer.kind,
        customer.status,
        neutralise(customer.city),
        # A phone as text: the apostrophe keeps spreadsheets from making it a number.
        "'" + phone if phone else "",
        neutralise(customer.primary_email),
        neutralise(customer.manager.username if customer.manager else ""),
        "1" if customer.vip else "0",
        str(stats.orders_count) if stats else "0",
        str(stats.revenue) if stats else "0",
        stats.last_order_at.date().isoformat() if stats and stats.last_order_at else "",
    ]


def csv_rows(customers: QuerySet[Customer]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header())  # the BOM makes Excel read UTF-8
    queryset = customers.select_related("manager", "stats").order_by("pk")
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last)[:BATCH])
        if not batch:
            return
        for customer in batch:
            yield writer.writerow(_row(customer))
        last = batch[-1].pk
