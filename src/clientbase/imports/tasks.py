"""Background tasks of the imports app: big exports (and, below, imports)."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- exports


@db_task(retries=0)
def export_run(job_id: int) -> int:
    """Write one export job's file; the job's page shows its progress and the download."""
    from clientbase.imports.exports import export_job_run

    job = export_job_run(job_id)
    return job.rows if job is not None else 0


# 01:10 UTC: after the nightly backup, in the quiet hours of a Russian shop.
@db_periodic_task(crontab(hour="1", minute="10"))
def export_files_prune() -> int:
    """Delete export files older than a week (they hold personal data; the job row stays)."""
    from clientbase.imports.exports import KEEP_DAYS
    from clientbase.imports.exports import export_files_prune as prune

    removed = prune(keep_days=KEEP_DAYS)
    if removed:
        logger.info("old export files removed: %d", removed)
    return removed


# ---------------------------------------------------------------- imports


# ---------------------------------------------------------------- imports


@db_task(retries=0)
def import_run(job_id: int) -> str:
    """Run (or resume) one import job; the job's page shows its progress."""
    from clientbase.imports.services import import_job_execute

    job = import_job_execute(job_id)
    return job.status


@db_task(retries=0)
def import_preview_run(job_id: int) -> str:
    """The dry run of a big file; the job's page polls until it is done."""
    from clientbase.core.errors import DomainError
    from clientbase.imports.services import import_job_preview

    try:
        return import_job_preview(actor=None, job_id=job_id).status
    except DomainError as exc:
        # A file that became unreadable, a mapping refused: the page shows why.
        _preview_failed(job_id, exc.message)
        return "failed"
    except Exception:
        _preview_failed(job_id, _("The dry run stopped with an internal error."))
        raise


def _preview_failed(job_id: int, message: str) -> None:
    from clientbase.imports.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    job.preview = {**job.preview, "pending": False, "failure": message}
    job.save(update_fields=["preview", "updated_at"])


@db_periodic_task(crontab(minute="*/2"))
def import_resume_stale() -> int:
    """Every two minutes: an import whose worker died mid-run is resumed after its last batch."""
    from clientbase.imports.services import import_jobs_resume_stale

    stale = import_jobs_resume_stale()
    for job_id in stale:
        import_run(job_id)
    if stale:
        logger.info("stale imports resumed: %d", len(stale))
    return len(stale)


# 01:20 UTC, in the quiet hours like the export files' pruning.
@db_periodic_task(crontab(hour="1", minute="20"))
def import_files_prune() -> int:
    """Delete uploaded import files older than IMPORT_KEEP_DAYS (personal data)."""
    from clientbase.imports.services import import_files_prune as prune

    removed = prune()
    if removed:
        logger.info("import files pruned: %d", removed)
    return removed
