"""Export pages: who may export, what a download holds, the audit row, big exports as jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone, translation
from python_calamine import CalamineWorkbook

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.exports.choices import ExportStatus
from clientbase.exports.models import ExportJob
from clientbase.orders.models import Order
from clientbase.orders.services import ItemInput, OrderInput, order_upsert
from clientbase.segments import services as segment_services
from tests import factories


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    moscow = [
        factories.make_customer(
            last_name=f"Москвич{n}", city="Москва", phones=[f"+7916000000{n}"], tags=["Опт"]
        )
        for n in range(3)
    ]
    kazan = factories.make_customer(
        last_name="=1+1", notes="-2", city="Казань", phones=["+79160000009"]
    )
    order_upsert(
        actor=None,
        data=OrderInput(external_id="Z-1", status="paid", items=[ItemInput(name="Мёд")]),
        customer=kazan,
    )
    order_upsert(actor=None, data=OrderInput(external_id="Z-2"), customer=moscow[0])
    return {"moscow": moscow, "kazan": kazan}


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


URLS = ["/exports/customers/", "/exports/orders/", "/exports/"]


@pytest.mark.parametrize("url", URLS)
def test_only_admin_and_manager_may_export(people, users_by_role, url):
    assert Client().get(url).status_code == 302
    assert Client().get(url)["Location"].startswith("/accounts/login/?next=")
    for role, user in users_by_role.items():
        client = Client()
        client.force_login(user)
        expected = 200 if role in (Role.ADMIN, Role.MANAGER) else 403
        assert client.get(url).status_code == expected, role
        if expected == 403:
            response = client.post(url, {"file_format": "csv", "columns": ["id"]})
            assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_the_form_shows_default_columns_and_the_count(people, manager_user, client_for):
    body = client_for(manager_user).get("/exports/customers/", {"city": "Москва"}).content
    text = body.decode()
    assert "3 rows will be exported." in text
    assert 'value="last_name" checked' in text
    assert 'value="id"' in text and 'value="id" checked' not in text
    assert 'action="/exports/customers/?city=%D0%9C' in text


def test_filtered_list_export_holds_exactly_the_filtered_customers_and_is_audited(
    people, manager_user, client_for
):
    client = client_for(manager_user)
    response = client.post(
        "/exports/customers/?" + urlencode({"city": "Москва", "sort": "newest", "after": "abc"}),
        {"file_format": "csv", "columns": ["id", "last_name", "phone", "tags"]},
    )
    rows = _rows(response)
    assert rows[0] == ["clientbase id", "Last name", "Phone", "Tags"]
    assert sorted(r[1] for r in rows[1:]) == ["Москвич0", "Москвич1", "Москвич2"]
    assert {r[2] for r in rows[1:]} == {"'+79160000000", "'+79160000001", "'+79160000002"}
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.actor_id == manager_user.pk
    assert event.object_type == "customers.customer"
    assert event.extra["rows"] == 3
    assert event.extra["filters"] == {"city": "Москва"}
    assert event.extra["format"] == "csv"
    assert event.extra["columns"] == ["id", "last_name", "phone", "tags"]


def test_a_search_by_phone_is_exported_but_not_written_into_the_audit(
    people, admin_user, client_for
):
    response = client_for(admin_user).post(
        "/exports/customers/?q=%2B79160000009", {"file_format": "csv", "columns": ["id"]}
    )
    assert [r[0] for r in _rows(response)[1:]] == [str(people["kazan"].pk)]
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.extra["filters"] == {"query_kind": "phone"}
    assert "7916" not in str(event.extra)


def test_formulas_are_neutralised_in_the_download(people, admin_user, client_for):
    response = client_for(admin_user).post(
        "/exports/customers/?" + urlencode({"city": "Казань"}),
        {"file_format": "csv", "columns": ["last_name", "notes"]},
    )
    assert _rows(response)[1] == ["'=1+1", "'-2"]


def test_xlsx_download_keeps_phones_as_text(people, admin_user, client_for):
    response = client_for(admin_user).post(
        "/exports/customers/?tag=" + str(people["moscow"][0].tags.get().pk),
        {"file_format": "xlsx", "columns": ["id", "phone", "last_name"]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    content = b"".join(response.streaming_content)
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    rows = book.get_sheet_by_index(0).to_python()
    assert len(rows) == 4
    assert all(isinstance(cell, str) for row in rows for cell in row)
    assert {r[1] for r in rows[1:]} == {"+79160000000", "+79160000001", "+79160000002"}


def test_segment_export(people, manager_user, client_for):
    segment = segment_services.segment_save(
        actor=manager_user, name="Казань", query="city = Казань"
    )
    client = client_for(manager_user)
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert f'href="/exports/segments/{segment.pk}/"' in page
    assert (
        "Export segment “Казань”" in client.get(f"/exports/segments/{segment.pk}/").content.decode()
    )
    response = client.post(
        f"/exports/segments/{segment.pk}/", {"file_format": "csv", "columns": ["id"]}
    )
    assert [r[0] for r in _rows(response)[1:]] == [str(people["kazan"].pk)]
    assert "segment-" in response["Content-Disposition"]
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert (event.object_type, event.object_id) == ("segments.segment", str(segment.pk))
    assert event.extra["rows"] == 1 and event.extra["query"] == 'city = "Казань"'


def test_orders_export_follows_the_list_filter(people, manager_user, client_for):
    client = client_for(manager_user)
    page = client.get("/orders/?status=paid").content.decode()
    assert 'href="/exports/orders/?status=paid"' in page
    response = client.post(
        "/exports/orders/?status=paid",
        {"file_format": "csv", "columns": ["order_id", "status", "items"]},
    )
    assert _rows(response)[1:] == [["Z-1", "Paid", "Мёд × 1"]]
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.object_type == "orders.order"
    assert event.extra["filters"] == {"status": "paid"} and event.extra["rows"] == 1


def test_customer_list_button_carries_the_filters(people, manager_user, operator_user, client_for):
    page = (
        client_for(manager_user)
        .get("/customers/", {"city": "Казань", "after": "x"})
        .content.decode()
    )
    assert 'href="/exports/customers/?city=%D0%9A%D0%B0%D0%B7%D0%B0%D0%BD%D1%8C"' in page
    page = client_for(operator_user).get("/customers/").content.decode()
    assert "/exports/customers/" not in page


def test_no_columns_is_an_error_on_the_form(people, admin_user, client_for):
    response = client_for(admin_user).post("/exports/customers/", {"file_format": "csv"})
    assert response.status_code == 200 and b"This field is required." in response.content
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_a_bad_segment_query_goes_back_with_the_message(db, admin_user, client_for):
    from clientbase.segments.models import Segment

    segment = Segment.objects.create(name="Сломан", query="orders >= x")
    response = client_for(admin_user).get(f"/exports/segments/{segment.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/segments/{segment.pk}/"


def test_a_big_export_runs_as_a_job_for_its_creator(
    people, settings, users_by_role, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 2
    manager = users_by_role[Role.MANAGER]
    client = Client()
    client.force_login(manager)
    form = client.get("/exports/customers/").content.decode()
    assert "More than 2 rows" in form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/exports/customers/?" + urlencode({"city": "Москва"}),
            {"file_format": "xlsx", "columns": ["id", "phone"]},
        )
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    assert job.status == ExportStatus.DONE and job.rows == 3 and job.created_by == manager
    assert job.filters == {"city": "Москва"} and job.columns == ["id", "phone"]
    assert (settings.DATA_DIR / job.file_path).is_file()
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.extra["job"] == job.pk and event.extra["rows"] == 3
    assert event.actor_id == manager.pk

    page = client.get(f"/exports/{job.pk}/").content.decode()
    assert f'href="/exports/{job.pk}/download/"' in page
    download = client.get(f"/exports/{job.pk}/download/")
    assert download.status_code == 200
    rows = CalamineWorkbook.from_filelike(io.BytesIO(b"".join(download.streaming_content)))
    assert len(rows.get_sheet_by_index(0).to_python()) == 4
    assert job.pk in [j.pk for j in client.get("/exports/").context["jobs"]]

    # Another manager: the job does not exist for them. An admin may download it.
    other = factories.make_user(role=Role.MANAGER, username="other_manager")
    other_client = Client()
    other_client.force_login(other)
    for path in ("", "status/", "download/"):
        assert other_client.get(f"/exports/{job.pk}/{path}").status_code == 404
    assert list(other_client.get("/exports/").context["jobs"]) == []
    admin = Client()
    admin.force_login(users_by_role[Role.ADMIN])
    assert admin.get(f"/exports/{job.pk}/download/").status_code == 200
    operator = Client()
    operator.force_login(users_by_role[Role.OPERATOR])
    assert operator.get(f"/exports/{job.pk}/download/").status_code == 403
    downloads = AuditEvent.objects.filter(action=AuditAction.VIEW, object_type="exports.exportjob")
    assert downloads.count() == 2


def test_a_running_job_page_polls_with_a_real_link(db, manager_user, client_for):
    job = ExportJob.objects.create(
        kind="customers", file_format="csv", created_by=manager_user, status=ExportStatus.RUNNING
    )
    client = client_for(manager_user)
    status = client.get(f"/exports/{job.pk}/status/", HTTP_HX_REQUEST="true")
    body = status.content.decode()
    assert f'hx-get="/exports/{job.pk}/status/"' in body
    assert f'href="/exports/{job.pk}/"' in body
    assert 'hx-trigger="every 2s"' in body
    # Not done yet: the download sends back to the page.
    download = client.get(f"/exports/{job.pk}/download/")
    assert download.status_code == 302 and download["Location"] == f"/exports/{job.pk}/"
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.DONE)
    body = client.get(f"/exports/{job.pk}/status/").content.decode()
    assert "hx-trigger" not in body
    assert "The file of this export has been deleted." in body


def test_the_old_addresses_under_imports_redirect_to_the_exports_app(
    people, manager_user, operator_user, client_for
):
    manager = client_for(manager_user)
    job = ExportJob.objects.create(kind="customers", file_format="csv", created_by=manager_user)

    response = manager.get("/imports/exports/customers/?city=Москва&tag=1")
    assert response.status_code == 302
    assert (
        response["Location"]
        == "/exports/customers/?city=%D0%9C%D0%BE%D1%81%D0%BA%D0%B2%D0%B0&tag=1"
    )
    assert manager.get("/imports/exports/")["Location"] == "/exports/"
    assert manager.get(f"/imports/exports/{job.pk}/download/")["Location"] == (
        f"/exports/{job.pk}/download/"
    )
    # A form posted from a page opened before the move keeps its method and body.
    posted = manager.post("/imports/exports/orders/", {"file_format": "csv"})
    assert (posted.status_code, posted["Location"]) == (307, "/exports/orders/")
    # The redirect is no way round the permission.
    assert client_for(operator_user).get("/imports/exports/customers/").status_code == 403


INVALID_CUSTOMER_FILTERS = [
    ({"city": "М" * 101}, "City: Ensure this value has at most 100 characters (it has 101)."),
    ({"kind": "robot"}, "Kind: Select a valid choice. robot is not one of the available choices."),
    ({"birth_month": "13"}, "Birthday month: Select a valid choice. 13 is not one of the"),
    ({"tag": "999999"}, "Tag: Select a valid choice. 999999 is not one of the available choices."),
    ({"tag": "nonexistent"}, "Tag: Select a valid choice."),
    ({"q": "Москвич" * 40}, "Search: Ensure this value has at most 200 characters (it has 280)."),
    ({"city": "Москва", "colour": "red"}, "unknown filter “colour”"),
]


@pytest.mark.parametrize(("query", "reason"), INVALID_CUSTOMER_FILTERS, ids=lambda v: str(v)[:20])
def test_an_export_with_an_invalid_filter_is_refused_with_the_reason(
    people, manager_user, client_for, settings, query, reason
):
    """Dropping the bad filter used to export the whole base; now nothing is written."""
    settings.EXPORT_INLINE_MAX_ROWS = 2  # the refusal comes before a job would be queued too
    client = client_for(manager_user)
    url = "/exports/customers/?" + urlencode(query)
    for response in (
        client.get(url),
        client.post(url, {"file_format": "csv", "columns": ["id", "last_name"]}),
    ):
        assert response.status_code == 302
        assert response["Location"] == "/customers/?" + urlencode(query)
        assert "Content-Disposition" not in response
        # One message (the GET's, not yet shown, is still pending at the POST).
        (shown,) = {str(m) for m in response.wsgi_request._messages}
        assert shown.startswith("Nothing was exported: the filter is not valid (")
        assert reason in shown
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("status=robot", "Status: Select a valid choice. robot is not one of the available"),
        ("status=paid&colour=red", "(unknown filter “colour”)"),
        ("from=yesterday", "Placed from: Enter a valid date."),
        ("from=2026-03-02&to=2026-03-01", "(The start date is after the end date.)"),
        ("manager=nobody.here", "Manager: Select a valid choice. nobody.here is not one of"),
        ("customer=999999", "Customer: Select a valid choice."),
        ("q=" + "lebedeva" * 13, "Search: Ensure this value has at most 100 characters"),
    ],
)
def test_an_order_export_with_an_invalid_or_unknown_filter_is_refused(
    people, manager_user, client_for, query, reason
):
    client = client_for(manager_user)
    response = client.post(f"/exports/orders/?{query}", {"file_format": "csv", "columns": ["id"]})
    assert response.status_code == 302
    assert response["Location"] == f"/orders/?{query}"
    (shown,) = [str(m) for m in response.wsgi_request._messages]
    assert reason in shown
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_a_queued_job_whose_filter_became_invalid_fails_without_a_file(
    people, manager_user, settings, tmp_path
):
    """A tag deleted between the request and the worker's turn: the job fails, it does not
    export everyone."""
    from clientbase.exports import services

    job = ExportJob.objects.create(
        kind="customers", file_format="csv", created_by=manager_user, filters={"tag": "999999"}
    )
    assert services.export_job_run(job.pk).status == ExportStatus.FAILED
    job.refresh_from_db()
    assert (job.status, job.rows, job.file_path) == (ExportStatus.FAILED, 0, "")
    assert "Tag: Select a valid choice." in job.failure
    assert not list((tmp_path / "exports").glob("*"))
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_the_form_offers_words_by_default_and_codes_for_programs(people, manager_user, client_for):
    client = client_for(manager_user)
    html = client.get("/exports/orders/").content.decode()
    assert 'name="values" id="id_values_0" value="labels" checked' in html
    assert 'value="codes"' in html and 'value="codes" checked' not in html
    columns = ["order_id", "status"]
    words = _rows(
        client.post("/exports/orders/?status=paid", {"file_format": "csv", "columns": columns})
    )
    codes = _rows(
        client.post(
            "/exports/orders/?status=paid",
            {"file_format": "csv", "columns": columns, "values": "codes"},
        )
    )
    assert (words[1:], codes[1:]) == ([["Z-1", "Paid"]], [["Z-1", "paid"]])
    audits = AuditEvent.objects.filter(action=AuditAction.EXPORT).order_by("pk")
    assert [a.extra["values"] for a in audits] == ["labels", "codes"]


# ---------------------------------------------------------------- a searched order list


@pytest.fixture
def shop(db: Any, manager_user: Any) -> dict[str, Any]:
    """Irina (two orders in March, one later), Petrov (one), and a stranger: a search finds
    some of them, and the export must hold exactly those."""
    irina = factories.make_customer(
        last_name="Лебедева",
        first_name="Ирина",
        phones=["+79161234567"],
        emails=["irina.lebedeva@example.com"],
    )
    petrov = factories.make_customer(last_name="Петров", phones=["+79167654321"])
    stranger = factories.make_customer(last_name="Сидоров", phones=["+79160001122"])
    for number, day, status, customer, manager in [
        ("A-1", 1, "delivered", irina, manager_user),
        ("A-2", 10, "paid", irina, None),
        ("A-3", 25, "new", irina, manager_user),
        ("B-1", 5, "delivered", petrov, manager_user),
        ("S-1", 10, "paid", stranger, None),
    ]:
        order_upsert(
            actor=None,
            data=OrderInput(
                external_id=number,
                placed_at=timezone.make_aware(dt.datetime(2026, 3, day, 12)),
                status=status,
            ),
            customer=customer,
        )
        # Set after the push, which may hand an order to a manager who takes new ones.
        Order.objects.filter(external_id=number).update(manager=manager)
    return {"irina": irina, "petrov": petrov, "stranger": stranger}


SEARCHES = [
    ({"q": "8 (916) 123-45-67"}, {"A-1", "A-2", "A-3"}),
    ({"q": "4567"}, {"A-1", "A-2", "A-3"}),
    ({"q": "IRINA.Lebedeva@example.com"}, {"A-1", "A-2", "A-3"}),
    ({"q": "лебедева"}, {"A-1", "A-2", "A-3"}),
    ({"q": "№B-1"}, {"B-1"}),
    ({"q": "Лебедева", "from": "2026-03-05", "to": "2026-03-20"}, {"A-2"}),
    ({"q": "+7 916 123 45 67", "status": "delivered"}, {"A-1"}),
    ({"q": "Петров", "from": "01.03.2026", "status": "open"}, set()),
    ({"q": "Нетакого"}, set()),
]


@pytest.mark.parametrize(("query", "listed"), SEARCHES, ids=lambda v: str(v)[:30])
def test_a_searched_order_list_exports_exactly_the_listed_orders(
    shop, manager_user, client_for, query, listed
):
    client = client_for(manager_user)
    page = client.get("/orders/", query)
    assert page.status_code == 200
    assert {order.external_id for order in page.context["page"].rows} == listed
    link = "/exports/orders/?" + urlencode(query)
    assert f'href="{link}"'.replace("&", "&amp;") in page.content.decode()
    response = client.post(link, {"file_format": "csv", "columns": ["order_id"]})
    assert {row[0] for row in _rows(response)[1:]} == listed
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.extra["rows"] == len(listed)


def test_an_order_export_by_phone_or_e_mail_keeps_the_contact_out_of_the_audit(
    shop, manager_user, client_for
):
    client = client_for(manager_user)
    for q, kind in [("+79161234567", "phone"), ("irina.lebedeva@example.com", "email")]:
        response = client.post(
            "/exports/orders/?" + urlencode({"q": q, "status": "paid"}),
            {"file_format": "csv", "columns": ["order_id"]},
        )
        assert [row[0] for row in _rows(response)[1:]] == ["A-2"]
        event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("pk")
        assert event.extra["filters"] == {"status": "paid", "query_kind": kind}
        assert "1234567" not in str(event.extra) and "lebedeva" not in str(event.extra)
    response = client.post(
        "/exports/orders/?q=%D0%9B%D0%B5%D0%B1%D0%B5%D0%B4%D0%B5%D0%B2%D0%B0",
        {"file_format": "csv", "columns": ["order_id"]},
    )
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).latest("pk")
    assert event.extra["filters"] == {"query_kind": "name", "q": "лебедева"}


def test_a_searched_order_export_in_the_background_holds_exactly_the_listed_orders(
    shop, manager_user, client_for, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 1
    client = client_for(manager_user)
    query = {"q": "8 916 123-45-67", "to": "2026-03-20", "sort": "importance"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/exports/orders/?" + urlencode(query),
            {"file_format": "csv", "columns": ["order_id", "customer_name"]},
        )
    job = ExportJob.objects.get()
    assert response["Location"] == f"/exports/{job.pk}/"
    assert job.filters == {"q": "8 916 123-45-67", "to": "2026-03-20"}
    assert (job.status, job.rows) == (ExportStatus.DONE, 2)
    download = client.get(f"/exports/{job.pk}/download/")
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert sorted(rows[1:]) == [["A-1", "Лебедева Ирина"], ["A-2", "Лебедева Ирина"]]
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.extra["filters"] == {"to": "2026-03-20", "query_kind": "phone"}


def test_an_order_export_of_one_customer_or_manager_matches_the_list(
    shop, manager_user, client_for
):
    client = client_for(manager_user)
    cases = [
        ({"customer": str(shop["irina"].pk)}, {"A-1", "A-2", "A-3"}),
        ({"customer": str(shop["irina"].pk), "manager": str(manager_user.pk)}, {"A-1", "A-3"}),
        ({"manager": "none"}, {"A-2", "S-1"}),
    ]
    for query, listed in cases:
        page = client.get("/orders/", query)
        assert {order.external_id for order in page.context["page"].rows} == listed, query
        response = client.post(
            "/exports/orders/?" + urlencode(query), {"file_format": "csv", "columns": ["order_id"]}
        )
        assert {row[0] for row in _rows(response)[1:]} == listed, query
    # The list says whose orders it shows, and keeps the customer when other filters change.
    html = client.get("/orders/", {"customer": shop["irina"].pk, "status": "paid"}).content
    text = html.decode()
    irina = shop["irina"].pk
    assert f'Customer: <a href="/customers/{irina}/">Лебедева Ирина</a>' in text
    assert f'<input type="hidden" name="customer" value="{irina}"' in text
    assert 'href="/orders/?status=paid">all customers</a>' in text


def test_the_count_on_the_form_is_grouped_in_russian(db, settings, manager_user, client_for):
    from clientbase.customers.models import Customer

    Customer.objects.bulk_create(
        Customer(last_name=f"Петров{n}", first_name="Иван") for n in range(1200)
    )
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        text = client_for(manager_user).get("/exports/customers/").content.decode()
    assert "Будет выгружено 1\u00a0200 строк." in text
