"""Customers: the customer card, contacts, addresses, consent, tags, custom fields."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "clientbase.customers"
    label = "customers"
    verbose_name = _("Customers")
