"""Exports of customers and orders to CSV and XLSX: files out."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    name = "clientbase.exports"
    label = "exports"
    verbose_name = _("Export")
