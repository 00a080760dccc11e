"""Reads of the segments app: counts, previews and members of a query or a saved segment."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from clientbase.core.pagination import Page, keyset_page
from clientbase.customers.models import Customer
from clientbase.segments.language import (
    Condition,
    compile_node,
    compile_query,
    parse,
    set_rows,
)
from clientbase.segments.models import Segment

PREVIEW_SIZE = 20
SET_FIELDS = ("interest", "category", "region")
MEMBERS_PAGE_SIZE = 50


def segment_queryset(query: str, *, today: dt.date | None = None) -> QuerySet[Customer]:
    """Customers matching the query text; SegmentQueryError if it is not valid."""
    return Customer.objects.filter(compile_query(query, today=today))


def segment_count(query: str, *, today: dt.date | None = None) -> int:
    """One COUNT over the compiled predicates.

    A query that is only "tag = X" (or "tag in (…)") counts the tag's rows instead: the same
    number without a lookup of every tagged customer (1M customers, a 185k-customer tag:
    46 ms instead of 200 ms). The same for interest, category and region, whose rows also
    belong to existing customers only (300k customers, a 20k-customer interest: 4 ms instead
    of 49 ms).
    """
    node = parse(query)
    if isinstance(node, Condition) and node.field == "tag" and node.op in ("=", "in"):
        through = Customer.tags.through.objects.filter(tag__name__in=list(node.values))
        return through.values("customer_id").distinct().count()
    if isinstance(node, Condition) and node.field in SET_FIELDS and node.op in ("=", "in"):
        rows = set_rows(node.field, list(node.values))
        return rows.values("customer_id").distinct().count()
    return Customer.objects.filter(compile_node(node, today=today)).count()


def segment_preview(
    query: str, *, limit: int = PREVIEW_SIZE, today: dt.date | None = None
) -> list[Customer]:
    return list(segment_queryset(query, today=today).order_by("search_name", "id")[:limit])


def segment_members(segment: Segment, *, today: dt.date | None = None) -> QuerySet[Customer]:
    """A dynamic segment's query re-evaluated, or a static segment's frozen members."""
    if segment.kind == Segment.Kind.STATIC:
        return Customer.objects.filter(
            pk__in=segment.members.values("customer_id")  # type: ignore[attr-defined]
        )
    return segment_queryset(segment.query, today=today)


def segment_member_page(
    segment: Segment, *, after: str = "", before: str = "", size: int = MEMBERS_PAGE_SIZE
) -> Page[Customer]:
    """One page of members by name, without a COUNT."""
    queryset = segment_members(segment).select_related("manager")
    return keyset_page(queryset, order=("search_name", "id"), size=size, after=after, before=before)


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by").order_by("name")
