"""Choices of the imports app."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")


class ImportMode(models.TextChoices):
    UPSERT = "upsert", _("Create new and update existing")
    CREATE = "create", _("Create new only")
    UPDATE = "update", _("Update existing only")


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    PREVIEWED = "previewed", _("Checked (dry run)")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", pgettext_lazy("job status", "Failed")
    UNDONE = "undone", _("Undone")


class MatchKey(models.TextChoices):
    EXTERNAL_ID = "external_id", _("External id")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")


class ChangeAction(models.TextChoices):
    UPDATED = "updated", _("Updated")
