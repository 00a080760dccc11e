"""OpenAPI pieces shared by every API view: the token security scheme and the error shape."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "clientbase.accounts.api.authentication.TokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": str(
                _(
                    "An API token: `Authorization: Bearer <token>`. "
                    "Its scopes decide what it may do."
                )
            ),
        }


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable machine-readable code."))
    message = serializers.CharField(help_text=_("Translated text for people."))
    details = serializers.JSONField(
        allow_null=True, help_text=_("Field errors, duplicates, changes since your version …")
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS: dict[int, Any] = {
    400: _("The data is not valid (code validation_error; details name the fields)."),
    401: _("No token, or an invalid or revoked one."),
    403: _("The token lacks the scope this call needs."),
    404: _("Not found."),
    409: _(
        "A likely duplicate (likely_duplicate), or the same Idempotency-Key is being processed "
        "(idempotency_in_progress)."
    ),
    412: _("The version is stale (version_conflict); details list what changed since."),
    422: _(
        "A business rule refused the request (e.g. cod_not_allowed), or an Idempotency-Key "
        "was reused with a different body (idempotency_key_reused)."
    ),
    428: _("A version is required: send If-Match or a version field."),
    429: _("Too many requests: wait for the seconds in Retry-After."),
}

# What can go wrong on every authenticated call.
COMMON = (400, 401, 403, 429)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in sorted({*COMMON, *codes})
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=_(
        "Any unique string (a UUID): a retry with the same key returns the first response."
    ),
)
