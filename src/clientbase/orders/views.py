"""Web UI of the orders app: order lists, the order page, manager capacity, the caller page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clientbase.accounts.permissions import LOGIN, Perm, requires, user_has
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.core.pagination import Page
from clientbase.orders import selectors, services
from clientbase.orders.forms import (
    ManagerCapacityForm,
    OrderFilterForm,
    OrderReassignForm,
    OrderStatusForm,
)
from clientbase.orders.models import Order

CUSTOMER_TYPE = "customers.customer"


def _order_url(order_id: int) -> str:
    return reverse("orders:detail", args=[order_id])


def _list_page(request: HttpRequest, form: OrderFilterForm, mine: bool) -> HttpResponse:
    page: Page[Order] = Page()  # an invalid filter shows its error and no orders, never all
    if form.is_valid():
        params = form.params()
        if mine:
            params = selectors.OrderListParams(
                status=params.status, manager=str(request.user.pk), sort=params.sort
            )
        page = selectors.order_page(
            params, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    context = {"form": form, "page": page, "mine": mine}
    template = "orders/list.html"
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "order-table":
        template = "orders/_list_table.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, OrderFilterForm(request.GET), mine=False)


@requires(LOGIN)
@require_GET
def order_mine(request: HttpRequest) -> HttpResponse:
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = selectors.OPEN  # a manager's working list: what is still to do
    return _list_page(request, OrderFilterForm(data, with_manager=False), mine=True)


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        order = selectors.order_detail(pk)
    except Order.DoesNotExist as exc:
        raise Http404 from exc
    audit.record_access(action=AuditAction.VIEW, actor=request.user, obj=order)
    context = {
        "order": order,
        "customer": order.customer,
        "status_form": OrderStatusForm(initial={"status": order.status}),
        "reassign_form": OrderReassignForm(initial={"manager": order.manager_id}),
        "can_change": user_has(request.user, Perm.CUSTOMER_CHANGE),
    }
    return render(request, "orders/detail.html", context)


def _report(request: HttpRequest, exc: ValidationError | DomainError) -> None:
    for message in exc.messages if isinstance(exc, ValidationError) else [exc.message]:
        messages.error(request, message)


@requires(Perm.CUSTOMER_CHANGE)
@require_POST
def order_status(request: HttpRequest, pk: int) -> HttpResponse:
    form = OrderStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status."))
        return redirect(_order_url(pk))
    try:
        services.order_status_set(
            actor=request.user, order_id=pk, status=form.cleaned_data["status"]
        )
    except DomainError as exc:
        if exc.code == "not_found":
            raise Http404 from exc
        _report(request, exc)
    except ValidationError as exc:
        _report(request, exc)
    else:
        messages.success(request, _("Order status changed."))
    return redirect(_order_url(pk))


# Reassigning is part of handling an order, like changing its status: the same permission
# (see docs/permissions.md).
@requires(Perm.CUSTOMER_CHANGE)
@require_POST
def order_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    if not Order.objects.filter(pk=pk).exists():
        raise Http404
    form = OrderReassignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an active manager."))
        return redirect(_order_url(pk))
    manager = form.cleaned_data["manager"]
    try:
        services.orders_reassign(
            actor=request.user, order_ids=[pk], manager_id=manager.pk if manager else None
        )
    except ValidationError as exc:
        _report(request, exc)
    else:
        messages.success(request, _("Manager changed."))
    return redirect(_order_url(pk))


@requires(Perm.STAFF_MANAGE)
@require_GET
def manager_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for manager in selectors.managers_with_load():
        capacity = getattr(manager, "order_capacity", None)
        initial = {
            "accepts_orders": capacity.accepts_orders if capacity else True,
            "capacity": capacity.capacity if capacity else services.DEFAULT_CAPACITY,
        }
        rows.append({"manager": manager, "form": ManagerCapacityForm(initial=initial)})
    return render(request, "orders/managers.html", {"rows": rows})


@requires(Perm.STAFF_MANAGE)
@require_POST
def manager_capacity(request: HttpRequest, user_id: int) -> HttpResponse:
    form = ManagerCapacityForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("orders:managers")
    try:
        services.manager_capacity_set(actor=request.user, user_id=user_id, **form.cleaned_data)
    except ValidationError as exc:
        _report(request, exc)
    else:
        messages.success(request, _("Capacity saved."))
    return redirect("orders:managers")


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def caller(request: HttpRequest) -> HttpResponse:
    """The page a telephony system opens with the caller's number in the URL."""
    phone = request.GET.get("phone", "").strip()
    number, matches = selectors.caller_lookup(phone)
    for match in matches:
        # Who was looked at, never the number: the audit log keeps no contact data.
        audit.record_access(
            action=AuditAction.VIEW,
            actor=request.user,
            obj=match.customer,
            extra={"via": "caller"},
        )
    context = {"phone": phone, "number": number, "matches": matches}
    return render(request, "orders/caller.html", context)
