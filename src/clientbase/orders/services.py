"""Writes of the orders app: upsert an order, change its status, keep customer stats exact,
spread new orders among managers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core import audit, webhooks
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.core.locks import names_lock
from clientbase.customers.choices import CustomerStatus, SourceChannel, StopListReason, TimelineKind
from clientbase.customers.models import Customer, CustomerEmail, CustomerPhone, TimelineEvent
from clientbase.customers.normalize import search_key, try_normalize_email, try_normalize_phone
from clientbase.customers.services import (
    CustomerInput,
    EmailInput,
    PhoneInput,
    customer_create,
)
from clientbase.orders.choices import OPEN_STATUSES, OrderSource, OrderStatus, PaymentMethod
from clientbase.orders.lifecycle import check_transition
from clientbase.orders.models import (
    CustomerCategory,
    CustomerStats,
    ManagerCapacity,
    Order,
    OrderItem,
    OrderStatusChange,
)

DEFAULT_CAPACITY = 50
ORDER_EXISTS = "order_exists"
ZERO = Decimal("0")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ItemInput:
    name: str
    sku: str = ""
    category: str = ""
    quantity: Decimal = Decimal("1")
    price: Decimal = ZERO


@dataclass(frozen=True)
class CustomerRef:
    """How an order names its customer; the first that matches wins, else one is created."""

    external_id: str = ""
    email: str = ""
    phone: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""


@dataclass
class OrderInput:
    external_id: str
    source: str = OrderSource.WEBSITE
    placed_at: dt.datetime | None = None
    status: str = OrderStatus.NEW
    currency: str = ""
    subtotal: Decimal | None = None
    discount: Decimal = ZERO
    delivery_cost: Decimal = ZERO
    total: Decimal | None = None
    payment_method: str = PaymentMethod.CARD
    delivery_method: str = ""
    address: str = ""
    promised_delivery: dt.date | None = None
    coupon: str = ""
    manager_id: int | None = None
    items: Sequence[ItemInput] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- customers of orders


def customer_find(ref: CustomerRef) -> Customer | None:
    """The customer an order names: by external id, else e-mail, else phone."""
    if ref.external_id:
        found = Customer.objects.filter(external_id=ref.external_id).first()
        if found:
            return found
    email = try_normalize_email(ref.email) if ref.email else None
    if email:
        email_row = CustomerEmail.objects.filter(address=email).order_by("customer_id").first()
        if email_row:
            return email_row.customer
    phone = try_normalize_phone(ref.phone) if ref.phone else None
    if phone:
        row = CustomerPhone.objects.filter(number=phone).order_by("customer_id").first()
        if row:
            return row.customer
    return None


def customer_ref_lock(ref: CustomerRef) -> None:
    """Lock the external id, e-mail and phone the ref names until the transaction ends.

    Writers that find-then-create a customer by these keys (customer_upsert, an order for a
    customer the base does not know yet) take it before they look, so two of them naming one
    person run in turn: the second finds what the first created instead of creating it again
    or failing on the unique external id.
    """
    keys = [
        f"external_id:{ref.external_id}" if ref.external_id else "",
        f"email:{try_normalize_email(ref.email) or ''}" if ref.email else "",
        f"phone:{try_normalize_phone(ref.phone) or ''}" if ref.phone else "",
    ]
    names_lock("customer_ref", [key for key in keys if key])


def customer_resolve(
    *, actor: Any, ref: CustomerRef, source: str = SourceChannel.WEBSITE
) -> Customer:
    """Find the order's customer or create one from what the order says about them.

    A customer that exists is found without a lock (most orders); a new one is created under
    customer_ref_lock, after looking again, so concurrent orders of one new customer create
    it once.
    """
    found = customer_find(ref)
    if found is not None:
        return found
    if not (ref.external_id or ref.email or ref.phone):
        raise ValidationError({"customer": _("Name the customer: external id, e-mail or phone.")})
    try:
        return _customer_resolve_locked(actor=actor, ref=ref, source=source)
    except IntegrityError:
        # A writer that takes no lock (the card form, an import) created the external id in
        # between; the savepoint kept the order's transaction usable and this round finds it.
        return _customer_resolve_locked(actor=actor, ref=ref, source=source)


def _customer_resolve_locked(*, actor: Any, ref: CustomerRef, source: str) -> Customer:
    with transaction.atomic():
        customer_ref_lock(ref)
        found = customer_find(ref)
        if found is not None:
            return found
        fields: dict[str, Any] = {
            "last_name": ref.last_name,
            "first_name": ref.first_name or (_("Customer") if not ref.last_name else ""),
            "middle_name": ref.middle_name,
            "source": source,
        }
        if ref.external_id:
            fields["external_id"] = ref.external_id
        return customer_create(
            actor=actor,
            data=CustomerInput(
                fields=fields,
                phones=[PhoneInput(ref.phone)] if ref.phone else [],
                emails=[EmailInput(ref.email)] if ref.email else [],
            ),
            # The shop already knows this is a new buyer; contacts shared with another card
            # (a family phone) must not stop the order.
            confirm_duplicate=True,
        )


# ---------------------------------------------------------------- statistics


def customer_stats_refresh(customer_id: int) -> CustomerStats:
    """Recompute one customer's statistics from their orders (two indexed aggregates).

    Called inside the transaction that changed the orders, after the customer row is locked,
    so concurrent pushes for the same customer are serialised and the numbers never drift.
    """
    delivered = Q(status=OrderStatus.DELIVERED)
    refused_cod = Q(status=OrderStatus.REFUSED, payment_method=PaymentMethod.COD)
    totals = Order.objects.filter(customer_id=customer_id).aggregate(
        first=Min("placed_at"),
        last=Max("placed_at"),
        count=Count("id"),
        delivered=Count("id", filter=delivered),
        revenue=Coalesce(Sum("total", filter=delivered), Value(ZERO)),
        refused=Count("id", filter=refused_cod),
    )
    last_refused = OrderStatusChange.objects.filter(
        order__customer_id=customer_id,
        status=OrderStatus.REFUSED,
        order__payment_method=PaymentMethod.COD,
        order__status=OrderStatus.REFUSED,
    ).aggregate(at=Max("at"))["at"]
    revenue = Decimal(totals["revenue"]).quantize(CENT)
    average = (revenue / totals["delivered"]).quantize(CENT) if totals["delivered"] else ZERO
    _categories_sync([customer_id])
    stats, _created = CustomerStats.objects.update_or_create(
        customer_id=customer_id,
        defaults={
            "first_order_at": totals["first"],
            "last_order_at": totals["last"],
            "orders_count": totals["count"],
            "delivered_count": totals["delivered"],
            "revenue": revenue,
            "average_order_value": average,
            "refused_cod_count": totals["refused"],
            "last_refused_at": last_refused,
        },
    )
    return stats


# One customer's figures as customer_stats_refresh_many and customer_stats_rebuild compare and
# write them: first and last order (aware datetimes), orders, delivered orders, revenue and
# average order value in cents, refused cash-on-delivery parcels, the last refusal.
StatsRow = tuple[
    dt.datetime | None, dt.datetime | None, int, int, int, int, int, dt.datetime | None
]
NO_ORDERS_ROW: StatsRow = (None, None, 0, 0, 0, 0, 0, None)
STATS_CHUNK = 2000


@dataclass(frozen=True)
class StatsRebuildResult:
    checked: int  # customers whose statistics were recomputed
    fixed: int  # statistics rows that differed from the orders and were rewritten
    categories_fixed: int = 0  # customers whose bought categories differed and were rewritten


def customer_stats_refresh_many(customer_ids: Sequence[int]) -> int:
    """Recompute many customers' statistics at once: the same numbers as customer_stats_refresh.

    One GROUP BY over the customers' orders (their ids travel as one parameter), the refusal
    dates only for customers with refused parcels, and one upsert per row in an executemany;
    an import refreshes tens of thousands of customers per batch this way. Revenue is summed
    in cents and the average rounded half to even, exactly as the Decimal arithmetic above.
    Call it inside the transaction that changed the orders: on PostgreSQL it locks the
    customers first, as order_upsert does (SQLite's write lock serialises writers anyway).
    Returns the rows written.
    """
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return 0
    _lock_customers(ids)
    rows = _stats_compute(ids)
    _stats_write(rows)
    _categories_sync(ids)
    return len(rows)


def customer_stats_rebuild(*, batch_size: int = 5000) -> StatsRebuildResult:
    """Recompute every customer's statistics from the orders; rewrite the rows that differ.

    For a base whose statistics drifted (orders written by hand in the database, a restore
    of an old backup of one table): customers are taken in batches by id, each batch in its
    own transaction with its customers locked, so the work runs alongside the app. Customers
    without orders need no row; a row saying otherwise is zeroed. The stop-list proposal
    date is a record of what happened, not a figure, and is kept. The bought categories
    (CustomerCategory) are checked and rewritten the same way.
    """
    if batch_size < 1:
        raise ValidationError({"batch_size": _("The batch size must be at least 1.")})
    checked = fixed = categories_fixed = 0
    after = 0
    while True:
        ids = list(
            Customer.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        after = ids[-1]
        with transaction.atomic():
            _lock_customers(ids)
            expected = _stats_compute(ids)
            current = _stats_current(ids)
            wrong = {
                cid: expected.get(cid, NO_ORDERS_ROW)
                for cid in ids
                if expected.get(cid, NO_ORDERS_ROW) != current.get(cid, NO_ORDERS_ROW)
            }
            _stats_write(wrong)
            categories_fixed += _categories_sync(ids)
        checked += len(ids)
        fixed += len(wrong)
    return StatsRebuildResult(checked=checked, fixed=fixed, categories_fixed=categories_fixed)


def _lock_customers(ids: Sequence[int]) -> None:
    """On PostgreSQL, lock the customers (in id order) whose statistics are about to change."""
    if connection.vendor != "postgresql":
        return
    for start in range(0, len(ids), STATS_CHUNK):
        chunk = ids[start : start + STATS_CHUNK]
        list(
            Customer.objects.select_for_update()
            .filter(pk__in=chunk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def _stats_compute(ids: Sequence[int]) -> dict[int, StatsRow]:
    """The statistics of the given customers (sorted, unique ids) from their orders.

    Customers without orders who still exist get NO_ORDERS_ROW; unknown ids are left out.
    """
    orders = Order._meta.db_table
    sqlite = connection.vendor == "sqlite"
    wanted = "(SELECT value FROM json_each(%s))" if sqlite else "(SELECT unnest(%s::bigint[]))"
    param: Any = json.dumps(list(ids)) if sqlite else list(ids)
    # SQLite sums money as floating point: rounding the cents recovers the exact amount.
    revenue = (
        "CAST(ROUND(SUM(CASE WHEN status = %s THEN total ELSE 0 END) * 100) AS INTEGER)"
        if sqlite
        else "SUM(CASE WHEN status = %s THEN total ELSE 0 END) * 100"
    )
    sql = (
        f"SELECT customer_id, MIN(placed_at), MAX(placed_at), COUNT(*), "  # noqa: S608
        f"SUM(CASE WHEN status = %s THEN 1 ELSE 0 END), {revenue}, "
        f"SUM(CASE WHEN status = %s AND payment_method = %s THEN 1 ELSE 0 END) "
        f'FROM "{orders}" WHERE customer_id IN {wanted} GROUP BY customer_id'
    )
    delivered, refused = OrderStatus.DELIVERED.value, OrderStatus.REFUSED.value
    with connection.cursor() as cursor:
        cursor.execute(sql, [delivered, delivered, refused, PaymentMethod.COD.value, param])
        totals = {row[0]: row[1:] for row in cursor.fetchall()}
    missing = [i for i in ids if i not in totals]
    refused_ids = [cid for cid, row in totals.items() if row[5]]
    last_refused: dict[int, dt.datetime] = {}
    for start in range(0, len(refused_ids), STATS_CHUNK):
        chunk = refused_ids[start : start + STATS_CHUNK]
        last_refused.update(
            OrderStatusChange.objects.filter(
                order__customer_id__in=chunk,
                status=OrderStatus.REFUSED,
                order__payment_method=PaymentMethod.COD,
                order__status=OrderStatus.REFUSED,
            )
            .order_by()
            .values("order__customer_id")
            .annotate(at=Max("at"))
            .values_list("order__customer_id", "at")
        )
    rows: dict[int, StatsRow] = {}
    for cid, (first, last, count, delivered_count, revenue_cents, refused_count) in totals.items():
        cents = int(revenue_cents or 0)
        rows[cid] = (
            _aware(first),
            _aware(last),
            int(count),
            int(delivered_count),
            cents,
            _half_even(cents, delivered_count) if delivered_count else 0,
            int(refused_count),
            last_refused.get(cid),
        )
    # Customers with no orders left get a zero row, if they still exist.
    for start in range(0, len(missing), STATS_CHUNK):
        chunk = missing[start : start + STATS_CHUNK]
        for cid in Customer.objects.filter(id__in=chunk).values_list("id", flat=True):
            rows[cid] = NO_ORDERS_ROW
    return rows


# The columns of CustomerStats that the orders decide, in the order _stats_compute gives them.
STATS_FIELDS = (
    "first_order_at",
    "last_order_at",
    "orders_count",
    "delivered_count",
    "revenue",
    "average_order_value",
    "refused_cod_count",
    "last_refused_at",
)


def _stats_current(ids: Sequence[int]) -> dict[int, StatsRow]:
    """The stored statistics of the given customers, in the shape _stats_compute gives."""
    rows: dict[int, StatsRow] = {}
    for start in range(0, len(ids), STATS_CHUNK):
        chunk = ids[start : start + STATS_CHUNK]
        for stats in CustomerStats.objects.filter(customer_id__in=chunk).only(
            "customer_id", *STATS_FIELDS
        ):
            rows[stats.customer_id] = (
                stats.first_order_at,
                stats.last_order_at,
                stats.orders_count,
                stats.delivered_count,
                int(Decimal(stats.revenue) * 100),
                int(Decimal(stats.average_order_value) * 100),
                stats.refused_cod_count,
                stats.last_refused_at,
            )
    return rows


def _categories_sync(ids: Sequence[int]) -> int:
    """Make the customers' CustomerCategory rows the categories of their delivered orders.

    One read of the wanted (customer, category) pairs through the orders' customer index and
    the items' order index, one of the stored pairs, then the rows of only the customers whose
    set differs are replaced (executemany). Returns how many customers changed.
    """
    if not ids:
        return 0
    sqlite = connection.vendor == "sqlite"
    wanted_ids = "(SELECT value FROM json_each(%s))" if sqlite else "(SELECT unnest(%s::bigint[]))"
    param: Any = json.dumps(list(ids)) if sqlite else list(ids)
    orders, items = Order._meta.db_table, OrderItem._meta.db_table
    table = CustomerCategory._meta.db_table
    wanted: dict[int, set[str]] = {}
    current: dict[int, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT DISTINCT o.customer_id, i.category FROM "{orders}" o '  # noqa: S608
            f'JOIN "{items}" i ON i.order_id = o.id '
            f"WHERE o.customer_id IN {wanted_ids} AND o.status = %s AND i.category <> ''",
            [param, OrderStatus.DELIVERED.value],
        )
        for customer_id, category in cursor.fetchall():
            key = category_key(category)
            if key:
                wanted.setdefault(customer_id, set()).add(key)
        cursor.execute(
            f'SELECT customer_id, key FROM "{table}" WHERE customer_id IN {wanted_ids}',  # noqa: S608
            [param],
        )
        for customer_id, key in cursor.fetchall():
            current.setdefault(customer_id, set()).add(key)
        changed = sorted(
            cid for cid in set(wanted) | set(current) if wanted.get(cid) != current.get(cid)
        )
        if not changed:
            return 0
        changed_param: Any = json.dumps(changed) if sqlite else changed
        cursor.execute(
            f'DELETE FROM "{table}" WHERE customer_id IN {wanted_ids}',  # noqa: S608
            [changed_param],
        )
        cursor.executemany(
            f'INSERT INTO "{table}" (customer_id, key) VALUES (%s, %s)',  # noqa: S608
            [(cid, key) for cid in changed for key in sorted(wanted.get(cid, ()))],
        )
    return len(changed)


def category_key(category: str) -> str:
    """A product category in the form segments match it: case and ё/е do not matter."""
    return search_key(category)[:200]


def _aware(value: Any) -> dt.datetime | None:
    """A datetime from a raw cursor: SQLite gives Django's text form in UTC."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _stats_write(rows: dict[int, StatsRow]) -> None:
    """Upsert statistics rows; the stop-list proposal date of an existing row is kept."""
    if not rows:
        return
    adapt = connection.ops.adapt_datetimefield_value
    now = adapt(timezone.now())
    params = [
        (
            cid,
            adapt(first),
            adapt(last),
            count,
            delivered,
            _cents_text(revenue),
            _cents_text(average),
            refused,
            adapt(last_refused),
            now,
        )
        for cid, (first, last, count, delivered, revenue, average, refused, last_refused) in sorted(
            rows.items()
        )
    ]
    columns = ("customer_id", *STATS_FIELDS, "updated_at")
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns[1:])
    marks = ", ".join(["%s"] * len(columns))
    table = CustomerStats._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks}) '  # noqa: S608
            f'ON CONFLICT ("customer_id") DO UPDATE SET {updates}',
            params,
        )


def _half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even, as Decimal.quantize rounds."""
    quotient, remainder = divmod(numerator, denominator)
    if remainder * 2 > denominator or (remainder * 2 == denominator and quotient % 2):
        quotient += 1
    return quotient


def _cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _propose_stoplist(customer: Customer, stats: CustomerStats, actor: Any) -> None:
    """After N refused cash-on-delivery parcels, propose the customer for the stop-list once."""
    limit = settings.STOPLIST_PROPOSE_AFTER_REFUSALS
    if (
        limit > 0
        and stats.refused_cod_count >= limit
        and stats.stoplist_proposed_at is None
        and customer.status != CustomerStatus.STOPLISTED
    ):
        stats.stoplist_proposed_at = timezone.now()
        stats.save(update_fields=["stoplist_proposed_at"])
        TimelineEvent.objects.create(
            customer=customer,
            kind=TimelineKind.NOTE,
            actor=audit.staff_actor(actor),
            data={"stoplist_proposed": True, "refused_cod": stats.refused_cod_count},
        )


# ---------------------------------------------------------------- managers


def manager_pick() -> User | None:
    """The least loaded active manager who takes orders and is under their capacity."""
    open_orders = Count("orders", filter=Q(orders__status__in=OPEN_STATUSES))
    return (
        User.objects.filter(is_active=True, role=Role.MANAGER)
        .exclude(order_capacity__accepts_orders=False)
        .annotate(
            open_orders=open_orders,
            capacity=Coalesce("order_capacity__capacity", Value(DEFAULT_CAPACITY)),
        )
        .filter(open_orders__lt=F("capacity"))
        .order_by("open_orders", "id")
        .first()
    )


def manager_capacity_set(
    *, actor: Any, user_id: int, accepts_orders: bool, capacity: int
) -> ManagerCapacity:
    """Whether a manager takes new orders automatically, and how many open ones at most."""
    if capacity < 0:
        raise ValidationError({"capacity": _("An amount cannot be negative.")})
    if not User.objects.filter(pk=user_id, role=Role.MANAGER).exists():
        raise ValidationError({"user": _("Choose an active manager.")})
    with transaction.atomic():
        current = ManagerCapacity.objects.select_for_update().filter(user_id=user_id).first()
        before = (
            {"accepts_orders": current.accepts_orders, "capacity": current.capacity}
            if current
            else {"accepts_orders": True, "capacity": DEFAULT_CAPACITY}
        )
        row, _created = ManagerCapacity.objects.update_or_create(
            user_id=user_id, defaults={"accepts_orders": accepts_orders, "capacity": capacity}
        )
        changes = audit.diff(before, {"accepts_orders": accepts_orders, "capacity": capacity})
        if changes:
            audit.record(action=AuditAction.UPDATE, actor=actor, obj=row, changes=changes)
    return row


def _check_assignable(manager_id: int | None) -> None:
    """Orders go to active managers (or administrators) only, never to an operator."""
    if (
        manager_id is not None
        and not User.objects.filter(
            pk=manager_id, is_active=True, role__in=[Role.MANAGER, Role.ADMIN]
        ).exists()
    ):
        raise ValidationError({"manager": _("Choose an active manager.")})


def orders_reassign(*, actor: Any, order_ids: Sequence[int], manager_id: int | None) -> int:
    _check_assignable(manager_id)
    with transaction.atomic():
        orders = list(Order.objects.select_for_update().filter(pk__in=order_ids))
        changed = [o for o in orders if o.manager_id != manager_id]
        Order.objects.filter(pk__in=[o.pk for o in changed]).update(
            manager_id=manager_id, updated_at=timezone.now()
        )
        audit.record_many(
            action=AuditAction.UPDATE,
            actor=actor,
            objects=changed,
            changes=lambda o: {"manager": [o.manager_id, manager_id]},
            extra=lambda o: {"bulk": "reassign"},
        )
    return len(changed)


# ---------------------------------------------------------------- orders


def _money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({name: _("Enter an amount of money.")}) from exc
    if amount < 0 or not amount.is_finite():
        raise ValidationError({name: _("An amount cannot be negative.")})
    return amount


def _check_payment(customer: Customer, payment_method: str) -> None:
    if (
        payment_method == PaymentMethod.COD
        and customer.status == CustomerStatus.STOPLISTED
        and customer.stoplist_reason == StopListReason.REFUSED_COD
    ):
        raise DomainError(
            _(
                "This customer refused cash-on-delivery parcels and is on the stop-list: "
                "ask for prepayment."
            ),
            code="cod_not_allowed",
        )


def _order_snapshot(order: Order) -> dict[str, Any]:
    names = (
        "status",
        "total",
        "subtotal",
        "discount",
        "delivery_cost",
        "payment_method",
        "delivery_method",
        "address",
        "promised_delivery",
        "coupon",
        "manager_id",
        "customer_id",
        "placed_at",
    )
    return {n: getattr(order, n) for n in names}


def _status_change(order: Order, status: str, at: dt.datetime, actor: Any) -> bool:
    """Record the new status; returns True when it also set the delivery time."""
    OrderStatusChange.objects.create(
        order=order, status=status, at=at, actor=audit.staff_actor(actor)
    )
    if status == OrderStatus.DELIVERED and order.delivered_at is None:
        order.delivered_at = at
        return True
    return False


def _order_timeline(customer: Customer, order: Order, actor: Any, **data: Any) -> None:
    TimelineEvent.objects.create(
        customer=customer,
        kind=TimelineKind.ORDER,
        actor=audit.staff_actor(actor),
        data={"order": order.pk, "number": order.external_id, "status": order.status, **data},
    )


def order_upsert(
    *,
    actor: Any,
    data: OrderInput,
    customer: Customer | None = None,
    customer_ref: CustomerRef | None = None,
    create_only: bool = False,
) -> tuple[Order, bool]:
    """Create the order or update the one with the same source and external id.

    Returns (order, created). Everything happens in one transaction: the customer (found or
    created), the order with its items and status history, the customer's statistics, the
    timeline, the audit row; webhooks go out after commit. With create_only an existing
    order with the number is refused (DomainError order_exists) instead of updated.
    """
    external_id = data.external_id.strip()
    if not external_id:
        raise ValidationError({"external_id": _("The order needs its number.")})
    if data.status not in OrderStatus.values:
        raise ValidationError({"status": _("Unknown order status.")})
    if data.payment_method not in PaymentMethod.values:
        raise ValidationError({"payment_method": _("Unknown payment method.")})
    if data.source not in OrderSource.values:
        raise ValidationError({"source": _("Unknown order source.")})
    items = list(data.items) if data.items is not None else None
    for i, item in enumerate(items or []):
        if not item.name.strip():
            raise ValidationError({"items": _("Item %(n)d needs a name.") % {"n": i + 1}})
        _money(item.price, "items")
        if Decimal(str(item.quantity)) <= 0:
            raise ValidationError(
                {"items": _("Item %(n)d: quantity must be positive.") % {"n": i + 1}}
            )
    discount = _money(data.discount, "discount")
    delivery_cost = _money(data.delivery_cost, "delivery_cost")
    subtotal: Decimal | None = None
    if data.subtotal is not None:
        subtotal = _money(data.subtotal, "subtotal")
    elif items is not None:
        subtotal = sum(
            (Decimal(str(i.price)) * Decimal(str(i.quantity)) for i in items), ZERO
        ).quantize(CENT)
    now = timezone.now()

    with transaction.atomic():
        if customer is None:
            if customer_ref is None:
                raise ValidationError({"customer": _("Name the customer of the order.")})
            customer = customer_resolve(actor=actor, ref=customer_ref)
        # The customer row lock serialises every write that touches this customer's stats.
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        existing = (
            Order.objects.select_for_update()
            .filter(source=data.source, external_id=external_id)
            .first()
        )
        created = existing is None
        if existing is not None and create_only:
            raise DomainError(
                _("An order with the number %(number)s already exists.") % {"number": external_id},
                code=ORDER_EXISTS,
            )
        before: dict[str, Any] = {}
        if existing is None:
            _check_payment(customer, data.payment_method)
            order = Order(source=data.source, external_id=external_id)
        else:
            order = existing
            # The shop reports its own order: any status further along the life cycle, never
            # one back (mostly an older push delivered late, which must not undo a newer one).
            check_transition(order.status, data.status, skip_steps=True)
            if order.payment_method != data.payment_method:
                _check_payment(customer, data.payment_method)
            before = _order_snapshot(order)
        previous_customer_id = order.customer_id if not created else None
        previous_status = order.status if not created else None
        order.customer = customer
        order.placed_at = data.placed_at or order.placed_at or now
        order.status = data.status
        # A new order's model default must not hide the configured currency.
        current_currency = "" if created else order.currency
        order.currency = (data.currency or current_currency or settings.ORDER_CURRENCY).upper()[:3]
        # Without items or a subtotal, an update keeps the subtotal the order already has.
        if subtotal is not None or created:
            order.subtotal = subtotal if subtotal is not None else ZERO
        order.discount, order.delivery_cost = discount, delivery_cost
        order.total = (
            _money(data.total, "total")
            if data.total is not None
            else max(ZERO, order.subtotal - discount + delivery_cost)
        )
        order.payment_method = data.payment_method
        order.delivery_method = data.delivery_method[:100]
        order.address = data.address[:500]
        order.promised_delivery = data.promised_delivery
        order.coupon = data.coupon[:50]
        if data.manager_id is not None:
            if data.manager_id != order.manager_id:
                _check_assignable(data.manager_id)
            order.manager_id = data.manager_id
        elif created:
            picked = manager_pick()
            order.manager_id = picked.pk if picked else None
        order.full_clean(exclude=["customer", "manager"], validate_unique=False)
        order.save()
        if items is not None:
            OrderItem.objects.filter(order=order).delete()
            OrderItem.objects.bulk_create(
                [
                    OrderItem(
                        order=order,
                        sku=i.sku[:100],
                        name=i.name[:300],
                        category=i.category[:200],
                        quantity=Decimal(str(i.quantity)),
                        price=_money(i.price, "items"),
                    )
                    for i in items
                ]
            )
        if (created or previous_status != order.status) and _status_change(
            order, order.status, now, actor
        ):
            order.save(update_fields=["delivered_at"])
        if previous_customer_id and previous_customer_id != customer.pk:
            # The order moved: the customer it left is locked too before its stats change.
            Customer.objects.select_for_update().filter(pk=previous_customer_id).first()
            customer_stats_refresh(previous_customer_id)
        stats = customer_stats_refresh(customer.pk)
        _propose_stoplist(customer, stats, actor)
        if created or previous_status != order.status:
            _order_timeline(customer, order, actor, total=str(order.total))
        after = _order_snapshot(order)
        changes = audit.diff(before, after)
        if changes:
            audit.record(
                action=AuditAction.CREATE if created else AuditAction.UPDATE,
                actor=actor,
                obj=order,
                changes=changes,
            )
        if not created and previous_status != order.status:
            _emit_status(order, previous_status)
        elif created:
            _emit_status(order, None)
    return order, created


MANUAL_NUMBER_ATTEMPTS = 5


def order_number_next() -> str:
    """The next number for an order keyed in by staff: <yymmdd>-<nnn>, counting the day's.

    Orders keyed in are placed now, so today's orders (a range of the placed_at index) hold
    every number of today's series.
    """
    today = timezone.localdate()
    prefix = f"{today:%y%m%d}-"
    start, end = (
        timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        for day in (today, today + dt.timedelta(days=1))
    )
    taken = Order.objects.filter(
        source=OrderSource.PHONE, placed_at__gte=start, placed_at__lt=end
    ).values_list("external_id", flat=True)
    suffixes = (n[len(prefix) :] for n in taken if n.startswith(prefix))
    last = max((int(n) for n in suffixes if n.isdigit()), default=0)
    return f"{prefix}{last + 1:03d}"


def order_create(*, actor: Any, customer: Customer, data: OrderInput) -> Order:
    """An order keyed in by staff (taken by phone), through order_upsert like the shop's.

    Without a number it gets the next of the day; two operators saving at the same moment
    collide on the unique number and the later one takes the next. A number typed by hand that
    is taken is refused (order_exists), never an update of someone else's order.
    """
    typed = data.external_id.strip()
    number = typed or order_number_next()
    for _attempt in range(MANUAL_NUMBER_ATTEMPTS):
        try:
            order, _created = order_upsert(
                actor=actor,
                data=dataclasses.replace(data, external_id=number, source=OrderSource.PHONE),
                customer=customer,
                create_only=True,
            )
        except IntegrityError:
            if typed:
                raise DomainError(
                    _("An order with the number %(number)s already exists.") % {"number": typed},
                    code=ORDER_EXISTS,
                ) from None
        except DomainError as exc:
            if exc.code != ORDER_EXISTS or typed:
                raise
        else:
            return order
        # Taken meanwhile, or by an order placed on another day: the one after it.
        stem, _dash, count = number.rpartition("-")
        number = f"{stem}-{int(count) + 1:03d}"
    raise DomainError(_("Could not number the order; save it again."), code=ORDER_EXISTS)


def _emit_status(order: Order, previous: str | None) -> None:
    webhooks.webhook_emit(
        event=webhooks.ORDER_STATUS_CHANGED,
        payload={
            "order_id": order.pk,
            "external_id": order.external_id,
            "source": order.source,
            "customer_id": order.customer_id,
            "status": order.status,
            "previous_status": previous,
        },
    )


def order_status_set(
    *,
    actor: Any,
    order_id: int,
    status: str,
    at: dt.datetime | None = None,
    skip_steps: bool = False,
) -> Order:
    """Move an order to a new status: history row, stats, timeline, audit, webhook.

    Staff move one step of the life cycle at a time (orders.lifecycle); the shop's system,
    reporting through the API, passes skip_steps to move any number of steps forward.
    """
    if status not in OrderStatus.values:
        raise ValidationError({"status": _("Unknown order status.")})
    at = at or timezone.now()
    with transaction.atomic():
        while True:
            customer_id = (
                Order.objects.filter(pk=order_id).values_list("customer_id", flat=True).first()
            )
            if customer_id is None:
                raise DomainError(_("The order does not exist."), code="not_found")
            customer = Customer.objects.select_for_update().get(pk=customer_id)
            order = Order.objects.select_for_update().get(pk=order_id)
            # Moved to another customer between the read and the lock: lock that one instead.
            if order.customer_id == customer_id:
                break
        previous = order.status
        if previous == status:
            return order
        check_transition(previous, status, skip_steps=skip_steps)
        order.status = status
        _status_change(order, status, at, actor)
        order.save(update_fields=["status", "delivered_at", "updated_at"])
        stats = customer_stats_refresh(customer.pk)
        _propose_stoplist(customer, stats, actor)
        _order_timeline(customer, order, actor, **{"from": previous})
        audit.record(
            action=AuditAction.UPDATE,
            actor=actor,
            obj=order,
            changes={"status": [previous, status]},
        )
        _emit_status(order, previous)
    return order
