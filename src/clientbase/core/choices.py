"""Choices of the core app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    VIEW = "view", _("Viewed")
    SEARCH = "search", _("Searched")
    EXPORT = "export", _("Exported")
    IMPORT = "import", _("Imported")
    IMPORT_UNDO = "import_undo", _("Import undone")
    LOGIN = "login", _("Logged in")
    LOGIN_FAILED = "login_failed", _("Failed log-in")
    LOGOUT = "logout", _("Logged out")
