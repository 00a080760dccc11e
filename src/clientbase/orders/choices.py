"""Choices of the orders app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    CONFIRMED = "confirmed", _("Confirmed")
    PAID = "paid", _("Paid")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    REFUSED = "refused", _("Refused at delivery")
    CANCELLED = "cancelled", _("Cancelled")
    RETURNED = "returned", _("Returned")


OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.CONFIRMED, OrderStatus.PAID, OrderStatus.SHIPPED)


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    COD = "cod", _("Cash on delivery")
    INVOICE = "invoice", _("Invoice (companies)")
    OTHER = "other", _("Other")


class OrderSource(models.TextChoices):
    WEBSITE = "website", _("Website")
    PHONE = "phone", _("Phone")
    MARKETPLACE = "marketplace", _("Marketplace")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")
