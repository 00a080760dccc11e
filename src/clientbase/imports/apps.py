"""Import of customers and orders: files in."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImportsConfig(AppConfig):
    name = "clientbase.imports"
    label = "imports"
    verbose_name = _("Import")
