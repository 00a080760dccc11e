"""Reads of the orders app: order lists and pages, purchase history, preferences, manager load,
the caller lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core.pagination import Page, keyset_page
from clientbase.customers.models import Customer, CustomerPhone
from clientbase.customers.normalize import try_normalize_phone
from clientbase.orders.choices import OPEN_STATUSES, OrderStatus
from clientbase.orders.models import CustomerStats, Order, OrderItem

PAGE_SIZE = 50
ORDER_SORT = ("-placed_at", "-id")  # covered by the (customer|manager, status, -placed_at) indexes
OPEN = "open"
NO_MANAGER = "none"
HISTORY_LIMIT = 20
PREFERENCES_LIMIT = 5


@dataclass(frozen=True)
class OrderListParams:
    status: str = ""  # OPEN, a status value, or "" for all
    manager: str = ""  # a user id, NO_MANAGER, or "" for any


def order_list(params: OrderListParams) -> QuerySet[Order]:
    """Orders matching the filters, with what a list row shows, unordered (the pager orders)."""
    queryset = Order.objects.select_related("customer", "manager")
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
    """One page of orders, newest first: an index range, never a COUNT."""
    return keyset_page(order_list(params), order=ORDER_SORT, size=size, after=after, before=before)


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
        .select_related("manager")
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
