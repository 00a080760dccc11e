"""Export jobs: big exports written by the worker, downloaded by the person who asked."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from clientbase.core.models import TimeStampedModel
from clientbase.exports.choices import ExportFormat, ExportKind, ExportStatus


class ExportJob(TimeStampedModel):
    """A big export run by the worker; ends as a download for the person who asked."""

    kind = models.CharField(_("what"), max_length=10, choices=ExportKind.choices)
    file_format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The list's filter (query parameters) or segment, and the chosen columns.
    filters = models.JSONField(default=dict, blank=True)
    segment_id = models.PositiveIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True)
    # Choices and yes/no as stored codes (for programs) instead of labels in `language`.
    codes = models.BooleanField(_("codes"), default=False)
    language = models.CharField(max_length=10, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    file_path = models.CharField(max_length=500, blank=True)
    failure = models.TextField(blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}.{self.file_format}"
