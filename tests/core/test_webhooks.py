"""Outgoing webhooks against a real HTTP receiver: fan-out, signatures, retries, claiming."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation

from clientbase.core import webhooks
from clientbase.core.models import AuditEvent, WebhookDelivery, WebhookSubscription
from clientbase.core.tasks import webhook_deliver, webhook_deliver_due
from clientbase.core.webhooks import (
    CUSTOMER_CREATED,
    CUSTOMER_STOPLISTED,
    CUSTOMER_UPDATED,
    ORDER_STATUS_CHANGED,
    webhook_emit,
    webhook_signature_verify,
)
from clientbase.customers.services import (
    CustomerInput,
    customer_stoplist_add,
    customer_update,
)
from tests import factories
from tests.core.clitools import free_port

pytestmark = pytest.mark.django_db


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers in order; then 200

    def next_status(self) -> int:
        return self.statuses.pop(0) if self.statuses else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            rec = state["receiver"]
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = rec.next_status()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"secret response body")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{port}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


def subscribe(url: str, events: list[str], *, is_active: bool = True) -> WebhookSubscription:
    return webhooks.webhook_subscription_create(
        actor=None, url=url, events=events, is_active=is_active
    )


def make_customer_committed(capture: Any, **kwargs: Any) -> Any:
    """Create a customer and run its on-commit callbacks (the webhook tasks, Huey immediate)."""
    with capture(execute=True):
        return factories.make_customer(**kwargs)


def move_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


# ---------------------------------------------------------------- fan-out and content


def test_a_new_customer_is_delivered_once_to_each_matching_active_subscription(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    created_only = subscribe(receiver.url + "/a", [CUSTOMER_CREATED])
    several = subscribe(receiver.url + "/b", [CUSTOMER_UPDATED, CUSTOMER_CREATED])
    inactive = subscribe(receiver.url + "/c", [CUSTOMER_CREATED], is_active=False)
    other_event = subscribe(receiver.url + "/d", [ORDER_STATUS_CHANGED, CUSTOMER_UPDATED])

    customer = make_customer_committed(
        django_capture_on_commit_callbacks, phones=["+79161234567"], emails=["ivan@example.com"]
    )

    deliveries = WebhookDelivery.objects.order_by("subscription_id")
    assert [(d.subscription_id, d.event) for d in deliveries] == [
        (created_only.pk, CUSTOMER_CREATED),
        (several.pk, CUSTOMER_CREATED),
    ]
    assert not WebhookDelivery.objects.filter(subscription__in=[inactive, other_event]).exists()
    assert all(d.state == WebhookDelivery.State.DELIVERED for d in deliveries)
    assert all(d.attempts == 1 and d.last_status_code == 200 for d in deliveries)
    assert all(d.delivered_at is not None and d.next_attempt_at is None for d in deliveries)
    assert all(d.last_error == "" for d in deliveries)

    assert sorted(r.path for r in receiver.requests) == ["/hook/a", "/hook/b"]
    request = next(r for r in receiver.requests if r.path == "/hook/a")
    delivery = deliveries[0]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Clientbase-Event"] == CUSTOMER_CREATED
    assert request.headers["X-Clientbase-Delivery"] == str(delivery.pk)
    body = json.loads(request.body)
    assert body == delivery.payload
    assert set(body) == {"event", "id", "occurred_at", "data"}
    assert body["event"] == CUSTOMER_CREATED
    assert body["data"] == {
        "customer_id": customer.pk,
        "external_id": customer.external_id,
        "version": customer.version,
    }
    # Both subscribers get the same event id: a receiver drops repeats by it.
    assert {json.loads(r.body)["id"] for r in receiver.requests} == {body["id"]}
    # Ids only: no personal data leaves in a webhook body.
    assert b"79161234567" not in request.body and b"ivan@" not in request.body


def test_the_signature_verifies_and_fails_for_tampering_or_a_wrong_secret(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    subscription = subscribe(receiver.url, [CUSTOMER_CREATED])
    make_customer_committed(django_capture_on_commit_callbacks)

    [request] = receiver.requests
    header = request.headers["X-Clientbase-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    assert webhook_signature_verify(subscription.secret, header, request.body)
    assert not webhook_signature_verify(subscription.secret, header, request.body + b" ")
    tampered = request.body.replace(b'"customer_id":', b'"customer_id":1')
    assert not webhook_signature_verify(subscription.secret, header, tampered)
    assert not webhook_signature_verify("whsec_wrong", header, request.body)
    assert not webhook_signature_verify(subscription.secret, "", request.body)
    assert not webhook_signature_verify(subscription.secret, "v1=abc", request.body)
    # An old signature is refused (replays), a fresh one within the tolerance accepted.
    later = time.time() + 301
    assert not webhook_signature_verify(subscription.secret, header, request.body, now=later)
    assert webhook_signature_verify(
        subscription.secret, header, request.body, tolerance=400, now=later
    )


def test_updates_send_changed_field_names_and_stop_listing_its_reason(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(receiver.url, [CUSTOMER_UPDATED, CUSTOMER_STOPLISTED])
    customer = factories.make_customer(last_name="Старая")

    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_update(
            actor=None,
            customer_id=customer.pk,
            expected_version=customer.version,
            data=CustomerInput(fields={"last_name": "Новая", "middle_name": "Ильич"}),
        )
    with django_capture_on_commit_callbacks(execute=True):
        customer_stoplist_add(
            actor=None, customer_id=customer.pk, expected_version=customer.version, reason="fraud"
        )

    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b["event"] for b in bodies] == [CUSTOMER_UPDATED, CUSTOMER_STOPLISTED]
    assert bodies[0]["data"]["fields"] == ["last_name", "middle_name"]
    assert bodies[0]["data"]["customer_id"] == customer.pk
    assert "Новая" not in json.dumps(bodies, ensure_ascii=False)
    assert bodies[1]["data"]["reason"] == "fraud"
    assert bodies[1]["data"]["version"] == customer.version + 1


def test_nothing_is_queued_when_the_transaction_rolls_back(receiver: Receiver) -> None:
    subscribe(receiver.url, [ORDER_STATUS_CHANGED])
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_emit(event=ORDER_STATUS_CHANGED, payload={"order_id": 1})
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError("rolled back")
    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_an_unknown_event_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        webhook_emit(event="customer.eaten", payload={})


# ---------------------------------------------------------------- retries


def test_a_500_is_retried_with_back_off_and_delivered_when_due(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.statuses = [500]
    subscribe(receiver.url, [CUSTOMER_CREATED])
    before = timezone.now()
    make_customer_committed(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.PENDING
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500"
    assert "secret response body" not in delivery.last_error
    assert delivery.next_attempt_at is not None
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 29 <= wait <= 32, wait
    assert len(receiver.requests) == 1

    # Not due yet: neither the task nor the periodic sweep sends it again.
    webhook_deliver(delivery.pk)
    webhook_deliver_due()
    assert len(receiver.requests) == 1

    move_due(delivery)
    webhook_deliver_due()

    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert delivery.attempts == 2
    assert delivery.last_status_code == 200
    assert delivery.last_error == ""
    assert len(receiver.requests) == 2
    # The retry carries the same event and body, signed again.
    assert receiver.requests[0].body == receiver.requests[1].body


def test_back_off_doubles_and_is_capped() -> None:
    seconds = [webhooks.backoff_delay(n).total_seconds() for n in (1, 2, 3, 4, 10, 11, 20)]
    assert seconds == [30, 60, 120, 240, 15360, 6 * 3600, 6 * 3600]


@override_settings(WEBHOOK_MAX_ATTEMPTS=3)
def test_after_the_last_attempt_the_delivery_fails(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.statuses = [503, 500, 502, 200]
    subscribe(receiver.url, [CUSTOMER_CREATED])
    make_customer_committed(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()

    for expected_attempts in (2, 3):
        move_due(delivery)
        webhook_deliver_due()
        delivery.refresh_from_db()
        assert delivery.attempts == expected_attempts

    assert delivery.state == WebhookDelivery.State.FAILED
    assert delivery.last_status_code == 502
    assert delivery.next_attempt_at is None
    assert delivery.delivered_at is None
    # A failed delivery is never picked up again.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(hours=1)
    )
    webhook_deliver_due()
    webhook_deliver(delivery.pk)
    assert len(receiver.requests) == 3


def test_a_network_error_is_recorded_and_retried(
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(f"http://127.0.0.1:{free_port()}/nobody-listens", [CUSTOMER_CREATED])
    make_customer_committed(django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == WebhookDelivery.State.PENDING
    assert delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error
    assert delivery.next_attempt_at > timezone.now()


def test_a_delivery_is_never_made_twice_for_the_same_attempt(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(receiver.url, [CUSTOMER_CREATED])
    make_customer_committed(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()

    webhook_deliver(delivery.pk)
    webhook_deliver(delivery.pk)
    webhook_deliver_due()

    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    # A claimed attempt (a worker is on it) is not taken by a second worker.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.PENDING, next_attempt_at=None
    )
    assert webhooks._claim(delivery.pk) is True
    assert webhooks._claim(delivery.pk) is False
    assert webhooks.webhook_delivery_attempt(delivery.pk) is None
    assert len(receiver.requests) == 1


def test_rows_whose_task_was_lost_are_sent_by_the_periodic_task(receiver: Receiver) -> None:
    """Rows commit with the change; if the on-commit task never ran, the sweep sends them."""
    subscribe(receiver.url, [ORDER_STATUS_CHANGED])
    webhook_emit(event=ORDER_STATUS_CHANGED, payload={"order_id": 7, "status": "paid"})
    delivery = WebhookDelivery.objects.get()

    webhook_deliver_due()  # within the grace minute: its own task is still expected
    assert receiver.requests == []

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=2)
    )
    webhook_deliver_due()
    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.DELIVERED
    assert json.loads(receiver.requests[0].body)["data"] == {"order_id": 7, "status": "paid"}


def test_a_deactivated_subscription_gets_no_more_attempts(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    receiver.statuses = [500]
    subscription = subscribe(receiver.url, [CUSTOMER_CREATED])
    make_customer_committed(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)

    move_due(delivery)
    webhook_deliver_due()

    delivery.refresh_from_db()
    assert delivery.state == WebhookDelivery.State.FAILED
    assert len(receiver.requests) == 1


# ---------------------------------------------------------------- subscriptions


def test_only_http_and_https_urls_and_only_https_in_production() -> None:
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "example.com/hook", "http://"):
        with pytest.raises(ValidationError):
            subscribe(bad, [CUSTOMER_CREATED])
    assert subscribe("http://shop.example/hook", [CUSTOMER_CREATED]).pk
    with override_settings(PRODUCTION=True):
        with pytest.raises(ValidationError):
            subscribe("http://shop.example/hook", [CUSTOMER_CREATED])
        assert subscribe("https://shop.example/hook", [CUSTOMER_CREATED]).pk


def test_events_must_be_known_and_at_least_one() -> None:
    with pytest.raises(ValidationError):
        subscribe("https://shop.example/hook", [])
    with pytest.raises(ValidationError):
        subscribe("https://shop.example/hook", ["customer.eaten"])


def test_the_secret_is_rotated_and_never_written_to_the_audit_log() -> None:
    subscription = subscribe("https://shop.example/hook", [CUSTOMER_CREATED])
    old = subscription.secret
    assert old.startswith("whsec_") and len(old) > 30
    rotated = webhooks.webhook_secret_rotate(actor=None, subscription_id=subscription.pk)
    assert rotated.secret != old
    logged = json.dumps(list(AuditEvent.objects.values("changes", "extra")))
    assert old not in logged and rotated.secret not in logged


# ---------------------------------------------------------------- admin pages


@pytest.fixture
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def test_admin_creates_edits_rotates_and_reads_the_log(
    admin_user: Any, client_for: Any, english: None
) -> None:
    client = client_for(admin_user)
    response = client.post(
        reverse("settings:webhook_create"),
        {"url": "https://shop.example/hook", "events": [CUSTOMER_CREATED], "is_active": "on"},
    )
    subscription = WebhookSubscription.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("settings:webhook_edit", args=[subscription.pk])
    assert subscription.events == [CUSTOMER_CREATED] and subscription.is_active
    page = client.get(response["Location"])
    assert subscription.secret in page.content.decode()

    response = client.post(
        reverse("settings:webhook_edit", args=[subscription.pk]),
        {"url": "https://shop.example/v2", "events": [CUSTOMER_UPDATED, CUSTOMER_CREATED]},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.url == "https://shop.example/v2"
    assert subscription.events == [CUSTOMER_CREATED, CUSTOMER_UPDATED]
    assert subscription.is_active is False

    old = subscription.secret
    client.post(reverse("settings:webhook_rotate_secret", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.secret != old

    WebhookDelivery.objects.create(
        subscription=subscription, event=CUSTOMER_CREATED, last_status_code=418, attempts=3
    )
    log = client.get(reverse("settings:webhook_deliveries", args=[subscription.pk]))
    assert log.status_code == 200
    assert "418" in log.content.decode()
    listing = client.get(reverse("settings:webhook_list"))
    assert "https://shop.example/v2" in listing.content.decode()


def test_a_bad_url_is_shown_as_a_form_error(admin_user: Any, client_for: Any) -> None:
    client = client_for(admin_user)
    response = client.post(
        reverse("settings:webhook_create"),
        {"url": "ftp://shop.example/hook", "events": [CUSTOMER_CREATED]},
    )
    assert response.status_code == 200
    assert WebhookSubscription.objects.count() == 0


def test_webhook_pages_are_for_admins_only(manager_user: Any, client_for: Any) -> None:
    subscription = subscribe("https://shop.example/hook", [CUSTOMER_CREATED])
    client = client_for(manager_user)
    assert client.get(reverse("settings:webhook_list")).status_code == 403
    assert client.get(reverse("settings:webhook_edit", args=[subscription.pk])).status_code == 403
    secret = subscription.secret
    response = client.post(reverse("settings:webhook_rotate_secret", args=[subscription.pk]))
    assert response.status_code == 403
    subscription.refresh_from_db()
    assert subscription.secret == secret


def test_the_verification_code_in_the_api_guide_works() -> None:
    """docs/api.md shows receivers how to verify; that code must accept and refuse correctly."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = guide.split("## Webhooks", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own documentation
    verify = namespace["webhook_signature_verify"]
    body = b'{"event":"customer.created"}'
    header = webhooks.webhook_signature("whsec_doc", body, int(time.time()))
    assert verify("whsec_doc", header, body)
    assert not verify("whsec_doc", header, body + b" ")
    assert not verify("whsec_other", header, body)
    old = webhooks.webhook_signature("whsec_doc", body, int(time.time()) - 600)
    assert not verify("whsec_doc", old, body)
