"""API tokens for machines: the console command and the admin pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from django.utils import translation

from clientbase.accounts.models import ApiToken
from clientbase.accounts.services import apitoken_authenticate, apitoken_create, token_hash
from tests.core.clitools import child_env, run_cli

TOKEN = re.compile(r"^(cb_[A-Za-z0-9_-]{20,})$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _token_in(text: str) -> str:
    found = TOKEN.findall(text)
    assert len(found) == 1, text
    return found[0]


@pytest.mark.usefixtures("audit_purged_after")
def test_cli_creates_lists_and_revokes_a_token() -> None:
    env = child_env()
    result = run_cli(
        "apitoken", "create", "--name", "Shop", "--scopes", "customers:write,orders:write", env=env
    )
    assert result.returncode == 0, result.stderr
    key = _token_in(result.stdout)

    token = ApiToken.objects.get()
    assert token.name == "Shop"
    assert token.scopes == ["customers:write", "orders:write"]
    # Only the hash is stored; the clear key is nowhere in the row.
    assert token.key_hash == token_hash(key)
    assert key not in repr(list(ApiToken.objects.values()))
    authenticated = apitoken_authenticate(key)
    assert authenticated is not None and authenticated.pk == token.pk

    listing = run_cli("apitoken", "list", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "Shop" in listing.stdout and token.prefix in listing.stdout
    assert key not in listing.stdout

    revoked = run_cli("apitoken", "revoke", str(token.pk), env=env)
    assert revoked.returncode == 0, revoked.stderr
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert apitoken_authenticate(key) is None


@pytest.mark.usefixtures("audit_purged_after")
def test_cli_refuses_unknown_scopes_and_creates_nothing() -> None:
    result = run_cli("apitoken", "create", "--name", "X", "--scopes", "everything", env=child_env())
    assert result.returncode != 0
    assert "everything" in result.stderr
    assert not TOKEN.search(result.stdout)
    assert ApiToken.objects.count() == 0


@pytest.mark.django_db
def test_admin_creates_a_token_in_the_ui_and_sees_it_once(admin_user: Any, client_for: Any) -> None:
    client = client_for(admin_user)
    response = client.post(
        reverse("settings:apitoken_create"),
        {"name": "Shop website", "scopes": ["customers:write", "orders:write", "customers:lookup"]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    key = re.search(r'value="(cb_[^"]+)"', page)
    assert key is not None
    token = ApiToken.objects.get()
    assert token.created_by == admin_user
    assert token.scopes == ["customers:lookup", "customers:write", "orders:write"]
    assert apitoken_authenticate(key.group(1)) == token
    assert 'class="alert alert-warning"' in page  # the "shown only once" warning

    listing = client.get(reverse("settings:apitoken_list")).content.decode()
    assert "Shop website" in listing and token.prefix in listing
    assert key.group(1) not in listing


@pytest.mark.django_db
def test_admin_must_choose_a_scope(admin_user: Any, client_for: Any) -> None:
    response = client_for(admin_user).post(reverse("settings:apitoken_create"), {"name": "X"})
    assert response.status_code == 200
    assert ApiToken.objects.count() == 0


@pytest.mark.django_db
def test_admin_revokes_a_token(admin_user: Any, client_for: Any) -> None:
    token, key = apitoken_create(actor=admin_user, name="Old", scopes=["all"])
    response = client_for(admin_user).post(reverse("settings:apitoken_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert apitoken_authenticate(key) is None


@pytest.mark.django_db
def test_token_pages_are_for_admins_only(manager_user: Any, client_for: Any) -> None:
    token, key = apitoken_create(actor=None, name="Shop", scopes=["orders:write"])
    client = client_for(manager_user)
    assert client.get(reverse("settings:apitoken_list")).status_code == 403
    assert client.get(reverse("settings:apitoken_create")).status_code == 403
    response = client.post(reverse("settings:apitoken_create"), {"name": "Mine", "scopes": ["all"]})
    assert response.status_code == 403
    assert client.post(reverse("settings:apitoken_revoke", args=[token.pk])).status_code == 403
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("Shop", None)]
    assert apitoken_authenticate(key) is not None
