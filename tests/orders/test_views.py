"""The orders pages and the purchase history on the customer card, through real requests."""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers.choices import CustomerKind, StopListReason
from clientbase.customers.models import TimelineEvent
from clientbase.customers.services import customer_stoplist_add
from clientbase.orders import selectors
from clientbase.orders.choices import OrderStatus, PaymentMethod
from clientbase.orders.models import ManagerCapacity, Order, OrderStatusChange
from clientbase.orders.services import ItemInput, OrderInput, order_upsert
from tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


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


def history_rows(html: str) -> list[str]:
    """The purchase history's table rows as plain text, one string per row."""
    section = html.split('id="purchase-history"')[1].split("</section>")[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_purchase_history_lines_add_up_to_the_total(client_for, operator_user):
    customer = factories.make_customer()
    make_order(
        customer,
        "200",
        items=[
            ItemInput(
                name="Чайник", category="Кухня", quantity=Decimal("1"), price=Decimal("2500")
            ),
            ItemInput(name="Кружка", quantity=Decimal("2"), price=Decimal("350")),
        ],
        discount=Decimal("200"),
        delivery_cost=Decimal("300"),
        placed_at=T0,
    )
    # The shop's own total differs from its lines (a rounding or a gift card): the difference
    # is shown, so the lines still add up.
    make_order(
        customer,
        "201",
        items=[ItemInput(name="Лампа", quantity=Decimal("3"), price=Decimal("10"))],
        total=Decimal("25"),
        placed_at=T0 - dt.timedelta(days=1),
    )
    # Without items, the subtotal the shop sent stands for them.
    make_order(
        customer,
        "202",
        subtotal=Decimal("100"),
        delivery_cost=Decimal("50"),
        placed_at=T0 - dt.timedelta(days=2),
    )
    html = client_for(operator_user).get(f"/customers/{customer.pk}/").content.decode()
    assert history_rows(html) == [
        "Product Category Quantity Price Amount",
        "Чайник Кухня × 1 ₽2,500.00 ₽2,500.00",
        "Кружка — × 2 ₽350.00 ₽700.00",
        "Discount −₽200.00",
        "Delivery ₽300.00",
        "Total ₽3,300.00",
        "Product Category Quantity Price Amount",
        "Лампа — × 3 ₽10.00 ₽30.00",
        "Other adjustments −₽5.00",
        "Total ₽25.00",
        "Subtotal ₽100.00",
        "Delivery ₽50.00",
        "Total ₽150.00",
    ]


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


def test_the_page_offers_only_the_next_statuses_and_refuses_others(client_for, operator_user):
    order = make_order(factories.make_customer())
    client = client_for(operator_user)
    html = client.get(f"/orders/{order.pk}/").content.decode()
    offered = re.findall(
        r'<option value="(\w+)"', html.split('name="status"')[1].split("</select>")[0]
    )
    assert offered == ["confirmed", "paid", "shipped", "delivered", "cancelled"]
    client.post(f"/orders/{order.pk}/status/", {"status": "delivered"}, follow=True)
    history = OrderStatusChange.objects.filter(order=order)
    assert history.count() == 2
    # A stale page posts a status that is no longer allowed: a clear message, nothing changes.
    response = client.post(f"/orders/{order.pk}/status/", {"status": "new"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "An order cannot go from «Delivered» to «New»; from «Delivered» it can become: «Returned»."
    ]
    order.refresh_from_db()
    assert order.status == "delivered" and history.count() == 2
    client.post(f"/orders/{order.pk}/status/", {"status": "returned"})
    html = client.get(f"/orders/{order.pk}/").content.decode()
    assert (
        "Change status" not in html
        and "A final status: the order does not change any more." in html
    )


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


def listed(html: str) -> list[str]:
    """Order numbers in the list's table, in order."""
    return re.findall(r'<td><a href="/orders/\d+/">([^<]+)</a></td>', html)


def test_all_orders_search_by_number_customer_name_and_phone_in_any_format(
    client_for, operator_user
):
    anna = factories.make_customer(
        last_name="Лебедева", first_name="Анна", phones=["+79161234567"], emails=["anna@mail.ru"]
    )
    boris = factories.make_customer(last_name="Орлов", first_name="Борис")
    make_order(anna, "W-100", placed_at=T0)
    make_order(anna, "W-101", placed_at=T0 + dt.timedelta(hours=1))
    make_order(boris, "W-102", placed_at=T0 + dt.timedelta(hours=2))
    make_order(boris, "79161234567", placed_at=T0 + dt.timedelta(hours=3))  # a number like a phone
    client = client_for(operator_user)
    assert listed(client.get("/orders/", {"q": "W-101"}).content.decode()) == ["W-101"]
    assert listed(client.get("/orders/", {"q": "№ W-100"}).content.decode()) == ["W-100"]
    assert listed(client.get("/orders/", {"q": "лебедева"}).content.decode()) == [
        "W-101",
        "W-100",
    ]
    assert listed(client.get("/orders/", {"q": "Орлов Борис"}).content.decode()) == [
        "79161234567",
        "W-102",
    ]
    for phone in ("8 (916) 123-45-67", "+7 916 123 45 67", "79161234567"):
        found = listed(client.get("/orders/", {"q": phone}).content.decode())
        expected = ["W-101", "W-100"] + (["79161234567"] if phone == "79161234567" else [])
        assert sorted(found) == sorted(expected), phone
    assert listed(client.get("/orders/", {"q": "anna@mail.ru"}).content.decode()) == [
        "W-101",
        "W-100",
    ]
    assert listed(client.get("/orders/", {"q": "Никто"}).content.decode()) == []
    # The search is recorded, without the phone.
    searches = AuditEvent.objects.filter(action=AuditAction.SEARCH, object_type="orders.order")
    assert searches.count() == 9
    assert all("916" not in str(e.extra) for e in searches)


def test_all_orders_filter_by_dates_in_the_shops_time_zone(client_for, operator_user, settings):
    settings.TIME_ZONE = "Europe/Moscow"
    customer = factories.make_customer()
    # 23:30 Moscow on 1 March is 20:30 UTC: it belongs to 1 March, not 2 March.
    make_order(customer, "MAR1", placed_at=dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC))
    make_order(customer, "MAR2", placed_at=dt.datetime(2026, 3, 1, 21, 30, tzinfo=dt.UTC))
    make_order(customer, "MAR5", placed_at=dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC))
    client = client_for(operator_user)
    get = lambda **q: listed(client.get("/orders/", q).content.decode())  # noqa: E731
    assert get(**{"from": "2026-03-01", "to": "2026-03-01"}) == ["MAR1"]
    assert get(**{"from": "2026-03-02"}) == ["MAR5", "MAR2"]
    assert get(to="2026-03-04") == ["MAR2", "MAR1"]
    assert get(**{"from": "01.03.2026", "to": "02.03.2026"}) == ["MAR2", "MAR1"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-13-01"}, "Placed from: Enter a valid date."),
        ({"to": "вчера"}, "Placed to: Enter a valid date."),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "The start date is after the end date."),
        ({"status": "robot"}, "Status: Select a valid choice. robot is not one of the available"),
        ({"manager": "999999"}, "Manager: Select a valid choice. 999999 is not one of the"),
        ({"sort": "price"}, "Sort: Select a valid choice. price is not one of the available"),
        ({"q": "x" * 101}, "Search: Ensure this value has at most 100 characters (it has 101)."),
    ],
)
def test_an_invalid_filter_is_an_error_not_the_whole_list(client_for, manager_user, query, message):
    make_order(factories.make_customer(), "SHOWN")
    client = client_for(manager_user)
    response = client.get("/orders/", query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert listed(html) == [] and "No orders found." not in html
    assert "/exports/" not in html and "export_orders" not in html  # never an export link
    # The list's own table, as htmx asks for it: swapped in (htmx ignores a 400).
    response = client.get(
        "/orders/", query, headers={"HX-Request": "true", "HX-Target": "order-table"}
    )
    assert response.status_code == 200 and message in response.content.decode()
    assert listed(response.content.decode()) == []


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


@pytest.mark.parametrize("sort", ["", "importance"])
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_deeply_nested_cursor_is_a_bad_cursor_not_a_server_error(
    client_for, manager_user, sort, direction
):
    """A cursor is JSON a visitor can hand-make: 100,000 levels deep reads like any malformed
    cursor (the first page), in both orders of the list."""
    make_order(factories.make_customer(), "SHOWN")
    nested = base64.urlsafe_b64encode(("[" * 100_000 + "]" * 100_000).encode()).decode()
    response = client_for(manager_user).get(
        "/orders/", {"sort": sort, direction: nested.rstrip("=")}
    )
    assert response.status_code == 200
    assert listed(response.content.decode()) == ["SHOWN"]


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


def test_managers_page_warns_when_a_manager_is_over_capacity(client_for, admin_user):
    busy = factories.make_user(role=Role.MANAGER, username="busy")
    full = factories.make_user(role=Role.MANAGER, username="full")
    calm = factories.make_user(role=Role.MANAGER, username="calm")
    customer = factories.make_customer()
    for n in range(3):
        make_order(customer, f"B{n}", manager_id=busy.pk)
    for n in range(2):
        make_order(customer, f"F{n}", manager_id=full.pk)
    make_order(customer, "C0", manager_id=calm.pk)
    ManagerCapacity.objects.create(user=busy, capacity=1)  # lowered after the orders came
    ManagerCapacity.objects.create(user=full, capacity=2)
    html = client_for(admin_user).get("/orders/managers/").content.decode()
    rows = {
        name: " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)
        for name in ("busy", "full", "calm")
        if f">{name}" in row or f" {name}" in row
    }
    assert "Over capacity by 2 orders" in rows["busy"]
    assert "At capacity: gets no new orders" in rows["full"]
    assert "capacity" not in rows["calm"].replace("Open orders at most", "")
    assert "1 manager is over capacity" in html


def test_an_order_opens_by_its_number_and_ids_keep_working(client_for, operator_user):
    customer = factories.make_customer()
    order = make_order(customer, "W-100/7")
    plain = make_order(customer, "ABC")
    client = client_for(operator_user)
    response = client.get("/orders/number/W-100/7/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    response = client.get("/orders/ABC/")
    assert response.status_code == 302 and response["Location"] == f"/orders/{plain.pk}/"
    assert client.get(f"/orders/{order.pk}/").status_code == 200
    assert client.get("/orders/number/NOPE/").status_code == 404
    assert client.get("/orders/NOPE/").status_code == 404
    # Two sources may use one number: the list shows both.
    order_upsert(
        actor=None,
        data=OrderInput(external_id="ABC", source="marketplace"),
        customer=customer,
    )
    response = client.get("/orders/number/ABC/")
    assert response.status_code == 302 and response["Location"] == "/orders/?q=ABC"
    assert listed(client.get(response["Location"]).content.decode()) == ["ABC", "ABC"]
    # The list links by id, as before.
    assert f'href="/orders/{plain.pk}/"' in client.get("/orders/").content.decode()


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


def test_caller_page_names_a_companys_contact_person(client_for, operator_user):
    company = factories.make_customer(
        kind=CustomerKind.COMPANY,
        company_name="ООО «Ромашка»",
        last_name="Петров",
        first_name="Иван",
        phones=["+79161112233"],
    )
    person = factories.make_customer(
        last_name="Сидоров", first_name="Пётр", phones=["+79161112244"]
    )
    client = client_for(operator_user)
    html = client.get("/orders/caller/", {"phone": "8 916 111-22-33"}).content.decode()
    assert f'href="/customers/{company.pk}/"' in html and "ООО «Ромашка»" in html
    assert re.search(r'caller-contact-person">[^<]*<strong>Петров Иван</strong>', html)
    html = client.get("/orders/caller/", {"phone": person.primary_phone}).content.decode()
    assert "Сидоров Пётр" in html and "caller-contact-person" not in html


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


# ---------------------------------------------------------------- an order keyed in by phone


def order_post(**fields):
    """The new-order form as a browser posts it: three item rows, the rest of them empty."""
    rows = fields.pop("rows", [{"name": "Чайник", "quantity": "1", "price": "2500"}])
    data = {
        "items-TOTAL_FORMS": "3",
        "items-INITIAL_FORMS": "0",
        "items-MIN_NUM_FORMS": "1",
        "items-MAX_NUM_FORMS": "200",
        "payment_method": "cod",
        "delivery_method": "Курьер",
        "address": "Москва, ул. Ленина, 1",
        "delivery_cost": "300",
        "discount": "",
        "coupon": "",
        "promised_delivery": "",
        "manager": "",
        "number": "",
    }
    for i in range(3):
        row = rows[i] if i < len(rows) else {}
        for name in ("name", "sku", "category", "quantity", "price"):
            data[f"items-{i}-{name}"] = row.get(name, "")
    data.update(fields)
    return data


def test_an_operator_keys_in_an_order_from_the_card_through_the_service(
    client_for, operator_user, settings
):
    settings.TIME_ZONE = "Europe/Moscow"
    settings.LANGUAGE_CODE = "ru"  # a Russian operator types 350,50 and 2 500
    manager = factories.make_user(role=Role.MANAGER)
    customer = factories.make_customer(city="Москва")
    client = client_for(operator_user)
    card = client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'href="/orders/new/{customer.pk}/"' in card
    page = client.get(f"/orders/new/{customer.pk}/").content.decode()
    assert 'value="Москва, ул. Ленина, 1"' in page  # the default address, ready
    rows = [
        {"name": "Чайник", "sku": "A-1", "category": "Кухня", "quantity": "1", "price": "2 500"},
        {"name": "Кружка", "quantity": "2", "price": "350,50"},  # a Russian decimal comma
    ]
    response = client.post(
        f"/orders/new/{customer.pk}/", order_post(rows=rows, discount="100", coupon="ОСЕНЬ")
    )
    order = Order.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    today = timezone.localdate()
    assert order.external_id == f"{today:%y%m%d}-001"
    assert (order.source, order.status, order.customer_id) == ("phone", "new", customer.pk)
    assert (order.subtotal, order.discount, order.delivery_cost, order.total) == (
        Decimal("3201.00"),
        Decimal("100.00"),
        Decimal("300.00"),
        Decimal("3401.00"),
    )
    assert (order.payment_method, order.delivery_method, order.coupon) == ("cod", "Курьер", "ОСЕНЬ")
    assert order.manager_id == manager.pk  # the least loaded manager, never the operator
    assert list(order.items.order_by("id").values_list("name", "sku", "quantity", "price")) == [
        ("Чайник", "A-1", Decimal("1.000"), Decimal("2500.00")),
        ("Кружка", "", Decimal("2.000"), Decimal("350.50")),
    ]
    event = AuditEvent.objects.get(action=AuditAction.CREATE, object_type="orders.order")
    assert (event.actor_id, event.object_id) == (operator_user.pk, str(order.pk))
    history = OrderStatusChange.objects.get(order=order)
    assert (history.status, history.actor_id) == ("new", operator_user.pk)
    assert customer.stats.orders_count == 1
    # The next one of the day takes the next number.
    client.post(f"/orders/new/{customer.pk}/", order_post())
    assert set(Order.objects.values_list("external_id", flat=True)) == {
        f"{today:%y%m%d}-001",
        f"{today:%y%m%d}-002",
    }


@pytest.mark.parametrize(
    ("fields", "field_error"),
    [
        ({"rows": []}, "Add at least one item: its name, quantity and price."),
        (
            {"rows": [{"name": "Чайник", "quantity": "0", "price": "10"}]},
            "Ensure this value is greater than or equal to 0.001.",
        ),
        ({"rows": [{"name": "Чайник", "quantity": "1", "price": "дорого"}]}, "Enter a number."),
        ({"rows": [{"quantity": "1", "price": "10"}]}, "This field is required."),
        ({"delivery_cost": "-5"}, "Ensure this value is greater than or equal to 0."),
        (
            {"payment_method": "barter"},
            "Select a valid choice. barter is not one of the available choices.",
        ),
        ({"promised_delivery": "завтра"}, "Enter a valid date."),
    ],
)
def test_bad_input_keeps_what_was_typed_and_creates_nothing(
    client_for, operator_user, fields, field_error
):
    customer = factories.make_customer()
    client = client_for(operator_user)
    before = (AuditEvent.objects.count(), TimelineEvent.objects.count())
    response = client.post(f"/orders/new/{customer.pk}/", order_post(**fields))
    assert response.status_code == 400
    html = response.content.decode()
    assert field_error in html
    assert 'value="Курьер"' in html  # nothing typed is lost
    assert Order.objects.count() == 0
    assert (AuditEvent.objects.count(), TimelineEvent.objects.count()) == before


def test_service_rules_show_on_the_form(client_for, operator_user):
    customer = factories.make_customer()
    make_order(customer, "ЗАНЯТ", source="phone")
    stoplisted = factories.make_customer()
    stoplist(stoplisted)
    client = client_for(operator_user)
    response = client.post(f"/orders/new/{customer.pk}/", order_post(number="ЗАНЯТ"))
    assert response.status_code == 400
    assert "An order with the number ЗАНЯТ already exists." in response.content.decode()
    assert Order.objects.get(external_id="ЗАНЯТ").items.count() == 0  # not overwritten
    response = client.post(f"/orders/new/{stoplisted.pk}/", order_post(payment_method="cod"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "refused cash-on-delivery parcels and is on the stop-list" in html
    assert "order-stoplist-flag" in html
    assert not Order.objects.filter(customer=stoplisted).exists()


def test_more_rows_keeps_the_typed_rows(client_for, operator_user):
    customer = factories.make_customer()
    rows = [{"name": "Чайник", "quantity": "1", "price": "10"}]
    response = client_for(operator_user).post(
        f"/orders/new/{customer.pk}/", order_post(rows=rows, add_rows="1")
    )
    html = response.content.decode()
    assert response.status_code == 200 and Order.objects.count() == 0
    assert 'name="items-TOTAL_FORMS" value="3"' in html
    assert 'name="items-0-name" value="Чайник"' in html and "This field is required" not in html


def test_who_may_key_in_an_order(client_for, users_by_role):
    customer = factories.make_customer()
    for role, user in users_by_role.items():
        client = client_for(user)
        allowed = role in (Role.ADMIN, Role.MANAGER, Role.OPERATOR)
        assert client.get(f"/orders/new/{customer.pk}/").status_code == (200 if allowed else 403)
        card = client.get(f"/customers/{customer.pk}/").content.decode()
        assert (f'href="/orders/new/{customer.pk}/"' in card) == allowed
        caller = client.get("/orders/caller/", {"phone": customer.primary_phone}).content.decode()
        assert (f'href="/orders/new/{customer.pk}/"' in caller) == allowed
    assert client_for(users_by_role[Role.ADMIN]).get("/orders/new/999999/").status_code == 404
