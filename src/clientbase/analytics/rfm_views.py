"""Web UI of the analytics app: the RFM grid (the dashboard lives in views.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clientbase.accounts.permissions import Perm, requires
from clientbase.analytics import selectors


@requires(Perm.ANALYTICS_VIEW)
@require_GET
def rfm_grid(request: HttpRequest) -> HttpResponse:
    return render(request, "analytics/rfm.html", {"grid": selectors.rfm_grid()})
