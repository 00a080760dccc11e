"""Writing audit events: changes with before/after values, and access events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import models

from clientbase.core import context
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent

# Values of these fields are personal data that must not be copied into the audit log in
# clear text; the log records that they changed, not what they became.
REDACTED = "***"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def staff_actor(actor: Any) -> Any:
    """The actor as a staff user for foreign keys, or None: API tokens and scripts are not users."""
    return actor if getattr(actor, "pk", None) else None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def diff(
    before: Mapping[str, Any], after: Mapping[str, Any], *, redact: Iterable[str] = ()
) -> dict[str, list[Any]]:
    """Field -> [before, after] for every field whose value differs."""
    hidden = set(redact)
    changes: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = _jsonable(before.get(key)), _jsonable(after.get(key))
        if old != new and not (_empty(old) and _empty(new)):
            changes[key] = [REDACTED, REDACTED] if key in hidden else [old, new]
    return changes


def record(
    *,
    action: str,
    actor: Any = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> AuditEvent:
    ctx = context.current()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_repr = object_repr or str(obj)
    actor_id = getattr(actor, "pk", None) or (ctx.user_id if ctx else None)
    actor_name = getattr(actor, "username", "") if actor is not None else ""
    if actor_id and not actor_name:
        from django.contrib.auth import get_user_model

        actor_name = (
            get_user_model().objects.filter(pk=actor_id).values_list("username", flat=True).first()
            or ""
        )
    return AuditEvent.objects.create(
        action=action,
        actor_id=actor_id,
        actor_name=actor_name,
        object_type=object_type,
        object_id=str(object_id),
        object_repr=object_repr[:200],
        changes=dict(changes or {}),
        extra=_jsonable(dict(extra or {})),
        request_id=ctx.request_id if ctx else "",
        ip=ctx.ip if ctx else None,
    )


def record_many(
    *,
    action: str,
    actor: Any,
    objects: Iterable[models.Model],
    changes: Callable[[Any], Mapping[str, Any]],
    extra: Callable[[Any], Mapping[str, Any]] | None = None,
) -> int:
    """One audit row per object in a single bulk insert, for bulk actions."""
    ctx = context.current()
    rows = [
        AuditEvent(
            action=action,
            actor_id=getattr(actor, "pk", None),
            actor_name=getattr(actor, "username", ""),
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            object_repr=str(obj)[:200],
            changes=_jsonable(dict(changes(obj))),
            extra=_jsonable(dict(extra(obj))) if extra else {},
            request_id=ctx.request_id if ctx else "",
            ip=ctx.ip if ctx else None,
        )
        for obj in objects
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def record_access(
    *, action: str = AuditAction.VIEW, actor: Any = None, **kwargs: Any
) -> AuditEvent:
    return record(action=action, actor=actor, **kwargs)
