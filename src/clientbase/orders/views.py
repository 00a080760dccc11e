"""Web UI of the orders app: order lists, the order page, keying in an order, manager capacity,
the caller page."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts.permissions import LOGIN, Perm, requires, user_has
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.customers import selectors as customer_selectors
from clientbase.customers.models import Customer
from clientbase.orders import selectors, services
from clientbase.orders.forms import (
    ITEMS_PREFIX,
    MAX_ITEMS,
    ManagerCapacityForm,
    OrderCreateForm,
    OrderFilterForm,
    OrderItemFormSet,
    OrderReassignForm,
    OrderStatusForm,
)
from clientbase.orders.lifecycle import next_statuses
from clientbase.orders.models import Order

CUSTOMER_TYPE = "customers.customer"


def _order_url(order_id: int) -> str:
    return reverse("orders:detail", args=[order_id])


ORDER_TYPE = "orders.order"


def _is_table_request(request: HttpRequest) -> bool:
    return (
        bool(getattr(request, "htmx", False)) and request.headers.get("HX-Target") == "order-table"
    )


def _record_search(request: HttpRequest, params: selectors.OrderListParams, found: int) -> None:
    query = customer_selectors.interpret_query(params.q)
    if query is None:
        return
    extra: dict[str, Any] = {"query_kind": query.kind, "results_on_page": found}
    # Phones and e-mails are personal data: the log keeps what kind of query it was only.
    if query.kind not in customer_selectors.CONTACT_KINDS:
        extra["query"] = query.value
    audit.record_access(
        action=AuditAction.SEARCH, actor=request.user, object_type=ORDER_TYPE, extra=extra
    )


def _list_page(request: HttpRequest, form: OrderFilterForm, mine: bool) -> HttpResponse:
    template = "orders/_list_table.html" if _is_table_request(request) else "orders/list.html"
    if not form.is_valid():
        # An invalid filter lists nothing (and offers no export): the whole list instead
        # would look like the answer. htmx swaps only 2xx answers, so its table request
        # gets 200 with the errors in the table's place.
        context = {"form": form, "page": None, "mine": mine}
        response = render(
            request, template, context, status=200 if _is_table_request(request) else 400
        )
        patch_vary_headers(response, ["HX-Request", "HX-Target"])
        return response
    params = form.params()
    if mine:
        params = dataclasses.replace(params, manager=str(request.user.pk))
    page = selectors.order_page(
        params, after=request.GET.get("after", ""), before=request.GET.get("before", "")
    )
    _record_search(request, params, len(page.rows))
    context = {"form": form, "page": page, "mine": mine}
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
def order_by_number(request: HttpRequest, number: str) -> HttpResponse:
    """/orders/number/<number>/ (and /orders/<number>/ for a number that is not all digits):
    the order's own page; the list when several sources share the number."""
    ids = selectors.order_ids_by_number(number)
    if not ids:
        raise Http404
    if len(ids) == 1:
        return redirect(_order_url(ids[0]))
    return redirect(f"{reverse('orders:list')}?{urlencode({'q': number})}")


ITEM_FIELDS = ("name", "sku", "category", "quantity", "price")
# Service errors by field -> the form field that shows them (the rest go above the form).
SERVICE_FIELDS = {"external_id": "number", "manager": "manager", "discount": "discount"}


def _typed_rows(data: Any) -> list[dict[str, str]]:
    """The item rows a posted form holds that have anything typed in them."""
    try:
        total = min(int(data.get(f"{ITEMS_PREFIX}-TOTAL_FORMS", 0)), MAX_ITEMS)
    except ValueError:
        total = 0
    rows = [
        {name: data.get(f"{ITEMS_PREFIX}-{i}-{name}", "").strip() for name in ITEM_FIELDS}
        for i in range(total)
    ]
    return [row for row in rows if any(row.values())]


def _report_on_form(form: OrderCreateForm, exc: ValidationError | DomainError) -> None:
    if isinstance(exc, DomainError):
        field = "number" if exc.code == services.ORDER_EXISTS else None
        form.add_error(field, exc.message)
        return
    for name, errors in exc.message_dict.items():
        form.add_error(SERVICE_FIELDS.get(name), errors)


# Keying in an order by phone is handling orders, like changing their status: the same
# permission (see docs/permissions.md).
@requires(Perm.CUSTOMER_CHANGE)
@require_http_methods(["GET", "POST"])
def order_new(request: HttpRequest, customer_id: int) -> HttpResponse:
    """An order taken by phone for a customer: items, delivery, payment -> order_create."""
    customer = Customer.objects.filter(pk=customer_id).prefetch_related("addresses").first()
    if customer is None:
        raise Http404
    if request.method == "POST" and "add_rows" not in request.POST:
        form = OrderCreateForm(request.POST)
        items = OrderItemFormSet(request.POST, prefix=ITEMS_PREFIX)
        if form.is_valid() and items.is_valid():
            data = form.to_input([row.to_input() for row in items if row.has_changed()])
            try:
                order = services.order_create(actor=request.user, customer=customer, data=data)
            except (ValidationError, DomainError) as exc:
                _report_on_form(form, exc)
            else:
                messages.success(
                    request, _("Order %(number)s created.") % {"number": order.external_id}
                )
                return redirect(_order_url(order.pk))
        status = 400
    elif request.method == "POST":
        # "More rows": the same form again with what was typed and two empty rows more.
        form = OrderCreateForm(initial=request.POST.dict())
        items = OrderItemFormSet(initial=_typed_rows(request.POST), prefix=ITEMS_PREFIX)
        status = 200
    else:
        default = next((a for a in customer.addresses.all() if a.is_default), None)
        form = OrderCreateForm(initial={"address": str(default) if default else ""})
        items = OrderItemFormSet(prefix=ITEMS_PREFIX)
        status = 200
    context = {
        "customer": customer,
        "form": form,
        "items": items,
        "addresses": [str(a) for a in customer.addresses.all()],
    }
    return render(request, "orders/new.html", context, status=status)


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
        "status_form": OrderStatusForm(current=order.status),
        "is_final": not next_statuses(order.status),
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
        rows.append(
            {
                "manager": manager,
                "form": ManagerCapacityForm(initial=initial),
                # Manual assignment ignores capacity, and capacity may be lowered later.
                "over_by": max(0, manager.open_orders - initial["capacity"]),
                "at_capacity": manager.open_orders == initial["capacity"],
            }
        )
    over = sum(1 for row in rows if row["over_by"] and row["manager"].is_active)
    return render(request, "orders/managers.html", {"rows": rows, "over": over})


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
