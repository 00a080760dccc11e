"""Orders through the API: upsert by (source, external id), status, stop-list rules, stats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from clientbase.customers.models import Customer
from clientbase.customers.services import customer_stoplist_add
from clientbase.orders.models import CustomerStats, Order, OrderItem, OrderStatusChange
from tests.api.conftest import ApiClient, at_once

pytestmark = pytest.mark.django_db

ORDER = {
    "external_id": "1001",
    "source": "website",
    "placed_at": "2026-11-01T10:00:00+03:00",
    "status": "new",
    "payment_method": "card",
    "delivery_cost": "300.00",
    "items": [
        {"sku": "A-1", "name": "Чайник", "category": "Кухня", "quantity": 1, "price": "2500.00"},
        {"sku": "B-2", "name": "Кружка", "category": "Кухня", "quantity": 2, "price": "350.00"},
    ],
    "customer": {"external_id": "c-1", "phone": "8 916 123-45-67", "first_name": "Анна"},
}


def test_create_then_upsert_is_one_order(shop_api):
    response = shop_api.post("/api/v1/orders/", ORDER)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subtotal"] == "3200.00" and body["total"] == "3500.00"
    assert body["customer_stoplisted"] is False
    assert [i["name"] for i in body["items"]] == ["Чайник", "Кружка"]

    response = shop_api.post(
        "/api/v1/orders/", {**ORDER, "status": "paid", "items": ORDER["items"][:1]}
    )
    assert response.status_code == 200
    assert response.json()["id"] == body["id"] and response.json()["status"] == "paid"
    assert Order.objects.count() == 1 and Customer.objects.count() == 1
    assert OrderItem.objects.count() == 1
    assert list(OrderStatusChange.objects.values_list("status", flat=True)) == ["new", "paid"]
    customer = Customer.objects.get()
    assert customer.external_id == "c-1" and customer.primary_phone == "+79161234567"


def test_status_change_and_exact_stats_after_pushes(shop_api, full_api):
    totals = []
    for n in range(3):
        response = shop_api.post(
            "/api/v1/orders/", {**ORDER, "external_id": f"S-{n}", "total": f"{1000 * (n + 1)}.50"}
        )
        assert response.status_code == 201
        totals.append(response.json()["id"])
    delivered = shop_api.post(f"/api/v1/orders/{totals[0]}/status/", {"status": "delivered"})
    assert delivered.status_code == 200 and delivered.json()["delivered_at"]
    shop_api.post(f"/api/v1/orders/{totals[2]}/status/", {"status": "delivered"})
    shop_api.post(
        "/api/v1/orders/",
        {**ORDER, "external_id": "S-9", "payment_method": "cod", "status": "refused"},
    )
    stats = CustomerStats.objects.get()
    assert stats.orders_count == 4 and stats.delivered_count == 2
    assert stats.revenue == Decimal("4001.00") and stats.average_order_value == Decimal("2000.50")
    assert stats.refused_cod_count == 1
    card = full_api.get(f"/api/v1/customers/{stats.customer_id}/").json()
    assert card["stats"]["orders_count"] == 4 and card["stats"]["revenue"] == "4001.00"
    assert card["stats"]["first_order_at"].startswith("2026-11-01T10:00:00")

    unknown = shop_api.post(f"/api/v1/orders/{totals[0]}/status/", {"status": "lost"})
    assert unknown.status_code == 400
    assert shop_api.post("/api/v1/orders/999999/status/", {"status": "paid"}).status_code == 404


def test_cod_refused_for_a_stoplisted_refuser_and_orders_flagged(shop_api, make_customer):
    customer = make_customer(phones=["+79161234567"])
    customer_stoplist_add(
        actor=None, customer_id=customer.pk, expected_version=1, reason="refused_cod"
    )
    body = {**ORDER, "customer": None, "customer_id": customer.pk, "payment_method": "cod"}
    del body["customer"]
    response = shop_api.post("/api/v1/orders/", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "cod_not_allowed" and error["message"]
    assert Order.objects.count() == 0

    response = shop_api.post("/api/v1/orders/", {**body, "payment_method": "card"})
    assert response.status_code == 201
    assert response.json()["customer_stoplisted"] is True


def test_a_move_back_in_the_life_cycle_is_422_and_changes_nothing(shop_api):
    created = shop_api.post("/api/v1/orders/", {**ORDER, "status": "delivered"}).json()
    history = list(OrderStatusChange.objects.values_list("status", flat=True))
    for response in (
        shop_api.post(f"/api/v1/orders/{created['id']}/status/", {"status": "new"}),
        shop_api.post("/api/v1/orders/", {**ORDER, "status": "shipped", "total": "1.00"}),
    ):
        assert response.status_code == 422, response.content
        assert response.json()["error"]["code"] == "status_transition_not_allowed"
        assert response.json()["error"]["details"]["allowed"] == ["returned"]
        assert response.json()["error"]["message"].startswith(
            "Заказ нельзя перевести из статуса «Доставлен»"
        )
    order = Order.objects.get()
    assert (order.status, order.total) == ("delivered", Decimal("3500.00"))
    assert list(OrderStatusChange.objects.values_list("status", flat=True)) == history
    assert CustomerStats.objects.get().revenue == Decimal("3500.00")


def test_the_shop_may_report_several_steps_at_once(shop_api):
    created = shop_api.post("/api/v1/orders/", ORDER).json()
    response = shop_api.post(f"/api/v1/orders/{created['id']}/status/", {"status": "refused"})
    assert response.status_code == 200 and response.json()["status"] == "refused"
    response = shop_api.post("/api/v1/orders/", {**ORDER, "external_id": "2"})
    response = shop_api.post("/api/v1/orders/", {**ORDER, "external_id": "2", "status": "returned"})
    assert response.status_code == 200 and response.json()["status"] == "returned"


def test_order_reads_and_list_by_customer(full_api, shop_api):
    first = shop_api.post("/api/v1/orders/", ORDER).json()
    shop_api.post(
        "/api/v1/orders/",
        {**ORDER, "external_id": "2", "customer": {"email": "other@example.com"}},
    )
    assert full_api.get(f"/api/v1/orders/{first['id']}/").json()["external_id"] == "1001"
    listed = full_api.get("/api/v1/orders/", {"customer": first["customer_id"]}).json()
    assert [o["id"] for o in listed["results"]] == [first["id"]]
    assert len(full_api.get("/api/v1/orders/").json()["results"]) == 2
    assert full_api.get("/api/v1/orders/999999/").status_code == 404


def test_order_needs_a_customer(shop_api):
    body = {k: v for k, v in ORDER.items() if k != "customer"}
    response = shop_api.post("/api/v1/orders/", body)
    assert response.status_code == 400
    assert "customer" in response.json()["error"]["details"]
    response = shop_api.post("/api/v1/orders/", {**body, "customer_id": 424242})
    assert response.status_code == 400 and Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_of_one_new_customer_create_that_customer_once(
    shop_api, audit_purged_after
):
    """10 orders of one customer the base does not know yet, pushed at once from threads with
    real connections: every push succeeds and they all land on one new customer."""

    def push(n: int) -> Any:
        body = {
            **ORDER,
            "external_id": f"R-{n}",
            "customer": {
                "external_id": "c-race",
                "email": "race@example.com",
                "phone": "8 916 765-43-21",
                "first_name": "Олег",
            },
        }
        return ApiClient(shop_api.key).post("/api/v1/orders/", body)

    responses = at_once(10, push)

    refused = [r.content for r in responses.values() if r.status_code != 201]
    assert refused == []
    assert len(responses) == 10
    customer = Customer.objects.get()
    assert customer.external_id == "c-race"
    assert customer.primary_phone == "+79167654321"
    assert sorted(Order.objects.values_list("external_id", flat=True)) == [
        f"R-{n}" for n in range(10)
    ]
    assert set(Order.objects.values_list("customer_id", flat=True)) == {customer.pk}
    stats = CustomerStats.objects.get()
    assert stats.customer_id == customer.pk and stats.orders_count == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_and_upserts_of_one_new_customer_create_it_once(
    shop_api, audit_purged_after
):
    """Orders and customer upserts naming one new person take the same lock: five of each at
    once give one customer with five orders."""
    person = {"external_id": "c-mixed", "email": "mixed@example.com", "first_name": "Олег"}

    def push(n: int) -> Any:
        client = ApiClient(shop_api.key)
        if n % 2:
            return client.post(
                "/api/v1/orders/", {**ORDER, "external_id": f"M-{n}", "customer": person}
            )
        body = {
            "external_id": person["external_id"],
            "first_name": person["first_name"],
            "emails": [{"address": person["email"]}],
        }
        return client.post("/api/v1/customers/upsert/", body)

    responses = at_once(10, push)

    refused = [r.content for r in responses.values() if r.status_code not in (200, 201)]
    assert refused == []
    assert len(responses) == 10
    customer = Customer.objects.get()
    assert customer.external_id == "c-mixed"
    assert list(customer.emails.values_list("address", flat=True)) == ["mixed@example.com"]
    assert Order.objects.filter(customer=customer).count() == 5
    assert CustomerStats.objects.get(customer=customer).orders_count == 5
