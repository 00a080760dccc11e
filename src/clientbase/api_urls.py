"""The REST API, /api/v1/: customers, orders, caller lookup, and its OpenAPI schema."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.defaults import page_not_found
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from clientbase.accounts.permissions import PUBLIC
from clientbase.core.api import schema  # noqa: F401  registers the token security scheme
from clientbase.core.api.errors import error_body, suspicious_error


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a request Django refused (a Host not in ALLOWED_HOSTS, a form with too many
    fields or too much data), often in a middleware before any view could answer: the API's
    error shape under /api/, the app's 400 page everywhere else."""
    if request.path.startswith("/api/"):
        if isinstance(exception, SuspiciousOperation):
            body, status = suspicious_error(exception)
        else:
            body, status = error_body("bad_request", _("The request is not valid.")), 400
        return JsonResponse(body, status=status)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: the API's error shape under /api/, Django's page everywhere else."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: the API's error shape under /api/, the app's 403 page everywhere else."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", _("Not allowed.")), status=403)
    return defaults.permission_denied(request, exception)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document, public: in English unless ?lang= asks for another language."""

    required_permission = PUBLIC
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with translation.override(request.GET.get("lang") or "en"):
            return self._get_schema_response(request)


app_name = "api"
urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("", include("clientbase.customers.api.urls")),
    path("", include("clientbase.orders.api.urls")),
    path("", include("clientbase.segments.api.urls")),
]
