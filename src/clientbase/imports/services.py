"""Import jobs: upload, mapping, dry run, run and resume, undo (for views, tasks and the CLI)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import shutil
import traceback
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.core import audit
from clientbase.core.backup import BackupError, backup_create
from clientbase.core.choices import AuditAction
from clientbase.core.errors import DomainError
from clientbase.core.file_fields import FIELDS, fields_for
from clientbase.imports import engine
from clientbase.imports.choices import ImportKind, ImportMode, ImportStatus, MatchKey
from clientbase.imports.models import ImportJob, ImportMapping
from clientbase.imports.readers import ReadError, open_table
from clientbase.imports.recognize import headers_key, recognize

logger = logging.getLogger(__name__)

SAMPLE_ROWS = 50
SHOWN_SAMPLES = 5
# A running job whose progress has not moved for this long lost its worker: it is resumed.
STALE_AFTER = dt.timedelta(minutes=5)
CUSTOMER_IDENTITY = (
    "external_id",
    "full_name",
    "last_name",
    "first_name",
    "company_name",
    "phone",
    "email",
)
ORDER_CUSTOMER_KEYS = ("customer_external_id", "customer_email", "customer_phone")


# ---------------------------------------------------------------- upload and mapping


def _store(source: Path | IO[bytes], original_name: str) -> tuple[str, int, str]:
    """Copy the upload under DATA_DIR/imports/<uuid>/ and return (relative path, size, sha256)."""
    directory = Path(settings.DATA_DIR) / "imports" / uuid.uuid4().hex
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.\-]+", "_", Path(original_name).name)[-100:] or "upload"
    target = directory / f"source-{safe}"
    limit = settings.IMPORT_MAX_FILE_MB * 1024 * 1024
    digest = hashlib.sha256()
    size = 0
    handle = source.open("rb") if isinstance(source, Path) else source
    try:
        with target.open("wb") as out:
            while chunk := handle.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise ReadError(
                        _("The file is bigger than %(mb)d MB, the largest an import accepts.")
                        % {"mb": settings.IMPORT_MAX_FILE_MB},
                        code="file_too_big",
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    finally:
        if isinstance(source, Path):
            handle.close()
    return str(target.relative_to(settings.DATA_DIR)), size, digest.hexdigest()


def _read_layout(job: ImportJob, sheet: str | None) -> None:
    """Headers, sheets, format and column recognition of the job's file (or a ReadError)."""
    with open_table(engine.job_path(job), sheet=sheet) as table:
        info = table.info
        sample = table.sample(SAMPLE_ROWS)
        rows_total = table.count_rows()
    samples = [
        [value for value in sample[f"c{i}"].to_list() if value is not None]
        for i in range(len(info.headers))
    ]
    recognition = recognize(list(info.headers), samples, job.kind)
    job.file_format = info.file_format
    job.encoding = info.encoding
    job.delimiter = info.delimiter
    job.sheet = info.sheet
    job.sheets = list(info.sheets)
    job.headers = list(info.headers)
    job.rows_total = rows_total
    job.recognition = [
        {
            "index": guess.index,
            "header": guess.header,
            "field": guess.field,
            "confidence": round(guess.confidence, 2),
            "reason": guess.reason,
            "samples": [v for v in samples[guess.index] if v][:SHOWN_SAMPLES],
        }
        for guess in recognition.columns
    ]
    job.preview = {"system": recognition.system} if recognition.system else {}
    job.mapping = {str(g.index): g.field for g in recognition.columns if g.field}
    saved = (
        ImportMapping.objects.filter(kind=job.kind, headers_key=headers_key(list(info.headers)))
        .order_by("-updated_at")
        .first()
    )
    if saved is not None:
        job.mapping = _mapping_from_headers(job.headers, saved.columns)
        job.mode = saved.mode
        job.match_by = list(saved.match_by)
        job.preview["saved_mapping"] = saved.name


def _mapping_from_headers(
    headers: Sequence[str], columns: Mapping[str, str | None]
) -> dict[str, str]:
    by_header = {h.strip().casefold(): v for h, v in columns.items()}
    mapping = {}
    for index, header in enumerate(headers):
        value = by_header.get(header.strip().casefold())
        if value:
            mapping[str(index)] = value
    return mapping


def import_job_create(
    *,
    actor: Any,
    kind: str,
    source: Path | IO[bytes],
    original_name: str,
    sheet: str | None = None,
) -> ImportJob:
    """Store an uploaded file, read its layout and recognise its columns."""
    if kind not in ImportKind.values:
        raise DomainError(_("Unknown import kind."), code="invalid_kind")
    relative, size, sha256 = _store(source, original_name)
    job = ImportJob(
        kind=kind,
        created_by=audit.staff_actor(actor),
        original_name=Path(original_name).name[:255],
        file_path=relative,
        file_size=size,
        file_sha256=sha256,
    )
    try:
        _read_layout(job, sheet)
    except ReadError:
        shutil.rmtree(engine.job_path(job).parent, ignore_errors=True)
        raise
    job.save()
    return job


def import_job_configure(
    *,
    actor: Any,
    job_id: int,
    mapping: Mapping[str | int, str | None] | None = None,
    mode: str | None = None,
    match_by: Sequence[str] | None = None,
    sheet: str | None = None,
    save_as: str = "",
) -> ImportJob:
    """Change the column mapping, mode, match keys or sheet of a job not yet run."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED):
        raise DomainError(_("This import has already run."), code="import_started")
    if preview_pending(job):
        raise DomainError(
            _("The dry run of this file is still running; change the mapping after it."),
            code="preview_running",
        )
    if sheet is not None and sheet != job.sheet:
        _read_layout(job, sheet)
    if mapping is not None:
        job.mapping = {str(int(k)): v for k, v in mapping.items() if v}
    if mode is not None:
        if mode not in ImportMode.values:
            raise DomainError(_("Unknown import mode."), code="invalid_mode")
        job.mode = mode
    if match_by is not None:
        keys = [k for k in match_by if k]
        if not keys or any(k not in MatchKey.values for k in keys) or len(set(keys)) != len(keys):
            raise DomainError(
                _("Choose how rows are matched: external id, e-mail and/or phone."),
                code="invalid_match_by",
            )
        job.match_by = keys
    validate_mapping(job.kind, job.mapping, len(job.headers))
    job.status = ImportStatus.UPLOADED
    job.preview = {k: v for k, v in job.preview.items() if k in ("system", "saved_mapping")}
    job.save()
    if save_as.strip():
        mapping_save(actor=actor, job=job, name=save_as)
    return job


def validate_mapping(kind: str, mapping: Mapping[str, str], columns: int) -> None:
    """Refuse a mapping the import could not work with, saying what is missing."""
    known = fields_for(kind)
    used: dict[str, int] = {}
    for index, key in mapping.items():
        if not (0 <= int(index) < columns):
            raise DomainError(_("The mapping names a column the file does not have."))
        if key not in known:
            raise DomainError(_("Unknown field “%(field)s”.") % {"field": key}, code="bad_field")
        used[key] = used.get(key, 0) + 1
        if used[key] > 1 and not known[key].multiple:
            raise DomainError(
                _("“%(field)s” is chosen for more than one column; only one may have it.")
                % {"field": known[key].label},
                code="field_twice",
            )
    if kind == ImportKind.CUSTOMERS:
        if not any(key in used for key in CUSTOMER_IDENTITY):
            raise DomainError(
                _("Choose at least one column with a name, company, phone, e-mail or id."),
                code="mapping_incomplete",
            )
        return
    if "placed_at" not in used or not any(key in used for key in ORDER_CUSTOMER_KEYS):
        raise DomainError(
            _(
                "An order file needs at least the order date and the customer "
                "(customer id, e-mail or phone)."
            ),
            code="mapping_incomplete",
        )
    if "order_id" not in used and "total" not in used:
        raise DomainError(
            _("An order file needs the order number or the order total."),
            code="mapping_incomplete",
        )


def mapping_save(*, actor: Any, job: ImportJob, name: str) -> ImportMapping:
    columns = {job.headers[int(i)]: key for i, key in job.mapping.items() if key}
    saved, _created = ImportMapping.objects.update_or_create(
        kind=job.kind,
        name=name.strip()[:100],
        defaults={
            "headers_key": headers_key(list(job.headers)),
            "columns": columns,
            "mode": job.mode,
            "match_by": list(job.match_by),
            "created_by": audit.staff_actor(actor),
        },
    )
    return saved


def mapping_from_file(path: Path) -> dict[str, Any]:
    """A mapping file for the CLI: {"columns": {header: field}, "mode": .., "match_by": [..]}

    A plain {header: field} object is accepted too.
    """
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DomainError(_("The mapping file cannot be read: %(error)s") % {"error": exc}) from exc
    if not isinstance(data, dict):
        raise DomainError(_("The mapping file must hold a JSON object."))
    if "columns" not in data:
        data = {"columns": data}
    if not isinstance(data["columns"], dict):
        raise DomainError(_("The mapping file must hold a JSON object."))
    return data


# ---------------------------------------------------------------- dry run and run


def import_job_preview(*, actor: Any, job_id: int) -> ImportJob:
    """Dry run: counts of new, updated, unchanged and rejected rows, with examples."""
    job = ImportJob.objects.get(pk=job_id)
    validate_mapping(job.kind, job.mapping, len(job.headers))
    try:
        report = engine.dry_run(job)
    finally:
        # rows_done counted the checked rows for the progress bar; the import counts anew.
        ImportJob.objects.filter(pk=job.pk).update(rows_done=0)
    keep = {k: v for k, v in job.preview.items() if k in ("system", "saved_mapping")}
    job.preview = {**keep, **report}
    job.status = ImportStatus.PREVIEWED
    job.rows_done = 0
    job.save(update_fields=["preview", "status", "rows_done", "updated_at"])
    return job


def import_job_preview_start(
    *, actor: Any, job_id: int, background: bool | None = None
) -> ImportJob:
    """The dry run now for a small file; for a big one, by the worker (the page polls)."""
    job = ImportJob.objects.get(pk=job_id)
    if preview_pending(job):
        raise DomainError(_("The dry run of this file is already running."), code="preview_running")
    validate_mapping(job.kind, job.mapping, len(job.headers))
    if background is None:
        background = job.rows_total > settings.IMPORT_INLINE_MAX_ROWS
    if not background:
        return import_job_preview(actor=actor, job_id=job.pk)
    job.preview = {**job.preview, "pending": True}
    job.save(update_fields=["preview", "updated_at"])
    # The caller queues imports.tasks.import_preview_run once this commits (tasks call
    # services, never the other way round).
    return job


def preview_pending(job: ImportJob) -> bool:
    return bool(job.preview.get("pending")) and job.status == ImportStatus.UPLOADED


def import_job_start(*, actor: Any, job_id: int, background: bool | None = None) -> ImportJob:
    """Queue the import (or run it now, for a small file)."""
    job = ImportJob.objects.get(pk=job_id)
    validate_mapping(job.kind, job.mapping, len(job.headers))
    if preview_pending(job):
        raise DomainError(
            _("The dry run of this file is still running; start the import after it."),
            code="preview_running",
        )
    updated = ImportJob.objects.filter(
        pk=job.pk, status__in=(ImportStatus.UPLOADED, ImportStatus.PREVIEWED)
    ).update(status=ImportStatus.QUEUED, rows_done=0, updated_at=timezone.now())
    if not updated:
        raise DomainError(_("This import has already been started."), code="import_started")
    if background is None:
        background = job.rows_total > settings.IMPORT_INLINE_MAX_ROWS
    if background:
        # Left queued: the caller queues imports.tasks.import_run once this commits.
        job.refresh_from_db()
        return job
    return import_job_execute(job.pk)


def _claim(job_id: int) -> bool:
    """Take the job for this process: queued, or running with no progress for a while."""
    now = timezone.now()
    return bool(
        ImportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ImportStatus.QUEUED)
            | Q(status=ImportStatus.RUNNING, updated_at__lt=now - STALE_AFTER)
        )
        .update(status=ImportStatus.RUNNING, updated_at=now)
    )


def import_job_execute(job_id: int, *, force: bool = False, **run_options: Any) -> ImportJob:
    """Run a queued job to the end; a job interrupted earlier resumes after its last batch.

    `force` takes a running job even if it looks alive (the CLI's explicit resume).
    """
    if force:
        ImportJob.objects.filter(
            pk=job_id, status__in=(ImportStatus.RUNNING, ImportStatus.FAILED)
        ).update(status=ImportStatus.QUEUED)
    if not _claim(job_id):
        return ImportJob.objects.get(pk=job_id)
    job = ImportJob.objects.get(pk=job_id)
    if job.started_at is None:
        job.started_at = timezone.now()
        if settings.IMPORT_BACKUP:
            try:
                job.backup_path = str(backup_create().path)
            except BackupError as exc:
                engine.mark_failed(
                    job, _("The backup before the import failed: %(error)s") % {"error": exc}
                )
                raise DomainError(
                    _("The backup before the import failed; nothing was imported."),
                    code="backup_failed",
                ) from exc
        job.save(update_fields=["started_at", "backup_path", "updated_at"])
    try:
        job = engine.run(job, **run_options)
    except ReadError as exc:
        engine.mark_failed(job, exc.message)
        raise
    except InterruptedError:
        raise  # a test's deliberate stop: the job stays "running", to be resumed
    except engine.LeaseLostError:
        logger.warning("import %s: another worker took it over; this run stopped", job.pk)
        return ImportJob.objects.get(pk=job.pk)
    except Exception as exc:  # noqa: BLE001 - recorded on the job and logged without personal data
        # Whole batches are committed or not at all; the job can be resumed after a fix.
        # The message names the error's type only: database errors may quote row values.
        # The frames, not the message: a database error may quote a customer's values.
        logger.error(
            "import %s failed: %s\n%s",
            job.pk,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        engine.mark_failed(
            job,
            _(
                "The import stopped with an internal error (%(kind)s); committed batches stay, "
                "and it can be resumed."
            )
            % {"kind": type(exc).__name__},
        )
        # Not raised further: the worker's and the web server's handlers would log the
        # message. Callers see a failed job, with its reason.
        return ImportJob.objects.get(pk=job.pk)
    job.status = ImportStatus.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "error_file", "report", "updated_at"])
    audit.record(
        action=AuditAction.IMPORT,
        actor=job.created_by,
        obj=job,
        extra={
            "kind": job.kind,
            "file": job.original_name,
            "mode": job.mode,
            "rows": job.rows_done,
            "created": job.rows_created,
            "updated": job.rows_updated,
            "unchanged": job.rows_unchanged,
            "rejected": job.rows_rejected,
        },
    )
    _after_import(job)
    return job


def _after_import(job: ImportJob) -> None:
    """Scores follow the new data: the analytics refresh is queued after an order import."""
    if job.kind != ImportKind.ORDERS or not (job.rows_created or job.rows_updated):
        return
    try:
        from clientbase.analytics.tasks import analytics_refresh_task
    except ImportError:  # pragma: no cover - analytics ships with the project
        return
    transaction.on_commit(lambda: analytics_refresh_task())


def import_jobs_resume_stale() -> list[int]:
    """Jobs whose worker died mid-run (no progress for STALE_AFTER): resume them."""
    stale = list(
        ImportJob.objects.filter(
            status=ImportStatus.RUNNING, updated_at__lt=timezone.now() - STALE_AFTER
        ).values_list("pk", flat=True)
    )
    return stale


def import_file(
    *,
    actor: Any,
    kind: str,
    path: Path,
    mapping: Mapping[str, Any] | None = None,
    mode: str | None = None,
    match_by: Sequence[str] | None = None,
    sheet: str | None = None,
    dry_run: bool = False,
) -> ImportJob:
    """Create, configure and run (or dry-run) a job in one call: the CLI and scripts."""
    job = import_job_create(
        actor=actor, kind=kind, source=path, original_name=path.name, sheet=sheet
    )
    columns: dict[str | int, str | None] | None = None
    if mapping is not None:
        found = _mapping_from_headers(job.headers, mapping.get("columns", {}))
        columns = cast("dict[str | int, str | None]", found)
        mode = mode or mapping.get("mode")
        match_by = match_by or mapping.get("match_by")
    job = import_job_configure(
        actor=actor, job_id=job.pk, mapping=columns, mode=mode, match_by=match_by
    )
    if dry_run:
        return import_job_preview(actor=actor, job_id=job.pk)
    return import_job_start(actor=actor, job_id=job.pk, background=False)


# ---------------------------------------------------------------- undo


def import_job_undo(*, actor: Any, job_id: int) -> ImportJob:
    """Remove what the import created and restore what it updated.

    Records edited after the import (or, for customers it created, given orders since) are
    left as they are and listed in the undo report: the undo never overwrites later work.
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportStatus.DONE:
        raise DomainError(
            _("Only a finished import can be undone (this one is “%(status)s”).")
            % {"status": job.get_status_display()},
            code="undo_not_possible",
        )
    with transaction.atomic():
        claimed = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).update(
            status=ImportStatus.RUNNING, updated_at=timezone.now()
        )
        if not claimed:
            raise DomainError(_("This import is being undone already."), code="undo_running")
        if job.kind == ImportKind.ORDERS:
            from clientbase.imports.order_import import undo_orders

            report = undo_orders(job)
        else:
            from clientbase.imports.customer_undo import undo_customers

            report = undo_customers(job)
        job.status = ImportStatus.UNDONE
        job.undone_at = timezone.now()
        job.undone_by = audit.staff_actor(actor)
        job.undo_report = report
        job.save(update_fields=["status", "undone_at", "undone_by", "undo_report", "updated_at"])
        audit.record(
            action=AuditAction.IMPORT_UNDO,
            actor=actor,
            obj=job,
            extra={k: v for k, v in report.items() if not isinstance(v, list)},
        )
    return job


def import_files_prune(*, keep_days: int | None = None) -> int:
    """Delete the uploaded files (and error files) of imports older than keep_days.

    They hold personal data and nothing needs them once a job is over: undo works from the
    job's records. Running and queued jobs keep theirs; a file uploaded and never imported is
    deleted too, and its job marked failed so it cannot be started without the file.
    """
    days = settings.IMPORT_KEEP_DAYS if keep_days is None else keep_days
    cutoff = timezone.now() - dt.timedelta(days=days)
    old = (
        ImportJob.objects.filter(updated_at__lt=cutoff)
        .exclude(status__in=(ImportStatus.QUEUED, ImportStatus.RUNNING))
        .exclude(file_path="")
    )
    pruned = 0
    for job in old.only("pk", "file_path", "status", "preview"):
        directory = engine.job_path(job).parent
        root = Path(settings.DATA_DIR).resolve() / "imports"
        if directory.resolve().parent == root:
            shutil.rmtree(directory, ignore_errors=True)
        preview = {k: v for k, v in (job.preview or {}).items() if k != "error_file"}
        changes: dict[str, Any] = {"file_path": "", "error_file": "", "preview": preview}
        if job.status in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED):
            changes["status"] = ImportStatus.FAILED
            changes["failure"] = _(
                "The uploaded file was deleted after %(days)d days without an import."
            ) % {"days": days}
        ImportJob.objects.filter(pk=job.pk).update(**changes)
        pruned += 1
    return pruned


def known_fields(kind: str) -> list[tuple[str, str]]:
    return [(f.key, str(f.label)) for f in FIELDS[kind]]
