"""Segments API: scopes, counts, members by cursor."""

from __future__ import annotations

import pytest

from clientbase.accounts.services import apitoken_create
from clientbase.segments import services
from tests.api.conftest import ApiClient


@pytest.fixture
def make_token(db):

    def make(scopes, name="shop"):
        return apitoken_create(actor=None, name=name, scopes=scopes)

    return make


@pytest.fixture
def segment(people, admin_user):
    return services.segment_save(actor=admin_user, name="Люди", query="kind = person")


@pytest.fixture
def reader(make_token):
    return ApiClient(make_token(["customers:read"])[1])


def test_scope_customers_read_is_needed(segment, make_token):
    for scopes in (["orders:read"], ["customers:write"], ["export"]):
        client = ApiClient(make_token(scopes, name=str(scopes))[1])
        for path in ("/api/v1/segments/", f"/api/v1/segments/{segment.pk}/"):
            assert client.get(path).status_code == 403
    assert ApiClient(None).get("/api/v1/segments/").status_code == 401


def test_list_and_detail_with_live_counts(segment, reader):
    body = reader.get("/api/v1/segments/").json()
    assert [(s["name"], s["count"], s["query"]) for s in body] == [("Люди", 2, "kind = person")]
    detail = reader.get(f"/api/v1/segments/{segment.pk}/").json()
    assert detail["count"] == 2 and detail["kind"] == "dynamic"
    assert reader.get("/api/v1/segments/999999/").status_code == 404


def test_members_by_cursor(segment, reader, people):
    first = reader.get(f"/api/v1/segments/{segment.pk}/members/").json()
    assert {c["id"] for c in first["results"]} == {people["a"].pk, people["c"].pk}
    assert first["next"] is None and first["previous"] is None
