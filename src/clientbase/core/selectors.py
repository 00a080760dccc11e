"""Reads of the core app: the audit log, filtered and paged from its indexes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from clientbase.core.models import AuditEvent
from clientbase.core.pagination import Page, keyset_page

AUDIT_PAGE_SIZE = 50


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_events(filters: dict[str, Any]) -> QuerySet[AuditEvent]:
    """Every filter is an equality or a range on an indexed column (see AuditEvent.Meta)."""
    queryset = AuditEvent.objects.all()
    if filters.get("actor"):
        queryset = queryset.filter(actor_id=getattr(filters["actor"], "pk", filters["actor"]))
    for name in ("action", "object_type", "object_id", "request_id"):
        if filters.get(name):
            queryset = queryset.filter(**{name: filters[name]})
    if filters.get("date_from"):
        queryset = queryset.filter(at__gte=_day_start(filters["date_from"]))
    if filters.get("date_to"):
        queryset = queryset.filter(at__lt=_day_start(filters["date_to"] + dt.timedelta(days=1)))
    return queryset


def audit_page(
    filters: dict[str, Any], *, after: str = "", before: str = "", size: int = AUDIT_PAGE_SIZE
) -> Page[AuditEvent]:
    return keyset_page(
        audit_events(filters), order=("-at", "-id"), size=size, after=after, before=before
    )
