"""Rate limit per API token, counted in the shared cache (Redis or the database)."""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from clientbase.accounts.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        token = request.auth
        ident = f"t{token.pk}" if isinstance(token, ApiToken) else self.get_ident(request)
        return f"throttle_token_{ident}"
