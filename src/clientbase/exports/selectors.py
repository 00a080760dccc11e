"""Reads of exports: which rows a request names (list filter, segment, order filter), read
in keyset batches of plain values with their related rows loaded once per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext

from clientbase.core.forms import labelled_errors
from clientbase.customers.models import Address, Consent, Customer, CustomerEmail, CustomerPhone
from clientbase.exports.choices import ExportKind
from clientbase.exports.columns import Column, ExportError
from clientbase.orders.models import OrderItem
from clientbase.orders.selectors import NO_MANAGER, OrderListParams, order_list

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
    {"query": "<segment language>"}; for orders: the order list's (`q`, `status`, `manager`,
    `from`, `to`, `customer`).
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


# What `clientbase export orders --filter` takes: the order list's filters (docs/import-export.md).
ORDER_FILTER_KEYS = ("q", "status", "manager", "from", "to", "customer")


def parse_order_filter(text: str) -> dict[str, str]:
    """`status=delivered,from=2026-01-01,to=2026-03-31,customer=42,manager=ivanov` -> a dict.

    A manager may be named by user name here (the list's query string has the id): it becomes
    the id, so the list's own filter validates and applies it.
    """
    from clientbase.accounts.models import User

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
    manager = found.get("manager", "")
    if manager and not manager.isdigit() and manager != NO_MANAGER:
        user_id = User.objects.filter(username=manager).values_list("pk", flat=True).first()
        if user_id is None:
            raise OrderFilterError(gettext("No staff user “%(name)s”.") % {"name": manager})
        found["manager"] = str(user_id)
    _order_params(found)  # validates
    return found


def _query_dict(filters: Mapping[str, Any]) -> QueryDict:
    """A filter as a job keeps it (lists for repeated keys) -> the query string it came from."""
    data = QueryDict(mutable=True)
    for key, value in filters.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    return data


def _refused(
    problems: list[str], unknown: list[str], error: type[ExportFilterError] = ExportFilterError
) -> ExportFilterError:
    problems = problems + [gettext("unknown filter “%(key)s”") % {"key": key} for key in unknown]
    return error(
        gettext("Nothing was exported: the filter is not valid (%(problems)s).")
        % {"problems": "; ".join(problems)}
    )


def _order_params(filters: Mapping[str, Any]) -> OrderListParams:
    """The order list's filter, validated by the list's own form, as the list's parameters.

    The export then reads exactly the orders the list shows (search, status, manager, dates,
    customer); OrderFilterError when a value is not valid or a key is not one of the list's
    filters (the list's sort is not a filter: the export writes in id order).
    """
    from clientbase.orders.forms import OrderFilterForm

    form = OrderFilterForm(_query_dict(filters))
    unknown = [key for key in filters if key not in form.fields or key == "sort"]
    if unknown or not form.is_valid():
        raise _refused(labelled_errors(form), unknown, OrderFilterError)
    return form.params()


def _list_params(filters: Mapping[str, Any]) -> Any:
    """The customer list's filter, validated by the list's own filterset.

    ExportFilterError when a value is not valid (`city` too long, `kind=robot`, a tag that does
    not exist, `birth_month=13`, ...) or a key is not a filter at all: the list may show the
    problem and go on, an export must not write more than was asked for.
    """
    from clientbase.customers.filtersets import CustomerFilterSet

    filterset = CustomerFilterSet(_query_dict(filters))
    unknown = [key for key in filters if key not in filterset.fields and key != "query"]
    if unknown or not filterset.is_valid():
        raise _refused(labelled_errors(filterset), unknown)
    return filterset.params()


def export_queryset(request: ExportRequest) -> QuerySet[Any]:
    """The rows an export request names. SegmentQueryError / ExportFilterError when invalid."""
    if request.kind == ExportKind.ORDERS:
        return order_list(_order_params(request.filters))
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


def _search_for_audit(q: str) -> dict[str, str]:
    """A search as the audit log keeps it: its kind, and the text unless it is a contact."""
    from clientbase.customers.selectors import CONTACT_KINDS, interpret_query

    query = interpret_query(q)
    if query is None:
        return {}
    kept = {"query_kind": str(query.kind)}
    if query.kind not in CONTACT_KINDS:
        kept["q"] = query.value
    return kept


def filters_for_audit(request: ExportRequest) -> dict[str, Any]:
    """The filter as the audit log keeps it: no phone or e-mail a search was made with."""
    if request.kind == ExportKind.ORDERS:
        kept = {key: value for key, value in request.filters.items() if key != "q"}
        return kept | _search_for_audit(str(request.filters.get("q") or ""))
    if "query" in request.filters:
        return dict(request.filters)
    params = _list_params(request.filters)
    return dict(params.filters()) | _search_for_audit(params.q)
