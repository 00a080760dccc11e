"""Customers API: list, card, create, versioned update, upsert, caller lookup, orders."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clientbase.accounts.permissions import API, Scope
from clientbase.core import audit
from clientbase.core.api.errors import error_body, reject_unknown_params
from clientbase.core.api.idempotency import IdempotentMixin
from clientbase.core.api.pagination import (
    CURSOR,
    CURSOR_PARAM,
    cursor_links,
    cursor_positions,
    paginated,
)
from clientbase.core.api.schema import IDEMPOTENCY_KEY, error_responses
from clientbase.core.choices import AuditAction
from clientbase.core.pagination import keyset_page
from clientbase.customers import selectors, services
from clientbase.customers.api.serializers import (
    MAX_ID,
    CustomerCardSerializer,
    CustomerCreateSerializer,
    CustomerListItemSerializer,
    CustomerLookupQuerySerializer,
    CustomerLookupSerializer,
    CustomerPatchSerializer,
    CustomerStatsSerializer,
    CustomerWriteSerializer,
    OpenOrderSerializer,
    score_fields,
    stats_of,
)
from clientbase.customers.filtersets import CustomerFilterSet
from clientbase.customers.models import Customer, CustomerPhone
from clientbase.customers.normalize import try_normalize_phone
from clientbase.orders.api.serializers import OrderSerializer
from clientbase.orders.choices import OPEN_STATUSES
from clientbase.orders.models import Order, OrderStatusChange

CUSTOMER_TYPE = Customer._meta.label_lower
OPEN_ORDERS_SHOWN = 20
ORDERS_PAGE_SIZE = 50

CustomerPage = paginated(CustomerListItemSerializer, "CustomerPage")
CustomerOrderPage = paginated(OrderSerializer, "CustomerOrderPage")

LIST_FILTERS = [
    OpenApiParameter(
        "q",
        str,
        description=_(
            "The start of a name, a phone in any format or its last 4 to 9 digits, an e-mail "
            "or its start, or an INN."
        ),
    ),
    OpenApiParameter("tag", int, description=_("Tag id.")),
    OpenApiParameter("city", str, description=_("Any case and spacing: “москва” finds “Москва”.")),
    OpenApiParameter("kind", str, enum=["person", "company"]),
    OpenApiParameter("status", str, enum=["active", "archived", "stoplisted"]),
    OpenApiParameter("manager", str, description=_("Manager's user id, or none.")),
    OpenApiParameter("birth_month", int, description=_("1 to 12.")),
    OpenApiParameter("r", int, description=_("R score of the analytics refresh, 1 to 5.")),
    OpenApiParameter("f", int, description=_("F score of the analytics refresh, 1 to 5.")),
    OpenApiParameter(
        "sort",
        str,
        enum=list(selectors.SORTS),
        description=_("By name (the default), city (then name) or date added; - reverses."),
    ),
    CURSOR,
]
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=_('The version you read, as in the ETag: "3". Or send a version field.'),
)


def customer_card_or_404(pk: int) -> Customer:
    if pk > MAX_ID:
        raise NotFound
    try:
        return selectors.customer_card(pk)
    except Customer.DoesNotExist as exc:
        raise NotFound from exc


def card_response(customer: Customer, *, status_code: int = status.HTTP_200_OK) -> Response:
    response = Response(CustomerCardSerializer(customer).data, status=status_code)
    response["ETag"] = f'"{customer.version}"'
    return response


def _version_from(request: Request, body_version: int | None) -> int | None:
    header = request.headers.get("If-Match", "").strip()
    if header:
        value = header.removeprefix("W/").strip('"')
        if not value.isdigit() or not 0 < int(value) <= MAX_ID:
            return -1
        return int(value)
    return body_version


class CustomerListView(IdempotentMixin, APIView):
    required_permission = API
    required_scopes = {"get": Scope.CUSTOMERS_READ, "post": Scope.CUSTOMERS_WRITE}

    @extend_schema(
        operation_id="customers_list",
        summary=_("List customers"),
        description=_(
            "The same search and filters as the customer list in the UI; pages by cursor, "
            "without a total count. An invalid filter value or an unknown parameter is a 400 "
            "validation_error, never the whole list."
        ),
        parameters=LIST_FILTERS,
        responses={200: CustomerPage, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_params(request, [*CustomerFilterSet.base_fields, CURSOR_PARAM])
        # An invalid filter raises ValidationError: 400 validation_error, never the whole base.
        params = CustomerFilterSet(request.query_params).params()
        after, before = cursor_positions(request)
        page = selectors.customer_page(params, after=after, before=before)
        query = selectors.interpret_query(params.q)
        extra: dict[str, Any] = {
            "via": "api",
            "filters": params.filters(),
            "sort": params.sort,
            "results_on_page": len(page.rows),
        }
        if query is not None:
            extra["query_kind"] = query.kind
            # Phones and e-mails are personal data: the log keeps the kind of query only.
            if query.kind not in selectors.CONTACT_KINDS:
                extra["query"] = query.value
        audit.record_access(
            action=AuditAction.SEARCH, actor=request.user, object_type=CUSTOMER_TYPE, extra=extra
        )
        return Response(
            {
                "results": CustomerListItemSerializer(page.rows, many=True).data,
                **cursor_links(request, page),
            }
        )

    @extend_schema(
        operation_id="customers_create",
        summary=_("Create a customer"),
        description=_(
            "A customer with the same phone or e-mail answers 409 with the likely duplicates "
            'in details, unless "confirm_duplicate": true.'
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=CustomerCreateSerializer,
        responses={201: CustomerCardSerializer, **error_responses(409, 422)},
    )
    def post(self, request: Request) -> Response:
        serializer = CustomerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(
            actor=request.user,
            data=serializer.to_input(),
            confirm_duplicate=serializer.validated_data["confirm_duplicate"],
        )
        return card_response(customer_card_or_404(customer.pk), status_code=201)


class CustomerDetailView(APIView):
    required_permission = API
    required_scopes = {"get": Scope.CUSTOMERS_READ, "patch": Scope.CUSTOMERS_WRITE}

    @extend_schema(
        operation_id="customers_retrieve",
        summary=_("A customer's card"),
        description=_("The ETag header holds the version to send back in If-Match."),
        responses={200: CustomerCardSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        customer = customer_card_or_404(pk)
        audit.record_access(
            action=AuditAction.VIEW, actor=request.user, obj=customer, extra={"via": "api"}
        )
        return card_response(customer)

    @extend_schema(
        operation_id="customers_partial_update",
        summary=_("Change a customer"),
        description=_(
            "Only the keys sent change. The version you read is required (If-Match header or "
            "a version field): a stale one answers 412 with what changed since, and nothing "
            "is saved."
        ),
        parameters=[IF_MATCH],
        request=CustomerPatchSerializer,
        responses={200: CustomerCardSerializer, **error_responses(404, 412, 422, 428)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        serializer = CustomerPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = _version_from(request, serializer.validated_data.get("version"))
        if version is None:
            return Response(
                error_body(
                    "version_required",
                    _("Send the version you read: an If-Match header or a version field."),
                ),
                status=status.HTTP_428_PRECONDITION_REQUIRED,
            )
        if version < 0:
            return Response(
                error_body(
                    "validation_error",
                    _("The data is not valid."),
                    {"If-Match": [_("Send the version as a number in quotes.")]},
                ),
                status=status.HTTP_400_BAD_REQUEST,
            )
        if pk > MAX_ID:
            raise NotFound
        customer = services.customer_update(
            actor=request.user,
            customer_id=pk,
            expected_version=version,
            data=serializer.to_input(),
        )
        return card_response(customer_card_or_404(customer.pk))


class CustomerUpsertView(IdempotentMixin, APIView):
    required_permission = API
    required_scope = Scope.CUSTOMERS_WRITE

    @extend_schema(
        operation_id="customers_upsert",
        summary=_("Create or update a customer"),
        description=_(
            "Finds the customer by external_id, else by the first e-mail, else by the first "
            "phone; updates it (201 when created, 200 when updated)."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=CustomerWriteSerializer,
        responses={
            200: CustomerCardSerializer,
            201: CustomerCardSerializer,
            **error_responses(409, 412, 422),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = CustomerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer, created = services.customer_upsert(actor=request.user, data=serializer.to_input())
        return card_response(customer_card_or_404(customer.pk), status_code=201 if created else 200)


class CustomerLookupView(APIView):
    required_permission = API
    required_scope = Scope.CUSTOMERS_LOOKUP

    @extend_schema(
        operation_id="customers_lookup",
        summary=_("Look up a caller by phone"),
        description=_(
            "Who is calling: the customer owning the phone, their statistics, open orders "
            "and stop-list state; 404 when nobody has the number."
        ),
        parameters=[CustomerLookupQuerySerializer],
        responses={200: CustomerLookupSerializer, **error_responses(404)},
    )
    def get(self, request: Request) -> Response:
        query = CustomerLookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        number = try_normalize_phone(query.validated_data["phone"])
        if not number:
            raise NotFound(_("No customer has this phone."))
        # Indexed reads only: the phone index, the card with its manager and stats by key,
        # the tags and the newest open orders by the (customer, placed_at) index.
        owners = list(
            CustomerPhone.objects.filter(number=number)
            .select_related("customer__manager", "customer__stats", "customer__score")
            .order_by("customer_id")[:10]
        )
        if not owners:
            raise NotFound(_("No customer has this phone."))
        customer = owners[0].customer
        open_orders = list(
            Order.objects.filter(customer=customer, status__in=OPEN_STATUSES).order_by(
                "-placed_at", "-id"
            )[:OPEN_ORDERS_SHOWN]
        )
        audit.record_access(
            action=AuditAction.VIEW, actor=request.user, obj=customer, extra={"via": "lookup"}
        )
        data = {
            "id": customer.pk,
            "display_name": customer.display_name,
            "kind": customer.kind,
            "status": customer.status,
            "is_stoplisted": customer.is_stoplisted,
            "stoplist_reason": customer.stoplist_reason,
            "stoplist_comment": customer.stoplist_comment,
            "manager": customer.manager.username if customer.manager_id else None,
            "tags": sorted(customer.tags.values_list("name", flat=True)),
            "stats": CustomerStatsSerializer(stats_of(customer)).data,
            **score_fields(customer),
            "open_orders": OpenOrderSerializer(open_orders, many=True).data,
            "other_customer_ids": [p.customer_id for p in owners[1:]],
        }
        return Response(data)


class CustomerOrdersView(APIView):
    required_permission = API
    required_scope = Scope.ORDERS_READ

    @extend_schema(
        operation_id="customers_orders",
        summary=_("A customer's orders"),
        description=_("Newest first, with items and status history; pages by cursor."),
        parameters=[CURSOR],
        responses={200: CustomerOrderPage, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        if pk > MAX_ID or not Customer.objects.filter(pk=pk).exists():
            raise NotFound
        return orders_page_response(request, Order.objects.filter(customer_id=pk))


def orders_page_response(request: Request, queryset: Any) -> Response:
    after, before = cursor_positions(request)
    queryset = queryset.select_related("customer", "manager").prefetch_related(
        "items",
        Prefetch("status_history", queryset=OrderStatusChange.objects.order_by("at", "id")),
    )
    page = keyset_page(
        queryset, order=("-placed_at", "-id"), size=ORDERS_PAGE_SIZE, after=after, before=before
    )
    return Response(
        {"results": OrderSerializer(page.rows, many=True).data, **cursor_links(request, page)}
    )
