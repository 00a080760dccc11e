"""The audit log is append-only and carries the request id of the request that wrote it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from clientbase.core import audit, context
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent, AuditImmutableError
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(admin_user):
    return audit.record(
        action=AuditAction.UPDATE,
        actor=admin_user,
        object_type="customers.customer",
        object_id=7,
        object_repr="Иванов",
        changes={"last_name": ["Иванов", "Петров"]},
    )


def stored(pk: int) -> tuple:
    return AuditEvent.objects.filter(pk=pk).values_list("action", "object_repr", "changes").get()


def test_record_stores_who_what_and_changes(event, admin_user):
    assert stored(event.pk) == ("update", "Иванов", {"last_name": ["Иванов", "Петров"]})
    assert (event.actor_id, event.actor_name, event.object_id) == (admin_user.pk, "admin", "7")
    assert event.request_id == ""  # written outside a request


def test_instance_save_and_delete_are_refused(event):
    original = stored(event.pk)
    event.object_repr = "подделка"
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.delete()
    assert stored(event.pk) == original


def test_queryset_update_delete_and_bulk_update_are_refused(event):
    original = stored(event.pk)
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="подделка")
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.all().delete()
    event.object_repr = "подделка"
    # bulk_update runs in its own transaction: a savepoint keeps the test's one usable.
    with pytest.raises(AuditImmutableError), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["object_repr"])
    assert stored(event.pk) == original
    assert AuditEvent.objects.count() == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE core_auditevent SET object_repr = 'подделка'",
        "UPDATE core_auditevent SET changes = '{}' WHERE id = %s",
        "DELETE FROM core_auditevent WHERE id = %s",
        "DELETE FROM core_auditevent",
    ],
)
def test_raw_sql_update_and_delete_are_refused_by_the_database(event, sql):
    original = stored(event.pk)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk] if "%s" in sql else [])
    assert stored(event.pk) == original
    assert AuditEvent.objects.count() == 1


def test_the_orm_bypass_of_raw_delete_is_refused_by_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk)._raw_delete(connection.alias)
    assert AuditEvent.objects.count() == 1


def test_removing_a_user_keeps_their_audit_rows(event, admin_user):
    user_id = admin_user.pk
    admin_user.delete()
    row = AuditEvent.objects.get(pk=event.pk)
    assert (row.actor_id, row.actor_name) == (user_id, "admin")


# ---------------------------------------------------------------- request id


def test_request_id_from_header_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "shop-req-0001"})
    assert response.status_code == 200
    assert response["X-Request-ID"] == "shop-req-0001"


@pytest.mark.parametrize("bad", ["", "short", "has space inside", "x" * 65, "semi;colon-0001"])
def test_unsafe_request_id_is_replaced_by_a_generated_one(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_login_audit_row_carries_the_request_id_from_the_header(client, operator_user):
    response = client.post(
        "/accounts/login/",
        {"username": "operator", "password": PASSWORD},
        headers={"X-Request-ID": "login-req-42-abc"},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    [row] = AuditEvent.objects.filter(action=AuditAction.LOGIN)
    assert row.request_id == "login-req-42-abc"
    assert row.ip == "10.1.2.3"
    assert row.actor_id == operator_user.pk


def test_generated_request_id_appears_on_audit_rows(client, operator_user):
    response = client.post("/accounts/login/", {"username": "operator", "password": PASSWORD})
    generated = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    [row] = AuditEvent.objects.filter(action=AuditAction.LOGIN)
    assert row.request_id == generated


def test_two_requests_get_different_ids(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


def test_context_is_cleared_after_the_request(client):
    client.get("/healthz", headers={"X-Request-ID": "shop-req-0002"})
    assert context.current() is None
    assert audit.record(action=AuditAction.VIEW).request_id == ""


def test_record_uses_the_current_context_user_when_no_actor_is_given(operator_user):
    token = context.set_current(
        context.RequestContext(request_id="ctx-req-000001", user_id=operator_user.pk, ip="::1")
    )
    try:
        row = audit.record(action=AuditAction.SEARCH, object_type="customers.customer")
    finally:
        context.reset(token)
    assert (row.actor_id, row.actor_name, row.request_id, row.ip) == (
        operator_user.pk,
        "operator",
        "ctx-req-000001",
        "::1",
    )


# ---------------------------------------------------------------- diff


def test_diff_ignores_empty_versus_empty():
    before = {"a": None, "b": "", "c": [], "d": {}, "e": None}
    after = {"a": "", "b": None, "c": None, "d": [], "f": ""}
    assert audit.diff(before, after) == {}


def test_diff_lists_changed_fields_only_with_json_values():
    before = {"name": "Анна", "birthday": None, "sum": Decimal("10.50"), "same": 1, "zero": None}
    after = {
        "name": "Анна",
        "birthday": dt.date(1990, 5, 17),
        "sum": Decimal("11.00"),
        "same": 1,
        "zero": 0,
    }
    assert audit.diff(before, after) == {
        "birthday": [None, "1990-05-17"],
        "sum": ["10.50", "11.00"],
        "zero": [None, 0],
    }


def test_diff_redacts_hidden_fields_but_says_they_changed():
    changes = audit.diff(
        {"document_number": "4510 123456", "x": 1},
        {"document_number": "4510 654321", "x": 1},
        redact=["document_number"],
    )
    assert changes == {"document_number": ["***", "***"]}
    assert audit.diff({"document_number": "1"}, {"document_number": "1"}, redact=["x"]) == {}
