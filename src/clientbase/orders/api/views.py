"""Orders API: create or upsert by (source, external id), read, list, change status."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clientbase.accounts.permissions import API, Scope
from clientbase.core.api.errors import reject_unknown_params
from clientbase.core.api.idempotency import IdempotentMixin
from clientbase.core.api.pagination import CURSOR, CURSOR_PARAM, paginated
from clientbase.core.api.schema import IDEMPOTENCY_KEY, error_responses
from clientbase.customers.api.views import orders_page_response
from clientbase.customers.models import Customer
from clientbase.orders import services
from clientbase.orders.api.serializers import (
    MAX_ID,
    OrderListQuerySerializer,
    OrderSerializer,
    OrderStatusSerializer,
    OrderWriteSerializer,
)
from clientbase.orders.models import Order, OrderStatusChange

OrderPage = paginated(OrderSerializer, "OrderPage")


def order_or_404(pk: int) -> Order:
    if pk > MAX_ID:
        raise NotFound
    order = (
        Order.objects.select_related("customer", "manager")
        .prefetch_related(
            "items",
            Prefetch("status_history", queryset=OrderStatusChange.objects.order_by("at", "id")),
        )
        .filter(pk=pk)
        .first()
    )
    if order is None:
        raise NotFound
    return order


class OrderListView(IdempotentMixin, APIView):
    required_permission = API
    required_scopes = {"get": Scope.ORDERS_READ, "post": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_list",
        summary=_("List orders"),
        description=_("Newest first, optionally of one customer; pages by cursor."),
        parameters=[OrderListQuerySerializer, CURSOR],
        responses={200: OrderPage, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        reject_unknown_params(request, [*OrderListQuerySerializer().fields, CURSOR_PARAM])
        query = OrderListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        orders = Order.objects.all()
        if "customer" in query.validated_data:
            orders = orders.filter(customer_id=query.validated_data["customer"])
        return orders_page_response(request, orders)

    @extend_schema(
        operation_id="orders_upsert",
        summary=_("Create or update an order"),
        description=_(
            "Upserts by (source, external_id): 201 when created, 200 when updated. The "
            "customer is found by customer_id, or by external_id, e-mail or phone, or created. "
            "A stop-listed customer who refused cash-on-delivery parcels cannot choose cash "
            "on delivery: 422 with code cod_not_allowed (ask for prepayment). A new order may "
            "have any status; later pushes may move it any number of steps forward along its "
            "life cycle, never back: 422 with code status_transition_not_allowed."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=OrderWriteSerializer,
        responses={200: OrderSerializer, 201: OrderSerializer, **error_responses(409, 422)},
    )
    def post(self, request: Request) -> Response:
        serializer = OrderWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = None
        customer_id = serializer.validated_data.get("customer_id")
        if customer_id is not None:
            customer = Customer.objects.filter(pk=customer_id).first()
            if customer is None:
                raise ValidationError({"customer_id": _("There is no customer with this id.")})
        order, created = services.order_upsert(
            actor=request.user,
            data=serializer.to_input(),
            customer=customer,
            customer_ref=serializer.customer_ref(),
        )
        return Response(
            OrderSerializer(order_or_404(order.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class OrderDetailView(APIView):
    required_permission = API
    required_scope = Scope.ORDERS_READ

    @extend_schema(
        operation_id="orders_retrieve",
        summary=_("An order"),
        responses={200: OrderSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(OrderSerializer(order_or_404(pk)).data)


class OrderStatusView(IdempotentMixin, APIView):
    required_permission = API
    required_scope = Scope.ORDERS_WRITE

    @extend_schema(
        operation_id="orders_status_set",
        summary=_("Change an order's status"),
        description=_(
            "Records the change in the status history and updates the statistics. Any status "
            "further along the order's life cycle is accepted, none back: 422 with code "
            "status_transition_not_allowed."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=OrderStatusSerializer,
        responses={200: OrderSerializer, **error_responses(404, 409, 422)},
    )
    def post(self, request: Request, pk: int) -> Response:
        serializer = OrderStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if pk > MAX_ID:
            raise NotFound
        order = services.order_status_set(
            actor=request.user,
            order_id=pk,
            status=serializer.validated_data["status"],
            skip_steps=True,
        )
        return Response(OrderSerializer(order_or_404(order.pk)).data)
