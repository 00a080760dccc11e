"""Health check and the audit log browser."""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clientbase.accounts.permissions import PUBLIC, Perm, requires
from clientbase.core import selectors
from clientbase.core.forms import AuditFilterForm
from clientbase.core.models import AuditEvent
from clientbase.core.pagination import Page

logger = logging.getLogger(__name__)


# The same file the pages link as static/clientbase/favicon.svg.
FAVICON = Path(__file__).resolve().parent / "static" / "clientbase" / "favicon.svg"


@requires(PUBLIC)
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico for clients that ask for it without reading the page's <link rel=icon>."""
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@never_cache
@requires(PUBLIC)
def healthz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("health check: database unreachable")
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "vendor": connection.vendor})


@requires(Perm.AUDIT_VIEW)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first; read-only by design (no view changes or deletes rows)."""
    form = AuditFilterForm(request.GET)
    page: Page[AuditEvent] = Page()  # an invalid filter shows its error and no events, never all
    if form.is_valid():
        page = selectors.audit_page(
            form.filters(), after=request.GET.get("after", ""), before=request.GET.get("before", "")
        )
    template = "core/audit_list.html"
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "audit-table":
        template = "core/_audit_table.html"
    response = render(request, template, {"form": form, "page": page})
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response
