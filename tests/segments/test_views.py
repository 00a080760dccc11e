"""Segment pages: permissions, live preview, builder endpoints, saving, members, CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import translation

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers.models import Customer, Tag
from clientbase.segments import services
from clientbase.segments.export import neutralise
from clientbase.segments.models import Segment, SegmentMember
from tests import factories


@pytest.fixture
def segment(people, admin_user):
    return services.segment_save(actor=admin_user, name="Москва", query="город = 'Москва'")


def test_segment_save_is_canonical_counted_and_audited(segment):
    assert segment.query == 'city = "Москва"'
    assert segment.last_count == 1
    event = AuditEvent.objects.get(object_type="segments.segment", action=AuditAction.CREATE)
    assert event.changes["query"] == [None, 'city = "Москва"']


def test_static_segment_freezes_members(people, admin_user):
    frozen = services.segment_save(
        actor=admin_user, name="Люди", query="kind = person", kind=Segment.Kind.STATIC
    )
    assert frozen.frozen_at is not None
    members = set(
        SegmentMember.objects.filter(segment=frozen).values_list("customer_id", flat=True)
    )
    assert members == {people["a"].pk, people["c"].pk}
    factories.make_customer(last_name="Новый")  # a person added later stays out
    from clientbase.segments.selectors import segment_members

    assert set(segment_members(frozen).values_list("pk", flat=True)) == members
    dynamic = services.segment_save(actor=admin_user, name="Люди 2", query="kind = person")
    assert segment_members(dynamic).count() == 3


@pytest.mark.parametrize("role", list(Role.values))
def test_pages_render_for_permitted_roles_only(segment, users_by_role, client_for, role):
    client = client_for(users_by_role[role])
    for name in ("/segments/", f"/segments/{segment.pk}/", "/segments/preview/?q=vip"):
        assert client.get(name).status_code == 200
    manage = client.get("/segments/new/").status_code
    assert manage == (200 if role in ("admin", "manager", "marketer", "analyst") else 403)
    export = client.get(f"/segments/{segment.pk}/export.csv").status_code
    assert export == (200 if role in ("admin", "manager") else 403)


def test_preview_counts_and_marks_the_error_position(people, admin_user, client_for):
    client = client_for(admin_user)
    body = client.get("/segments/preview/", {"query": "kind = person"}).content.decode()
    assert '<p class="mb-2" data-segment-count="2"><strong>2</strong> customers match.</p>' in body
    body = client.get("/segments/preview/", {"q": "orders >= x"}).content.decode()
    assert "Expected a number after “&gt;=” at position 11" in body
    assert 'orders &gt;= <mark class="bg-danger text-white">x</mark>' in body


def test_builder_endpoints(people, admin_user, client_for):
    client = client_for(admin_user)
    fields = client.get("/segments/fields.json").json()["fields"]
    assert {"city", "tag", "orders", "custom.shoe"} <= {f["name"] for f in fields}
    body = client.get("/segments/parse.json", {"q": "тип = person или vip"}).json()
    assert body["canonical"] == "kind = person or vip = true"
    assert [r["field"] for r in body["rows"]] == ["kind", "vip"]
    assert client.get("/segments/parse.json", {"q": "not vip"}).json()["rows"] is None
    error = client.get("/segments/parse.json", {"q": "vip = 3"})
    assert error.status_code == 400 and error.json()["position"] == 6


def test_create_edit_delete_through_pages(people, admin_user, client_for):
    client = client_for(admin_user)
    response = client.post(
        "/segments/new/", {"name": "VIP", "kind": "dynamic", "query": "vip", "description": ""}
    )
    segment = Segment.objects.get(name="VIP")
    assert response.status_code == 302 and segment.last_count == 1
    response = client.post(
        "/segments/new/", {"name": "Плохой", "kind": "dynamic", "query": "vip = 3"}
    )
    assert "Expected true or false" in response.content.decode()
    assert not Segment.objects.filter(name="Плохой").exists()
    client.post(
        f"/segments/{segment.pk}/edit/", {"name": "VIP", "kind": "dynamic", "query": "not vip"}
    )
    segment.refresh_from_db()
    assert segment.query == "not vip = true" and segment.last_count == 2
    client.post(f"/segments/{segment.pk}/delete/")
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_from_tags_prefills_the_query(people, admin_user, client_for):
    client = client_for(admin_user)
    tags = Tag.objects.filter(name__in=["Скидки", "VIP"])
    response = client.post("/segments/from-tags/", {"tags": [t.pk for t in tags]})
    page = client.get(response["Location"]).content.decode()
    assert "tag = &quot;VIP&quot; and tag = &quot;Скидки&quot;" in page


def test_members_page_pages_without_count(segment, admin_user, client_for):
    body = client_for(admin_user).get(f"/segments/{segment.pk}/").content.decode()
    assert f"/customers/{Customer.objects.get(city='Москва').pk}/" in body


def test_export_neutralises_formulas_and_audits_the_count(people, admin_user, client_for):
    Customer.objects.filter(pk=people["a"].pk).update(city='=HYPERLINK("x")', last_name="@A")
    segment = services.segment_save(actor=admin_user, name="Все", query="orders >= 0")
    response = client_for(admin_user).get(f"/segments/{segment.pk}/export.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 4
    a_row = next(r for r in rows if r[0] == str(people["a"].pk))
    assert a_row[4] == '\'=HYPERLINK("x")'
    assert a_row[1].startswith("'@A")
    assert a_row[5] == "'+79160000001"
    event = AuditEvent.objects.get(action=AuditAction.EXPORT, object_id=str(segment.pk))
    assert event.extra["rows"] == 3
    assert "HYPERLINK" not in str(event.extra) and "7916" not in str(event.extra)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+7", "'+7"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("ok", "ok"),
        ("", ""),
        (None, ""),
    ],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_the_last_count_is_grouped_in_russian(settings, segment, admin_user, client_for):
    Segment.objects.filter(pk=segment.pk).update(last_count=2848)
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        text = client_for(admin_user).get(f"/segments/{segment.pk}/").content.decode()
    assert "2\u00a0848 клиентов при последнем подсчёте" in text
