"""Keyset pagination: previous/next pages from an index, without COUNT(*) or OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

ModelT = TypeVar("ModelT", bound=models.Model)


@dataclass
class Page(Generic[ModelT]):
    rows: list[ModelT] = field(default_factory=list)
    has_next: bool = False
    has_previous: bool = False
    next_cursor: str = ""
    previous_cursor: str = ""


def _encode(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def _decode(cursor: str, model: type[models.Model], names: Sequence[str]) -> list[Any] | None:
    """Cursor -> typed values, or None for anything malformed (a hand-edited URL)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a cursor nested a thousand levels deep (Python's decoder gives up).
        return None
    if not isinstance(values, list) or len(values) != len(names):
        return None
    fields = [model._meta.get_field(n) for n in names]
    try:
        return [
            f.to_python(v)  # type: ignore[union-attr]  # sort columns are concrete fields
            for f, v in zip(fields, values, strict=True)
        ]
    except (ValidationError, TypeError):
        return None


def _after(names: Sequence[str], values: Sequence[Any], descending: bool) -> Q:
    """Rows strictly after the cursor in the given order.

    Written as `a >= x AND (a > x OR <the rest after>)` rather than the plain OR form: the first
    term gives the database an index range to start from, so deep pages stay as cheap as the
    first. The last name is the unique tie-breaker.
    """
    op = "lt" if descending else "gt"
    (first, *rest), (first_value, *rest_values) = names, values
    if not rest:
        return Q(**{f"{first}__{op}": first_value})
    return Q(**{f"{first}__{op}e": first_value}) & (
        Q(**{f"{first}__{op}": first_value}) | _after(rest, rest_values, descending)
    )


def keyset_page(
    queryset: models.QuerySet[ModelT],
    *,
    order: Sequence[str],
    size: int,
    after: str = "",
    before: str = "",
) -> Page[ModelT]:
    """One page of `queryset` in `order` (columns ending with the primary key, one direction).

    Fetches size + 1 rows: the extra row tells whether a further page exists, which is all
    previous/next links need. `after` and `before` are cursors taken from an earlier page.
    """
    if len(order) < 2:
        raise ValueError("order must name a column and a tie-breaker")
    descending = order[0].startswith("-")
    if any(o.startswith("-") != descending for o in order):
        raise ValueError("every column of order must go in the same direction")
    names = [o.lstrip("-") for o in order]
    model = queryset.model
    reverse_order = [n if descending else f"-{n}" for n in names]

    before_values = _decode(before, model, names) if before else None
    after_values = _decode(after, model, names) if after and before_values is None else None
    if before_values is not None:
        rows = list(
            queryset.filter(_after(names, before_values, not descending)).order_by(*reverse_order)[
                : size + 1
            ]
        )
        has_more = len(rows) > size
        rows = rows[:size][::-1]
        page = Page(rows=rows, has_previous=has_more, has_next=True)
    else:
        filtered = queryset
        if after_values is not None:
            filtered = queryset.filter(_after(names, after_values, descending))
        rows = list(filtered.order_by(*order)[: size + 1])
        page = Page(rows=rows[:size], has_next=len(rows) > size, has_previous=bool(after_values))
    if page.rows:
        page.next_cursor = _encode([getattr(page.rows[-1], n) for n in names])
        page.previous_cursor = _encode([getattr(page.rows[0], n) for n in names])
    else:
        # An empty page reached by paging: offer the way back only.
        page.has_next = page.has_next and bool(page.rows)
    return page
