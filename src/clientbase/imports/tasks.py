"""Background tasks of the imports app: big exports (and, below, imports)."""

from __future__ import annotations

import logging

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
