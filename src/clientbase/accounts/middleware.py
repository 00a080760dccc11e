"""Checks, on the server, the permission every view declares before the view runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from clientbase.accounts.permissions import API, LOGIN, PUBLIC, declared_permission, user_has

logger = logging.getLogger(__name__)


class PermissionRequiredMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        required = declared_permission(view_func)
        if required is None:
            # Deny by default: a view that forgot to declare is closed, not open.
            logger.error("view %s declares no permission", getattr(view_func, "__name__", "?"))
            raise PermissionDenied
        if required in (PUBLIC, API):
            # API views authenticate tokens and check scopes themselves (DRF permission class).
            return None
        user = request.user
        if not user.is_authenticated or not user.is_active:
            if request.path.startswith("/api/"):
                raise PermissionDenied
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        if required == LOGIN or user_has(user, required):
            return None
        raise PermissionDenied
