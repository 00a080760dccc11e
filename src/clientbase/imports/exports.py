"""Exports of customers and orders to CSV and XLSX: column catalogues, streamed rows, writers, jobs.

One path for every export (list, segment, orders, the background job and the CLI): a queryset is
read in keyset batches of plain values (no model instances; related rows loaded once per batch),
each value is turned into a cell by its column's kind, and a writer streams the cells out, so
memory stays bounded whatever the number of rows. docs/import-export.md documents the columns.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.choices import Importance
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.customers.choices import ConsentState, CustomerKind
from clientbase.customers.models import Address, Consent, Customer, CustomerEmail, CustomerPhone
from clientbase.imports.choices import ExportFormat, ExportStatus, ImportKind
from clientbase.imports.fields import fields_for
from clientbase.imports.models import ExportJob
from clientbase.orders.choices import OPEN_STATUSES, OrderStatus
from clientbase.orders.models import Order, OrderItem

logger = logging.getLogger(__name__)

# Rows read per query: big enough that the per-query cost vanishes, small enough that a batch
# of plain tuples stays a few megabytes.
BATCH = 2000
# Export files of background jobs, kept this long (core periodic task in imports.tasks).
KEEP_DAYS = 7
EXPORT_SUBDIR = "exports"

# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel's own limits: characters in a cell, rows in a sheet (the header takes one).
XLSX_CELL_MAX = 32767
XLSX_SHEET_ROWS = 1_048_576

# Value kinds of export columns: how a value becomes a CSV text and an XLSX cell.
TEXT = "text"  # free text typed by people or shops: neutralised
CODE = "code"  # a stored choice value ("person", "delivered"): the same in every language
ID = "id"  # a number that names something: a string cell, never a number
PHONE = "phone"  # E.164; a string cell in XLSX, a quote-prefixed text in CSV
INT = "int"
MONEY = "money"
DATE = "date"
DATETIME = "datetime"  # in the shop's time zone (TIME_ZONE)
BOOL = "bool"  # "yes" / "no"; empty when unknown


def neutralise(value: Any) -> str:
    """The text with an apostrophe in front when a spreadsheet would run it as a formula.

    Applied in CSV and in XLSX alike: XLSX string cells are never evaluated, but a sheet
    re-saved as CSV would carry the formula out again. The import strips the apostrophe.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# ---------------------------------------------------------------- column catalogues

Related = Mapping[str, Mapping[int, Any]]
Getter = Callable[[Mapping[str, Any], Related], Any]


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise
    kind: str
    get: Getter
    # Names for QuerySet.values() this column reads from the batch's main query.
    fields: tuple[str, ...] = ()
    # A related loader (RELATED_LOADERS) the column needs, run once per batch.
    needs: str = ""
    default: bool = True


def _field(name: str) -> Getter:
    return lambda row, related: row[name]


def _label(kind: str, key: str) -> str | Promise:
    """The import field's label, so an exported file is recognised when imported again."""
    return fields_for(kind)[key].label


def _display_name(kind: str, company: str, last: str, first: str, middle: str, pk: int) -> str:
    if kind == CustomerKind.COMPANY and company:
        return company
    name = " ".join(p for p in (last, first, middle) if p)
    return name or company or f"#{pk}"


def _customer_name(row: Mapping[str, Any], related: Related) -> str:
    return _display_name(
        row["kind"],
        row["company_name"],
        row["last_name"],
        row["first_name"],
        row["middle_name"],
        row["id"],
    )


def _address_part(index: int) -> Getter:
    def get(row: Mapping[str, Any], related: Related) -> Any:
        address = related["address"].get(row["id"])
        return address[index] if address else ""

    return get


def _joined(loader: str, separator: str = ", ") -> Getter:
    def get(row: Mapping[str, Any], related: Related) -> str:
        return separator.join(related[loader].get(row["id"], ()))

    return get


def _consent(channel: str) -> Getter:
    def get(row: Mapping[str, Any], related: Related) -> bool | None:
        state = related["consents"].get(row["id"], {}).get(channel)
        if state == ConsentState.GRANTED:
            return True
        if state == ConsentState.WITHDRAWN:
            return False
        return None  # never asked: empty, not "no"

    return get


def _date_of(name: str) -> Getter:
    def get(row: Mapping[str, Any], related: Related) -> dt.date | None:
        moment = row[name]
        return timezone.localtime(moment).date() if moment else None

    return get


def _or_zero(name: str) -> Getter:
    # No statistics row means no orders yet: 0, as the card shows.
    return lambda row, related: row[name] or 0


def _importance(row: Mapping[str, Any], related: Related) -> str:
    value = row["score__importance"]
    return str(Importance(value).label) if value else ""


NAME_FIELDS = ("kind", "company_name", "last_name", "first_name", "middle_name")
CUS = ImportKind.CUSTOMERS
CUSTOMER_COLUMNS: tuple[Column, ...] = (
    Column("id", _("clientbase id"), ID, _field("id"), default=False),
    Column(
        "external_id", _label(CUS, "external_id"), TEXT, _field("external_id"), ("external_id",)
    ),
    Column("kind", _label(CUS, "kind"), CODE, _field("kind"), ("kind",)),
    # "Клиент", not "Имя": a re-import must not read the whole name as a first name.
    Column(
        "name",
        pgettext_lazy("the customer as lists show them", "Name"),
        TEXT,
        _customer_name,
        NAME_FIELDS,
        default=False,
    ),
    Column("last_name", _label(CUS, "last_name"), TEXT, _field("last_name"), ("last_name",)),
    Column("first_name", _label(CUS, "first_name"), TEXT, _field("first_name"), ("first_name",)),
    Column(
        "middle_name", _label(CUS, "middle_name"), TEXT, _field("middle_name"), ("middle_name",)
    ),
    Column(
        "company_name", _label(CUS, "company_name"), TEXT, _field("company_name"), ("company_name",)
    ),
    Column("gender", _label(CUS, "gender"), CODE, _field("gender"), ("gender",)),
    Column("birthday", _label(CUS, "birthday"), DATE, _field("birthday"), ("birthday",)),
    Column("phone", _label(CUS, "phone"), PHONE, _field("primary_phone"), ("primary_phone",)),
    Column("phones", _("All phones"), PHONE, _joined("phones"), needs="phones", default=False),
    Column("email", _label(CUS, "email"), TEXT, _field("primary_email"), ("primary_email",)),
    Column("emails", _("All e-mails"), TEXT, _joined("emails"), needs="emails", default=False),
    Column("postal_code", _label(CUS, "postal_code"), TEXT, _address_part(0), needs="address"),
    Column("region", _label(CUS, "region"), TEXT, _address_part(1), needs="address"),
    Column("city", _label(CUS, "city"), TEXT, _field("city"), ("city",)),
    Column("address", _label(CUS, "address"), TEXT, _address_part(2), needs="address"),
    Column("inn", _label(CUS, "inn"), TEXT, _field("inn"), ("inn",)),
    Column("kpp", _label(CUS, "kpp"), TEXT, _field("kpp"), ("kpp",), default=False),
    Column("ogrn", _label(CUS, "ogrn"), TEXT, _field("ogrn"), ("ogrn",), default=False),
    Column(
        "bank_bic", _label(CUS, "bank_bic"), TEXT, _field("bank_bic"), ("bank_bic",), default=False
    ),
    Column(
        "bank_account",
        _label(CUS, "bank_account"),
        TEXT,
        _field("bank_account"),
        ("bank_account",),
        default=False,
    ),
    Column(
        "legal_address",
        _label(CUS, "legal_address"),
        TEXT,
        _field("legal_address"),
        ("legal_address",),
        default=False,
    ),
    Column("tags", _label(CUS, "tags"), TEXT, _joined("tags"), needs="tags"),
    Column("notes", _label(CUS, "notes"), TEXT, _field("notes"), ("notes",)),
    Column("status", _("Status"), CODE, _field("status"), ("status",)),
    Column("manager", _("Manager"), TEXT, _field("manager__username"), ("manager__username",)),
    Column("vip", _label(CUS, "vip"), BOOL, _field("vip"), ("vip",)),
    Column("source", _("Source"), CODE, _field("source"), ("source",), default=False),
    Column(
        "consent_email", _label(CUS, "consent_email"), BOOL, _consent("email"), needs="consents"
    ),
    Column("consent_sms", _label(CUS, "consent_sms"), BOOL, _consent("sms"), needs="consents"),
    Column(
        "created_at", _label(CUS, "registered_at"), DATETIME, _field("created_at"), ("created_at",)
    ),
    Column(
        "orders_count",
        _("Orders"),
        INT,
        _or_zero("stats__orders_count"),
        ("stats__orders_count",),
    ),
    Column("revenue", _("Revenue"), MONEY, _or_zero("stats__revenue"), ("stats__revenue",)),
    Column(
        "last_order",
        _("Last order"),
        DATE,
        _date_of("stats__last_order_at"),
        ("stats__last_order_at",),
    ),
    Column(
        "importance",
        _("Importance"),
        TEXT,
        _importance,
        ("score__importance",),
        default=False,
    ),
    Column(
        "rfm_segment",
        _("RFM segment"),
        CODE,
        _field("score__rfm_segment"),
        ("score__rfm_segment",),
        default=False,
    ),
)


def _order_customer_name(row: Mapping[str, Any], related: Related) -> str:
    return _display_name(
        row["customer__kind"],
        row["customer__company_name"],
        row["customer__last_name"],
        row["customer__first_name"],
        row["customer__middle_name"],
        row["customer_id"],
    )


def _quantity(value: Decimal) -> str:
    # 2.000 -> "2", 0.500 -> "0.5": as a person writes it.
    text = format(value.normalize(), "f")
    return text


def _items(row: Mapping[str, Any], related: Related) -> str:
    items = related["items"].get(row["id"], ())
    return "; ".join(f"{name} × {_quantity(quantity)}" for name, quantity in items)


ORD = ImportKind.ORDERS
ORDER_CUSTOMER_NAME_FIELDS = tuple(f"customer__{n}" for n in NAME_FIELDS)
ORDER_COLUMNS: tuple[Column, ...] = (
    Column("id", _("clientbase id"), ID, _field("id"), default=False),
    Column("order_id", _label(ORD, "order_id"), TEXT, _field("external_id"), ("external_id",)),
    Column("source", _("Source"), CODE, _field("source"), ("source",), default=False),
    Column("placed_at", _label(ORD, "placed_at"), DATETIME, _field("placed_at"), ("placed_at",)),
    Column("status", _label(ORD, "status"), CODE, _field("status"), ("status",)),
    Column("total", _label(ORD, "total"), MONEY, _field("total"), ("total",)),
    Column("subtotal", _label(ORD, "subtotal"), MONEY, _field("subtotal"), ("subtotal",)),
    Column("discount", _label(ORD, "discount"), MONEY, _field("discount"), ("discount",)),
    Column(
        "delivery_cost",
        _label(ORD, "delivery_cost"),
        MONEY,
        _field("delivery_cost"),
        ("delivery_cost",),
    ),
    Column("currency", _label(ORD, "currency"), CODE, _field("currency"), ("currency",)),
    Column(
        "payment_method",
        _label(ORD, "payment_method"),
        CODE,
        _field("payment_method"),
        ("payment_method",),
    ),
    Column(
        "delivery_method",
        _label(ORD, "delivery_method"),
        TEXT,
        _field("delivery_method"),
        ("delivery_method",),
    ),
    Column("address", _label(ORD, "delivery_address"), TEXT, _field("address"), ("address",)),
    Column("coupon", _label(ORD, "coupon"), TEXT, _field("coupon"), ("coupon",)),
    Column(
        "customer_id",
        _("clientbase customer id"),
        ID,
        _field("customer_id"),
        ("customer_id",),
        default=False,
    ),
    Column(
        "customer_external_id",
        _label(ORD, "customer_external_id"),
        TEXT,
        _field("customer__external_id"),
        ("customer__external_id",),
    ),
    Column(
        "customer_name",
        _label(ORD, "customer_full_name"),
        TEXT,
        _order_customer_name,
        ("customer_id", *ORDER_CUSTOMER_NAME_FIELDS),
    ),
    Column(
        "customer_email",
        _label(ORD, "customer_email"),
        TEXT,
        _field("customer__primary_email"),
        ("customer__primary_email",),
    ),
    Column(
        "customer_phone",
        _label(ORD, "customer_phone"),
        PHONE,
        _field("customer__primary_phone"),
        ("customer__primary_phone",),
    ),
    Column("items", _("Items"), TEXT, _items, needs="items"),
    Column("manager", _("Manager"), TEXT, _field("manager__username"), ("manager__username",)),
)

COLUMNS: dict[str, tuple[Column, ...]] = {
    ImportKind.CUSTOMERS: CUSTOMER_COLUMNS,
    ImportKind.ORDERS: ORDER_COLUMNS,
}


def columns_for(kind: str) -> dict[str, Column]:
    return {c.key: c for c in COLUMNS[kind]}


def default_columns(kind: str) -> list[str]:
    return [c.key for c in COLUMNS[kind] if c.default]


class ExportError(ValueError):
    """A request for an export that cannot be made (unknown columns, kind or format)."""


def resolve_columns(kind: str, keys: Iterable[str] | None) -> list[Column]:
    """The chosen columns in the order given (the defaults when none)."""
    if kind not in COLUMNS:
        raise ExportError(gettext("Unknown export kind: %(kind)s") % {"kind": kind})
    known = columns_for(kind)
    chosen = [k.strip() for k in (keys or []) if k.strip()] or default_columns(kind)
    unknown = [k for k in chosen if k not in known]
    if unknown:
        raise ExportError(
            gettext("Unknown columns: %(unknown)s. Known: %(known)s.")
            % {"unknown": ", ".join(unknown), "known": ", ".join(known)}
        )
    return [known[k] for k in dict.fromkeys(chosen)]


# ---------------------------------------------------------------- related rows, per batch


def _owned_by(ids: list[int], field: str = "customer_id") -> Q:
    """The batch's ids (ascending) as a condition on a related table's foreign key.

    A dense batch (a whole base, a broad filter) becomes an index range: no thousands of
    parameters to prepare and bind, and rows of customers left out between them are simply not
    looked up. A sparse batch (a small segment spread over the base) stays an IN list.
    """
    if ids[-1] - ids[0] < 2 * len(ids):
        return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})
    return Q(**{f"{field}__in": ids})


def _customer_phones(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = CustomerPhone.objects.filter(_owned_by(ids)).order_by("customer_id", "-is_primary", "id")
    for customer_id, number in rows.values_list("customer_id", "number"):
        found.setdefault(customer_id, []).append(number)
    return found


def _customer_emails(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = CustomerEmail.objects.filter(_owned_by(ids)).order_by("customer_id", "-is_primary", "id")
    for customer_id, address in rows.values_list("customer_id", "address"):
        found.setdefault(customer_id, []).append(address)
    return found


def _customer_addresses(ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """The default address of each customer (the first one when none is marked default)."""
    found: dict[int, tuple[str, str, str]] = {}
    rows = Address.objects.filter(_owned_by(ids)).order_by("customer_id", "-is_default", "id")
    for customer_id, *parts in rows.values_list("customer_id", "postal_code", "region", "line"):
        found.setdefault(customer_id, (parts[0], parts[1], parts[2]))
    return found


def _customer_consents(ids: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    rows = Consent.objects.filter(_owned_by(ids))
    for customer_id, channel, state in rows.values_list("customer_id", "channel", "state"):
        found.setdefault(customer_id, {})[channel] = state
    return found


def _customer_tags(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    through = Customer.tags.through.objects.filter(_owned_by(ids))
    for customer_id, name in through.order_by("customer_id", "tag__name").values_list(
        "customer_id", "tag__name"
    ):
        found.setdefault(customer_id, []).append(name)
    return found


def _order_items(ids: list[int]) -> dict[int, list[tuple[str, Decimal]]]:
    found: dict[int, list[tuple[str, Decimal]]] = {}
    rows = OrderItem.objects.filter(_owned_by(ids, "order_id")).order_by("order_id", "id")
    for order_id, name, quantity in rows.values_list("order_id", "name", "quantity"):
        found.setdefault(order_id, []).append((name, quantity))
    return found


RELATED_LOADERS: dict[str, Callable[[list[int]], Mapping[int, Any]]] = {
    "phones": _customer_phones,
    "emails": _customer_emails,
    "address": _customer_addresses,
    "consents": _customer_consents,
    "tags": _customer_tags,
    "items": _order_items,
}


def export_rows(
    queryset: QuerySet[Any], columns: Sequence[Column], *, batch_size: int = BATCH
) -> Iterator[list[Any]]:
    """Each row's values (Python types) in id order, a batch of rows per query.

    A keyset over the primary key, never OFFSET: every batch is an index range whatever its
    position. Per batch: one query for the rows plus one per related loader the columns need.
    """
    fields = list(dict.fromkeys(["id", *(f for c in columns for f in c.fields)]))
    loaders = list(dict.fromkeys(c.needs for c in columns if c.needs))
    getters = [c.get for c in columns]
    base = queryset.order_by("pk")
    last = 0
    while True:
        batch = list(base.filter(pk__gt=last).values(*fields)[:batch_size])
        if not batch:
            return
        ids = [row["id"] for row in batch]
        related = {name: RELATED_LOADERS[name](ids) for name in loaders}
        for row in batch:
            yield [get(row, related) for get in getters]
        last = ids[-1]
        if len(batch) < batch_size:
            return


# ---------------------------------------------------------------- cells


def _local(moment: dt.datetime) -> dt.datetime:
    # Whole seconds, as the CSV writes them: both formats hold the same moment.
    return timezone.localtime(moment).replace(tzinfo=None, microsecond=0)


def _csv_cell(kind: str) -> Callable[[Any], str]:
    """Value -> CSV text, by kind. Numbers use a point: the file is for machines as much as
    for people, and the import reads it back in any language."""
    if kind in (TEXT, CODE, PHONE):
        # A phone "+7..." is a formula start too: the apostrophe also keeps it text in Excel.
        return neutralise
    if kind == DATETIME:
        return lambda v: _local(v).isoformat(sep=" ", timespec="seconds") if v else ""
    if kind == DATE:
        return lambda v: v.isoformat() if v else ""
    if kind == BOOL:
        return lambda v: "" if v is None else ("yes" if v else "no")
    return lambda v: "" if v is None else str(v)  # ID, INT, MONEY


def _header(columns: Sequence[Column]) -> list[str]:
    return [str(c.label) for c in columns]


def csv_chunks(
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    delimiter: str = ";",
    chunk_rows: int = 500,
    counter: list[int] | None = None,
) -> Iterator[str]:
    """The CSV text in chunks: a BOM and the header, then `chunk_rows` rows at a time.

    The BOM makes Excel read UTF-8; the semicolon is the list separator of Russian Excel, which
    would put a comma-separated file in one column.
    """
    converters = [_csv_cell(c.kind) for c in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(_header(columns))
    yield "\ufeff" + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow([convert(v) for convert, v in zip(converters, row, strict=True)])
        pending += 1
        if counter is not None:
            counter[0] += 1
        if pending == chunk_rows:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


Progress = Callable[[int], None]


def write_csv(
    target: IO[str],
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    delimiter: str = ";",
    progress: Progress | None = None,
) -> int:
    counter = [0]
    last_report = 0
    for chunk in csv_chunks(rows, columns, delimiter=delimiter, counter=counter):
        target.write(chunk)
        if progress is not None and counter[0] - last_report >= BATCH:
            last_report = counter[0]
            progress(counter[0])
    return counter[0]


def write_xlsx(
    target: str | IO[bytes],
    rows: Iterable[list[Any]],
    columns: Sequence[Column],
    *,
    sheet_name: str = "",
    progress: Progress | None = None,
) -> int:
    """An XLSX workbook in constant memory: each row goes to disk once the next one starts.

    Phones, ids and every text are string cells (a spreadsheet never turns them into numbers or
    formulas); dates are date cells; counts and money are numbers. A sheet holds 1,048,575 rows
    under its header; more continue on a next sheet.
    """
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        target, {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False}
    )
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    money_format = workbook.add_format({"num_format": "0.00"})
    header = _header(columns)
    base_name = (sheet_name or "export")[:25]
    kinds = [c.kind for c in columns]
    count = 0
    sheet_number = 0

    def new_sheet() -> Any:
        nonlocal sheet_number
        sheet_number += 1
        name = base_name if sheet_number == 1 else f"{base_name} ({sheet_number})"
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, header, bold)
        sheet.freeze_panes(1, 0)
        return sheet

    sheet = new_sheet()
    row_index = 0
    for values in rows:
        row_index += 1
        if row_index == XLSX_SHEET_ROWS:
            sheet = new_sheet()
            row_index = 1
        write_string = sheet.write_string
        for col, (kind, value) in enumerate(zip(kinds, values, strict=True)):
            if value is None or value == "":
                continue
            if kind in (TEXT, CODE):
                write_string(row_index, col, neutralise(value)[:XLSX_CELL_MAX])
            elif kind in (PHONE, ID):
                write_string(row_index, col, str(value))
            elif kind == INT:
                sheet.write_number(row_index, col, value)
            elif kind == MONEY:
                sheet.write_number(row_index, col, float(value), money_format)
            elif kind == DATE:
                sheet.write_datetime(row_index, col, value, date_format)
            elif kind == DATETIME:
                sheet.write_datetime(row_index, col, _local(value), datetime_format)
            elif kind == BOOL:
                write_string(row_index, col, "yes" if value else "no")
        count += 1
        if progress is not None and count % BATCH == 0:
            progress(count)
    workbook.close()
    return count


# ---------------------------------------------------------------- what is exported


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the kind, the filter as stored on a job, and a segment if any.

    `filters` for customers: the list page's query parameters (`q`, `tag`, `city`, ...), or
    {"query": "<segment language>"}; for orders: `status`, `manager`, `from`, `to`, `customer`.
    """

    kind: str
    filters: Mapping[str, Any]
    segment_id: int | None = None


class OrderFilterError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


ORDER_FILTER_KEYS = ("status", "manager", "from", "to", "customer")


def parse_order_filter(text: str) -> dict[str, str]:
    """`status=delivered,from=2026-01-01,to=2026-03-31,customer=42,manager=ivanov` -> a dict."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or key not in ORDER_FILTER_KEYS or not value:
            raise OrderFilterError(
                gettext("Not understood: “%(part)s”; use key=value with keys %(keys)s.")
                % {"part": part, "keys": ", ".join(ORDER_FILTER_KEYS)}
            )
        found[key] = value
    _order_filter_q(found)  # validates
    return found


def _local_midnight(text: str, key: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise OrderFilterError(
            gettext("%(key)s: not a date (YYYY-MM-DD): %(value)s") % {"key": key, "value": text}
        ) from exc
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _order_filter_q(filters: Mapping[str, Any]) -> Q:
    from clientbase.accounts.models import User
    from clientbase.orders.selectors import NO_MANAGER, OPEN

    condition = Q()
    status = str(filters.get("status") or "")
    if status == OPEN:
        condition &= Q(status__in=OPEN_STATUSES)
    elif status:
        if status not in OrderStatus.values:
            raise OrderFilterError(
                gettext("Unknown order status “%(status)s”; use open or one of: %(known)s.")
                % {"status": status, "known": ", ".join(OrderStatus.values)}
            )
        condition &= Q(status=status)
    manager = str(filters.get("manager") or "")
    if manager == NO_MANAGER:
        condition &= Q(manager__isnull=True)
    elif manager.isdigit():
        condition &= Q(manager_id=int(manager))
    elif manager:
        user_id = User.objects.filter(username=manager).values_list("pk", flat=True).first()
        if user_id is None:
            raise OrderFilterError(gettext("No staff user “%(name)s”.") % {"name": manager})
        condition &= Q(manager_id=user_id)
    if filters.get("from"):
        condition &= Q(placed_at__gte=_local_midnight(str(filters["from"]), "from"))
    if filters.get("to"):
        end = _local_midnight(str(filters["to"]), "to") + dt.timedelta(days=1)
        condition &= Q(placed_at__lt=end)
    customer = str(filters.get("customer") or "")
    if customer:
        if not customer.isdigit():
            raise OrderFilterError(
                gettext("customer: a customer's clientbase id (a number): %(value)s")
                % {"value": customer}
            )
        condition &= Q(customer_id=int(customer))
    return condition


def _list_params(filters: Mapping[str, Any]) -> Any:
    from clientbase.customers.filtersets import CustomerFilterSet

    data = QueryDict(mutable=True)
    for key, value in filters.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    return CustomerFilterSet(data).params()


def export_queryset(request: ExportRequest) -> QuerySet[Any]:
    """The rows an export request names. SegmentQueryError / OrderFilterError when invalid."""
    if request.kind == ImportKind.ORDERS:
        return Order.objects.filter(_order_filter_q(request.filters))
    if request.kind != ImportKind.CUSTOMERS:
        raise ExportError(gettext("Unknown export kind: %(kind)s") % {"kind": request.kind})
    from clientbase.customers.selectors import customer_list
    from clientbase.segments.models import Segment
    from clientbase.segments.selectors import segment_members, segment_queryset

    if request.segment_id is not None:
        segment = Segment.objects.get(pk=request.segment_id)
        return segment_members(segment)
    query = request.filters.get("query")
    if query:
        return segment_queryset(str(query))
    return customer_list(_list_params(request.filters))


def count_up_to(queryset: QuerySet[Any], limit: int) -> int:
    """How many rows, counting no further than limit + 1 (cheap on a million)."""
    return queryset.order_by().values("pk")[: limit + 1].count()


def filters_for_audit(request: ExportRequest) -> dict[str, Any]:
    """The filter as the audit log keeps it: no phone or e-mail a search was made with."""
    if request.kind != ImportKind.CUSTOMERS or "query" in request.filters:
        return dict(request.filters)
    from clientbase.customers.selectors import CONTACT_KINDS, interpret_query

    params = _list_params(request.filters)
    kept: dict[str, Any] = dict(params.filters())
    query = interpret_query(params.q)
    if query is not None:
        kept["query_kind"] = query.kind
        if query.kind not in CONTACT_KINDS:
            kept["q"] = query.value
    return kept


def export_audit(
    *,
    actor: Any,
    request: ExportRequest,
    file_format: str,
    columns: Sequence[Column],
    rows: int,
    via: str,
    job: ExportJob | None = None,
) -> None:
    """One audit row per export: who, what, which filter or segment, columns, how many rows.

    Never the rows themselves.
    """
    extra: dict[str, Any] = {
        "kind": request.kind,
        "format": file_format,
        "columns": [c.key for c in columns],
        "rows": rows,
        "filters": filters_for_audit(request),
        "via": via,
    }
    if job is not None:
        extra["job"] = job.pk
    segment = None
    if request.segment_id is not None:
        from clientbase.segments.models import Segment

        segment = Segment.objects.filter(pk=request.segment_id).first()
        extra["segment"] = request.segment_id
        if segment is not None:
            extra["query"] = segment.query
    object_type = "customers.customer" if request.kind == ImportKind.CUSTOMERS else "orders.order"
    if segment is not None:
        audit.record(action=AuditAction.EXPORT, actor=actor, obj=segment, extra=extra)
    else:
        audit.record(action=AuditAction.EXPORT, actor=actor, object_type=object_type, extra=extra)


# ---------------------------------------------------------------- files and jobs


def exports_dir() -> Path:
    path = Path(settings.DATA_DIR) / EXPORT_SUBDIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_write(
    *,
    request: ExportRequest,
    columns: Sequence[Column],
    file_format: str,
    target: Path,
    progress: Progress | None = None,
) -> int:
    """Write the export to a file (through a temporary name, so a half file never shows)."""
    if file_format not in ExportFormat.values:
        raise ExportError(gettext("Unknown format: %(format)s") % {"format": file_format})
    rows = export_rows(export_queryset(request), columns)
    partial = target.with_name(target.name + ".part")
    if file_format == ExportFormat.XLSX:
        count = write_xlsx(
            str(partial),
            rows,
            columns,
            sheet_name=_sheet_name(request.kind),
            progress=progress,
        )
    else:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            count = write_csv(handle, rows, columns, progress=progress)
    os.replace(partial, target)
    return count


def _sheet_name(kind: str) -> str:
    return str(ImportKind(kind).label)


def export_xlsx_tempfile(
    request: ExportRequest, columns: Sequence[Column]
) -> tuple[IO[bytes], int]:
    """A small export as XLSX in an anonymous temporary file, rewound, for a direct download."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed over to the response, which closes it
    rows = export_rows(export_queryset(request), columns)
    count = write_xlsx(handle, rows, columns, sheet_name=_sheet_name(request.kind))
    handle.seek(0)
    return handle, count


def export_csv_stream(
    request: ExportRequest, columns: Sequence[Column], *, delimiter: str = ";"
) -> Iterator[str]:
    return csv_chunks(export_rows(export_queryset(request), columns), columns, delimiter=delimiter)


def export_filename(kind: str, file_format: str, *, suffix: str = "") -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"{kind}{'-' + suffix if suffix else ''}-{stamp}.{file_format}"


def export_job_create(
    *,
    actor: Any,
    request: ExportRequest,
    columns: Sequence[Column],
    file_format: str,
) -> ExportJob:
    """Queue a big export for the worker; it starts once this transaction commits."""
    job = ExportJob.objects.create(
        kind=request.kind,
        file_format=file_format,
        created_by=audit.staff_actor(actor),
        filters=dict(request.filters),
        segment_id=request.segment_id,
        columns=[c.key for c in columns],
    )
    from clientbase.imports.tasks import export_run

    transaction.on_commit(lambda: export_run(job.pk))
    return job


def _job_progress(job_id: int, rows: int) -> None:
    ExportJob.objects.filter(pk=job_id).update(rows=rows)


def export_job_run(job_id: int) -> ExportJob | None:
    """Run a queued export job to its file. Safe to run twice: a finished job is left alone,
    a job that died while running starts again from the top (the file is written whole)."""
    job = ExportJob.objects.filter(pk=job_id).select_related("created_by").first()
    if job is None or job.status == ExportStatus.DONE:
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, rows=0, failure="")
    request = ExportRequest(kind=job.kind, filters=job.filters, segment_id=job.segment_id)
    target = exports_dir() / f"export-{job.pk}-{export_filename(job.kind, job.file_format)}"
    started = time.monotonic()
    try:
        columns = resolve_columns(job.kind, job.columns)
        rows = export_write(
            request=request,
            columns=columns,
            file_format=job.file_format,
            target=target,
            progress=lambda n: _job_progress(job.pk, n),
        )
    except Exception as exc:
        # Recorded on the job for its page, then raised again for the worker's log.
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED,
            failure=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        logger.exception("export job %s failed", job.pk)
        raise
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.DONE,
            rows=rows,
            file_path=str(target.relative_to(Path(settings.DATA_DIR))),
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        export_audit(
            actor=job.created_by,
            request=request,
            file_format=job.file_format,
            columns=columns,
            rows=rows,
            via="job",
            job=job,
        )
    logger.info("export job %s done: %d rows in %.1f s", job.pk, rows, time.monotonic() - started)
    return job


def export_job_file(job: ExportJob) -> Path | None:
    """The job's file when it is done and still kept; None otherwise."""
    if job.status != ExportStatus.DONE or not job.file_path:
        return None
    root = Path(settings.DATA_DIR).resolve()
    path = (root / job.file_path).resolve()
    # The stored path is ours, but a path outside the data directory is never served.
    if root not in path.parents or not path.is_file():
        return None
    return path


def export_files_prune(*, keep_days: int = KEEP_DAYS, now: float | None = None) -> int:
    """Delete export files older than keep_days and forget them on their jobs."""
    cutoff = (now if now is not None else time.time()) - keep_days * 86400
    removed = 0
    directory = exports_dir()
    for path in directory.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
            relative = str(path.relative_to(Path(settings.DATA_DIR)))
            ExportJob.objects.filter(file_path=relative).update(file_path="")
    return removed
