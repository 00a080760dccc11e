"""Reads of the orders app: order lists and pages, purchase history, preferences, manager load,
the caller lookup."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.analytics.choices import Importance
from clientbase.core.pagination import Page, keyset_page
from clientbase.customers.models import Customer, CustomerPhone
from clientbase.customers.normalize import try_normalize_phone
from clientbase.customers.selectors import CustomerListParams, customer_list
from clientbase.orders.choices import OPEN_STATUSES, OrderSource, OrderStatus
from clientbase.orders.models import CustomerStats, Order, OrderItem

PAGE_SIZE = 50
ORDER_SORT = ("-placed_at", "-id")  # covered by the (customer|manager, status, -placed_at) indexes
OPEN = "open"
NEWEST = ""
BY_IMPORTANCE = "importance"
NO_MANAGER = "none"
HISTORY_LIMIT = 20
PREFERENCES_LIMIT = 5


@dataclass(frozen=True)
class OrderListParams:
    q: str = ""  # an order number, or what finds customers: name, phone in any format, e-mail
    status: str = ""  # OPEN, a status value, or "" for all
    manager: str = ""  # a user id, NO_MANAGER, or "" for any
    placed_from: datetime.date | None = None  # days in the shop's time zone, both included
    placed_to: datetime.date | None = None
    customer: int | None = None  # one customer's orders (`?customer=<id>`)
    sort: str = NEWEST  # NEWEST or BY_IMPORTANCE


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def order_search(text: str) -> Q:
    """Orders with this number (any source), or of the customers the customer search finds
    for the text (name, phone in any format, e-mail), so both lists search alike."""
    number = text.strip().lstrip("№#").strip()
    # source IN (all sources) lets the (source, external_id) unique index serve the lookup.
    by_number = Q(source__in=OrderSource.values, external_id=number)
    customers = customer_list(CustomerListParams(q=text)).values("pk")
    return by_number | Q(customer_id__in=customers)


def order_list(params: OrderListParams) -> QuerySet[Order]:
    """Orders matching the filters, with what a list row shows, unordered (the pager orders)."""
    queryset = Order.objects.select_related("customer__score", "manager")
    if params.q:
        queryset = queryset.filter(order_search(params.q))
    if params.customer is not None:
        queryset = queryset.filter(customer_id=params.customer)
    if params.placed_from:
        queryset = queryset.filter(placed_at__gte=_local_midnight(params.placed_from))
    if params.placed_to:
        end = _local_midnight(params.placed_to + datetime.timedelta(days=1))
        queryset = queryset.filter(placed_at__lt=end)
    if params.status == OPEN:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif params.status in OrderStatus.values:
        queryset = queryset.filter(status=params.status)
    if params.manager == NO_MANAGER:
        queryset = queryset.filter(manager__isnull=True)
    elif params.manager.isdigit():
        queryset = queryset.filter(manager_id=int(params.manager))
    return queryset


def order_page(
    params: OrderListParams, *, after: str = "", before: str = "", size: int = PAGE_SIZE
) -> Page[Order]:
    """One page of orders, newest first (an index range) or by importance; never a COUNT."""
    if params.sort == BY_IMPORTANCE:
        return _importance_page(order_list(params), size=size, after=after, before=before)
    return keyset_page(order_list(params), order=ORDER_SORT, size=size, after=after, before=before)


# By importance: the most important customers first, then the oldest order first (delivery
# priority before holidays), the id breaking ties. Importance lives on the customer's score
# row, so the sort is a three-column keyset over a join (core.pagination's helper takes one
# column plus the id of the same table). A customer not scored yet counts as NORMAL, the
# default of the score row. The join cannot use one index, so each page sorts the filtered
# orders: cheap for the working lists (open orders, one manager), a scan for "all orders".
_RANK = "importance_rank"


def _ranked(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.annotate(
        **{_RANK: Coalesce(F("customer__score__importance"), Value(int(Importance.NORMAL)))}
    )


def _encode_cursor(order: Order) -> str:
    raw = json.dumps([getattr(order, _RANK), order.placed_at.isoformat(), order.pk])
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, datetime.datetime, int] | None:
    """Cursor -> (importance, placed_at, id), or None for anything malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, placed_at, pk = json.loads(raw)
        when = datetime.datetime.fromisoformat(placed_at)
        if not isinstance(rank, int) or not isinstance(pk, int) or when.tzinfo is None:
            return None
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        # RecursionError: a cursor nested a thousand levels deep (Python's decoder gives up).
        return None
    return rank, when, pk


def _past(cursor: tuple[int, datetime.datetime, int], forward: bool) -> Q:
    """Rows after the cursor in (-importance, placed_at, id) order, or before it."""
    rank, when, pk = cursor
    less, more = ("lt", "gt") if forward else ("gt", "lt")
    return (
        Q(**{f"{_RANK}__{less}": rank})
        | Q(**{_RANK: rank, f"placed_at__{more}": when})
        | Q(**{_RANK: rank, "placed_at": when, f"id__{more}": pk})
    )


def _importance_page(
    queryset: QuerySet[Order], *, size: int, after: str = "", before: str = ""
) -> Page[Order]:
    ranked = _ranked(queryset)
    before_cursor = _decode_cursor(before) if before else None
    after_cursor = _decode_cursor(after) if after and before_cursor is None else None
    if before_cursor is not None:
        rows = list(
            ranked.filter(_past(before_cursor, forward=False)).order_by(_RANK, "-placed_at", "-id")[
                : size + 1
            ]
        )
        page: Page[Order] = Page(
            rows=rows[:size][::-1], has_previous=len(rows) > size, has_next=True
        )
    else:
        filtered = ranked.filter(_past(after_cursor, forward=True)) if after_cursor else ranked
        rows = list(filtered.order_by(f"-{_RANK}", "placed_at", "id")[: size + 1])
        page = Page(rows=rows[:size], has_next=len(rows) > size, has_previous=bool(after_cursor))
    if page.rows:
        page.next_cursor = _encode_cursor(page.rows[-1])
        page.previous_cursor = _encode_cursor(page.rows[0])
    else:
        page.has_next = False
    return page


def order_ids_by_number(number: str) -> list[int]:
    """Ids of the orders with this number: one, or one per source that uses it."""
    return list(
        Order.objects.filter(source__in=OrderSource.values, external_id=number.strip())
        .order_by("id")
        .values_list("pk", flat=True)
    )


def order_detail(order_id: int) -> Order:
    """The order with its customer, manager, items and status history in a fixed number of
    queries."""
    return (
        Order.objects.select_related("customer", "manager")
        .prefetch_related("items", "status_history__actor")
        .get(pk=order_id)
    )


def customer_purchase_history(customer: Customer, limit: int = HISTORY_LIMIT) -> list[Order]:
    """The customer's latest orders with their items (two queries)."""
    return list(
        Order.objects.filter(customer=customer)
        .prefetch_related("items")
        .order_by(*ORDER_SORT)[:limit]
    )


def customer_stats(customer: Customer) -> CustomerStats | None:
    return CustomerStats.objects.filter(customer=customer).first()


def customer_preferences(
    customer: Customer, limit: int = PREFERENCES_LIMIT
) -> list[dict[str, Any]]:
    """What the customer buys most: categories by quantity over non-cancelled orders (one
    aggregate query)."""
    rows = (
        OrderItem.objects.filter(order__customer=customer)
        .exclude(order__status=OrderStatus.CANCELLED)
        .exclude(category="")
        .values("category")
        .annotate(quantity=Sum("quantity"), orders=Count("order", distinct=True))
        .order_by("-quantity", "category")[:limit]
    )
    return [dict(row) for row in rows]


def assignable_managers() -> QuerySet[User]:
    """Who an order may be reassigned to (the same rule as services.orders_reassign)."""
    return User.objects.filter(is_active=True, role__in=[Role.MANAGER, Role.ADMIN]).order_by(
        "username"
    )


def managers_with_load() -> QuerySet[User]:
    """Managers with their open-order count and capacity settings (one aggregate query)."""
    return (
        User.objects.filter(role=Role.MANAGER)
        .select_related("order_capacity")
        .annotate(open_orders=Count("orders", filter=Q(orders__status__in=OPEN_STATUSES)))
        .order_by("-is_active", "username")
    )


@dataclass
class CallerMatch:
    customer: Customer
    stats: CustomerStats | None
    open_orders: list[Order]


def caller_lookup(phone: str) -> tuple[str, list[CallerMatch]]:
    """(normalised number, customers with that number): a phone may be shared by a family."""
    number = try_normalize_phone(phone) if phone.strip() else None
    if not number:
        return "", []
    customer_ids = CustomerPhone.objects.filter(number=number).values("customer_id")
    customers = list(
        Customer.objects.filter(pk__in=customer_ids)
        .select_related("manager", "score")
        .prefetch_related("tags")
        .order_by("id")[:10]
    )
    if not customers:
        return number, []
    stats = {s.customer_id: s for s in CustomerStats.objects.filter(customer__in=customers)}
    open_orders: dict[int, list[Order]] = {c.pk: [] for c in customers}
    for order in (
        Order.objects.filter(customer__in=customers, status__in=OPEN_STATUSES)
        .select_related("manager")
        .order_by(*ORDER_SORT)
    ):
        open_orders[order.customer_id].append(order)
    return number, [CallerMatch(c, stats.get(c.pk), open_orders[c.pk]) for c in customers]
