"""Background tasks of the exports app: big exports, and the nightly pruning of their files."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from clientbase.exports import services

logger = logging.getLogger(__name__)


@db_task(retries=0)
def export_run(job_id: int) -> int:
    """Write one export job's file; the job's page shows its progress and the download."""
    job = services.export_job_run(job_id)
    return job.rows if job is not None else 0


# 01:10 UTC: after the nightly backup, in the quiet hours of a Russian shop.
@db_periodic_task(crontab(hour="1", minute="10"))
def export_files_prune() -> int:
    """Delete export files older than a week (they hold personal data; the job row stays)."""
    removed = services.export_files_prune(keep_days=services.KEEP_DAYS)
    if removed:
        logger.info("old export files removed: %d", removed)
    return removed
