"""Rate limit per API token: a fixed window counted by one atomic UPSERT in the database."""

from __future__ import annotations

import math
import time
from typing import Any

from django.db import connection
from rest_framework.throttling import SimpleRateThrottle

from clientbase.accounts.models import ApiRateWindow, ApiToken

# Windows that ended this long ago are deleted when a client opens a new one.
_KEEP_ENDED_SECONDS = 86400


def rate_window_hit(*, client: str, duration: float, now: float) -> tuple[int, float]:
    """Count one request of `client`; returns (requests in the current window, its end).

    One statement, so concurrent requests on any number of processes each get their own
    count: the UPSERT both opens a new window (when the old one has ended) and increments.
    SQLite (3.35+) and PostgreSQL share the syntax; SET expressions read the row as it was.
    """
    table = connection.ops.quote_name(ApiRateWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (client, window_ends, hits) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (client) DO UPDATE SET "
            f"hits = CASE WHEN {table}.window_ends <= %s THEN 1 ELSE {table}.hits + 1 END, "
            f"window_ends = CASE WHEN {table}.window_ends <= %s "
            f"THEN excluded.window_ends ELSE {table}.window_ends END "
            f"RETURNING hits, window_ends",
            [client, now + duration, now, now],
        )
        hits, window_ends = cursor.fetchone()
    if hits == 1:
        ApiRateWindow.objects.filter(window_ends__lt=now - _KEEP_ENDED_SECONDS).delete()
    return int(hits), float(window_ends)


class TokenRateThrottle(SimpleRateThrottle):
    """`API_RATE_LIMIT` requests per token per window; the window opens at the first request."""

    scope = "token"
    _retry_after: float | None = None

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        token = request.auth
        ident = f"t{token.pk}" if isinstance(token, ApiToken) else self.get_ident(request)
        return f"throttle_token_{ident}"[:100]

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        client = self.get_cache_key(request, view)
        if client is None:
            return True
        now = time.time()
        hits, window_ends = rate_window_hit(client=client, duration=self.duration, now=now)
        if hits <= self.num_requests:
            return True
        self._retry_after = window_ends - now
        return False

    def wait(self) -> float:
        """Seconds until the window ends: never None, so every 429 carries Retry-After."""
        return float(max(1, math.ceil(self._retry_after or 0)))
