"""The orders services against the real database: upsert, status history, exact stats,
stop-list effects, manager distribution, audit, and stats under concurrent pushes."""

from __future__ import annotations

import datetime as dt
import random
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone, translation

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.core.models import AuditEvent
from clientbase.customers.choices import CustomerStatus, StopListReason, TimelineKind
from clientbase.customers.models import Customer, TimelineEvent
from clientbase.customers.services import customer_stoplist_add
from clientbase.orders.choices import OPEN_STATUSES, OrderStatus, PaymentMethod
from clientbase.orders.models import (
    CustomerStats,
    ManagerCapacity,
    Order,
    OrderItem,
    OrderStatusChange,
)
from clientbase.orders.services import (
    CustomerRef,
    ItemInput,
    OrderInput,
    customer_stats_refresh,
    manager_pick,
    order_create,
    order_status_set,
    order_upsert,
    orders_reassign,
)
from tests import factories

pytestmark = pytest.mark.django_db

ORDER = "orders.order"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def push(customer: Customer | None = None, ref: CustomerRef | None = None, **fields: Any) -> Order:
    fields.setdefault("external_id", "A-1")
    order, _created = order_upsert(
        actor=None, data=OrderInput(**fields), customer=customer, customer_ref=ref
    )
    return order


def stats_of(customer: Customer) -> CustomerStats:
    return CustomerStats.objects.get(customer=customer)


def stoplist(customer: Customer, reason: str = StopListReason.REFUSED_COD) -> Customer:
    customer.refresh_from_db()
    return customer_stoplist_add(
        actor=None, customer_id=customer.pk, expected_version=customer.version, reason=reason
    )


# ---------------------------------------------------------------- upsert


def test_upsert_creates_then_updates_by_source_and_external_id():
    customer = factories.make_customer()
    order, created = order_upsert(
        actor=None,
        data=OrderInput(external_id=" W-100 ", total=Decimal("500"), placed_at=T0),
        customer=customer,
    )
    assert created
    assert (order.external_id, order.currency, order.total) == ("W-100", "RUB", Decimal("500.00"))
    same, created = order_upsert(
        actor=None,
        data=OrderInput(external_id="W-100", total=Decimal("700"), status=OrderStatus.PAID),
        customer=customer,
    )
    assert not created and same.pk == order.pk
    # The same number from another source is another order.
    other, created = order_upsert(
        actor=None,
        data=OrderInput(external_id="W-100", source="marketplace", total=Decimal("1")),
        customer=customer,
    )
    assert created and other.pk != order.pk
    assert Order.objects.count() == 2
    order.refresh_from_db()
    assert (order.total, order.status, order.placed_at) == (Decimal("700.00"), "paid", T0)


def test_currency_is_configurable_and_kept_on_update(settings):
    settings.ORDER_CURRENCY = "EUR"
    customer = factories.make_customer()
    assert push(customer).currency == "EUR"
    settings.ORDER_CURRENCY = "USD"
    assert push(customer).currency == "EUR"
    assert push(customer, external_id="2", currency="kzt").currency == "KZT"


def test_customer_found_by_external_id_email_or_phone_in_any_format():
    by_phone = factories.make_customer(phones=["+79161234567"])
    by_email = factories.make_customer(emails=["Olga@Example.com"])
    by_external = factories.make_customer(external_id="shop-42")
    before = Customer.objects.count()

    assert push(ref=CustomerRef(phone="8 (916) 123-45-67"), external_id="1").customer == by_phone
    assert push(ref=CustomerRef(phone="916 123 4567"), external_id="2").customer == by_phone
    assert push(ref=CustomerRef(email=" olga@EXAMPLE.com"), external_id="3").customer == by_email
    found = push(ref=CustomerRef(external_id="shop-42", phone="+79161234567"), external_id="4")
    assert found.customer == by_external
    assert Customer.objects.count() == before


def test_customer_created_from_the_orders_own_data():
    order = push(
        ref=CustomerRef(
            external_id="shop-7", email="new@example.com", phone="8 903 111-22-33", last_name="Ким"
        )
    )
    customer = order.customer
    assert (customer.external_id, customer.last_name, customer.primary_phone) == (
        "shop-7",
        "Ким",
        "+79031112233",
    )
    assert customer.primary_email == "new@example.com"
    assert push(ref=CustomerRef(email="NEW@example.com"), external_id="B").customer == customer
    assert Customer.objects.count() == 1


def test_totals_from_items_and_kept_on_update_without_items_or_subtotal():
    customer = factories.make_customer()
    items = [
        ItemInput(name="Чайник", category="Кухня", quantity=Decimal("2"), price=Decimal("1000")),
        ItemInput(name="Кружка", category="Посуда", quantity=Decimal("3"), price=Decimal("99.90")),
    ]
    order = push(customer, items=items, discount=Decimal("100"), delivery_cost=Decimal("300"))
    assert (order.subtotal, order.total) == (Decimal("2299.70"), Decimal("2499.70"))
    assert list(order.items.order_by("name").values_list("name", "quantity")) == [
        ("Кружка", Decimal("3.000")),
        ("Чайник", Decimal("2.000")),
    ]

    push(customer, status=OrderStatus.CONFIRMED, discount=Decimal("100"))
    order.refresh_from_db()
    assert (order.subtotal, order.total) == (Decimal("2299.70"), Decimal("2199.70"))
    assert order.items.count() == 2

    push(
        customer, status=OrderStatus.CONFIRMED, items=[ItemInput(name="Лампа", price=Decimal("10"))]
    )
    order.refresh_from_db()
    assert (order.subtotal, order.total, order.items.count()) == (
        Decimal("10.00"),
        Decimal("10.00"),
        1,
    )
    assert OrderItem.objects.count() == 1


def test_status_history_rows():
    customer = factories.make_customer()
    order = push(customer)
    push(customer, status=OrderStatus.CONFIRMED)
    push(customer, status=OrderStatus.CONFIRMED)  # unchanged: no row
    order_status_set(actor=None, order_id=order.pk, status=OrderStatus.SHIPPED)
    order_status_set(actor=None, order_id=order.pk, status=OrderStatus.SHIPPED)
    delivered_at = timezone.now()
    order_status_set(actor=None, order_id=order.pk, status=OrderStatus.DELIVERED, at=delivered_at)
    history = list(OrderStatusChange.objects.filter(order=order).values_list("status", flat=True))
    assert history == ["new", "confirmed", "shipped", "delivered"]
    order.refresh_from_db()
    assert order.delivered_at == delivered_at
    assert TimelineEvent.objects.filter(customer=customer, kind=TimelineKind.ORDER).count() == 4


# ---------------------------------------------------------------- life cycle


def _unchanged(order: Order) -> tuple[Any, ...]:
    order.refresh_from_db()
    return (
        order.status,
        order.updated_at,
        OrderStatusChange.objects.filter(order=order).count(),
        AuditEvent.objects.filter(object_type=ORDER).count(),
        TimelineEvent.objects.filter(kind=TimelineKind.ORDER).count(),
    )


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([OrderStatus.CONFIRMED], OrderStatus.NEW),
        ([OrderStatus.CONFIRMED, OrderStatus.SHIPPED], OrderStatus.CANCELLED),
        ([OrderStatus.DELIVERED], OrderStatus.NEW),
        ([OrderStatus.DELIVERED], OrderStatus.SHIPPED),
        ([OrderStatus.CANCELLED], OrderStatus.CONFIRMED),
        ([OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.REFUSED], OrderStatus.CANCELLED),
        ([], OrderStatus.REFUSED),  # refused at delivery of a parcel never shipped
        ([], OrderStatus.RETURNED),  # returned without being delivered
    ],
)
def test_status_set_refuses_a_move_outside_the_life_cycle(path, refused):
    customer = factories.make_customer()
    order = push(customer)
    for status in path:
        order_status_set(actor=None, order_id=order.pk, status=status)
    before = _unchanged(order)
    stats_before = stats_of(customer).revenue, stats_of(customer).delivered_count
    with pytest.raises(DomainError) as caught:
        order_status_set(actor=None, order_id=order.pk, status=refused)
    assert caught.value.code == "status_transition_not_allowed"
    current = path[-1] if path else OrderStatus.NEW
    assert caught.value.details["from"] == current and caught.value.details["to"] == refused
    assert _unchanged(order) == before
    assert (stats_of(customer).revenue, stats_of(customer).delivered_count) == stats_before


def test_the_whole_life_cycle_one_step_at_a_time():
    order = push(factories.make_customer())
    for status in ("paid", "confirmed", "shipped", "delivered", "returned"):
        order_status_set(actor=None, order_id=order.pk, status=status)
    history = list(OrderStatusChange.objects.filter(order=order).values_list("status", flat=True))
    assert history == ["new", "paid", "confirmed", "shipped", "delivered", "returned"]


def test_the_message_names_the_statuses_and_what_is_allowed():
    order = push(factories.make_customer(), status=OrderStatus.DELIVERED)
    with translation.override("ru"), pytest.raises(DomainError) as caught:
        order_status_set(actor=None, order_id=order.pk, status=OrderStatus.NEW)
    assert caught.value.message == (
        "Заказ нельзя перевести из статуса «Доставлен» в «Новый»; из статуса «Доставлен» "
        "можно перевести в: «Возвращён»."
    )
    assert caught.value.details == {"from": "delivered", "to": "new", "allowed": ["returned"]}
    order_status_set(actor=None, order_id=order.pk, status=OrderStatus.RETURNED)
    with translation.override("ru"), pytest.raises(DomainError) as caught:
        order_status_set(actor=None, order_id=order.pk, status=OrderStatus.DELIVERED)
    assert caught.value.message == (
        "Заказ в статусе «Возвращён»: это окончательный статус, перевести в «Доставлен» нельзя."
    )


def test_staff_move_one_step_but_the_shop_may_report_several():
    customer = factories.make_customer()
    order = push(customer)
    with pytest.raises(DomainError):
        order_status_set(actor=None, order_id=order.pk, status=OrderStatus.REFUSED)
    # The shop's API reports what happened since its last push: shipped and refused.
    order_status_set(actor=None, order_id=order.pk, status=OrderStatus.REFUSED, skip_steps=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUSED
    with pytest.raises(DomainError):
        order_status_set(actor=None, order_id=order.pk, status=OrderStatus.NEW, skip_steps=True)


def test_upsert_accepts_any_status_for_a_new_order_and_only_forward_moves_after():
    customer = factories.make_customer()
    old = push(customer, external_id="OLD", status=OrderStatus.RETURNED)  # a past order
    assert old.status == OrderStatus.RETURNED
    order = push(customer, status=OrderStatus.NEW, total=Decimal("10"))
    push(customer, status=OrderStatus.DELIVERED, total=Decimal("10"))  # skipped steps: fine
    before = _unchanged(order)
    items_before = list(order.items.values_list("name", flat=True))
    with pytest.raises(DomainError) as caught:
        push(
            customer,
            status=OrderStatus.NEW,
            total=Decimal("99"),
            items=[ItemInput(name="Другое")],
        )
    assert caught.value.code == "status_transition_not_allowed"
    assert _unchanged(order) == before
    assert (order.total, list(order.items.values_list("name", flat=True))) == (
        Decimal("10.00"),
        items_before,
    )
    assert stats_of(customer).revenue == Decimal("10.00")


# ---------------------------------------------------------------- statistics


def test_stats_exact_after_create_status_changes_and_moving_an_order():
    alice, bob = factories.make_customer(), factories.make_customer()
    first = push(alice, external_id="1", total=Decimal("100"), placed_at=T0)
    second = push(
        alice,
        external_id="2",
        total=Decimal("250.50"),
        placed_at=T0 + dt.timedelta(days=3),
        payment_method=PaymentMethod.COD,
    )
    stats = stats_of(alice)
    assert (stats.orders_count, stats.delivered_count, stats.revenue) == (2, 0, Decimal("0"))
    assert (stats.first_order_at, stats.last_order_at) == (T0, T0 + dt.timedelta(days=3))
    assert stats.average_order_value == Decimal("0")

    order_status_set(actor=None, order_id=first.pk, status=OrderStatus.DELIVERED)
    refused_at = T0 + dt.timedelta(days=5)
    order_status_set(actor=None, order_id=second.pk, status=OrderStatus.SHIPPED)
    order_status_set(actor=None, order_id=second.pk, status=OrderStatus.REFUSED, at=refused_at)
    push(alice, external_id="3", total=Decimal("300"), status=OrderStatus.DELIVERED, placed_at=T0)
    stats = stats_of(alice)
    assert (stats.orders_count, stats.delivered_count) == (3, 2)
    assert (stats.revenue, stats.average_order_value) == (Decimal("400.00"), Decimal("200.00"))
    assert (stats.refused_cod_count, stats.last_refused_at) == (1, refused_at)

    # The refused parcel turns out delivered after all: the refusal no longer counts.
    order_status_set(actor=None, order_id=second.pk, status=OrderStatus.DELIVERED)
    stats = stats_of(alice)
    assert (stats.delivered_count, stats.revenue, stats.average_order_value) == (
        3,
        Decimal("650.50"),
        Decimal("216.83"),
    )
    assert (stats.refused_cod_count, stats.last_refused_at) == (0, None)

    # The shop re-sends order 3 for another customer: both customers' stats follow.
    push(bob, external_id="3", total=Decimal("300"), status=OrderStatus.DELIVERED, placed_at=T0)
    alice_stats, bob_stats = stats_of(alice), stats_of(bob)
    assert (alice_stats.orders_count, alice_stats.revenue) == (2, Decimal("350.50"))
    assert (bob_stats.orders_count, bob_stats.delivered_count, bob_stats.revenue) == (
        1,
        1,
        Decimal("300.00"),
    )
    assert alice_stats.first_order_at == T0
    assert bob_stats.last_order_at == T0


def test_stats_refresh_of_a_customer_without_orders_is_all_zero():
    customer = factories.make_customer()
    stats = customer_stats_refresh(customer.pk)
    assert (stats.orders_count, stats.revenue, stats.first_order_at) == (0, Decimal("0"), None)


# ---------------------------------------------------------------- stop-list effects


def test_cash_on_delivery_refused_for_a_customer_stoplisted_for_refusals():
    customer = stoplist(factories.make_customer())
    orders, events = Order.objects.count(), AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        push(customer, payment_method=PaymentMethod.COD)
    assert caught.value.code == "cod_not_allowed"
    assert (Order.objects.count(), AuditEvent.objects.count()) == (orders, events)
    # Prepaid is fine, and so is switching an existing order to card; back to COD is not.
    order = push(customer, payment_method=PaymentMethod.CARD)
    with pytest.raises(DomainError):
        push(customer, payment_method=PaymentMethod.COD)
    order.refresh_from_db()
    assert order.payment_method == PaymentMethod.CARD


def test_cash_on_delivery_allowed_otherwise():
    fraud = stoplist(factories.make_customer(), reason=StopListReason.FRAUD)
    assert push(fraud, external_id="1", payment_method=PaymentMethod.COD).pk
    plain = factories.make_customer()
    assert push(plain, external_id="2", payment_method=PaymentMethod.COD).pk


def test_proposed_for_the_stoplist_once_after_n_refusals(settings):
    settings.STOPLIST_PROPOSE_AFTER_REFUSALS = 2
    customer = factories.make_customer()
    cod = {"payment_method": PaymentMethod.COD, "status": OrderStatus.REFUSED}
    push(customer, external_id="1", **cod)
    assert stats_of(customer).stoplist_proposed_at is None
    push(customer, external_id="2", **cod)
    proposed = stats_of(customer).stoplist_proposed_at
    assert proposed is not None
    push(customer, external_id="3", **cod)
    assert stats_of(customer).stoplist_proposed_at == proposed
    notes = TimelineEvent.objects.filter(customer=customer, kind=TimelineKind.NOTE)
    assert [n.data for n in notes] == [{"stoplist_proposed": True, "refused_cod": 2}]


def test_a_stoplisted_customer_is_not_proposed(settings):
    settings.STOPLIST_PROPOSE_AFTER_REFUSALS = 1
    customer = stoplist(factories.make_customer(), reason=StopListReason.FRAUD)
    push(customer, payment_method=PaymentMethod.COD, status=OrderStatus.REFUSED)
    assert stats_of(customer).stoplist_proposed_at is None
    assert Customer.objects.get(pk=customer.pk).status == CustomerStatus.STOPLISTED


# ---------------------------------------------------------------- managers


def test_least_loaded_manager_respects_capacity_opt_out_and_inactive_users():
    busy = factories.make_user(role=Role.MANAGER)
    idle = factories.make_user(role=Role.MANAGER)
    opted_out = factories.make_user(role=Role.MANAGER)
    gone = factories.make_user(role=Role.MANAGER, is_active=False)
    factories.make_user(role=Role.OPERATOR)
    ManagerCapacity.objects.create(user=opted_out, accepts_orders=False)
    ManagerCapacity.objects.create(user=idle, capacity=2)
    customer = factories.make_customer()
    push(customer, external_id="busy", manager_id=busy.pk)
    assert gone.pk and manager_pick() == idle

    assert push(customer, external_id="a").manager == idle
    # Both have one open order now: the tie goes to the lower id.
    assert push(customer, external_id="b").manager == min(busy, idle, key=lambda u: u.pk)
    assert (
        Order.objects.filter(manager=idle).count() + Order.objects.filter(manager=busy).count() == 3
    )
    # Fill idle to its capacity of 2: everything else goes to busy.
    while Order.objects.filter(manager=idle, status="new").count() < 2:
        push(customer, external_id=f"fill{Order.objects.count()}", manager_id=idle.pk)
    assert all(push(customer, external_id=f"c{i}").manager == busy for i in range(3))
    # Closed orders do not count towards the load.
    for order in Order.objects.filter(manager=idle):
        order_status_set(actor=None, order_id=order.pk, status=OrderStatus.DELIVERED)
    assert manager_pick() == idle
    ManagerCapacity.objects.filter(user=idle).update(capacity=0)
    ManagerCapacity.objects.update_or_create(user=busy, defaults={"capacity": 1})
    assert manager_pick() is None
    assert push(customer, external_id="nobody").manager is None


def test_an_order_goes_only_to_an_active_manager_or_administrator():
    customer = factories.make_customer()
    operator = factories.make_user(role=Role.OPERATOR)
    retired = factories.make_user(role=Role.MANAGER, is_active=False)
    for wrong in (operator.pk, retired.pk, 10**9):
        with pytest.raises(ValidationError):
            push(customer, external_id=f"X{wrong}", manager_id=wrong)
    assert Order.objects.count() == 0
    manager = factories.make_user(role=Role.MANAGER)
    order = push(customer, manager_id=manager.pk)
    assert order.manager_id == manager.pk
    # The manager leaves; pushes that keep the order's manager still go through.
    User.objects.filter(pk=manager.pk).update(is_active=False)
    push(customer, manager_id=manager.pk, total=Decimal("5"))
    order.refresh_from_db()
    assert (order.manager_id, order.total) == (manager.pk, Decimal("5.00"))


def test_orders_reassign():
    admin = factories.make_user(role=Role.ADMIN)
    one, two = factories.make_user(role=Role.MANAGER), factories.make_user(role=Role.MANAGER)
    customer = factories.make_customer()
    first = push(customer, external_id="1", manager_id=one.pk)
    second = push(customer, external_id="2", manager_id=two.pk)
    events = AuditEvent.objects.count()
    assert orders_reassign(actor=admin, order_ids=[first.pk, second.pk], manager_id=two.pk) == 1
    assert set(Order.objects.values_list("manager_id", flat=True)) == {two.pk}
    row = AuditEvent.objects.order_by("-pk").first()
    assert AuditEvent.objects.count() == events + 1
    assert (row.object_id, row.changes) == (str(first.pk), {"manager": [one.pk, two.pk]})
    assert orders_reassign(actor=admin, order_ids=[first.pk], manager_id=None) == 1
    with pytest.raises(ValidationError):
        orders_reassign(
            actor=admin,
            order_ids=[first.pk],
            manager_id=factories.make_user(role=Role.ANALYST).pk,
        )
    first.refresh_from_db()
    assert first.manager_id is None


# ---------------------------------------------------------------- audit and validation


def test_audit_rows_for_create_and_update():
    actor = factories.make_user(role=Role.MANAGER)
    customer = factories.make_customer()
    order, _ = order_upsert(
        actor=actor, data=OrderInput(external_id="1", total=Decimal("5")), customer=customer
    )
    order_upsert(
        actor=actor,
        data=OrderInput(external_id="1", total=Decimal("6"), manager_id=order.manager_id),
        customer=customer,
    )
    order_upsert(
        actor=actor,
        data=OrderInput(external_id="1", total=Decimal("6"), manager_id=order.manager_id),
        customer=customer,
    )  # nothing changed: no row
    rows = list(AuditEvent.objects.filter(object_type=ORDER).order_by("pk"))
    assert [r.action for r in rows] == [AuditAction.CREATE, AuditAction.UPDATE]
    assert rows[0].actor_id == actor.pk and rows[0].object_id == str(order.pk)
    assert rows[1].changes == {"total": ["5.00", "6.00"]}


@pytest.mark.parametrize(
    "bad",
    [
        {"external_id": "  "},
        {"status": "lost"},
        {"payment_method": "barter"},
        {"source": "pigeon"},
        {"discount": Decimal("-1")},
        {"total": "abc"},
        {"total": Decimal("-5")},
        {"items": [ItemInput(name=" ")]},
        {"items": [ItemInput(name="x", quantity=Decimal("0"))]},
        {"items": [ItemInput(name="x", price=Decimal("-1"))]},
    ],
)
def test_validation_errors_write_nothing(bad):
    counts = (Customer.objects.count(), AuditEvent.objects.count(), TimelineEvent.objects.count())
    with pytest.raises(ValidationError):
        push(ref=CustomerRef(phone="+79990000001", last_name="Новый"), **bad)
    assert (Customer.objects.count(), AuditEvent.objects.count()) == counts[:2]
    assert TimelineEvent.objects.count() == counts[2]
    assert Order.objects.count() == OrderItem.objects.count() == 0
    assert OrderStatusChange.objects.count() == CustomerStats.objects.count() == 0


def test_an_order_needs_a_customer():
    with pytest.raises(ValidationError):
        push()
    with pytest.raises(ValidationError):
        push(ref=CustomerRef(last_name="Без контактов"))
    assert Customer.objects.count() == Order.objects.count() == 0


# ---------------------------------------------------------------- concurrency


def _recomputed_stats() -> dict[int, tuple]:
    """Every customer's numbers straight from the orders, with one plain aggregate."""
    delivered = Q(orders__status=OrderStatus.DELIVERED)
    refused = Q(orders__status=OrderStatus.REFUSED, orders__payment_method=PaymentMethod.COD)
    rows = Customer.objects.annotate(
        n=Count("orders"),
        delivered=Count("orders", filter=delivered),
        revenue=Sum("orders__total", filter=delivered),
        refused=Count("orders", filter=refused),
        first=Min("orders__placed_at"),
        last=Max("orders__placed_at"),
    ).filter(n__gt=0)
    return {
        c.pk: (
            c.n,
            c.delivered,
            (c.revenue or Decimal("0")).quantize(Decimal("0.01")),
            c.refused,
            c.first,
            c.last,
        )
        for c in rows
    }


def _stored_stats() -> dict[int, tuple]:
    return {
        s.customer_id: (
            s.orders_count,
            s.delivered_count,
            s.revenue,
            s.refused_cod_count,
            s.first_order_at,
            s.last_order_at,
        )
        for s in CustomerStats.objects.filter(orders_count__gt=0)
    }


@pytest.mark.django_db(transaction=True)
def test_stats_do_not_drift_under_concurrent_pushes(audit_purged_after):
    # PostgreSQL serialises per customer with row locks; SQLite with IMMEDIATE transactions
    # (one writer at a time, the others queue on busy_timeout). Both take the full load.
    threads = 8
    per_thread = 10
    customers = [factories.make_customer() for _ in range(5)]
    phones = [c.primary_phone for c in customers]
    factories.make_user(role=Role.MANAGER)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(thread: int) -> None:
        rng = random.Random(thread)
        try:
            barrier.wait()
            for n in range(per_thread):
                phone = phones[rng.randrange(len(phones))]
                # Customers named in another format than stored: found, not created.
                ref = CustomerRef(phone="8" + phone[2:])
                order, _ = order_upsert(
                    actor=None,
                    data=OrderInput(
                        external_id=f"T{thread}-{n}",
                        total=Decimal(rng.randrange(100, 10_000)) / 100,
                        payment_method=rng.choice([PaymentMethod.CARD, PaymentMethod.COD]),
                        placed_at=T0 + dt.timedelta(minutes=rng.randrange(10_000)),
                        status=rng.choice([OrderStatus.NEW, OrderStatus.DELIVERED]),
                    ),
                    customer_ref=ref,
                )
                # A random walk along the life cycle: a refusal or a delivery, or still open.
                walk = (
                    rng.choice([[], [OrderStatus.RETURNED]])
                    if order.status == OrderStatus.DELIVERED
                    else rng.choice(
                        [
                            [],
                            [OrderStatus.CONFIRMED],
                            [OrderStatus.SHIPPED, OrderStatus.REFUSED],
                            [OrderStatus.CONFIRMED, OrderStatus.DELIVERED],
                        ]
                    )
                )
                for status in walk:
                    order_status_set(actor=None, order_id=order.pk, status=status)
                current = walk[-1] if walk else order.status
                if n % 3 == 0:
                    # Re-push with a new total: the update path under load.
                    order_upsert(
                        actor=None,
                        data=OrderInput(
                            external_id=f"T{thread}-{n}",
                            total=Decimal(rng.randrange(100, 10_000)) / 100,
                            payment_method=order.payment_method,
                            placed_at=order.placed_at,
                            # Delivered now, unless already past delivery or refused.
                            status=OrderStatus.DELIVERED
                            if current in (*OPEN_STATUSES, OrderStatus.DELIVERED)
                            else current,
                        ),
                        customer_ref=CustomerRef(phone=phone),
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    assert not errors, errors
    assert Order.objects.count() == threads * per_thread
    assert Customer.objects.count() == len(customers)
    recomputed = _recomputed_stats()
    assert sum(v[0] for v in recomputed.values()) == threads * per_thread
    assert _stored_stats() == recomputed
    for stats in CustomerStats.objects.all():
        expected = (
            (stats.revenue / stats.delivered_count).quantize(Decimal("0.01"))
            if stats.delivered_count
            else Decimal("0")
        )
        assert stats.average_order_value == expected


# ---------------------------------------------------------------- orders keyed in by staff


def test_keyed_in_orders_are_numbered_by_day_past_any_number_taken():
    customer = factories.make_customer()
    today = timezone.localdate()
    # A phone order of today's series placed on another day (an import, a typed number).
    push(customer, external_id=f"{today:%y%m%d}-001", source="phone", placed_at=T0)
    push(customer, external_id=f"{today:%y%m%d}-x", source="phone")  # not a counter: ignored
    operator = factories.make_user(role=Role.OPERATOR)
    first = order_create(actor=operator, customer=customer, data=OrderInput(external_id=""))
    second = order_create(actor=operator, customer=customer, data=OrderInput(external_id=" "))
    assert (first.external_id, second.external_id) == (
        f"{today:%y%m%d}-002",
        f"{today:%y%m%d}-003",
    )
    assert (first.source, first.status) == ("phone", "new")


def test_a_typed_number_in_use_is_refused_and_the_order_untouched():
    customer = factories.make_customer()
    taken = push(customer, external_id="77", source="phone", total=Decimal("10"))
    other = factories.make_customer()
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        order_create(
            actor=None,
            customer=other,
            data=OrderInput(external_id="77", total=Decimal("99")),
        )
    assert caught.value.code == "order_exists"
    taken.refresh_from_db()
    assert (taken.customer_id, taken.total) == (customer.pk, Decimal("10.00"))
    assert AuditEvent.objects.count() == events
    # The same number from another source is another order: the shop's "77" is not a phone one.
    push(customer, external_id="78", source="website")
    assert order_create(actor=None, customer=customer, data=OrderInput(external_id="78")).pk
