"""Background tasks of the core app: the nightly backup of the base."""

from __future__ import annotations

import logging

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from clientbase.core.backup import BackupError, backup_create, backups_prune

logger = logging.getLogger(__name__)


# 00:30 UTC is 03:30 in Moscow: the quietest hour of a Russian shop. Locked, so two
# consumers (Redis, several machines) never back up at the same time.
@db_periodic_task(crontab(hour="0", minute="30"))
@lock_task("nightly-backup")
def nightly_backup() -> str:
    """Back up the base and keep the newest BACKUP_KEEP backups."""
    try:
        result = backup_create()
    except BackupError:
        # Logged, not raised: Huey would retry a periodic task only on the next schedule anyway.
        logger.exception("nightly backup failed")
        return ""
    removed = backups_prune(keep=settings.BACKUP_KEEP, directory=result.path.parent)
    logger.info("nightly backup done, %d old backups removed", len(removed))
    return str(result.path)
