"""Import jobs (with what undo needs) and saved column mappings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbase.core.models import TimeStampedModel
from clientbase.imports.choices import ChangeAction, ImportKind, ImportMode, ImportStatus


def default_match_by() -> list[str]:
    return ["external_id", "email", "phone"]


class ImportJob(TimeStampedModel):
    """One file imported by one person: what was read, how it was mapped, what it changed."""

    kind = models.CharField(_("what"), max_length=10, choices=ImportKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("who"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The file as uploaded, kept under DATA_DIR/imports/ (relative path) for the run and undo.
    original_name = models.CharField(_("file"), max_length=255)
    file_path = models.CharField(max_length=500)
    file_size = models.BigIntegerField(_("size"), default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    # What the reader found.
    file_format = models.CharField(_("format"), max_length=10, blank=True)
    encoding = models.CharField(_("encoding"), max_length=30, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    sheets = models.JSONField(default=list, blank=True)
    headers = models.JSONField(default=list, blank=True)
    # Per column: {"field": .., "confidence": .., "reason": .., "samples": [..]}.
    recognition = models.JSONField(default=list, blank=True)
    # Column index (as a string) -> field key; a column left out is ignored.
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    mode = models.CharField(
        _("mode"), max_length=10, choices=ImportMode.choices, default=ImportMode.UPSERT
    )
    match_by = models.JSONField(_("match by"), default=default_match_by)
    # Progress and result.
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(pgettext_lazy("import count", "created"), default=0)
    rows_updated = models.PositiveIntegerField(pgettext_lazy("import count", "updated"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rejected"), default=0)
    # Rows imported with a warning (a value left out, a name kept apart from a shared phone).
    rows_warned = models.PositiveIntegerField(_("with warnings"), default=0)
    # Dry-run and final reports: counts, examples of each outcome, the first errors.
    preview = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error_file = models.CharField(max_length=500, blank=True)
    backup_path = models.CharField(max_length=500, blank=True)
    failure = models.TextField(_("failure"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_report = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name}"


class ImportBatch(models.Model):
    """One committed slice of a job's rows: the resume point and what undo removes.

    Written in the same transaction as the batch's own writes, so after a crash a batch is
    either fully there (and skipped on resume) or not at all.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="batches")
    seq = models.PositiveIntegerField()
    first_row = models.PositiveIntegerField()
    last_row = models.PositiveIntegerField()
    # Ids of the rows this batch created, as [[first, last], ...] ranges (customers or orders).
    created_ranges = models.JSONField(default=list, blank=True)
    # Customers an order batch created for orders whose customer was not in the base yet.
    created_customer_ranges = models.JSONField(default=list, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # [[row, reason], ...]: the error file is written from these after the last batch.
    rejects = models.JSONField(default=list, blank=True)
    # [[row, warning], ...] of rows imported all the same; they go to the error file too.
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "seq"], name="import_batch_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.seq}"


class ImportChange(models.Model):
    """An existing record an import changed: its values before, for undo."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=10, choices=ChangeAction.choices)
    # A customer id or an order id, by the job's kind.
    object_id = models.BigIntegerField()
    version_after = models.PositiveIntegerField(default=0)
    before = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["job", "object_id"], name="import_change_job_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}: {self.action} {self.object_id}"


class ImportMapping(TimeStampedModel):
    """A mapping saved for next time; offered again for a file with the same headers."""

    kind = models.CharField(_("what"), max_length=10, choices=ImportKind.choices)
    name = models.CharField(_("name"), max_length=100)
    # Lower-cased, trimmed headers joined by "\x1f": the same file layout finds its mapping.
    headers_key = models.CharField(max_length=4000, blank=True)
    # Header text -> field key (by name, so a reordered file still maps).
    columns = models.JSONField(default=dict)
    mode = models.CharField(max_length=10, choices=ImportMode.choices, default=ImportMode.UPSERT)
    match_by = models.JSONField(default=default_match_by)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("saved mapping")
        verbose_name_plural = _("saved mappings")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="import_mapping_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
