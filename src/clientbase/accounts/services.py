"""Writes of the accounts app: API tokens, log-in lock-outs."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.accounts import throttling
from clientbase.accounts.models import ApiToken, User
from clientbase.accounts.permissions import Scope
from clientbase.core import audit
from clientbase.core.choices import AuditAction

TOKEN_PREFIX = "cb_"  # noqa: S105 - a public marker, not a secret


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def apitoken_create(*, actor: Any, name: str, scopes: Sequence[str]) -> tuple[ApiToken, str]:
    """Create a token; returns it with the clear key, which is never stored or shown again."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name.")})
    clean = sorted({s.strip() for s in scopes if s.strip()})
    known = [scope.value for scope in Scope]
    unknown = [s for s in clean if s not in known]
    if unknown or not clean:
        raise ValidationError(
            {
                "scopes": _("Unknown scopes: %(scopes)s. Known: %(known)s.")
                % {"scopes": ", ".join(unknown) or "—", "known": ", ".join(known)}
            }
        )
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name[:100],
            prefix=key[:10],
            key_hash=token_hash(key),
            scopes=clean,
            created_by=audit.staff_actor(actor),
        )
        audit.record(
            action=AuditAction.CREATE,
            actor=actor,
            obj=token,
            changes={"name": [None, token.name], "scopes": [None, clean]},
        )
    return token, key


def apitoken_revoke(*, actor: Any, token_id: int) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token_id)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit.record(
                action=AuditAction.UPDATE,
                actor=actor,
                obj=token,
                changes={"revoked_at": [None, token.revoked_at.isoformat()]},
            )
    return token


def apitoken_authenticate(key: str) -> ApiToken | None:
    """The active token for a clear key, or None; marks it used (at most once a minute)."""
    if not key.startswith(TOKEN_PREFIX) or len(key) > 100:
        return None
    token = ApiToken.objects.filter(key_hash=token_hash(key), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def staff_unlock(*, actor: Any, user_id: int) -> User:
    """Lift a lock-out: the user's failed log-ins from every address are forgotten. Audited."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        was_locked = user.username.lower() in throttling.locked_out_users()
        cleared = throttling.failures_clear(username=user.username)
        audit.record(
            action=AuditAction.UPDATE,
            actor=actor,
            obj=user,
            changes={"locked_out": [was_locked, False]},
            extra={"failed_logins_cleared": cleared},
        )
    return user
