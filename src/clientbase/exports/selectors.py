"""Reads of exports: which rows a request names (list filter, segment, order filter), read
in keyset batches of plain values with their related rows loaded once per batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext

from clientbase.customers.models import Address, Consent, Customer, CustomerEmail, CustomerPhone
from clientbase.exports.choices import ExportKind
from clientbase.exports.columns import Column, ExportError
from clientbase.orders.choices import OPEN_STATUSES, OrderStatus
from clientbase.orders.models import Order, OrderItem

# Rows read per query: big enough that the per-query cost vanishes, small enough that a batch
# of plain tuples stays a few megabytes.
BATCH = 2000


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


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the kind, the filter as stored on a job, and a segment if any.

    `filters` for customers: the list page's query parameters (`q`, `tag`, `city`, ...), or
    {"query": "<segment language>"}; for orders: `status`, `manager`, `from`, `to`, `customer`.
    """

    kind: str
    filters: Mapping[str, Any]
    segment_id: int | None = None


class ExportFilterError(ExportError):
    """An export asked for with a filter that is not valid: refused, never run without it
    (dropping the filter would write the whole base)."""

    code = "invalid_filter"


class OrderFilterError(ExportFilterError):
    pass


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

    unknown = [key for key in filters if key not in ORDER_FILTER_KEYS]
    if unknown:
        raise OrderFilterError(
            gettext("Unknown order filter: %(unknown)s; known: %(keys)s.")
            % {"unknown": ", ".join(unknown), "keys": ", ".join(ORDER_FILTER_KEYS)}
        )
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
    """The customer list's filter, validated by the list's own filterset.

    ExportFilterError when a value is not valid (`city` too long, `kind=robot`, a tag that does
    not exist, `birth_month=13`, ...) or a key is not a filter at all: the list may show the
    problem and go on, an export must not write more than was asked for.
    """
    from clientbase.customers.filtersets import CustomerFilterSet

    data = QueryDict(mutable=True)
    for key, value in filters.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    filterset = CustomerFilterSet(data)
    unknown = [key for key in filters if key not in filterset.fields and key != "query"]
    if unknown or not filterset.is_valid():
        problems = [
            f"{filterset.fields[name].label}: {' '.join(str(m) for m in messages)}"
            for name, messages in filterset.errors.items()
            if name in filterset.fields
        ]
        problems += [gettext("unknown filter “%(key)s”") % {"key": key} for key in unknown]
        raise ExportFilterError(
            gettext("Nothing was exported: the filter is not valid (%(problems)s).")
            % {"problems": "; ".join(problems)}
        )
    return filterset.params()


def export_queryset(request: ExportRequest) -> QuerySet[Any]:
    """The rows an export request names. SegmentQueryError / ExportFilterError when invalid."""
    if request.kind == ExportKind.ORDERS:
        return Order.objects.filter(_order_filter_q(request.filters))
    if request.kind != ExportKind.CUSTOMERS:
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
    if request.kind != ExportKind.CUSTOMERS or "query" in request.filters:
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
