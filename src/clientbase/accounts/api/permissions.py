"""API authorisation: every view declares the scope each action needs; deny by default."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from clientbase.accounts.models import ApiToken
from clientbase.accounts.permissions import scopes_allow


def required_scope(view: Any) -> str | None:
    """`required_scopes = {"list": "customers:read", ...}` by action, or one `required_scope`."""
    scopes = getattr(view, "required_scopes", None)
    if scopes is not None:
        action = getattr(view, "action", None) or (
            view.request.method.lower() if getattr(view, "request", None) else None
        )
        return scopes.get(action)
    return getattr(view, "required_scope", None)


class HasScope(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        needed = required_scope(view)
        return needed is not None and scopes_allow(token.scopes, needed)
