"""Writes of the segments app: save (dynamic or frozen static), delete, refresh counts."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.segments.language import SegmentQueryError, canonical
from clientbase.segments.models import Segment, SegmentMember
from clientbase.segments.selectors import segment_count, segment_members, segment_queryset

FREEZE_BATCH = 5000


def _snapshot(segment: Segment) -> dict[str, Any]:
    return {
        "name": segment.name,
        "query": segment.query,
        "kind": segment.kind,
        "description": segment.description,
    }


def _freeze(segment: Segment) -> int:
    """Replace a static segment's members by the customers its query matches now."""
    SegmentMember.objects.filter(segment=segment).delete()
    ids = segment_queryset(segment.query).order_by().values_list("pk", flat=True)
    batch: list[SegmentMember] = []
    total = 0
    for customer_id in ids.iterator(chunk_size=FREEZE_BATCH):
        batch.append(SegmentMember(segment_id=segment.pk, customer_id=customer_id))
        if len(batch) >= FREEZE_BATCH:
            SegmentMember.objects.bulk_create(batch)
            total += len(batch)
            batch = []
    if batch:
        SegmentMember.objects.bulk_create(batch)
        total += len(batch)
    segment.frozen_at = timezone.now()
    return total


@transaction.atomic
def segment_save(
    *,
    actor: Any,
    name: str,
    query: str,
    kind: str = Segment.Kind.DYNAMIC,
    description: str = "",
    segment: Segment | None = None,
) -> Segment:
    """Create or change a segment; a static one freezes its members now. Audited."""
    try:
        text = canonical(query)
    except SegmentQueryError as exc:
        raise ValidationError({"query": exc.message}) from exc
    creating = segment is None
    if segment is None:
        segment = Segment(created_by=audit.staff_actor(actor))
        before: dict[str, Any] = {}
    else:
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        before = _snapshot(segment)
    segment.name = name.strip()
    segment.query = text
    segment.kind = kind
    segment.description = description.strip()
    segment.full_clean()
    segment.save()
    if segment.kind == Segment.Kind.STATIC:
        segment.last_count = _freeze(segment)
    else:
        SegmentMember.objects.filter(segment=segment).delete()
        segment.frozen_at = None
        segment.last_count = segment_count(segment.query)
    segment.counted_at = timezone.now()
    segment.save(update_fields=["last_count", "counted_at", "frozen_at"])
    audit.record(
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        actor=actor,
        obj=segment,
        changes=audit.diff(before, _snapshot(segment)),
        extra={"count": segment.last_count},
    )
    return segment


@transaction.atomic
def segment_delete(*, actor: Any, segment: Segment) -> None:
    audit.record(
        action=AuditAction.DELETE,
        actor=actor,
        obj=segment,
        changes=audit.diff(_snapshot(segment), {}),
    )
    segment.delete()


def segment_refresh_count(*, segment: Segment) -> int:
    """Recount a segment's members and keep the figure on the row; an invalid query counts 0."""
    try:
        count = segment_members(segment).count()
    except SegmentQueryError:
        count = 0
    Segment.objects.filter(pk=segment.pk).update(last_count=count, counted_at=timezone.now())
    segment.last_count = count
    return count


def segment_name_taken(name: str, *, exclude_pk: int | None = None) -> str:
    """An error message if another segment has the name, else ""."""
    others = Segment.objects.filter(name=name.strip())
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)
    return _("A segment with this name already exists.") if others.exists() else ""
