"""Customers through the API: list, card, create, versioned update, upsert, caller lookup."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers.models import Customer, CustomerPhone
from clientbase.customers.services import customer_snapshot, customer_stoplist_add
from clientbase.orders.services import CustomerRef, OrderInput, order_status_set, order_upsert
from tests.api.conftest import ApiClient, at_once

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return body["error"]


def test_list_filters_pages_by_cursor_and_audits_without_contact_text(full_api, make_customer):
    for i in range(3):
        make_customer(last_name=f"Алексеев{i}", city="Тула")
    make_customer(last_name="Борисов", city="Омск", phones=["+79161234567"])
    response = full_api.get("/api/v1/customers/", {"city": "Тула", "sort": "name"})
    assert response.status_code == 200
    body = response.json()
    assert [c["display_name"] for c in body["results"]] == [
        "Алексеев0 Иван",
        "Алексеев1 Иван",
        "Алексеев2 Иван",
    ]
    assert body["next"] is None and body["previous"] is None

    from clientbase.customers import selectors

    page_size = selectors.PAGE_SIZE
    for i in range(page_size):
        make_customer(last_name=f"Яковлев{i:03d}", phones=[])
    first = full_api.get("/api/v1/customers/").json()
    assert len(first["results"]) == page_size and first["next"]
    second = full_api.get(first["next"]).json()
    assert len(second["results"]) == Customer.objects.count() - page_size
    assert second["next"] is None and second["previous"]
    back = full_api.get(second["previous"]).json()
    assert [c["id"] for c in back["results"]] == [c["id"] for c in first["results"]]

    full_api.get("/api/v1/customers/", {"q": "8 916 123 45 67"})
    event = AuditEvent.objects.filter(action=AuditAction.SEARCH).latest("id")
    assert event.actor_name == "api:shop" and event.actor_id is None
    assert event.extra["query_kind"] == "phone" and "query" not in event.extra
    assert "9161234567" not in str(event.extra)


def test_card_has_everything_masks_the_document_and_sends_the_version(full_api, make_customer):
    customer = make_customer(
        phones=["+79161234567"],
        emails=["Ivan@Example.com"],
        city="Москва",
        tags=["VIP"],
        document_type="passport_ru",
        document_number="4510 908172",
    )
    response = full_api.get(f"/api/v1/customers/{customer.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    card = response.json()
    assert card["phones"] == [{"number": "+79161234567", "kind": "mobile", "is_primary": True}]
    assert card["emails"] == [{"address": "ivan@example.com", "is_primary": True}]
    assert card["addresses"][0]["city"] == "Москва"
    assert card["tags"] == ["VIP"] and card["version"] == 1
    assert card["document_type"] == "passport_ru"
    assert "4510" not in response.content.decode() and "9081" not in response.content.decode()
    assert card["document_number_masked"].endswith("72")
    assert card["stats"]["orders_count"] == 0
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW, object_id=str(customer.pk), actor_name="api:shop"
    ).exists()
    assert full_api.get("/api/v1/customers/999999/").status_code == 404


def test_create_answers_409_for_a_likely_duplicate_unless_confirmed(full_api, make_customer):
    existing = make_customer(phones=["+79161234567"])
    body = {"first_name": "Анна", "phones": [{"number": "8 916 123-45-67"}]}
    response = full_api.post("/api/v1/customers/", body)
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "likely_duplicate"
    assert error["details"][0]["id"] == existing.pk
    assert Customer.objects.count() == 1

    response = full_api.post("/api/v1/customers/", {**body, "confirm_duplicate": True})
    assert response.status_code == 201
    assert response.json()["first_name"] == "Анна"
    assert Customer.objects.count() == 2


def test_create_validation_error_has_the_error_shape(full_api):
    response = full_api.post("/api/v1/customers/", {"phones": [{"number": "12"}]})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert Customer.objects.count() == 0


def test_patch_with_if_match_or_version_field(full_api, make_customer):
    customer = make_customer(last_name="Старый")
    response = full_api.patch(
        f"/api/v1/customers/{customer.pk}/", {"last_name": "Новый"}, If_Match='"1"'
    )
    assert response.status_code == 200, response.content
    assert response.json()["last_name"] == "Новый"
    assert response["ETag"] == '"2"'
    response = full_api.patch(
        f"/api/v1/customers/{customer.pk}/", {"first_name": "Пётр", "version": 2}
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.last_name, customer.first_name, customer.version) == ("Новый", "Пётр", 3)


def test_stale_patch_is_412_with_what_changed_and_changes_nothing(full_api, make_customer):
    customer = make_customer(last_name="Старый")
    url = f"/api/v1/customers/{customer.pk}/"
    assert full_api.patch(url, {"last_name": "Первый", "version": 1}).status_code == 200
    before = customer_snapshot(Customer.objects.get(pk=customer.pk))
    response = full_api.patch(url, {"last_name": "Второй"}, If_Match='"1"')
    assert response.status_code == 412
    error = error_of(response)
    assert error["code"] == "version_conflict"
    assert error["details"][0]["changes"]["last_name"] == ["Старый", "Первый"]
    assert error["details"][0]["who"] == "api:shop"
    after = Customer.objects.get(pk=customer.pk)
    assert customer_snapshot(after) == before and after.version == 2


def test_patch_without_a_version_is_428(full_api, make_customer):
    customer = make_customer(last_name="Старый")
    response = full_api.patch(f"/api/v1/customers/{customer.pk}/", {"last_name": "Новый"})
    assert response.status_code == 428
    assert error_of(response)["code"] == "version_required"
    customer.refresh_from_db()
    assert (customer.last_name, customer.version) == ("Старый", 1)


def test_upsert_by_external_id_then_email_then_phone(full_api):
    body = {
        "external_id": "site-7",
        "first_name": "Олег",
        "emails": [{"address": "oleg@example.com"}],
    }
    response = full_api.post("/api/v1/customers/upsert/", body)
    assert response.status_code == 201
    customer_id = response.json()["id"]
    response = full_api.post("/api/v1/customers/upsert/", {**body, "last_name": "Иванов"})
    assert response.status_code == 200
    assert response.json()["id"] == customer_id and response.json()["last_name"] == "Иванов"
    response = full_api.post(
        "/api/v1/customers/upsert/",
        {"emails": [{"address": "OLEG@example.com"}], "phones": [{"number": "+79160000001"}]},
    )
    assert response.status_code == 200 and response.json()["id"] == customer_id
    response = full_api.post(
        "/api/v1/customers/upsert/", {"phones": [{"number": "8 916 000-00-01"}], "notes": "x"}
    )
    assert response.status_code == 200 and response.json()["id"] == customer_id
    assert Customer.objects.count() == 1
    assert Customer.objects.get().version == 4


def test_lookup_by_any_phone_format_shows_open_orders_and_stoplist(shop_api, make_customer):
    customer = make_customer(phones=["+79161234567"], tags=["Опт"])
    ref = CustomerRef(phone="+79161234567")
    for n, status in enumerate(["new", "delivered", "shipped"]):
        order_upsert(
            actor=None,
            data=OrderInput(external_id=f"L-{n}", status=status, total=100 * (n + 1)),
            customer_ref=ref,
        )
    customer_stoplist_add(
        actor=None,
        customer_id=customer.pk,
        expected_version=Customer.objects.get(pk=customer.pk).version,
        reason="refused_cod",
        comment="Два отказа",
    )
    response = shop_api.get("/api/v1/customers/lookup", {"phone": "8 (916) 123-45-67"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == customer.pk
    assert body["is_stoplisted"] is True and body["status"] == "stoplisted"
    assert body["stoplist_reason"] == "refused_cod" and body["stoplist_comment"] == "Два отказа"
    assert [o["number"] for o in body["open_orders"]] == ["L-2", "L-0"]
    assert body["open_orders"][0]["total"] == "300.00"
    assert body["stats"]["orders_count"] == 3 and body["stats"]["revenue"] == "200.00"
    assert body["tags"] == ["Опт"]
    event = AuditEvent.objects.filter(action=AuditAction.VIEW).latest("id")
    assert event.object_id == str(customer.pk) and event.extra == {"via": "lookup"}

    missing = shop_api.get("/api/v1/customers/lookup", {"phone": "+7 999 000-00-00"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert shop_api.get("/api/v1/customers/lookup", {"phone": "abc"}).status_code == 404
    assert shop_api.get("/api/v1/customers/lookup").status_code == 400


def test_lookup_runs_a_fixed_number_of_queries(shop_api, make_customer):
    customer = make_customer(phones=["+79161234567"], tags=["A", "B"])
    for n in range(5):
        order_upsert(actor=None, data=OrderInput(external_id=f"Q-{n}", total=10), customer=customer)
    shop_api.get("/api/v1/customers/lookup", {"phone": "+79161234567"})  # warm the token
    with CaptureQueriesContext(connection) as queries:
        response = shop_api.get("/api/v1/customers/lookup", {"phone": "+79161234567"})
    assert response.status_code == 200 and len(response.json()["open_orders"]) == 5
    # The token and the rate-limit window aside: phone with customer, manager and stats; tags;
    # open orders; the audit row.
    own = [
        q["sql"]
        for q in queries.captured_queries
        if "accounts_apiratewindow" not in q["sql"]
        and "accounts_apitoken" not in q["sql"]
        and "SAVEPOINT" not in q["sql"]
    ]
    assert len(own) == 4, own
    assert CustomerPhone.objects.filter(number="+79161234567").count() == 1


def test_customer_orders_with_items_and_history(full_api, make_customer):
    customer = make_customer()
    order, _ = order_upsert(actor=None, data=OrderInput(external_id="H-1"), customer=customer)
    order_status_set(actor=None, order_id=order.pk, status="shipped")
    response = full_api.get(f"/api/v1/customers/{customer.pk}/orders/")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert [h["status"] for h in row["status_history"]] == ["new", "shipped"]
    assert full_api.get("/api/v1/customers/999999/orders/").status_code == 404


def test_an_external_id_taken_by_another_customer_is_a_validation_error(full_api, make_customer):
    make_customer(external_id="site-1")
    response = full_api.post("/api/v1/customers/", {"first_name": "Ян", "external_id": "site-1"})
    assert response.status_code == 400
    assert "external_id" in error_of(response)["details"]
    assert Customer.objects.count() == 1
    other = make_customer()
    response = full_api.patch(
        f"/api/v1/customers/{other.pk}/", {"external_id": "site-1", "version": 1}
    )
    assert response.status_code == 400
    other.refresh_from_db()
    assert other.external_id is None and other.version == 1


def test_create_names_every_invalid_part_at_once_and_refuses_a_company_document(full_api):
    response = full_api.post(
        "/api/v1/customers/",
        {
            "kind": "company",
            "company_name": "ООО «Ромашка»",
            "inn": "7707083894",
            "document_type": "passport_ru",
            "document_number": "4510 123456",
            "phones": [{"number": "12"}],
            "emails": [{"address": "not-an-email"}],
        },
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert sorted(error["details"]) == ["document_number", "emails", "inn", "phones"]
    assert Customer.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_external_id_all_succeed_in_turn(shop_api, audit_purged_after):
    """30 pushes of one customer at once, each with its own notes, from threads with real
    connections: one creates, 29 update in turn; no 412 and no "belongs to another customer"."""

    def push(n: int) -> Any:
        body = {
            "external_id": "site-race",
            "first_name": "Олег",
            "emails": [{"address": "race@example.com"}],
            "notes": f"push {n}",
        }
        return ApiClient(shop_api.key).post("/api/v1/customers/upsert/", body)

    responses = at_once(30, push)

    refused = [r.content for r in responses.values() if r.status_code not in (200, 201)]
    assert refused == []
    assert sorted(r.status_code for r in responses.values()) == [200] * 29 + [201]
    customer = Customer.objects.get()
    assert customer.external_id == "site-race"
    assert customer.version == 30  # created at 1, and 29 updates that each changed the notes
    assert customer.notes in {f"push {n}" for n in range(30)}
    assert AuditEvent.objects.filter(action=AuditAction.UPDATE).count() == 29


def test_text_custom_field_refuses_objects_and_overlong_text(full_api):
    from clientbase.customers.models import CustomFieldDefinition

    CustomFieldDefinition.objects.create(key="note", label="Заметка", field_type="text")
    for value in ({"nested": {"a": 1}}, ["a"], "x" * 100_000):
        response = full_api.post(
            "/api/v1/customers/", {"first_name": "Ян", "custom_fields": {"note": value}}
        )
        assert response.status_code == 400
        assert error_of(response)["code"] == "validation_error"
        assert list(error_of(response)["details"]) == ["custom_fields"]
    assert Customer.objects.count() == 0
    response = full_api.post(
        "/api/v1/customers/", {"first_name": "Ян", "custom_fields": {"note": "x" * 500}}
    )
    assert response.status_code == 201
    assert Customer.objects.get().custom_fields == {"note": "x" * 500}
