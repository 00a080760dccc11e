"""Orders with items and status history."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clientbase.core.models import TimeStampedModel
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod

MONEY = {"max_digits": 14, "decimal_places": 2, "default": Decimal("0")}
DAY_EPOCH = datetime.date(2000, 1, 1)


def local_day(moment: datetime.datetime) -> int:
    """Days since 2000-01-01 of the moment's date in the shop's time zone.

    Stored with each order so analytics can group purchases by day straight from an index,
    without a date function per row over millions of orders.
    """
    return (timezone.localtime(moment).date() - DAY_EPOCH).days


class OrderQuerySet(models.QuerySet["Order"]):
    """Keeps Order.placed_day in step with placed_at on bulk writes too."""

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Order]:
        objs = list(objs)
        for order in objs:
            if order.placed_at is not None:
                order.placed_day = local_day(order.placed_at)
        return super().bulk_create(objs, *args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        if "placed_at" in kwargs:
            if not isinstance(kwargs["placed_at"], datetime.datetime):
                raise ValueError("placed_at can only be updated to a datetime value")
            kwargs["placed_day"] = local_day(kwargs["placed_at"])
        return super().update(**kwargs)


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
    placed_day = models.IntegerField(editable=False, default=0)
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

    objects = OrderQuerySet.as_manager()

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
            # Covers the analytics refresh: delivered orders by customer and day, with totals.
            models.Index(
                fields=["status", "customer", "placed_day", "total"], name="order_analytics_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"№{self.external_id}"

    @property
    def lines_total(self) -> Decimal:
        """What the order's lines come to before discount and delivery: its items (read from
        the prefetched items), or the subtotal the shop sent when there are none."""
        items = self.items.all()
        if not items:
            return self.subtotal
        return sum((item.amount for item in items), Decimal("0"))

    @property
    def adjustment(self) -> Decimal:
        """What the shop's total differs from lines - discount + delivery (a rounding, a gift
        card, a total sent as is): shown so the lines of an order always add up."""
        return self.total - (self.lines_total - self.discount + self.delivery_cost)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.placed_at is not None:
            self.placed_day = local_day(self.placed_at)
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "placed_at" in update_fields:
                kwargs["update_fields"] = {*update_fields, "placed_day"}
        super().save(*args, **kwargs)


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

    @property
    def amount(self) -> Decimal:
        """Price times quantity, to the cent."""
        return (self.price * self.quantity).quantize(Decimal("0.01"))


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


class CustomerStats(models.Model):
    """Purchase statistics of one customer, kept in step with the orders in the same transaction."""

    customer = models.OneToOneField(
        "customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="stats"
    )
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True, db_index=True)
    orders_count = models.PositiveIntegerField(_("orders"), default=0)
    delivered_count = models.PositiveIntegerField(_("delivered orders"), default=0)
    revenue = models.DecimalField(_("revenue"), **MONEY)
    average_order_value = models.DecimalField(_("average order value"), **MONEY)
    refused_cod_count = models.PositiveIntegerField(
        _("refused cash-on-delivery parcels"), default=0
    )
    last_refused_at = models.DateTimeField(_("last refusal"), null=True, blank=True)
    stoplist_proposed_at = models.DateTimeField(
        _("proposed for the stop-list"), null=True, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer statistics")
        verbose_name_plural = _("customer statistics")
        indexes = [models.Index(fields=["-revenue"], name="stats_revenue_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.orders_count}"


class CustomerCategory(models.Model):
    """A product category a customer bought (an item of a delivered order), for segments.

    The key is the category in its search form. Kept in step with the orders wherever
    CustomerStats is (orders.services), so "category = X" is an index range over
    (key, customer) instead of a join over every order item.
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="bought_categories"
    )
    key = models.CharField(max_length=200)

    class Meta:
        verbose_name = _("bought category")
        verbose_name_plural = _("bought categories")
        constraints = [
            models.UniqueConstraint(fields=["key", "customer"], name="category_unique_per_customer")
        ]

    def __str__(self) -> str:
        return self.key


class ManagerCapacity(models.Model):
    """Whether a manager takes new orders automatically, and how many open ones at most."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="order_capacity",
    )
    accepts_orders = models.BooleanField(_("takes new orders"), default=True)
    capacity = models.PositiveIntegerField(_("open orders at most"), default=50)

    class Meta:
        verbose_name = _("manager capacity")
        verbose_name_plural = _("manager capacities")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.capacity}"
