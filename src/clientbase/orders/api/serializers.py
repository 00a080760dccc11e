"""Orders in and out of the API."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod
from clientbase.orders.models import Order
from clientbase.orders.services import CustomerRef, ItemInput, OrderInput

MAX_ID = 2**31 - 1
MONEY = {"max_digits": 14, "decimal_places": 2, "min_value": 0}


class OrderItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    name = serializers.CharField(max_length=300)
    category = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    quantity = serializers.DecimalField(
        max_digits=12, decimal_places=3, min_value=0, required=False, default=1
    )
    price = serializers.DecimalField(**MONEY)


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    at = serializers.DateTimeField()


class OrderCustomerSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    middle_name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class OrderWriteSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100, help_text=_("The shop's order number."))
    source = serializers.ChoiceField(choices=OrderSource.choices, default=OrderSource.WEBSITE)
    placed_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, default=OrderStatus.NEW)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, allow_blank=True)
    subtotal = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    discount = serializers.DecimalField(**MONEY, required=False, default=0)
    delivery_cost = serializers.DecimalField(**MONEY, required=False, default=0)
    total = serializers.DecimalField(**MONEY, required=False, allow_null=True)
    payment_method = serializers.ChoiceField(
        choices=PaymentMethod.choices, default=PaymentMethod.CARD
    )
    delivery_method = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    address = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    promised_delivery = serializers.DateField(required=False, allow_null=True)
    coupon = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    items = OrderItemSerializer(many=True, required=False, max_length=1000)
    customer = OrderCustomerSerializer(
        required=False, help_text=_("Found by external_id, else e-mail, else phone; or created.")
    )
    customer_id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text=_("Instead of customer.")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ref = attrs.get("customer") or {}
        if "customer_id" not in attrs and not any(
            ref.get(k) for k in ("external_id", "email", "phone")
        ):
            raise serializers.ValidationError(
                {
                    "customer": _(
                        "Send customer_id, or a customer with external_id, e-mail or phone."
                    )
                }
            )
        return attrs

    def to_input(self) -> OrderInput:
        data = self.validated_data
        return OrderInput(
            external_id=data["external_id"],
            source=data["source"],
            placed_at=data.get("placed_at"),
            status=data["status"],
            currency=data.get("currency") or "",
            subtotal=data.get("subtotal"),
            discount=data["discount"],
            delivery_cost=data["delivery_cost"],
            total=data.get("total"),
            payment_method=data["payment_method"],
            delivery_method=data["delivery_method"],
            address=data["address"],
            promised_delivery=data.get("promised_delivery"),
            coupon=data["coupon"],
            items=[ItemInput(**i) for i in data["items"]] if "items" in data else None,
        )

    def customer_ref(self) -> CustomerRef | None:
        ref = self.validated_data.get("customer")
        return CustomerRef(**ref) if ref else None


class OrderStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)


class OrderListQuerySerializer(serializers.Serializer):
    customer = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text=_("Only this customer's orders.")
    )


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    source = serializers.ChoiceField(choices=OrderSource.choices)
    customer_id = serializers.IntegerField()
    customer_stoplisted = serializers.SerializerMethodField(
        help_text=_("The customer is on the stop-list: check before shipping.")
    )
    placed_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    currency = serializers.CharField()
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    delivery_cost = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)
    delivery_method = serializers.CharField()
    address = serializers.CharField()
    promised_delivery = serializers.DateField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    coupon = serializers.CharField()
    manager = serializers.SerializerMethodField()
    items = OrderItemSerializer(many=True, source="items.all")
    status_history = StatusChangeSerializer(many=True, source="status_history.all")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_customer_stoplisted(self, order: Order) -> bool:
        return bool(order.customer.is_stoplisted)

    def get_manager(self, order: Order) -> str | None:
        return order.manager.username if order.manager_id else None
