"""Background tasks of the analytics app: the nightly refresh of every customer's scores."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from clientbase.analytics.services import analytics_refresh

logger = logging.getLogger(__name__)


def _refresh() -> int:
    result = analytics_refresh()
    logger.info("analytics refresh: %d customers, %.2f s", result.customers, result.seconds)
    return result.customers


# 01:00 UTC is 04:00 in Moscow, after the nightly backup. Locked, so two consumers never
# refresh at the same time; the refresh itself is idempotent.
@db_periodic_task(crontab(hour="1", minute="0"))
@lock_task("analytics-refresh")
def nightly_analytics_refresh() -> int:
    return _refresh()


@db_task()
@lock_task("analytics-refresh")
def analytics_refresh_task() -> int:
    """On demand, e.g. after an import: no arguments, so nothing personal is queued."""
    return _refresh()
