"""Web UI of the customers app: list and search, card, add/edit, stop-list, tags, custom fields."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clientbase.accounts.models import User
from clientbase.accounts.permissions import Perm, requires, user_has
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import ConflictError, DomainError, DuplicateWarning
from clientbase.core.formatting import format_number
from clientbase.core.pagination import Page
from clientbase.core.templatetags.clientbase_ui import field_label
from clientbase.customers import selectors, services
from clientbase.customers.choices import (
    ConsentChannel,
    CustomerStatus,
    StopListReason,
    TimelineKind,
)
from clientbase.customers.filtersets import CustomerFilterSet
from clientbase.customers.forms import (
    BulkActionForm,
    CustomerCardForm,
    CustomFieldDefinitionForm,
    PhoneFormSet,
    StopListForm,
    TagForm,
    TagNameForm,
    VersionForm,
)
from clientbase.customers.models import Customer, CustomFieldDefinition, Tag, TimelineEvent
from clientbase.orders import selectors as order_selectors
from clientbase.orders.choices import OrderStatus

CUSTOMER_TYPE = Customer._meta.label_lower
CITY_MAX_LENGTH = Customer._meta.get_field("city").max_length


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _card_url(customer_id: int) -> str:
    return reverse("customers:detail", args=[customer_id])


# ---------------------------------------------------------------- list, search, bulk actions


def _audit_search(
    request: HttpRequest, params: selectors.CustomerListParams, *, results_on_page: int
) -> None:
    query = selectors.interpret_query(params.q)
    if query is None:
        return
    extra: dict[str, Any] = {
        "query_kind": query.kind,
        "filters": params.filters(),
        "sort": params.sort,
        "results_on_page": results_on_page,
    }
    # Phones and e-mails are personal data: the log keeps what kind of query it was only.
    if query.kind not in selectors.CONTACT_KINDS:
        extra["query"] = query.value
    audit.record_access(
        action=AuditAction.SEARCH, actor=request.user, object_type=CUSTOMER_TYPE, extra=extra
    )


# Sortable columns: (ascending sort, descending sort, the first click's sort).
SORTABLE_COLUMNS = {
    "name": ("name", "-name", "name"),
    "city": ("city", "-city", "city"),
    "added": ("oldest", "newest", "newest"),
}


def _sort_headers(current: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the sort a click asks for and the column's aria-sort now."""
    headers = {}
    for column, (ascending, descending, first) in SORTABLE_COLUMNS.items():
        if current == ascending:
            headers[column] = {"sort": descending, "aria": "ascending"}
        elif current == descending:
            headers[column] = {"sort": ascending, "aria": "descending"}
        else:
            headers[column] = {"sort": first, "aria": ""}
    return headers


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    filterset = CustomerFilterSet(request.GET)
    email_start_too_common = False
    if not filterset.is_valid():
        # Never the whole base for a filter that was not understood: the table says what
        # to fix and shows nobody.
        params = selectors.CustomerListParams()
        page: Page[Customer] = Page()
    else:
        params = filterset.params()
        page = selectors.customer_page(
            params, after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
        _audit_search(request, params, results_on_page=len(page.rows))
        query = selectors.interpret_query(params.q)
        email_start_too_common = selectors.email_start_too_common(query)
    context = {
        "filterset": filterset,
        "page": page,
        "params": params,
        "headers": _sort_headers(params.sort),
        "email_start_too_common": email_start_too_common,
        "bulk_form": BulkActionForm(),
        "tags": Tag.objects.order_by("name"),
    }
    template = "customers/list.html"
    if _is_htmx(request) and request.headers.get("HX-Target") == "customer-table":
        template = "customers/_list_table.html"
        context["partial"] = True
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def city_suggestions(request: HttpRequest) -> HttpResponse:
    """The known cities starting with what is typed: <option>s for the filter's datalist."""
    typed = request.GET.get("city", "")
    cities = selectors.known_cities(typed) if len(typed) <= CITY_MAX_LENGTH else []
    return render(request, "customers/_city_options.html", {"cities": cities})


@requires(Perm.CUSTOMER_BULK)
@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponse:
    back = _safe_next(request, reverse("customers:list"))
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    action = data["action"]
    if action == BulkActionForm.ASSIGN_MANAGER:
        manager = data["manager"]
        count = services.customers_bulk_assign_manager(
            actor=request.user,
            customer_ids=data["ids"],
            manager_id=manager.pk if manager else None,
        )
        messages.success(
            request, _("Manager changed for %(n)s customers.") % {"n": format_number(count)}
        )
    else:
        remove = action == BulkActionForm.REMOVE_TAG
        if remove and not Tag.objects.filter(name=data["tag"].strip()).exists():
            messages.error(request, _("There is no such tag."))
            return redirect(back)
        count = services.customers_bulk_tag(
            actor=request.user, customer_ids=data["ids"], tag_names=[data["tag"]], remove=remove
        )
        text = (
            _("Tag “%(tag)s” removed from %(n)s customers.")
            if remove
            else _("Tag “%(tag)s” added to %(n)s customers.")
        )
        messages.success(request, text % {"tag": data["tag"].strip(), "n": format_number(count)})
    return redirect(back)


# ---------------------------------------------------------------- the card


def _card_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "customer": customer,
        "can_document": user_has(request.user, Perm.CUSTOMER_DOCUMENT),
        "stoplist_form": StopListForm(initial={"version": customer.version}),
        "tag_form": TagNameForm(),
    }


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        customer = selectors.customer_card(pk)
    except Customer.DoesNotExist as exc:
        raise Http404 from exc
    audit.record_access(action=AuditAction.VIEW, actor=request.user, obj=customer)
    context = _card_context(request, customer)
    by_channel = {c.channel: c for c in customer.consents.all()}
    context.update(
        {
            "orders": order_selectors.customer_purchase_history(customer),
            "history_limit": order_selectors.HISTORY_LIMIT,
            "stats": order_selectors.customer_stats(customer),
            "preferences": order_selectors.customer_preferences(customer),
            "timeline": _timeline_rows(selectors.customer_timeline(customer)),
            "custom_values": selectors.custom_field_values(customer),
            "consents": [(label, by_channel.get(ch)) for ch, label in ConsentChannel.choices],
        }
    )
    return render(request, "customers/detail.html", context)


def _choice_label(choices: Any, value: Any) -> str:
    return str(dict(choices.choices).get(value, value or "—"))


def _timeline_rows(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    """Each event with one line of translated details; staff names resolved in one query."""
    user_ids = {
        v
        for e in events
        if e.kind == TimelineKind.MANAGER
        for v in (e.data.get("from"), e.data.get("to"))
        if v
    }
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=user_ids)} if user_ids else {}
    rows = []
    for event in events:
        data = event.data or {}
        details = ""
        if event.kind in (TimelineKind.TAGGED, TimelineKind.UNTAGGED):
            details = ", ".join(data.get("tags", []))
        elif event.kind == TimelineKind.EDITED:
            details = ", ".join(field_label(CUSTOMER_TYPE, f) for f in data.get("fields", []))
        elif event.kind == TimelineKind.STOPLISTED:
            details = _choice_label(StopListReason, data.get("reason"))
        elif event.kind == TimelineKind.MANAGER:
            details = "{} → {}".format(
                names.get(data.get("from"), "—"), names.get(data.get("to"), "—")
            )
        elif event.kind == TimelineKind.ORDER:
            details = "№{} · {}".format(
                data.get("number", ""), _choice_label(OrderStatus, data.get("status"))
            )
        elif data.get("stoplist_proposed"):
            details = _(
                "Proposed for the stop-list after %(n)s refused cash-on-delivery parcels."
            ) % {"n": format_number(data.get("refused_cod", 0))}
        elif "from" in data and "to" in data:
            details = "{} → {}".format(
                _choice_label(CustomerStatus, data["from"]),
                _choice_label(CustomerStatus, data["to"]),
            )
        elif isinstance(data.get("text"), str):
            details = data["text"]
        rows.append({"event": event, "details": details})
    return rows


def _card_form_page(request: HttpRequest, card: CustomerCardForm, **extra: Any) -> HttpResponse:
    context = {"card": card, "customer": card.customer, **extra}
    return render(request, "customers/form.html", context)


@requires(Perm.CUSTOMER_ADD)
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest) -> HttpResponse:
    can_document = user_has(request.user, Perm.CUSTOMER_DOCUMENT)
    card = CustomerCardForm(request.POST or None, can_edit_document=can_document)
    phone = request.GET.get("phone", "").strip()
    if request.method == "GET" and phone:
        # The caller page sends an unknown number here so the operator need not retype it.
        card.phones = PhoneFormSet(initial=[{"number": phone[:30]}], prefix="phones")
    duplicates: list[dict[str, Any]] = []
    if request.method == "POST" and card.is_valid():
        try:
            customer = services.customer_create(
                actor=request.user, data=card.to_input(), confirm_duplicate=card.confirm_duplicate
            )
        except DuplicateWarning as exc:
            duplicates = exc.details or []
        except ValidationError as exc:
            card.add_service_errors(exc)
        except DomainError as exc:
            card.main.add_error(None, exc.message)
        else:
            messages.success(request, _("Customer “%(name)s” created.") % {"name": customer})
            return redirect(_card_url(customer.pk))
    return _card_form_page(request, card, duplicates=duplicates)


@requires(Perm.CUSTOMER_CHANGE)
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        customer = selectors.customer_card(pk)
    except Customer.DoesNotExist as exc:
        raise Http404 from exc
    can_document = user_has(request.user, Perm.CUSTOMER_DOCUMENT)
    card = CustomerCardForm(request.POST or None, customer=customer, can_edit_document=can_document)
    conflict: list[dict[str, Any]] | None = None
    current_values: list[tuple[str, Any]] = []
    if request.method == "POST" and card.is_valid():
        try:
            services.customer_update(
                actor=request.user,
                customer_id=customer.pk,
                expected_version=card.expected_version,
                data=card.to_input(),
            )
        except ConflictError as exc:
            # The alert on the page explains the conflict; no field is at fault.
            conflict = exc.details or []
            current = services.customer_snapshot(selectors.customer_card(customer.pk))
            changed = sorted({f for change in conflict for f in change.get("changes", {})})
            current_values = [
                (field_label(CUSTOMER_TYPE, f), current.get(f))
                for f in changed
                if f not in services.REDACTED_FIELDS
            ]
        except ValidationError as exc:
            card.add_service_errors(exc)
        except DomainError as exc:
            card.main.add_error(None, exc.message)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(_card_url(customer.pk))
    return _card_form_page(request, card, conflict=conflict, current_values=current_values)


def _versioned_action(
    request: HttpRequest, pk: int, action: Any, success: str, form_class: type = VersionForm
) -> HttpResponse:
    """Run a card action that carries the card's version; report a conflict, never overwrite."""
    customer = get_object_or_404(Customer, pk=pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_card_url(customer.pk))
    try:
        action(customer, form.cleaned_data)
    except ConflictError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect(_card_url(customer.pk))


@requires(Perm.CUSTOMER_STOPLIST)
@require_http_methods(["GET", "POST"])
def customer_stoplist_add(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "GET":
        customer = get_object_or_404(Customer, pk=pk)
        form = StopListForm(initial={"version": customer.version})
        return render(request, "customers/stoplist.html", {"customer": customer, "form": form})

    def run(customer: Customer, data: dict[str, Any]) -> None:
        services.customer_stoplist_add(
            actor=request.user,
            customer_id=customer.pk,
            expected_version=data["version"],
            reason=data["reason"],
            comment=data["comment"],
        )

    return _versioned_action(
        request, pk, run, _("The customer is on the stop-list now."), StopListForm
    )


def _status_view(status: str, success: str) -> Any:
    def run_for(request: HttpRequest, pk: int) -> HttpResponse:
        def run(customer: Customer, data: dict[str, Any]) -> None:
            services.customer_status_set(
                actor=request.user,
                customer_id=customer.pk,
                expected_version=data["version"],
                status=status,
            )

        return _versioned_action(request, pk, run, success)

    return run_for


def _confirm_page(request: HttpRequest, customer: Customer, action: str) -> HttpResponse:
    """The separate step before a destructive action: a page whose form posts the action.

    A page rather than a script dialog: it works without JavaScript, a screen reader reads
    it like any page, and a stray click on the card changes nothing.
    """
    form = VersionForm(initial={"version": customer.version})
    context = {"customer": customer, "form": form, "action": action}
    return render(request, "customers/confirm.html", context)


@requires(Perm.CUSTOMER_STOPLIST)
@require_http_methods(["GET", "POST"])
def customer_stoplist_remove(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    if customer.status != CustomerStatus.STOPLISTED:
        messages.info(request, _("The customer is not on the stop-list."))
        return redirect(_card_url(pk))
    if request.method == "GET":
        return _confirm_page(request, customer, "stoplist_remove")
    return _status_view(CustomerStatus.ACTIVE, _("The customer is off the stop-list."))(request, pk)


@requires(Perm.CUSTOMER_CHANGE)
@require_http_methods(["GET", "POST"])
def customer_archive(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    if customer.status == CustomerStatus.STOPLISTED:
        # Archiving would silently clear the stop-list; that takes its own permission.
        messages.error(request, _("Take the customer off the stop-list first."))
        return redirect(_card_url(pk))
    if customer.status == CustomerStatus.ARCHIVED:
        messages.info(request, _("The customer is archived already."))
        return redirect(_card_url(pk))
    if request.method == "GET":
        return _confirm_page(request, customer, "archive")
    return _status_view(CustomerStatus.ARCHIVED, _("Customer archived."))(request, pk)


@requires(Perm.CUSTOMER_CHANGE)
@require_POST
def customer_restore(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    if customer.status != CustomerStatus.ARCHIVED:
        messages.info(request, _("The customer is not archived."))
        return redirect(_card_url(pk))
    return _status_view(CustomerStatus.ACTIVE, _("Customer restored from the archive."))(
        request, pk
    )


@requires(Perm.CUSTOMER_DELETE)
@require_http_methods(["GET", "POST"])
def customer_delete(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    has_orders = customer.orders.exists()
    form = VersionForm(request.POST or None, initial={"version": customer.version})
    if request.method == "POST" and form.is_valid():
        name = str(customer)
        try:
            services.customer_delete(
                actor=request.user,
                customer_id=customer.pk,
                expected_version=form.cleaned_data["version"],
            )
        except ConflictError as exc:
            messages.error(request, exc.message)
            return redirect(_card_url(customer.pk))
        except ProtectedError:
            messages.error(
                request, _("The customer has orders and cannot be deleted: archive them instead.")
            )
            return redirect(_card_url(customer.pk))
        messages.success(request, _("Customer “%(name)s” deleted.") % {"name": name})
        return redirect("customers:list")
    return render(
        request,
        "customers/delete.html",
        {"customer": customer, "form": form, "has_orders": has_orders},
    )


# Tagging a customer changes their card, so it needs the same permission as editing it (the
# edit form sets tags too); TAG_MANAGE is about the tag catalogue itself.
@requires(Perm.CUSTOMER_CHANGE)
@require_POST
def customer_tag(request: HttpRequest, pk: int, op: str) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = TagNameForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["tag"]
        if op == "add":
            services.customer_tag_add(actor=request.user, customer_id=pk, tag_name=name)
        elif Tag.objects.filter(name=name.strip()).exists():
            services.customer_tag_remove(actor=request.user, customer_id=pk, tag_name=name)
    if not _is_htmx(request):
        return redirect(_card_url(pk))
    # The tags changed the card's version: the action forms are re-sent out of band so their
    # hidden version stays current and the next action does not report a false conflict.
    customer = selectors.customer_card(pk)
    context = _card_context(request, customer)
    context["tag_form"] = form if not form.is_valid() else TagNameForm()
    return render(request, "customers/_tags_response.html", context)


# ---------------------------------------------------------------- tags


@requires(Perm.CUSTOMER_VIEW)
@require_GET
def tag_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "customers/tag_list.html",
        {"tags": selectors.tags_with_counts(), "form": TagForm()},
    )


@requires(Perm.TAG_MANAGE)
@require_http_methods(["GET", "POST"])
def tag_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    tag = get_object_or_404(Tag, pk=pk) if pk else None
    initial = {"name": tag.name, "color": tag.color} if tag else {}
    form = TagForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if tag is None:
                services.tag_create(actor=request.user, **form.cleaned_data)
            else:
                services.tag_rename(actor=request.user, tag_id=tag.pk, **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Tag saved."))
            return redirect("customers:tag_list")
    return render(request, "customers/tag_form.html", {"form": form, "tag": tag})


@requires(Perm.TAG_MANAGE)
@require_http_methods(["GET", "POST"])
def tag_delete(request: HttpRequest, pk: int) -> HttpResponse:
    tag = get_object_or_404(selectors.tags_with_counts(), pk=pk)
    if request.method == "POST":
        count = services.tag_delete(actor=request.user, tag_id=tag.pk)
        messages.success(
            request,
            _("Tag “%(tag)s” deleted; %(n)s customers had it.")
            % {"tag": tag.name, "n": format_number(count)},
        )
        return redirect("customers:tag_list")
    return render(request, "customers/tag_delete.html", {"tag": tag})


# ---------------------------------------------------------------- custom field definitions


@requires(Perm.CUSTOM_FIELD_MANAGE)
@require_GET
def field_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "customers/field_list.html",
        {"definitions": CustomFieldDefinition.objects.all()},
    )


@requires(Perm.CUSTOM_FIELD_MANAGE)
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    definition = get_object_or_404(CustomFieldDefinition, pk=pk) if pk else None
    form = CustomFieldDefinitionForm(request.POST or None, definition=definition)
    if request.method == "POST" and form.is_valid():
        try:
            services.custom_field_save(
                actor=request.user,
                definition_id=definition.pk if definition else None,
                **form.service_kwargs(),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Custom field saved."))
            return redirect("customers:field_list")
    return render(request, "customers/field_form.html", {"form": form, "definition": definition})
