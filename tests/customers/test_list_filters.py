"""The customer list's filters: an invalid one is an error and shows nobody, never everybody."""

from __future__ import annotations

from typing import Any

import pytest

from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """Assertions read English messages, whatever translations exist."""
    settings.LANGUAGE_CODE = "en"


INVALID_FILTERS = [
    ({"city": "М" * 101}, "City"),
    ({"kind": "robot"}, "Kind"),
    ({"birth_month": "13"}, "Birthday month"),
    ({"tag": "nonexistent"}, "Tag"),
    ({"tag": "999999"}, "Tag"),
    ({"q": "а" * 201}, "Search"),
    ({"manager": "nobody"}, "Manager"),
    ({"r": "9"}, "R score"),
    ({"sort": "salary"}, "Sort"),
]


@pytest.mark.parametrize(("params", "label"), INVALID_FILTERS)
def test_an_invalid_filter_shows_its_error_and_no_customers(
    client_for, operator_user, params: dict[str, Any], label: str
):
    factories.make_customer(last_name="Аверин", city="Москва")
    factories.make_customer(last_name="Борисов", city="Казань")
    client = client_for(operator_user)
    for headers in ({}, {"HX-Request": "true", "HX-Target": "customer-table"}):
        response = client.get("/customers/", params, headers=headers)
        assert response.status_code == 200
        assert response.context["page"].rows == []
        body = response.content.decode()
        assert "No customers are shown: some filters are not valid." in body
        assert f"<li>{label}: " in body
        assert "Аверин" not in body and "Борисов" not in body
        # Nothing to export from a list that was not understood.
        assert "/export/" not in body
    assert not AuditEvent.objects.filter(action=AuditAction.SEARCH).exists()


def test_valid_filters_still_narrow_with_no_error(client_for, operator_user):
    wanted = factories.make_customer(last_name="Аверин", city="Москва")
    factories.make_customer(last_name="Борисов", city="Казань")
    response = client_for(operator_user).get("/customers/", {"city": "Москва", "kind": "person"})
    assert [c.pk for c in response.context["page"].rows] == [wanted.pk]
    assert "some filters are not valid" not in response.content.decode()
