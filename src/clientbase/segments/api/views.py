"""Segments API: saved segments with live counts, and their members by cursor."""

from __future__ import annotations

from typing import Any

from django.db.models import prefetch_related_objects
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clientbase.accounts.permissions import API, Scope
from clientbase.core import audit
from clientbase.core.api.pagination import CURSOR, cursor_links, cursor_positions, paginated
from clientbase.core.api.schema import error_responses
from clientbase.core.choices import AuditAction
from clientbase.customers.api.serializers import MAX_ID, CustomerListItemSerializer
from clientbase.segments import selectors
from clientbase.segments.api.serializers import SegmentSerializer
from clientbase.segments.language import SegmentQueryError
from clientbase.segments.models import Segment

SegmentMemberPage = paginated(CustomerListItemSerializer, "SegmentMemberPage")


def _with_count(segment: Segment) -> dict[str, Any]:
    try:
        count: int | None = selectors.segment_members(segment).count()
    except SegmentQueryError:
        count = None
    names = [f for f in SegmentSerializer().fields if f != "count"]
    return {**{f: getattr(segment, f) for f in names}, "count": count}


def _segment_or_404(pk: int) -> Segment:
    segment = Segment.objects.filter(pk=pk).first() if pk <= MAX_ID else None
    if segment is None:
        raise NotFound
    return segment


class SegmentListView(APIView):
    required_permission = API
    required_scopes = {"get": Scope.CUSTOMERS_READ}

    @extend_schema(
        operation_id="segments_list",
        summary=_("List segments"),
        description=_("Every saved segment with the number of customers it matches now."),
        responses={200: SegmentSerializer(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        rows = [_with_count(s) for s in selectors.segment_list()]
        return Response(SegmentSerializer(rows, many=True).data)


class SegmentDetailView(APIView):
    required_permission = API
    required_scopes = {"get": Scope.CUSTOMERS_READ}

    @extend_schema(
        operation_id="segments_retrieve",
        summary=_("A segment"),
        responses={200: SegmentSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(SegmentSerializer(_with_count(_segment_or_404(pk))).data)


class SegmentMembersView(APIView):
    required_permission = API
    required_scopes = {"get": Scope.CUSTOMERS_READ}

    @extend_schema(
        operation_id="segments_members",
        summary=_("A segment's customers"),
        description=_("By name, a page at a time by cursor, without a total count."),
        parameters=[CURSOR],
        responses={200: SegmentMemberPage, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        segment = _segment_or_404(pk)
        after, before = cursor_positions(request)
        try:
            page = selectors.segment_member_page(segment, after=after, before=before)
        except SegmentQueryError:
            # A saved query that no longer parses (a custom field was deleted) matches nobody.
            return Response({"results": [], "next": None, "previous": None})
        customers = list(page.rows)
        prefetch_related_objects(customers, "tags")
        audit.record_access(
            action=AuditAction.SEARCH,
            actor=request.user,
            obj=segment,
            extra={"via": "api", "results_on_page": len(customers)},
        )
        return Response(
            {
                "results": CustomerListItemSerializer(customers, many=True).data,
                **cursor_links(request, page),
            }
        )
