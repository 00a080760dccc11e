"""Template context: what the current user may do, for showing or hiding controls."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clientbase.accounts.permissions import Perm, user_has


def permissions(request: HttpRequest) -> dict[str, Any]:
    """`{% if can.customer_export %}`: one entry per Perm, named like the enum member."""
    user = getattr(request, "user", None)
    return {"can": {p.name.lower(): user_has(user, p) for p in Perm}}
