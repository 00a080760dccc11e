"""The orders pages and the purchase history on the customer card, through real requests."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers.choices import StopListReason
from clientbase.customers.services import customer_stoplist_add
from clientbase.orders import selectors
from clientbase.orders.choices import OrderStatus, PaymentMethod
from clientbase.orders.models import ManagerCapacity, Order, OrderStatusChange
from clientbase.orders.services import ItemInput, OrderInput, order_upsert
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"


def make_order(customer, number="A-1", **fields):
    order, _ = order_upsert(
        actor=None, data=OrderInput(external_id=number, **fields), customer=customer
    )
    return order


def stoplist(customer, reason=StopListReason.REFUSED_COD):
    customer.refresh_from_db()
    return customer_stoplist_add(
        actor=None,
        customer_id=customer.pk,
        expected_version=customer.version,
        reason=reason,
        comment="три отказа",
    )


# ---------------------------------------------------------------- customer card


def test_card_shows_history_with_items_stats_and_preferences(client_for, operator_user):
    customer = factories.make_customer()
    make_order(
        customer,
        "100",
        items=[
            ItemInput(name="Чайник", category="Кухня", quantity=Decimal("1"), price=Decimal("10")),
            ItemInput(name="Носки", category="Одежда", quantity=Decimal("5"), price=Decimal("1")),
        ],
        status=OrderStatus.DELIVERED,
    )
    make_order(
        customer,
        "101",
        items=[ItemInput(name="Шуба", category="Меха", quantity=Decimal("9"))],
        status=OrderStatus.CANCELLED,
    )
    html = client_for(operator_user).get(f"/customers/{customer.pk}/").content.decode()
    assert "Purchase history" in html and "Order 100" in html and "Чайник" in html
    assert "Одежда · 5" in html and "Кухня · 1" in html
    assert "Меха ·" not in html  # cancelled orders are not preferences
    assert 'class="row row-cols-auto g-3 mb-0 order-stats"' in html
    assert f'href="/orders/{Order.objects.get(external_id="100").pk}/"' in html


def test_preferences_top_five_by_quantity_in_one_query():
    customer = factories.make_customer()
    for n, category in enumerate("ABCDEFG"):
        make_order(
            customer,
            f"P{n}",
            items=[ItemInput(name="x", category=category, quantity=Decimal(n + 1))],
        )
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.customer_preferences(customer)
    assert len(queries) == 1
    assert [(r["category"], r["quantity"]) for r in rows] == [
        ("G", Decimal("7")),
        ("F", Decimal("6")),
        ("E", Decimal("5")),
        ("D", Decimal("4")),
        ("C", Decimal("3")),
    ]


def test_card_proposes_the_stoplist_once_and_flags_stoplisted_orders(
    client_for, manager_user, settings
):
    settings.STOPLIST_PROPOSE_AFTER_REFUSALS = 2
    customer = factories.make_customer()
    for n in range(2):
        make_order(customer, f"R{n}", payment_method=PaymentMethod.COD, status=OrderStatus.REFUSED)
    client = client_for(manager_user)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "refused 2 cash-on-delivery parcels" in html
    assert "Proposed for the stop-list after 2 refused cash-on-delivery parcels." in html
    assert "№R1 · Refused at delivery" in html
    assert "Add to the stop-list" in html
    stoplist(customer)
    html = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Add to the stop-list" not in html
    assert "Orders of a stop-listed customer" in html


# ---------------------------------------------------------------- order page


def test_order_page_by_role_and_stoplist_flag(client_for, users_by_role):
    customer = factories.make_customer()
    order = make_order(customer, items=[ItemInput(name="Лампа", price=Decimal("5"))])
    for role, user in users_by_role.items():
        response = client_for(user).get(f"/orders/{order.pk}/")
        assert response.status_code == 200, role
        html = response.content.decode()
        assert "Лампа" in html and "Status history" in html
        assert ("Change status" in html) == (role in (Role.ADMIN, Role.MANAGER, Role.OPERATOR))
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, object_type="orders.order", object_id=str(order.pk)
    ).count() == len(users_by_role)
    stoplist(customer, StopListReason.FRAUD)
    html = client_for(users_by_role[Role.ANALYST]).get(f"/orders/{order.pk}/").content.decode()
    assert "The customer is on the stop-list" in html and "три отказа" in html
    assert client_for(users_by_role[Role.ANALYST]).get("/orders/999999/").status_code == 404


def test_status_change_through_the_page(client_for, operator_user, users_by_role):
    order = make_order(factories.make_customer())
    client = client_for(operator_user)
    response = client.post(f"/orders/{order.pk}/status/", {"status": "shipped"})
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == "shipped"
    history = OrderStatusChange.objects.filter(order=order).order_by("id")
    assert [(c.status, c.actor_id) for c in history] == [
        ("new", None),
        ("shipped", operator_user.pk),
    ]
    # Nonsense and refused roles change nothing.
    client.post(f"/orders/{order.pk}/status/", {"status": "teleported"})
    analyst = client_for(users_by_role[Role.ANALYST])
    assert analyst.post(f"/orders/{order.pk}/status/", {"status": "new"}).status_code == 403
    order.refresh_from_db()
    assert order.status == "shipped" and history.count() == 2


def test_reassignment_through_the_page(client_for, users_by_role):
    manager = users_by_role[Role.MANAGER]
    order = make_order(factories.make_customer(), manager_id=manager.pk)
    other = factories.make_user(role=Role.MANAGER)
    client = client_for(users_by_role[Role.OPERATOR])
    assert client.post(f"/orders/{order.pk}/reassign/", {"manager": other.pk}).status_code == 302
    order.refresh_from_db()
    assert order.manager_id == other.pk
    # Not a manager: refused by the form, nothing changes.
    analyst = users_by_role[Role.ANALYST]
    client.post(f"/orders/{order.pk}/reassign/", {"manager": analyst.pk})
    order.refresh_from_db()
    assert order.manager_id == other.pk
    marketer = client_for(users_by_role[Role.MARKETER])
    assert marketer.post(f"/orders/{order.pk}/reassign/", {"manager": ""}).status_code == 403
    assert client.post(f"/orders/{order.pk}/reassign/", {"manager": ""}).status_code == 302
    order.refresh_from_db()
    assert order.manager_id is None


# ---------------------------------------------------------------- lists


def test_my_orders_shows_only_mine_and_open_by_default(client_for, users_by_role):
    me = users_by_role[Role.MANAGER]
    other = factories.make_user(role=Role.MANAGER)
    customer = factories.make_customer()
    make_order(customer, "MINE-OPEN", manager_id=me.pk)
    make_order(customer, "MINE-DONE", manager_id=me.pk, status=OrderStatus.DELIVERED)
    make_order(customer, "THEIRS", manager_id=other.pk)
    client = client_for(me)
    html = client.get("/orders/mine/").content.decode()
    assert "MINE-OPEN" in html and "MINE-DONE" not in html and "THEIRS" not in html
    html = client.get("/orders/mine/?status=").content.decode()
    assert "MINE-OPEN" in html and "MINE-DONE" in html and "THEIRS" not in html
    # Every staff user has a "my orders" list, empty or not.
    assert client_for(users_by_role[Role.ANALYST]).get("/orders/mine/").status_code == 200


def test_all_orders_filters_by_status_and_manager(client_for, users_by_role):
    me = users_by_role[Role.MANAGER]
    customer = factories.make_customer()
    make_order(customer, "ONE", manager_id=me.pk)
    make_order(customer, "TWO", status=OrderStatus.DELIVERED, manager_id=me.pk)
    make_order(customer, "THREE")
    Order.objects.filter(external_id="THREE").update(manager=None)
    client = client_for(users_by_role[Role.ANALYST])
    html = client.get("/orders/").content.decode()
    assert all(n in html for n in ("ONE", "TWO", "THREE"))
    html = client.get("/orders/?status=open").content.decode()
    assert "ONE" in html and "TWO" not in html
    html = client.get("/orders/?status=delivered").content.decode()
    assert "TWO" in html and "ONE" not in html
    html = client.get("/orders/?manager=none").content.decode()
    assert "THREE" in html and "ONE" not in html
    html = client.get(f"/orders/?manager={me.pk}").content.decode()
    assert "ONE" in html and "THREE" not in html


def test_lists_page_by_keyset():
    customer = factories.make_customer()
    for n in range(5):
        make_order(customer, f"K{n}")
    params = selectors.OrderListParams()
    first = selectors.order_page(params, size=2)
    second = selectors.order_page(params, size=2, after=first.next_cursor)
    third = selectors.order_page(params, size=2, after=second.next_cursor)
    seen = [o.pk for page in (first, second, third) for o in page.rows]
    assert seen == list(Order.objects.order_by("-placed_at", "-id").values_list("pk", flat=True))
    assert (first.has_next, third.has_next) == (True, False)


@pytest.mark.parametrize("path", ["/orders/", "/orders/mine/?status=", "/orders/managers/"])
def test_no_n_plus_one_on_the_lists(client_for, admin_user, path):
    def queries_with(n_rows: int) -> int:
        while Order.objects.count() < n_rows:
            manager = factories.make_user(role=Role.MANAGER)
            make_order(
                factories.make_customer(),
                f"N{Order.objects.count()}",
                manager_id=admin_user.pk if "mine" in path else manager.pk,
            )
        client = client_for(admin_user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        return len(queries)

    assert queries_with(2) == queries_with(8)


def test_card_queries_do_not_grow_with_orders(client_for, admin_user):
    customer = factories.make_customer()

    def queries_with(n_orders: int) -> int:
        while customer.orders.count() < n_orders:
            make_order(
                customer,
                f"C{customer.orders.count()}",
                items=[ItemInput(name="x", category="y"), ItemInput(name="z")],
            )
        client = client_for(admin_user)
        with CaptureQueriesContext(connection) as queries:
            client.get(f"/customers/{customer.pk}/")
        return len(queries)

    assert queries_with(1) == queries_with(6)


# ---------------------------------------------------------------- managers


def test_manager_capacity_page(client_for, admin_user, users_by_role):
    manager = users_by_role[Role.MANAGER]
    make_order(factories.make_customer(), manager_id=manager.pk)
    client = client_for(admin_user)
    html = client.get("/orders/managers/").content.decode()
    assert str(manager) in html and "least loaded" in html
    response = client.post(f"/orders/managers/{manager.pk}/", {"capacity": "3"})
    assert response.status_code == 302
    row = ManagerCapacity.objects.get(user=manager)
    assert (row.accepts_orders, row.capacity) == (False, 3)
    client.post(f"/orders/managers/{manager.pk}/", {"capacity": "7", "accepts_orders": "on"})
    row.refresh_from_db()
    assert (row.accepts_orders, row.capacity) == (True, 7)
    assert AuditEvent.objects.filter(object_type="orders.managercapacity").count() == 2
    # Not a manager, or a negative capacity: nothing is written.
    client.post(f"/orders/managers/{users_by_role[Role.ANALYST].pk}/", {"capacity": "1"})
    client.post(f"/orders/managers/{manager.pk}/", {"capacity": "-1"})
    assert ManagerCapacity.objects.count() == 1
    row.refresh_from_db()
    assert row.capacity == 7
    assert client_for(manager).get("/orders/managers/").status_code == 403


# ---------------------------------------------------------------- caller page


def test_caller_page_finds_a_customer_by_a_differently_typed_phone(client_for, operator_user):
    customer = factories.make_customer(phones=["+79161234567"], tags=["VIP"])
    make_order(customer, "OPEN-1")
    make_order(customer, "DONE-1", status=OrderStatus.DELIVERED)
    stoplist(customer)
    client = client_for(operator_user)
    response = client.get("/orders/caller/", {"phone": "8 (916) 123-45-67"})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'href="/customers/{customer.pk}/"' in html
    assert "caller-stoplist" in html and "Refused cash-on-delivery parcels" in html
    assert "OPEN-1" in html and "DONE-1" not in html and "VIP" in html
    event = AuditEvent.objects.get(action=AuditAction.VIEW, object_id=str(customer.pk))
    assert event.extra == {"via": "caller"}
    flat = str(event.__dict__)
    assert "9161234567" not in flat and "916) 123" not in flat


def test_caller_page_not_found_offers_to_create(client_for, operator_user, users_by_role):
    client = client_for(operator_user)
    html = client.get("/orders/caller/?phone=+7 903 000-00-01").content.decode()
    assert "No customer has the number" in html
    assert "/customers/new/?phone=%2B79030000001" in html
    form = client.get("/customers/new/?phone=%2B79030000001").content.decode()
    assert 'value="+79030000001"' in form
    analyst = client_for(users_by_role[Role.ANALYST])
    assert (
        "/customers/new/" not in analyst.get("/orders/caller/?phone=89030000001").content.decode()
    )
    assert AuditEvent.objects.filter(action=AuditAction.VIEW).count() == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/orders/", {"status": "lost"}),
        ("/orders/", {"manager": "999999"}),
        ("/orders/", {"sort": "price"}),
        ("/orders/mine/", {"status": "lost"}),
    ],
)
def test_an_invalid_filter_shows_its_error_and_no_orders(client_for, admin_user, path, params):
    customer = factories.make_customer(last_name="Заказов")
    order = make_order(customer, number="A-77", manager_id=admin_user.pk)
    assert Order.objects.filter(pk=order.pk, manager=admin_user).exists()
    response = client_for(admin_user).get(path, params)
    assert response.status_code == 200
    assert response.context["page"].rows == []
    body = response.content.decode()
    assert "No orders are shown: some filters are not valid." in body
    assert "A-77" not in body and "/export/" not in body
