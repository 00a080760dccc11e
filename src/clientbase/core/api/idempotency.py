"""Idempotency-Key on POST: a replay returns the first response and does nothing again.

The key is reserved in its own committed row before the request runs, so a concurrent
duplicate sees it and gets 409; the same key with another body gets 422. Responses below 500
are stored and replayed; after a server error the reservation is dropped so a retry can run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from clientbase.accounts.models import ApiToken
from clientbase.core.api.errors import error_body
from clientbase.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _stored(response: Any) -> Any:
    """The body as plain JSON data (Decimals and dates as the API rendered them)."""
    data = getattr(response, "data", None)
    return None if data is None else json.loads(JSONRenderer().render(data))


class _Replay(Exception):
    def __init__(self, response: Response):
        self.response = response


def _request_hash(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.get_full_path().encode())
    digest.update(request.body)
    return digest.hexdigest()


class IdempotentMixin:
    """For DRF views: honours Idempotency-Key on every POST."""

    _idempotency: IdempotencyKey | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self._idempotency = None
        key = request.headers.get(HEADER, "")
        if request.method != "POST" or not key:
            return
        if len(key) > MAX_KEY_LENGTH:
            raise _Replay(
                Response(
                    error_body("invalid_idempotency_key", _("Idempotency-Key is too long.")),
                    status=400,
                )
            )
        token = request.auth
        client = f"token:{token.pk}" if isinstance(token, ApiToken) else "anonymous"
        digest = _request_hash(request)
        try:
            with transaction.atomic():
                self._idempotency = IdempotencyKey.objects.create(
                    client=client, key=key, request_hash=digest
                )
            return
        except IntegrityError:
            pass
        first = IdempotencyKey.objects.filter(client=client, key=key).first()
        if first is None:  # dropped after a server error in between: treat as new
            raise _Replay(
                Response(
                    error_body(
                        "idempotency_in_progress",
                        _("A request with this Idempotency-Key is being processed."),
                    ),
                    status=409,
                )
            )
        if first.request_hash != digest:
            raise _Replay(
                Response(
                    error_body(
                        "idempotency_key_reused",
                        _("This Idempotency-Key was used with a different request."),
                    ),
                    status=422,
                )
            )
        if not first.completed:
            raise _Replay(
                Response(
                    error_body(
                        "idempotency_in_progress",
                        _("A request with this Idempotency-Key is being processed."),
                    ),
                    status=409,
                )
            )
        replay = Response(first.response_body, status=first.status_code)
        replay["Idempotent-Replayed"] = "true"
        raise _Replay(replay)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, _Replay):
            return exc.response
        try:
            return super().handle_exception(exc)  # type: ignore[misc]
        except Exception:
            # A server error DRF re-raises never reaches finalize_response: drop the
            # reservation here, or every retry with this key would be told "in progress".
            reservation, self._idempotency = self._idempotency, None
            if reservation is not None:
                IdempotencyKey.objects.filter(pk=reservation.pk).delete()
            raise

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        reservation, self._idempotency = self._idempotency, None
        if reservation is not None:
            if response.status_code >= 500:
                IdempotencyKey.objects.filter(pk=reservation.pk).delete()
            else:
                IdempotencyKey.objects.filter(pk=reservation.pk).update(
                    completed=True,
                    status_code=response.status_code,
                    response_body=_stored(response),
                )
        return response
