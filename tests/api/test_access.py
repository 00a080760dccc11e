"""Who may call what: tokens, scopes, revocation, rate limits, and the one error shape."""

from __future__ import annotations

import base64

import pytest
from django.urls import path
from rest_framework.views import APIView

from clientbase.accounts.api.throttling import TokenRateThrottle
from clientbase.accounts.permissions import API
from clientbase.accounts.services import apitoken_revoke
from clientbase.customers.models import Customer
from clientbase.orders.models import Order
from tests.api.conftest import ApiClient, at_once
from tests.api.test_orders_api import ORDER

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if code:
        assert error["code"] == code


def test_shop_token_writes_and_looks_up_but_cannot_list_or_read(shop_api, make_customer):
    customer = make_customer(phones=["+79161234567"])
    assert_error(shop_api.get("/api/v1/customers/"), 403, "permission_denied")
    assert_error(shop_api.get(f"/api/v1/customers/{customer.pk}/"), 403)
    assert_error(shop_api.get("/api/v1/orders/"), 403)
    assert_error(shop_api.get(f"/api/v1/customers/{customer.pk}/orders/"), 403)

    assert shop_api.post("/api/v1/customers/", {"first_name": "Ян"}).status_code == 201
    assert (
        shop_api.post(
            "/api/v1/customers/upsert/", {"external_id": "x", "first_name": "Ю"}
        ).status_code
        == 201
    )
    assert shop_api.post("/api/v1/orders/", ORDER).status_code == 201
    assert shop_api.get("/api/v1/customers/lookup", {"phone": "+79161234567"}).status_code == 200
    assert (
        shop_api.patch(
            f"/api/v1/customers/{customer.pk}/", {"notes": "n", "version": 1}
        ).status_code
        == 200
    )


def test_read_only_token_cannot_write(api_for):
    reader = api_for(["customers:read", "orders:read"])
    assert reader.get("/api/v1/customers/").status_code == 200
    assert_error(reader.post("/api/v1/customers/", {"first_name": "Ян"}), 403)
    assert_error(reader.post("/api/v1/orders/", ORDER), 403)
    assert_error(reader.get("/api/v1/customers/lookup", {"phone": "+79161234567"}), 403)
    assert Customer.objects.count() == 0 and Order.objects.count() == 0


def test_no_token_bad_token_and_revoked_token_are_401(make_token):
    assert_error(ApiClient(None).get("/api/v1/customers/lookup", {"phone": "1"}), 401)
    response = ApiClient("cb_not-a-real-token").get("/api/v1/customers/")
    assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    token, key = make_token(["all"])
    client = ApiClient(key)
    assert client.get("/api/v1/customers/").status_code == 200
    apitoken_revoke(actor=None, token_id=token.pk)
    assert_error(client.get("/api/v1/customers/"), 401)
    assert_error(client.post("/api/v1/customers/", {"first_name": "Ян"}), 401)
    assert Customer.objects.count() == 0


def test_rate_limit_answers_429_with_retry_after(full_api, monkeypatch):
    # DRF reads the rates once, into the throttle class: patch it there.
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/min"})
    for _ in range(3):
        assert full_api.get("/api/v1/orders/").status_code == 200
    response = full_api.get("/api/v1/orders/")
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["error"]["details"]["retry_after"] > 0


def test_malformed_json_and_unknown_route_keep_the_error_shape(full_api):
    response = full_api.client.post(
        "/api/v1/customers/",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {full_api.key}"},
    )
    assert_error(response, 400)
    assert_error(full_api.get("/api/v1/orders/", {"customer": "abc"}), 400, "validation_error")


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_pass_the_rate_limit_exactly_as_often_as_it_allows(
    make_token, monkeypatch, audit_purged_after
):
    """200 requests from 20 threads with real connections against 60/min: exactly 60 pass,
    and every refusal says when to come back."""
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "60/min"})
    _token, key = make_token(["all"])

    def burst(n: int) -> list:
        client = ApiClient(key)
        return [client.get("/api/v1/orders/") for _ in range(10)]

    responses = [r for burst_responses in at_once(20, burst).values() for r in burst_responses]
    statuses = [r.status_code for r in responses]
    assert (len(statuses), statuses.count(200), statuses.count(429)) == (200, 60, 140)
    for response in responses:
        if response.status_code == 429:
            assert_error(response, 429, "throttled")
            assert 1 <= int(response["Retry-After"]) <= 60


def _post_raw(api: ApiClient, path: str, body: str):
    return api.client.post(
        path, body, content_type="application/json", headers={"Authorization": f"Bearer {api.key}"}
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"first_name": "Ян", "custom_fields": {"a": ' + "[" * 1000 + "]" * 1000 + "}}",
        "[" * 100_000 + "]" * 100_000,
        '{"first_name": "Ян", "notes": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}",
    ],
    ids=["1000-levels", "100000-levels", "40-levels"],
)
def test_deeply_nested_json_is_a_400_parse_error_not_a_server_error(full_api, body):
    for url in ("/api/v1/customers/", "/api/v1/customers/upsert/", "/api/v1/orders/"):
        response = _post_raw(full_api, url, body)
        assert_error(response, 400, "parse_error")
        assert response["Content-Type"] == "application/json"
    assert Customer.objects.count() == 0 and Order.objects.count() == 0


def test_a_body_over_the_limit_is_a_413_in_the_error_shape(full_api, settings):
    body = '{"first_name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}'
    for headers in ({}, {"Idempotency-Key": "big"}):
        response = full_api.client.post(
            "/api/v1/customers/",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {full_api.key}", **headers},
        )
        assert_error(response, 413, "request_too_large")
        assert response.json()["error"]["details"] == {
            "max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        }
    assert Customer.objects.count() == 0


class _BrokenView(APIView):
    """A view with a bug: what every unexpected exception in the API looks like."""

    required_permission = API
    required_scope = "customers:read"

    def get(self, request):
        raise RuntimeError("disk on fire")


urlpatterns = [path("api/v1/broken/", _BrokenView.as_view())]


@pytest.mark.urls(__name__)
def test_an_unexpected_server_error_keeps_the_error_shape(full_api):
    full_api.client.raise_request_exception = False
    response = full_api.get("/api/v1/broken/")
    assert_error(response, 500, "server_error")
    assert "disk on fire" not in response.content.decode()


def test_a_deeply_nested_cursor_is_a_bad_cursor_not_a_server_error(full_api):
    """A hand-made cursor is JSON too: 100,000 levels read like any malformed cursor (the
    first page), as the API does for a cursor it cannot read."""
    nested = base64.urlsafe_b64encode(("[" * 100_000 + "]" * 100_000).encode()).decode()
    response = full_api.get("/api/v1/customers/", {"cursor": "n" + nested.rstrip("=")})
    assert response.status_code == 200
    assert response.json()["results"] == []
