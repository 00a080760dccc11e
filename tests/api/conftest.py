"""API test fixtures: tokens with scopes and clients that send them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from clientbase.accounts.services import apitoken_create

SHOP_SCOPES = ["customers:write", "orders:write", "customers:lookup"]


def at_once(count: int, call: Callable[[int], Any]) -> dict[int, Any]:
    """call(0) ... call(count - 1) in threads released together, each with its own database
    connection (closed after): what a shop's concurrent pushes do. Returns the results by n."""
    barrier = threading.Barrier(count)
    results: dict[int, Any] = {}

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[n] = call(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


class ApiClient:
    """Django's test client speaking JSON with a bearer token (real HTTP handling, no mocks)."""

    def __init__(self, key: str | None):
        self.client = Client()
        self.key = key

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.key:
            merged.setdefault("Authorization", f"Bearer {self.key}")
        return merged

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, data: Any = None, **headers: str) -> Any:
        return self.client.post(
            path, data or {}, content_type="application/json", headers=self._headers(headers)
        )

    def patch(self, path: str, data: Any = None, **headers: str) -> Any:
        return self.client.patch(
            path, data or {}, content_type="application/json", headers=self._headers(headers)
        )


@pytest.fixture
def make_token(db: Any) -> Callable[..., tuple[Any, str]]:
    def make(scopes: list[str], name: str = "shop") -> tuple[Any, str]:
        return apitoken_create(actor=None, name=name, scopes=scopes)

    return make


@pytest.fixture
def api_for(make_token) -> Callable[[list[str]], ApiClient]:
    def make(scopes: list[str]) -> ApiClient:
        return ApiClient(make_token(scopes)[1])

    return make


@pytest.fixture
def full_api(api_for) -> ApiClient:
    return api_for(["all"])


@pytest.fixture
def shop_api(api_for) -> ApiClient:
    return api_for(SHOP_SCOPES)
