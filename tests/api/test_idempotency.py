"""Idempotency-Key: replays return the first response and create nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from clientbase.accounts.permissions import API
from clientbase.core.api.idempotency import IdempotentMixin
from clientbase.core.models import IdempotencyKey
from clientbase.customers.models import Customer
from clientbase.orders.models import Order, OrderStatusChange
from tests.api.conftest import ApiClient, at_once
from tests.api.test_orders_api import ORDER


@pytest.mark.django_db
def test_sequential_replay_returns_the_first_response_and_creates_nothing(shop_api):
    first = shop_api.post("/api/v1/orders/", ORDER, Idempotency_Key="k-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    replay = shop_api.post("/api/v1/orders/", ORDER, Idempotency_Key="k-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert Order.objects.count() == 1 and Customer.objects.count() == 1
    assert OrderStatusChange.objects.count() == 1

    changed = shop_api.post("/api/v1/orders/", {**ORDER, "status": "paid"}, Idempotency_Key="k-1")
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.get().status == "new"


@pytest.mark.django_db
def test_an_error_response_is_replayed_too(shop_api):
    body = {"phones": [{"number": "12"}]}
    first = shop_api.post("/api/v1/customers/", body, Idempotency_Key="bad-1")
    replay = shop_api.post("/api/v1/customers/", body, Idempotency_Key="bad-1")
    assert first.status_code == replay.status_code == 400
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_keys_are_per_token(api_for):
    one, two = api_for(["orders:write"]), api_for(["orders:write"])
    assert one.post("/api/v1/orders/", ORDER, Idempotency_Key="same").status_code == 201
    second = two.post("/api/v1/orders/", ORDER, Idempotency_Key="same")
    assert second.status_code == 200 and "Idempotent-Replayed" not in second


@pytest.mark.django_db
def test_a_request_still_in_progress_answers_409(shop_api, make_token):
    """The first request's reservation is committed before it runs: a duplicate sees it."""
    token, key = make_token(["orders:write"], name="other")
    client = ApiClient(key)
    body = client.client._encode_json(ORDER, "application/json")
    digest = hashlib.sha256(b"POST" + b"/api/v1/orders/" + body.encode()).hexdigest()
    IdempotencyKey.objects.create(client=f"token:{token.pk}", key="busy", request_hash=digest)
    response = client.post("/api/v1/orders/", ORDER, Idempotency_Key="busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_order(shop_api, audit_purged_after):
    """Threads with real connections post the same key at once: one runs, the rest replay
    or are told it is in progress; never a second order."""

    def post(n: int) -> int:
        client = ApiClient(shop_api.key)  # a client per thread, the same token
        return client.post("/api/v1/orders/", ORDER, Idempotency_Key="race").status_code

    statuses = list(at_once(4, post).values())
    assert sorted(statuses)[0] == 201 and statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert Order.objects.count() == 1


class _FailsOnceView(IdempotentMixin, APIView):
    """A view that hits a server error on its first call only (as a dropped connection would)."""

    required_permission = API
    required_scope = "orders:write"
    calls: list[int] = []

    def post(self, request):
        self.calls.append(1)
        if len(self.calls) == 1:
            raise RuntimeError("server error")
        return Response({"ok": True}, status=201)


urlpatterns = [path("api/v1/fails-once/", _FailsOnceView.as_view())]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_after_a_server_error_the_same_key_can_be_retried(make_token):
    _FailsOnceView.calls.clear()
    client = ApiClient(make_token(["orders:write"])[1])
    client.client.raise_request_exception = False
    first = client.post("/api/v1/fails-once/", {"a": 1}, Idempotency_Key="retry-me")
    assert first.status_code == 500
    assert IdempotencyKey.objects.filter(key="retry-me").count() == 0
    retry = client.post("/api/v1/fails-once/", {"a": 1}, Idempotency_Key="retry-me")
    assert retry.status_code == 201 and retry.json() == {"ok": True}
    assert IdempotencyKey.objects.get(key="retry-me").completed
