"""Background tasks of the core app: the nightly backup, webhook deliveries and retries."""

from __future__ import annotations

import logging

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from clientbase.core.backup import BackupError, backup_create, backups_prune
from clientbase.core.webhooks import webhook_delivery_attempt, webhook_due_ids

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


@db_task(retries=0)
def webhook_deliver(delivery_id: int) -> str | None:
    """One attempt of one webhook delivery; failures are rescheduled by webhook_deliver_due."""
    return webhook_delivery_attempt(delivery_id)


@db_periodic_task(crontab(minute="*"))
def webhook_deliver_due() -> int:
    """Every minute: hand due retries (and deliveries never handed over) to the workers."""
    due = webhook_due_ids()
    for delivery_id in due:
        webhook_deliver(delivery_id)
    if due:
        logger.info("webhook retries queued: %d", len(due))
    return len(due)
