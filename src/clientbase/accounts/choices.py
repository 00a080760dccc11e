"""Roles of staff users."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Manager")
    OPERATOR = "operator", _("Operator")
    MARKETER = "marketer", _("Marketer")
    ANALYST = "analyst", _("Analyst")
