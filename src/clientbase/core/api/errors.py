"""One error shape for every API error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clientbase.core.errors import ConflictError, DomainError, DuplicateWarning

logger = logging.getLogger("django.request")


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


def suspicious_error(exc: SuspiciousOperation) -> tuple[dict[str, Any], int]:
    """The API's body and status for a request Django finds suspicious.

    The same whether a view reads it (exception_handler) or a middleware refuses it before
    any view runs (handler400): a body over the limit is a 413, anything else a 400.
    """
    if isinstance(exc, RequestDataTooBig):
        return (
            error_body(
                "request_too_large",
                _("The request body is too large."),
                {"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
            ),
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return error_body("bad_request", _("The request is not valid.")), status.HTTP_400_BAD_REQUEST


def _server_error(exc: Exception, context: dict[str, Any]) -> Response | None:
    """A bug: logged with its traceback as Django logs one, answered in the API's shape."""
    if settings.DEBUG:
        return None  # Django's technical page, with the traceback, for the developer
    request = context.get("request")
    django_request = getattr(request, "_request", None)
    logger.error(
        "Internal Server Error: %s",
        getattr(django_request, "path", ""),
        exc_info=exc,
        extra={"status_code": 500, "request": django_request},
    )
    # Listeners (the test client, error reporters) hear of it as of any unhandled exception.
    got_request_exception.send(sender=None, request=django_request)
    return Response(
        error_body(
            "server_error", _("Something went wrong on the server. Please try again later.")
        ),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


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
    if isinstance(exc, SuspiciousOperation):
        # Django answers these with its HTML 400 page; the API keeps its own shape.
        if not isinstance(exc, RequestDataTooBig):
            logging.getLogger("django.security").warning("%s: %s", type(exc).__name__, exc)
        body, code = suspicious_error(exc)
        return Response(body, status=code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
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
