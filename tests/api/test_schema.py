"""The OpenAPI schema: served, committed without drift, and obeyed by every operation."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings

from clientbase.accounts.api.throttling import TokenRateThrottle
from clientbase.accounts.services import apitoken_create
from clientbase.wsgi import application

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.mark.django_db
def test_served_schema_is_the_committed_one():
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    assert served == committed, "docs/openapi.yaml is out of date: run `make schema`"


@pytest.mark.django_db
def test_schema_declares_the_bearer_token_and_the_error_shape():
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["TokenAuth"]["description"],
    }
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "429"} <= codes, (method, path)
            assert operation["security"] == [{"TokenAuth": []}]


@pytest.fixture
def api_schema(db):
    # Called straight through WSGI, Django would close the test's database connection at
    # the end of each request, as it does between real requests; the test client avoids
    # that the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def full_scope_headers(db, monkeypatch):
    # Many generated requests in a row: the rate limit is not what this test is about.
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "100000/min"})
    _token, key = apitoken_create(actor=None, name="schemathesis", scopes=["all"])
    return {"Authorization": f"Bearer {key}"}


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


def test_api_conforms_to_its_schema(api_schema, full_scope_headers):
    """Generated requests against the in-process app: no server error, responses as documented.

    Operation by operation with Hypothesis directly (schemathesis' pytest plugin does not run
    under pytest 9), 20 examples each.
    """
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 14

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=full_scope_headers, checks=CHECKS)

        run()
