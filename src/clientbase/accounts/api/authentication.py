"""API authentication: `Authorization: Bearer <token>` (or `Token <token>`)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from clientbase.accounts.models import ApiToken
from clientbase.accounts.services import apitoken_authenticate


class TokenPrincipal:
    """The caller of an API request: a token, standing where DRF expects a user."""

    is_authenticated = True
    is_active = True

    def __init__(self, token: ApiToken):
        self.token = token
        self.pk = None  # not a staff user: audit rows name the token instead
        self.username = f"api:{token.name}"[:150]

    def __str__(self) -> str:
        return self.username


class TokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        token = apitoken_authenticate(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        return TokenPrincipal(token), token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
