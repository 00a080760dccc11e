"""Admin pages for outgoing webhooks: subscriptions, secrets and the delivery log."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts.permissions import Perm, requires
from clientbase.core import webhooks
from clientbase.core.forms import WebhookSubscriptionForm
from clientbase.core.models import WebhookDelivery, WebhookSubscription

DELIVERY_LOG_SIZE = 100


@requires(Perm.STAFF_MANAGE)
@require_GET
def webhook_list(request: HttpRequest) -> HttpResponse:
    subscriptions = WebhookSubscription.objects.order_by("id")
    return render(request, "core/webhook_list.html", {"subscriptions": subscriptions})


@requires(Perm.STAFF_MANAGE)
@require_http_methods(["GET", "POST"])
def webhook_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(WebhookSubscription, pk=pk) if pk else None
    initial = (
        {"url": instance.url, "events": instance.events, "is_active": instance.is_active}
        if instance
        else {"is_active": True}
    )
    form = WebhookSubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if instance is None:
                subscription = webhooks.webhook_subscription_create(
                    actor=request.user,
                    url=data["url"],
                    events=data["events"],
                    is_active=data["is_active"],
                )
                messages.success(
                    request,
                    _("Webhook created. Give its signing secret to the receiving side."),
                )
            else:
                subscription = webhooks.webhook_subscription_update(
                    actor=request.user,
                    subscription_id=instance.pk,
                    url=data["url"],
                    events=data["events"],
                    is_active=data["is_active"],
                )
                messages.success(request, _("Webhook saved."))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("settings:webhook_edit", pk=subscription.pk)
    return render(request, "core/webhook_form.html", {"form": form, "object": instance})


@requires(Perm.STAFF_MANAGE)
@require_POST
def webhook_secret_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    webhooks.webhook_secret_rotate(actor=request.user, subscription_id=subscription.pk)
    messages.success(request, _("New signing secret made. The old one no longer signs deliveries."))
    return redirect("settings:webhook_edit", pk=subscription.pk)


@requires(Perm.STAFF_MANAGE)
@require_GET
def webhook_deliveries(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(WebhookSubscription, pk=pk)
    # The latest rows only: the log is for looking at what happens now, so no COUNT.
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by(
        "-created_at", "-id"
    )[:DELIVERY_LOG_SIZE]
    return render(
        request,
        "core/webhook_deliveries.html",
        {
            "object": subscription,
            "deliveries": deliveries,
            "limit": DELIVERY_LOG_SIZE,
        },
    )
