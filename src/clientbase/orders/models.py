"""Orders with items and status history."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clientbase.core.models import TimeStampedModel
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod

MONEY = {"max_digits": 14, "decimal_places": 2, "default": Decimal("0")}


class Order(TimeStampedModel):
    source = models.CharField(
        _("source"), max_length=20, choices=OrderSource.choices, default=OrderSource.WEBSITE
    )
    external_id = models.CharField(_("order number"), max_length=100)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    placed_at = models.DateTimeField(_("placed at"), db_index=True)
    status = models.CharField(
        _("status"), max_length=12, choices=OrderStatus.choices, default=OrderStatus.NEW
    )
    currency = models.CharField(_("currency"), max_length=3, default="RUB")
    subtotal = models.DecimalField(_("subtotal"), **MONEY)
    discount = models.DecimalField(_("discount"), **MONEY)
    delivery_cost = models.DecimalField(_("delivery"), **MONEY)
    total = models.DecimalField(_("total"), **MONEY)
    payment_method = models.CharField(
        _("payment"), max_length=10, choices=PaymentMethod.choices, default=PaymentMethod.CARD
    )
    delivery_method = models.CharField(_("delivery method"), max_length=100, blank=True)
    address = models.CharField(_("delivery address"), max_length=500, blank=True)
    promised_delivery = models.DateField(_("promised delivery"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    coupon = models.CharField(_("coupon"), max_length=50, blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="order_external_unique")
        ]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_idx"),
            models.Index(fields=["manager", "status", "-placed_at"], name="order_manager_idx"),
        ]

    def __str__(self) -> str:
        return f"№{self.external_id}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(_("SKU"), max_length=100, blank=True)
    name = models.CharField(_("product"), max_length=300)
    category = models.CharField(_("category"), max_length=200, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=12, decimal_places=3, default=1)
    price = models.DecimalField(_("price"), **MONEY)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")

    def __str__(self) -> str:
        return self.name


class OrderStatusChange(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_history")
    status = models.CharField(_("status"), max_length=12, choices=OrderStatus.choices)
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.status} {self.at:%Y-%m-%d}"
