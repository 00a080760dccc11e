"""The columns of customer and order exports: what each holds, its header and its value kind.

A column's header is the import field's label where one exists (core.file_fields), so an
exported file is recognised when imported again. docs/import-export.md documents the columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.choices import Importance, RfmSegment
from clientbase.core.errors import DomainError
from clientbase.core.file_fields import fields_for
from clientbase.customers.choices import (
    ConsentState,
    CustomerKind,
    CustomerStatus,
    Gender,
    SourceChannel,
)
from clientbase.exports.choices import ExportKind
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod

# Value kinds of export columns: how a value becomes a CSV text and an XLSX cell.
TEXT = "text"  # free text typed by people or shops: neutralised
CODE = "code"  # a stored choice value ("person", "delivered"), or its label (resolve_columns)
ID = "id"  # a number that names something: a string cell, never a number
PHONE = "phone"  # E.164; a string cell in XLSX, a quote-prefixed text in CSV
INT = "int"
MONEY = "money"
DATE = "date"
BIRTHDAY = "birthday"  # a date, or the text of a day and month without a year (YEARLESS_*)
DATETIME = "datetime"  # in the shop's time zone (TIME_ZONE)
BOOL = "bool"  # "yes" / "no"; empty when unknown


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
    # A CODE column's choices: the label written instead of the code unless codes are asked.
    choices: type[models.Choices] | None = None
    # What the column writes in words when that is not just its choices' labels.
    get_words: Getter | None = None


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


# A birthday without a year (an import of "08/24" keeps its month and day only): with codes
# as ISO 8601 writes it, "--08-24" (vCard's form too); in words "24.08", as Russians write a
# day of the year, in every language like the dates beside it. The import reads both back.
YEARLESS_CODES = "--{month:02d}-{day:02d}"
YEARLESS_WORDS = "{day:02d}.{month:02d}"


def _birthday(yearless: str) -> Getter:
    def get(row: Mapping[str, Any], related: Related) -> dt.date | str | None:
        if row["birthday"] is not None:
            return row["birthday"]
        if row["birth_month"] and row["birth_day"]:
            return yearless.format(month=row["birth_month"], day=row["birth_day"])
        return None

    return get


def _or_zero(name: str) -> Getter:
    # No statistics row means no orders yet: 0, as the card shows.
    return lambda row, related: row[name] or 0


def _importance(row: Mapping[str, Any], related: Related) -> str:
    value = row["score__importance"]
    return str(Importance(value).label) if value else ""


NAME_FIELDS = ("kind", "company_name", "last_name", "first_name", "middle_name")
CUS = ExportKind.CUSTOMERS
CUSTOMER_COLUMNS: tuple[Column, ...] = (
    Column("id", _("clientbase id"), ID, _field("id"), default=False),
    Column(
        "external_id", _label(CUS, "external_id"), TEXT, _field("external_id"), ("external_id",)
    ),
    Column("kind", _label(CUS, "kind"), CODE, _field("kind"), ("kind",), choices=CustomerKind),
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
    Column("gender", _label(CUS, "gender"), CODE, _field("gender"), ("gender",), choices=Gender),
    Column(
        "birthday",
        _label(CUS, "birthday"),
        BIRTHDAY,
        _birthday(YEARLESS_CODES),
        ("birthday", "birth_month", "birth_day"),
        get_words=_birthday(YEARLESS_WORDS),
    ),
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
    Column("status", _("Status"), CODE, _field("status"), ("status",), choices=CustomerStatus),
    Column("manager", _("Manager"), TEXT, _field("manager__username"), ("manager__username",)),
    Column("vip", _label(CUS, "vip"), BOOL, _field("vip"), ("vip",)),
    Column(
        "source",
        _("Source"),
        CODE,
        _field("source"),
        ("source",),
        default=False,
        choices=SourceChannel,
    ),
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
        choices=RfmSegment,
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


ORD = ExportKind.ORDERS
ORDER_CUSTOMER_NAME_FIELDS = tuple(f"customer__{n}" for n in NAME_FIELDS)
ORDER_COLUMNS: tuple[Column, ...] = (
    Column("id", _("clientbase id"), ID, _field("id"), default=False),
    Column("order_id", _label(ORD, "order_id"), TEXT, _field("external_id"), ("external_id",)),
    Column(
        "source",
        _("Source"),
        CODE,
        _field("source"),
        ("source",),
        default=False,
        choices=OrderSource,
    ),
    Column("placed_at", _label(ORD, "placed_at"), DATETIME, _field("placed_at"), ("placed_at",)),
    Column(
        "status", _label(ORD, "status"), CODE, _field("status"), ("status",), choices=OrderStatus
    ),
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
        choices=PaymentMethod,
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
    ExportKind.CUSTOMERS: CUSTOMER_COLUMNS,
    ExportKind.ORDERS: ORDER_COLUMNS,
}


def columns_for(kind: str) -> dict[str, Column]:
    return {c.key: c for c in COLUMNS[kind]}


def default_columns(kind: str) -> list[str]:
    return [c.key for c in COLUMNS[kind] if c.default]


class ExportError(DomainError):
    """A request for an export that cannot be made (unknown columns, kind or format, a filter
    that is not valid)."""

    code = "export_invalid"


def resolve_columns(kind: str, keys: Iterable[str] | None, *, codes: bool = False) -> list[Column]:
    """The chosen columns in the order given (the defaults when none).

    By default choices and yes/no are written as labels in the active language ("Физическое
    лицо", "Наложенный платёж", "да"), for people; with `codes` as stored ("person", "cod",
    "yes"), the same in every language, for other programs. The import reads both.
    """
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
    columns = [known[k] for k in dict.fromkeys(chosen)]
    return columns if codes else [_with_labels(c) for c in columns]


def _with_labels(column: Column) -> Column:
    """The column writing labels in the active language instead of codes (or yes/no)."""
    if column.get_words is not None:
        return replace(column, get=column.get_words)
    get = column.get
    if column.choices is not None:
        # An empty code (gender not stated) stays empty, as it does with codes.
        labels = {value: str(label) for value, label in column.choices.choices if value}

        def get_label(row: Mapping[str, Any], related: Related) -> Any:
            value = get(row, related)
            return labels.get(value, value)

        return replace(column, kind=TEXT, get=get_label)
    if column.kind == BOOL:
        yes, no = gettext("yes"), gettext("no")

        def get_yes_no(row: Mapping[str, Any], related: Related) -> str:
            value = get(row, related)
            return "" if value is None else (yes if value else no)

        return replace(column, kind=TEXT, get=get_yes_no)
    return column
