"""Cursor pagination for the API over core.pagination's keyset pages: no COUNT, no OFFSET."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.utils.urls import remove_query_param, replace_query_param

from clientbase.core.pagination import Page

CURSOR_PARAM = "cursor"
# A cursor is "n" (next: rows after) or "p" (previous: rows before) plus a keyset position.
_NEXT, _PREVIOUS = "n", "p"

CURSOR = OpenApiParameter(
    CURSOR_PARAM,
    str,
    OpenApiParameter.QUERY,
    required=False,
    description=_("Opaque cursor from the next or previous link of an earlier page."),
)


def cursor_positions(request: Request) -> tuple[str, str]:
    """(after, before) keyset positions named by the request's cursor; a bad one means none."""
    cursor = request.query_params.get(CURSOR_PARAM, "")
    direction, position = cursor[:1], cursor[1:]
    if direction == _NEXT:
        return position, ""
    if direction == _PREVIOUS:
        return "", position
    return "", ""


def cursor_links(request: Request, page: Page[Any]) -> dict[str, str | None]:
    url = request.build_absolute_uri()
    return {
        "next": replace_query_param(url, CURSOR_PARAM, _NEXT + page.next_cursor)
        if page.has_next and page.next_cursor
        else None,
        "previous": (
            replace_query_param(url, CURSOR_PARAM, _PREVIOUS + page.previous_cursor)
            if page.previous_cursor
            else remove_query_param(url, CURSOR_PARAM)
        )
        if page.has_previous
        else None,
    }


def paginated(serializer_class: type[serializers.Serializer], name: str) -> Any:
    """The response component of a page of `serializer_class`."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "results": serializer_class(many=True),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )
