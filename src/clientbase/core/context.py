"""Per-request context (request id, acting user, client address) carried in contextvars."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    user_id: int | None = None
    ip: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("clientbase_request", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current() -> RequestContext | None:
    return _current.get()


def set_current(ctx: RequestContext | None) -> Any:
    return _current.set(ctx)


def reset(token: Any) -> None:
    _current.reset(token)


def current_request_id() -> str:
    ctx = _current.get()
    return ctx.request_id if ctx else ""


class RequestIdLogFilter(logging.Filter):
    """Adds the request id to every log record so log lines can be tied to audit rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
