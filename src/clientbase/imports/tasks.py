"""Background tasks of the imports app: runs and dry runs of big files, resume, pruning."""

from __future__ import annotations

import logging

from django.utils.translation import gettext as _
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from clientbase.core.errors import DomainError
from clientbase.imports import services
from clientbase.imports.models import ImportJob

logger = logging.getLogger(__name__)


@db_task(retries=0)
def import_run(job_id: int) -> str:
    """Run (or resume) one import job; the job's page shows its progress."""
    job = services.import_job_execute(job_id)
    return job.status


@db_task(retries=0)
def import_preview_run(job_id: int) -> str:
    """The dry run of a big file; the job's page polls until it is done."""
    try:
        return services.import_job_preview(actor=None, job_id=job_id).status
    except DomainError as exc:
        # A file that became unreadable, a mapping refused: the page shows why.
        _preview_failed(job_id, exc.message)
        return "failed"
    except Exception:
        _preview_failed(job_id, _("The dry run stopped with an internal error."))
        raise


def _preview_failed(job_id: int, message: str) -> None:
    job = ImportJob.objects.get(pk=job_id)
    job.preview = {**job.preview, "pending": False, "failure": message}
    job.save(update_fields=["preview", "updated_at"])


@db_periodic_task(crontab(minute="*/2"))
def import_resume_stale() -> int:
    """Every two minutes: an import whose worker died mid-run is resumed after its last batch."""
    stale = services.import_jobs_resume_stale()
    for job_id in stale:
        import_run(job_id)
    if stale:
        logger.info("stale imports resumed: %d", len(stale))
    return len(stale)


# 01:20 UTC, in the quiet hours, after the export files' pruning.
@db_periodic_task(crontab(hour="1", minute="20"))
def import_files_prune() -> int:
    """Delete uploaded import files older than IMPORT_KEEP_DAYS (personal data)."""
    removed = services.import_files_prune()
    if removed:
        logger.info("import files pruned: %d", removed)
    return removed
