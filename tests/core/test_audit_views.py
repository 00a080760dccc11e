"""The audit log browser: filters, before/after of changes, and who may see it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.core.selectors import AUDIT_PAGE_SIZE
from clientbase.customers.services import CustomerInput, customer_update
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """Assertions read English messages, whatever translations exist."""
    settings.LANGUAGE_CODE = "en"


def test_shows_a_change_with_before_and_after(client_for, admin_user, manager_user):
    customer = factories.make_customer(last_name="Историев", first_name="Иван")
    customer_update(
        actor=manager_user,
        customer_id=customer.pk,
        expected_version=customer.version,
        data=CustomerInput(fields={"first_name": "Пётр"}),
    )
    response = client_for(admin_user).get(
        "/audit/",
        {"object_type": "customers.customer", "object_id": customer.pk, "action": "update"},
    )
    assert response.status_code == 200
    rows = response.context["page"].rows
    assert [(e.actor_name, e.changes) for e in rows] == [
        ("manager", {"first_name": ["Иван", "Пётр"]})
    ]
    body = response.content.decode()
    assert '<td class="before">Иван</td><td class="after">Пётр</td>' in body
    assert "first name" in body  # the field's label, not its column name


def test_refused_to_operator_and_manager(client_for, operator_user, manager_user):
    assert client_for(operator_user).get("/audit/").status_code == 403
    assert client_for(manager_user).get("/audit/").status_code == 403


def test_card_links_to_history_only_for_auditors(client_for, admin_user, manager_user):
    customer = factories.make_customer()
    link = f"/audit/?object_type=customers.customer&amp;object_id={customer.pk}"
    assert link in client_for(admin_user).get(f"/customers/{customer.pk}/").content.decode()
    assert link not in client_for(manager_user).get(f"/customers/{customer.pk}/").content.decode()


def test_filters_by_user_action_and_request(client_for, admin_user, operator_user):
    customer = factories.make_customer(actor=operator_user)
    client_for(operator_user).get(f"/customers/{customer.pk}/")
    client = client_for(admin_user)
    rows = client.get("/audit/", {"actor": operator_user.pk, "action": "view"}).context["page"].rows
    assert [(e.action, e.object_id) for e in rows] == [("view", str(customer.pk))]
    view = rows[0]
    same_request = client.get("/audit/", {"request_id": view.request_id}).context["page"].rows
    assert [e.pk for e in same_request] == [view.pk]
    created = client.get("/audit/", {"action": "create", "object_type": "customers.customer"})
    assert [e.object_id for e in created.context["page"].rows] == [str(customer.pk)]


def test_date_range(client_for, admin_user):
    factories.make_customer()
    client = client_for(admin_user)
    # The filter reads dates in the shop's time zone; between 21:00 and 24:00 UTC the UTC
    # date of a Moscow shop's event is the day before.
    today = timezone.localdate(AuditEvent.objects.latest("at").at)
    assert client.get("/audit/", {"date_from": today, "date_to": today}).context["page"].rows
    rows = client.get("/audit/", {"date_to": "2000-01-01"}).context["page"].rows
    assert rows == []


def test_pages_newest_first_without_count(client_for, admin_user):
    for i in range(AUDIT_PAGE_SIZE + 2):
        audit.record(action=AuditAction.EXPORT, actor=admin_user, object_type="t", object_id=i)
    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as queries:
        first = client.get("/audit/", {"object_type": "t"})
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    page = first.context["page"]
    expected = [str(i) for i in reversed(range(AUDIT_PAGE_SIZE + 2))]
    assert [e.object_id for e in page.rows] == expected[:AUDIT_PAGE_SIZE]
    second = client.get("/audit/", {"object_type": "t", "after": page.next_cursor})
    assert [e.object_id for e in second.context["page"].rows] == expected[AUDIT_PAGE_SIZE:]


def test_browser_has_no_way_to_change_rows(client_for, admin_user):
    factories.make_customer()
    client = client_for(admin_user)
    count = AuditEvent.objects.count()
    response = client.post("/audit/", {"id": 1})
    assert response.status_code == 405
    assert AuditEvent.objects.count() == count


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-13-40"},
        {"action": "explode"},
        {"actor": "999999"},
        {"object_id": "9" * 65},
    ],
)
def test_an_invalid_filter_shows_its_error_and_no_events(client_for, admin_user, params):
    factories.make_customer(last_name="Журналов")
    assert AuditEvent.objects.exists()
    response = client_for(admin_user).get("/audit/", params)
    assert response.status_code == 200
    assert response.context["page"].rows == []
    body = response.content.decode()
    assert "No events are shown: some filters are not valid." in body
    assert "Журналов" not in body
