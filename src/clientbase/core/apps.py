"""Core app: shared base models, audit log, request context."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "clientbase.core"
    label = "core"
    verbose_name = _("Core")
