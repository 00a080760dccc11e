"""Exports: the audit row, the file written through a temporary name, background jobs and
their files' pruning. One path for every export (list, segment, orders, job, command line)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.exports.choices import ExportFormat, ExportKind, ExportStatus
from clientbase.exports.columns import Column, ExportError, resolve_columns
from clientbase.exports.models import ExportJob
from clientbase.exports.selectors import (
    ExportRequest,
    export_queryset,
    export_rows,
    filters_for_audit,
)
from clientbase.exports.writers import Progress, csv_chunks, write_csv, write_xlsx

logger = logging.getLogger(__name__)

# Export files of background jobs, kept this long (the nightly exports.tasks.export_files_prune).
KEEP_DAYS = 7
EXPORT_SUBDIR = "exports"


def export_audit(
    *,
    actor: Any,
    request: ExportRequest,
    file_format: str,
    columns: Sequence[Column],
    rows: int,
    via: str,
    codes: bool = False,
    job: ExportJob | None = None,
) -> None:
    """One audit row per export: who, what, which filter or segment, columns, labels or
    codes, how many rows. Never the rows themselves.
    """
    extra: dict[str, Any] = {
        "kind": request.kind,
        "format": file_format,
        "columns": [c.key for c in columns],
        "values": "codes" if codes else "labels",
        "rows": rows,
        "filters": filters_for_audit(request),
        "via": via,
    }
    if job is not None:
        extra["job"] = job.pk
    segment = None
    if request.segment_id is not None:
        from clientbase.segments.models import Segment

        segment = Segment.objects.filter(pk=request.segment_id).first()
        extra["segment"] = request.segment_id
        if segment is not None:
            extra["query"] = segment.query
    object_type = "customers.customer" if request.kind == ExportKind.CUSTOMERS else "orders.order"
    if segment is not None:
        audit.record(action=AuditAction.EXPORT, actor=actor, obj=segment, extra=extra)
    else:
        audit.record(action=AuditAction.EXPORT, actor=actor, object_type=object_type, extra=extra)


# ---------------------------------------------------------------- files and jobs


def exports_dir() -> Path:
    path = Path(settings.DATA_DIR) / EXPORT_SUBDIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_write(
    *,
    request: ExportRequest,
    columns: Sequence[Column],
    file_format: str,
    target: Path,
    progress: Progress | None = None,
) -> int:
    """Write the export to a file (through a temporary name, so a half file never shows)."""
    if file_format not in ExportFormat.values:
        raise ExportError(gettext("Unknown format: %(format)s") % {"format": file_format})
    rows = export_rows(export_queryset(request), columns)
    partial = target.with_name(target.name + ".part")
    if file_format == ExportFormat.XLSX:
        count = write_xlsx(
            str(partial),
            rows,
            columns,
            sheet_name=_sheet_name(request.kind),
            progress=progress,
        )
    else:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            count = write_csv(handle, rows, columns, progress=progress)
    os.replace(partial, target)
    return count


def _sheet_name(kind: str) -> str:
    return str(ExportKind(kind).label)


def export_xlsx_tempfile(
    request: ExportRequest, columns: Sequence[Column]
) -> tuple[IO[bytes], int]:
    """A small export as XLSX in an anonymous temporary file, rewound, for a direct download."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed over to the response, which closes it
    rows = export_rows(export_queryset(request), columns)
    count = write_xlsx(handle, rows, columns, sheet_name=_sheet_name(request.kind))
    handle.seek(0)
    return handle, count


def export_csv_stream(
    request: ExportRequest, columns: Sequence[Column], *, delimiter: str = ";"
) -> Iterator[str]:
    return csv_chunks(export_rows(export_queryset(request), columns), columns, delimiter=delimiter)


def export_filename(kind: str, file_format: str, *, suffix: str = "") -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    return f"{kind}{'-' + suffix if suffix else ''}-{stamp}.{file_format}"


def export_job_create(
    *,
    actor: Any,
    request: ExportRequest,
    columns: Sequence[Column],
    file_format: str,
    codes: bool = False,
) -> ExportJob:
    """Record a big export for the worker; the caller queues exports.tasks.export_run for it
    after the transaction commits (tasks call services, never the other way round).

    The job keeps the asker's language: the worker writes headers and labels in it.
    """
    job = ExportJob.objects.create(
        kind=request.kind,
        file_format=file_format,
        created_by=audit.staff_actor(actor),
        filters=dict(request.filters),
        segment_id=request.segment_id,
        columns=[c.key for c in columns],
        codes=codes,
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    return job


def _job_progress(job_id: int, rows: int) -> None:
    ExportJob.objects.filter(pk=job_id).update(rows=rows)


def _job_failed(job: ExportJob, reason: str) -> ExportJob:
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.FAILED, failure=reason[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def export_job_run(job_id: int) -> ExportJob | None:
    """Run a queued export job to its file. Safe to run twice: a finished job is left alone,
    a job that died while running starts again from the top (the file is written whole)."""
    job = ExportJob.objects.filter(pk=job_id).select_related("created_by").first()
    if job is None or job.status == ExportStatus.DONE:
        return job
    with translation.override(job.language or settings.LANGUAGE_CODE):
        return _export_job_write(job)


def _export_job_write(job: ExportJob) -> ExportJob:
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, rows=0, failure="")
    request = ExportRequest(kind=job.kind, filters=job.filters, segment_id=job.segment_id)
    target = exports_dir() / f"export-{job.pk}-{export_filename(job.kind, job.file_format)}"
    started = time.monotonic()
    try:
        columns = resolve_columns(job.kind, job.columns, codes=job.codes)
        rows = export_write(
            request=request,
            columns=columns,
            file_format=job.file_format,
            target=target,
            progress=lambda n: _job_progress(job.pk, n),
        )
    except DomainError as exc:
        # A refusal of ours (a filter no longer valid, an unknown column): its message is for
        # the job's page; the log gets the code only, as a filter may hold a phone or a name.
        logger.warning("export job %s refused: %s", job.pk, exc.code)
        return _job_failed(job, str(exc.message))
    except Exception as exc:  # noqa: BLE001 - recorded on the job and logged without personal data
        # The type and the frames, not the message: a database error may quote customer values.
        # Not raised further, as for imports: the worker's handler would log the message.
        logger.error(
            "export job %s failed: %s\n%s",
            job.pk,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return _job_failed(
            job,
            gettext("The export stopped with an internal error (%(kind)s).")
            % {"kind": type(exc).__name__},
        )
    with transaction.atomic():
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.DONE,
            rows=rows,
            file_path=str(target.relative_to(Path(settings.DATA_DIR))),
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
        export_audit(
            actor=job.created_by,
            request=request,
            file_format=job.file_format,
            columns=columns,
            rows=rows,
            via="job",
            codes=job.codes,
            job=job,
        )
    logger.info("export job %s done: %d rows in %.1f s", job.pk, rows, time.monotonic() - started)
    return job


def export_job_file(job: ExportJob) -> Path | None:
    """The job's file when it is done and still kept; None otherwise."""
    if job.status != ExportStatus.DONE or not job.file_path:
        return None
    root = Path(settings.DATA_DIR).resolve()
    path = (root / job.file_path).resolve()
    # The stored path is ours, but a path outside the data directory is never served.
    if root not in path.parents or not path.is_file():
        return None
    return path


def export_files_prune(*, keep_days: int = KEEP_DAYS, now: float | None = None) -> int:
    """Delete export files older than keep_days and forget them on their jobs."""
    cutoff = (now if now is not None else time.time()) - keep_days * 86400
    removed = 0
    directory = exports_dir()
    for path in directory.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
            relative = str(path.relative_to(Path(settings.DATA_DIR)))
            ExportJob.objects.filter(file_path=relative).update(file_path="")
    return removed
