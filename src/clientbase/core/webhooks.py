"""Outgoing webhooks: subscriptions, signed deliveries with retries, and signature checks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------- events

CUSTOMER_CREATED = "customer.created"
CUSTOMER_UPDATED = "customer.updated"
CUSTOMER_STOPLISTED = "customer.stoplisted"
ORDER_STATUS_CHANGED = "order.status_changed"

WEBHOOK_EVENTS: list[tuple[str, Any]] = [
    (CUSTOMER_CREATED, gettext_lazy("Customer created")),
    (CUSTOMER_UPDATED, gettext_lazy("Customer changed")),
    (CUSTOMER_STOPLISTED, gettext_lazy("Customer stop-listed")),
    (ORDER_STATUS_CHANGED, gettext_lazy("Order status changed")),
]
EVENT_NAMES = frozenset(name for name, _label in WEBHOOK_EVENTS)

SIGNATURE_HEADER = "X-Clientbase-Signature"
EVENT_HEADER = "X-Clientbase-Event"
DELIVERY_HEADER = "X-Clientbase-Delivery"

TIMEOUT_SECONDS = 5
# A claimed attempt holds the row this long; a worker that dies mid-request leaves the row
# to be retried once the lease runs out. Far longer than the request timeout.
CLAIM_LEASE = dt.timedelta(seconds=120)
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 6 * 3600
DUE_BATCH = 200


def max_attempts() -> int:
    return int(settings.WEBHOOK_MAX_ATTEMPTS)


# ---------------------------------------------------------------- emitting


def webhook_emit(*, event: str, payload: dict[str, Any]) -> None:
    """Queue `event` for every active subscription that listens to it.

    Call it inside the service's transaction. The delivery rows are written in that same
    transaction (an outbox: they commit or roll back with the change, and a crash after the
    commit loses nothing, as the periodic task picks them up); the worker is told after the
    commit, with delivery ids only. `payload` holds ids and field names, never personal data.
    """
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown webhook event {event!r}")
    subscriptions = [
        s.pk
        for s in WebhookSubscription.objects.filter(is_active=True).only("pk", "events")
        if event in (s.events or [])
    ]
    if not subscriptions:
        return
    body = {
        # One id per event, the same in every subscriber's copy and in every retry, so a
        # receiver can drop repeats. X-Clientbase-Delivery names the delivery row itself.
        "event": event,
        "id": str(uuid.uuid4()),
        "occurred_at": timezone.now().isoformat(),
        "data": payload,
    }
    created = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(subscription_id=pk, event=event, payload=body) for pk in subscriptions]
    )
    ids = [d.pk for d in created if d.pk is not None]
    if not ids:
        # Backends that do not return ids from a bulk insert: the periodic task sends them.
        return
    transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(delivery_ids: Iterable[int]) -> None:
    from clientbase.core.tasks import webhook_deliver

    for delivery_id in delivery_ids:
        webhook_deliver(delivery_id)


# ---------------------------------------------------------------- signing


def webhook_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Clientbase-Signature value: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(
    secret: str, header: str, body: bytes, tolerance: int = 300, *, now: float | None = None
) -> bool:
    """True if `header` signs `body` with `secret` and is at most `tolerance` seconds old."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret, body, timestamp).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


# ---------------------------------------------------------------- subscriptions


def webhook_url_validate(url: str) -> str:
    """Only http(s) URLs with a host; only https in production.

    No other SSRF protection: admins may point webhooks at internal hosts on purpose
    (a shop's back office on the same network). Redirects are not followed.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    allowed = {"https"} if settings.PRODUCTION else {"http", "https"}
    if parts.scheme not in allowed or not parts.hostname:
        if settings.PRODUCTION:
            message = _("Use an https:// address.")
        else:
            message = _("Use an http:// or https:// address.")
        raise ValidationError({"url": message})
    return url


def _events_clean(events: Sequence[str]) -> list[str]:
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in EVENT_NAMES]
    if unknown or not chosen:
        raise ValidationError({"events": _("Choose at least one event.")})
    return chosen


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _snapshot(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "events": list(subscription.events or []),
        "is_active": subscription.is_active,
    }


def webhook_subscription_create(
    *, actor: Any, url: str, events: Sequence[str], is_active: bool = True
) -> WebhookSubscription:
    subscription = WebhookSubscription(
        url=webhook_url_validate(url),
        events=_events_clean(events),
        is_active=is_active,
        secret=_new_secret(),
    )
    subscription.full_clean()
    with transaction.atomic():
        subscription.save()
        changes = audit.diff({}, _snapshot(subscription))
        changes["secret"] = [audit.REDACTED, audit.REDACTED]
        audit.record(action=AuditAction.CREATE, actor=actor, obj=subscription, changes=changes)
    return subscription


def webhook_subscription_update(
    *, actor: Any, subscription_id: int, url: str, events: Sequence[str], is_active: bool
) -> WebhookSubscription:
    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
        before = _snapshot(subscription)
        subscription.url = webhook_url_validate(url)
        subscription.events = _events_clean(events)
        subscription.is_active = is_active
        subscription.full_clean()
        changes = audit.diff(before, _snapshot(subscription))
        if changes:
            subscription.save(update_fields=["url", "events", "is_active"])
            audit.record(action=AuditAction.UPDATE, actor=actor, obj=subscription, changes=changes)
    return subscription


def webhook_secret_rotate(*, actor: Any, subscription_id: int) -> WebhookSubscription:
    """A new signing secret; the old one stops working at once."""
    with transaction.atomic():
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
        subscription.secret = _new_secret()
        subscription.save(update_fields=["secret"])
        audit.record(
            action=AuditAction.UPDATE,
            actor=actor,
            obj=subscription,
            changes={"secret": [audit.REDACTED, audit.REDACTED]},
        )
    return subscription


# ---------------------------------------------------------------- delivering


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new destination: it counts as a failed attempt."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def backoff_delay(attempts: int) -> dt.timedelta:
    """30 s after the first failure, doubling, at most 6 h."""
    seconds = BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return dt.timedelta(seconds=min(seconds, BACKOFF_CAP_SECONDS))


def _due() -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())


def _claim(delivery_id: int) -> bool:
    """Take the delivery's next attempt; a conditional UPDATE, so only one worker wins."""
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.PENDING)
        .filter(_due())
        .update(next_attempt_at=timezone.now() + CLAIM_LEASE)
    )
    return claimed == 1


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST and return (status, error); response bodies are read and dropped, never stored."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(65536)
            return response.status, ""
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return None, f"{type(exc).__name__}: {reason}"[:300]


def webhook_delivery_attempt(delivery_id: int) -> str | None:
    """Make the delivery's due attempt; returns the resulting state, or None if not due.

    Safe to run twice and from several workers: the attempt is claimed first.
    """
    if not _claim(delivery_id):
        return None
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    now = timezone.now()
    if not subscription.is_active:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=WebhookDelivery.State.FAILED,
            next_attempt_at=None,
            last_error="subscription inactive",
        )
        logger.info("webhook delivery %s dropped: subscription inactive", delivery_id)
        return WebhookDelivery.State.FAILED
    body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "clientbase-webhooks/1",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
        SIGNATURE_HEADER: webhook_signature(subscription.secret, body, int(time.time())),
    }
    status, error = _post(subscription.url, body, headers)
    attempts = delivery.attempts + 1
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            state=WebhookDelivery.State.DELIVERED,
            attempts=F("attempts") + 1,
            last_status_code=status,
            last_error="",
            next_attempt_at=None,
            delivered_at=now,
        )
        logger.info("webhook delivery %s delivered (attempt %d)", delivery_id, attempts)
        return WebhookDelivery.State.DELIVERED
    if status is not None and not error:
        error = f"HTTP {status}"
    failed = attempts >= max_attempts()
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state=WebhookDelivery.State.FAILED if failed else WebhookDelivery.State.PENDING,
        attempts=F("attempts") + 1,
        last_status_code=status,
        last_error=error[:300],
        next_attempt_at=None if failed else timezone.now() + backoff_delay(attempts),
    )
    logger.warning(
        "webhook delivery %s attempt %d failed (%s)%s",
        delivery_id,
        attempts,
        status or "no response",
        "; giving up" if failed else "",
    )
    return WebhookDelivery.State.FAILED if failed else WebhookDelivery.State.PENDING


def webhook_due_ids(limit: int = DUE_BATCH) -> list[int]:
    """Pending deliveries whose attempt is due: retries, and rows never handed to a worker.

    Fresh rows (no attempt yet) get a minute's grace: their on-commit task is on its way.
    """
    now = timezone.now()
    fresh_grace = now - dt.timedelta(minutes=1)
    return list(
        WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING)
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, created_at__lte=fresh_grace)
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
