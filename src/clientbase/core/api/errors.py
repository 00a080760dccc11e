"""One error shape for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clientbase.core.errors import ConflictError, DomainError, DuplicateWarning


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "version_conflict"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "details": details}}


# Query parameters every endpoint accepts: DRF's renderer override.
COMMON_QUERY_PARAMS = frozenset({"format"})


def reject_unknown_params(request: Any, known: Iterable[str]) -> None:
    """400 validation_error for a query parameter the endpoint does not take.

    A misspelt filter (`?ctiy=...`) that were ignored would answer with every row instead.
    """
    allowed = COMMON_QUERY_PARAMS | set(known)
    unknown = sorted(name for name in request.query_params if name not in allowed)
    if unknown:
        raise exceptions.ValidationError(
            {name[:50]: [_("Unknown query parameter.")] for name in unknown[:20]}
        )


def _django_validation_details(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return Response(
            error_body(
                "validation_error", _("The data is not valid."), _django_validation_details(exc)
            ),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, ConflictError):
        return Response(
            error_body(exc.code, exc.message, exc.details),
            status=status.HTTP_412_PRECONDITION_FAILED,
        )
    if isinstance(exc, DuplicateWarning):
        return Response(
            error_body(exc.code, exc.message, exc.details), status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, DomainError):
        code = status.HTTP_404_NOT_FOUND if exc.code == "not_found" else 422
        return Response(error_body(exc.code, exc.message, exc.details), status=code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging apply
    if isinstance(exc, exceptions.ValidationError):
        code, message, details = "validation_error", _("The data is not valid."), response.data
    elif isinstance(exc, Http404):
        code, message, details = "not_found", _("Not found."), None
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        message = str(detail) if not isinstance(detail, dict | list) else str(exc.default_detail)
        details = None
        if isinstance(exc, exceptions.Throttled):
            details = {"retry_after": exc.wait}
    else:
        code, message, details = "error", str(exc), None
    response.data = error_body(str(code), message, details)
    return response
