"""Import pages end to end with real files: upload, mapping, dry run, import, errors, undo."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from python_calamine import CalamineWorkbook

from clientbase.accounts.choices import Role
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.customers.models import Customer
from clientbase.imports.choices import ImportStatus
from clientbase.imports.models import ImportJob, ImportMapping
from tests import factories

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Row numbers are the file's own: the header is row 1.
RUSSIAN_CSV = (
    "ФИО;Телефон;Почта;Дата рождения;Город;Комментарий\n"
    "Иванов Иван Иванович;8 (916) 123-45-67;Ivan@Example.ru;24.08.1990;Москва;хороший\n"  # 2 new
    "Петрова Мария;+7 916 765 43 21;maria@example.ru;01.03.1985;Казань;\n"  # 3 updates city
    ";не телефон;;;Тула;\n"  # 4 rejected: the phone, its only way to tell who it is
    "Иванов Иван Иванович;89161234567;ivan@example.ru;24.08.1990;Москва;дубль\n"  # 5 duplicate
    "Орлов Олег;8 903 555-00-01;;;;\n"  # 6 already in the base as it is
)


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    settings.IMPORT_BACKUP = False
    return tmp_path


@pytest.fixture
def manager(db: Any, client_for: Any) -> Client:
    return client_for(factories.make_user(role=Role.MANAGER, username="anna.manager"))


@pytest.fixture
def base(db: Any) -> dict[str, Customer]:
    """Customers the file meets: Petrova gets a new city, Orlov stays as he is."""
    return {
        "petrova": factories.make_customer(
            last_name="Петрова",
            first_name="Мария",
            phones=[],
            emails=["maria@example.ru"],
            city="Самара",
        ),
        "orlov": factories.make_customer(
            last_name="Орлов", first_name="Олег", phones=["+79035550001"]
        ),
    }


def _upload(client: Client, content: bytes, name: str = "клиенты.csv", kind: str = "customers"):
    return client.post(
        "/imports/new/", {"kind": kind, "file": SimpleUploadedFile(name, content)}, follow=False
    )


def _mapping_post(job: ImportJob, **changes: str) -> dict[str, str]:
    """The mapping form as the page shows it for `job`, with some values changed."""
    data = {f"col_{i}": job.mapping.get(str(i), "") for i in range(len(job.headers))}
    data.update({"mode": job.mode, "save_as": ""})
    for position, key in enumerate([*job.match_by, "", "", ""][:3], start=1):
        data[f"match_{position}"] = key
    data.update(changes)
    return data


def _csv_rows(response: Any, encoding: str) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode(encoding)
    return list(csv.reader(io.StringIO(body), delimiter=";"))


def test_upload_map_dry_run_import_errors_and_undo(manager: Client, base: dict, _data_dir):
    # Upload: the columns are recognised, nothing is written yet.
    response = _upload(manager, RUSSIAN_CSV.encode("cp1251"))
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/mapping/"
    assert (job.status, job.encoding, job.delimiter, job.rows_total) == (
        "uploaded",
        "cp1251",
        ";",
        5,
    )
    assert job.mapping == {
        "0": "full_name",
        "1": "phone",
        "2": "email",
        "3": "birthday",
        "4": "city",
        "5": "notes",
    }
    assert Customer.objects.count() == 2

    # Mapping screen: every column with its field, confidence and samples.
    page = manager.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    form = page.context["form"]
    assert [form[f"col_{i}"].value() for i in range(6)] == [
        "full_name",
        "phone",
        "email",
        "birthday",
        "city",
        "notes",
    ]
    for text in ("ФИО", "Дата рождения", "8 (916) 123-45-67", "Ivan@Example.ru", "24.08.1990"):
        assert text in html
    assert html.count(">sure · 100%</span>") == 6
    assert "by the header" in html
    assert "cp1251" in html and "semicolon" in html
    assert '<option value="full_name" selected>' in html
    assert "— ignore —" in html and '<optgroup label="Contacts">' in html

    # The comment column is ignored; the dry run writes nothing and counts exactly.
    response = manager.post(
        f"/imports/{job.pk}/mapping/", {**_mapping_post(job, col_5=""), "action": "preview"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/preview/"
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED
    assert "5" not in job.mapping
    assert Customer.objects.count() == 2
    preview = manager.get(response["Location"])
    assert preview.status_code == 200
    report = preview.context["report"]
    assert {k: report[k] for k in ("rows", "created", "updated", "unchanged", "rejected")} == {
        "rows": 5,
        "created": 1,
        "updated": 1,
        "unchanged": 2,
        "rejected": 1,
    }
    assert report["duplicates"] == 1
    assert report["rejects"] == [
        {
            "row": 4,
            "column": "Телефон",
            "value": "не телефон",
            "reason": report["rejects"][0]["reason"],
        }
    ]
    html = preview.content.decode()
    assert re.search(r'data-count="created">\s*1<', html)
    assert re.search(r'data-count="rejected">\s*1<', html)
    # Updated: the stored value and the file's value side by side; new: the file's values.
    assert (
        '<del class="text-body-secondary">Самара</del> → <span class="fw-semibold">Казань</span>'
        in html
    )
    assert f'href="/customers/{base["petrova"].pk}/"' in html
    assert f'href="/customers/{base["orlov"].pk}/"' in html
    assert "Иванович" in html and "+7 916 123-45-67" in html
    assert "хороший" not in html  # the ignored column is not imported
    assert '<td class="text-end font-monospace">4</td>' in html
    assert "не телефон" in html

    # The dry run's rejected rows as a file in the input's encoding, with an error column.
    download = manager.get(f"/imports/{job.pk}/errors/?dry_run=1")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    rows = _csv_rows(download, "cp1251")
    assert rows[0] == [
        "ФИО",
        "Телефон",
        "Почта",
        "Дата рождения",
        "Город",
        "Комментарий",
        "Import error",
    ]
    assert rows[1][:5] == ["", "не телефон", "", "", "Тула"]
    assert "Телефон" in rows[1][6]
    assert len(rows) == 2
    exported = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert exported.object_id == str(job.pk)

    # Import: it runs at once for a small file and the job page shows the result.
    response = manager.post(f"/imports/{job.pk}/start/")
    assert response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert (job.rows_created, job.rows_updated, job.rows_unchanged, job.rows_rejected) == (
        1,
        1,
        2,
        1,
    )
    detail = manager.get(response["Location"])
    html = detail.content.decode()
    assert re.search(r'data-count="created">\s*1<', html)
    assert re.search(r'data-count="updated">\s*1<', html)
    assert re.search(r'data-count="unchanged">\s*2<', html)
    assert f'href="/imports/{job.pk}/undo/"' in html
    assert f'href="/imports/{job.pk}/errors/"' in html
    ivanov = Customer.objects.get(last_name="Иванов")
    assert (ivanov.first_name, ivanov.middle_name, ivanov.primary_phone) == (
        "Иван",
        "Иванович",
        "+79161234567",
    )
    assert ivanov.notes == ""
    base["petrova"].refresh_from_db()
    assert base["petrova"].city == "Казань"
    assert Customer.objects.count() == 3
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT, object_id=str(job.pk)).count() == 1

    rows = _csv_rows(manager.get(f"/imports/{job.pk}/errors/"), "cp1251")
    assert rows[0][-1] == "Import error" and rows[1][1] == "не телефон" and len(rows) == 2
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == 2

    # Undo: confirmed on its own page, then the created customer is gone and the updated one
    # has its old city back.
    confirm = manager.get(f"/imports/{job.pk}/undo/")
    assert confirm.status_code == 200 and b'method="post"' in confirm.content
    response = manager.post(f"/imports/{job.pk}/undo/")
    assert response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE
    assert job.undo_report["removed"] == 1 and job.undo_report["restored"] == 1
    assert not Customer.objects.filter(last_name="Иванов").exists()
    base["petrova"].refresh_from_db()
    assert base["petrova"].city == "Самара"
    html = manager.get(response["Location"]).content.decode()
    assert "1 record created by the import removed" in html
    assert "1 record restored to its values before the import" in html
    assert "The import was undone." in html
    assert f'href="/imports/{job.pk}/undo/"' not in html


def test_list_shows_jobs_and_the_new_import_button(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"), name="shop.csv")
    job = ImportJob.objects.get()
    html = manager.get("/imports/").content.decode()
    assert 'href="/imports/new/"' in html
    assert "shop.csv" in html and "anna.manager" in html
    assert f'href="/imports/{job.pk}/mapping/"' in html
    assert "Uploaded" in html


def test_the_navigation_shows_import_only_with_the_permission(
    manager: Client, client_for: Any, db: Any
):
    assert 'href="/imports/"' in manager.get("/customers/").content.decode()
    operator = client_for(factories.make_user(role=Role.OPERATOR, username="olga"))
    assert 'href="/imports/"' not in operator.get("/customers/").content.decode()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.MARKETER, Role.ANALYST])
def test_roles_without_import_run_are_refused(role: str, client_for: Any, db: Any, _data_dir):
    client = client_for(factories.make_user(role=role, username=f"user_{role}"))
    assert client.get("/imports/").status_code == 403
    assert client.get("/imports/new/").status_code == 403
    assert _upload(client, RUSSIAN_CSV.encode("utf-8")).status_code == 403
    assert not ImportJob.objects.exists()
    assert not (_data_dir / "imports").exists()


def test_a_job_is_seen_only_by_the_one_who_ran_it_and_administrators(
    manager: Client, base: dict, client_for: Any, _data_dir
):
    """Samples, rejected rows and the error file are personal data: another manager, who also
    holds import.run, gets a 404 on every page of the job and cannot start or undo it."""
    _upload(manager, RUSSIAN_CSV.encode("utf-8"), name="shop.csv")
    job = ImportJob.objects.get()
    manager.post(f"/imports/{job.pk}/mapping/", _mapping_post(job, action="start"))
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.error_file
    other = client_for(factories.make_user(role=Role.MANAGER, username="boris.manager"))
    admin = client_for(factories.make_user(role=Role.ADMIN, username="the.admin"))
    pages = ["", "status/", "mapping/", "preview/", "undo/", "errors/", "errors/?dry_run=1"]
    customers_before = list(Customer.objects.values_list("pk", "version"))
    audit_before = AuditEvent.objects.count()

    listing = other.get("/imports/").content.decode()
    assert "shop.csv" not in listing and f"/imports/{job.pk}/" not in listing
    for page in pages:
        assert other.get(f"/imports/{job.pk}/{page}").status_code == 404, page
    assert other.post(f"/imports/{job.pk}/start/").status_code == 404
    assert other.post(f"/imports/{job.pk}/undo/").status_code == 404
    assert other.post(f"/imports/{job.pk}/mapping/", _mapping_post(job)).status_code == 404
    job.refresh_from_db()
    assert (job.status, job.undone_at) == (ImportStatus.DONE, None)
    assert list(Customer.objects.values_list("pk", "version")) == customers_before
    assert AuditEvent.objects.count() == audit_before

    assert "shop.csv" in admin.get("/imports/").content.decode()
    assert admin.get(f"/imports/{job.pk}/").status_code == 200
    assert admin.get(f"/imports/{job.pk}/errors/").status_code == 200
    assert "shop.csv" in manager.get("/imports/").content.decode()


def test_anonymous_is_sent_to_log_in(db: Any):
    response = Client().get("/imports/new/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_a_broken_file_shows_what_is_wrong_and_creates_no_job(manager: Client, _data_dir):
    junk = bytes(range(256)) * 40 + b"\x00\xff\xfe" * 100
    response = _upload(manager, junk, name="clients.csv")
    assert response.status_code == 200
    html = response.content.decode()
    assert "This file cannot be imported." in html
    errors = response.context["form"].errors["file"]
    assert errors and errors[0]
    assert errors[0] in html.replace("&quot;", '"').replace("&#x27;", "'")
    assert not ImportJob.objects.exists()
    imports_dir = _data_dir / "imports"
    assert not imports_dir.exists() or not any(imports_dir.iterdir())


def test_an_empty_upload_is_refused_on_the_form(manager: Client):
    response = manager.post("/imports/new/", {"kind": "customers"})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_a_mapping_error_shows_on_the_form_and_changes_nothing(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    before = dict(job.mapping)

    # The same single field for two columns.
    response = manager.post(
        f"/imports/{job.pk}/mapping/", {**_mapping_post(job, col_4="birthday"), "action": "preview"}
    )
    assert response.status_code == 200
    errors = response.context["form"].non_field_errors()
    assert errors == ["“Birthday” is chosen for more than one column; only one may have it."]
    assert "is chosen for more than one column" in response.content.decode()

    # No column that names or reaches a customer.
    nothing = {f"col_{i}": "" for i in range(6)}
    response = manager.post(
        f"/imports/{job.pk}/mapping/",
        {**_mapping_post(job, **{**nothing, "col_4": "city"}), "action": "start"},
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Choose at least one column with a name, company, phone, e-mail or id."
    ]

    # The same way of matching twice.
    response = manager.post(
        f"/imports/{job.pk}/mapping/",
        {**_mapping_post(job, match_1="email", match_2="email"), "action": "preview"},
    )
    assert response.context["form"].non_field_errors() == [
        "Each way of matching may be chosen once."
    ]

    job.refresh_from_db()
    assert job.mapping == before
    assert job.status == ImportStatus.UPLOADED
    assert Customer.objects.count() == 2


def test_mode_match_priority_and_a_saved_mapping_are_kept(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    data = _mapping_post(job, col_5="", mode="create", match_1="phone", match_2="email", match_3="")
    response = manager.post(
        f"/imports/{job.pk}/mapping/", {**data, "save_as": "Мой магазин", "action": "preview"}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.mode, job.match_by) == ("create", ["phone", "email"])
    # Create only: Petrova is in the base already, so her row changes nothing.
    assert (job.preview["created"], job.preview["updated"]) == (1, 0)
    saved = ImportMapping.objects.get(name="Мой магазин")
    assert saved.columns["Город"] == "city" and "Комментарий" not in saved.columns

    # The same layout again: the saved mapping is applied and said so.
    response = _upload(manager, RUSSIAN_CSV.encode("utf-8"), name="again.csv")
    again = ImportJob.objects.get(original_name="again.csv")
    page = manager.get(response["Location"])
    html = page.content.decode()
    assert "The saved mapping “Мой магазин” was applied" in html
    assert page.context["form"]["col_5"].value() == ""
    assert page.context["form"]["match_1"].value() == "phone"
    assert again.mode == "create"


def test_a_workbook_with_several_sheets_offers_the_choice(manager: Client, tmp_path: Path):
    path = tmp_path / "book.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    notes = workbook.add_worksheet("Заметки")
    notes.write_row(0, 0, ["Что", "Когда"])
    notes.write_row(1, 0, ["позвонить", "завтра"])
    people = workbook.add_worksheet("Клиенты")
    people.write_row(0, 0, ["Фамилия", "Имя", "Телефон"])
    people.write_row(1, 0, ["Кузнецова", "Ольга", "+79161112233"])
    people.write_row(2, 0, ["Зайцев", "Олег", "нет"])
    workbook.close()

    response = _upload(manager, path.read_bytes(), name="book.xlsx")
    job = ImportJob.objects.get()
    page = manager.get(response["Location"])
    html = page.content.decode()
    assert page.context["sheet_form"] is not None
    assert '<option value="Клиенты">' in html or '<option value="Клиенты" ' in html

    response = manager.post(f"/imports/{job.pk}/mapping/", {"action": "sheet", "sheet": "Клиенты"})
    assert response["Location"] == f"/imports/{job.pk}/mapping/"
    job.refresh_from_db()
    assert job.sheet == "Клиенты"
    assert job.headers == ["Фамилия", "Имя", "Телефон"]
    assert job.mapping == {"0": "last_name", "1": "first_name", "2": "phone"}
    assert "Кузнецова" in manager.get(response["Location"]).content.decode()

    # The rows with a problem of a workbook come back as a workbook, with the error column:
    # here Zaitsev, imported without the phone that reads "нет".
    response = manager.post(
        f"/imports/{job.pk}/mapping/", {**_mapping_post(job), "action": "preview"}
    )
    job.refresh_from_db()
    assert (job.preview["created"], job.preview["rejected"], job.preview["warned"]) == (2, 0, 1)
    html = manager.get(f"/imports/{job.pk}/preview/").content.decode()
    assert re.search(r'data-count="warned">\s*1 more row imported with a warning<', html)
    table = html[html.index('id="import-warnings"') :]
    assert '<td class="text-end font-monospace">3</td>' in table and "<code" in table
    assert f'href="/imports/{job.pk}/errors/?dry_run=1"' in html
    download = manager.get(f"/imports/{job.pk}/errors/?dry_run=1")
    assert download["Content-Type"] == XLSX_TYPE
    assert download["Content-Disposition"].endswith('.xlsx"')
    saved = tmp_path / "errors.xlsx"
    saved.write_bytes(b"".join(download.streaming_content))
    rows = CalamineWorkbook.from_path(str(saved)).get_sheet_by_index(0).to_python()
    assert rows[0] == ["Фамилия", "Имя", "Телефон", "Import error"]
    assert rows[1][:3] == ["Зайцев", "Олег", "нет"]


def test_the_job_page_polls_while_the_import_runs(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, rows_done=2)
    html = manager.get(f"/imports/{job.pk}/").content.decode()
    assert f'hx-get="/imports/{job.pk}/status/"' in html
    assert 'hx-trigger="every 2s"' in html
    assert f'href="/imports/{job.pk}/"' in html
    assert 'style="width: 40%"' in html and "2 of 5 rows" in html

    partial = manager.get(f"/imports/{job.pk}/status/", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    assert "HX-Request" in partial["Vary"]
    assert partial.content.decode().lstrip().startswith('<div id="import-status"')

    assert "HX-Refresh" not in partial

    # Once the run ends, polling stops and the page reloads itself to show the outcome.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, failure="Диск полон")
    partial = manager.get(f"/imports/{job.pk}/status/", HTTP_HX_REQUEST="true")
    assert partial["HX-Refresh"] == "true"
    html = manager.get(f"/imports/{job.pk}/").content.decode()
    assert "every 2s" not in html
    assert "The import failed." in html and "Диск полон" in html


def test_a_big_file_runs_in_the_background(
    manager: Client, base: dict, settings: Any, django_capture_on_commit_callbacks: Any
):
    settings.IMPORT_INLINE_MAX_ROWS = 2
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager.post(f"/imports/{job.pk}/start/")
    assert response["Location"] == f"/imports/{job.pk}/"
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED
    assert "every 2s" in manager.get(response["Location"]).content.decode()
    # The worker (Huey, immediate in tests) picks it up once the request's transaction commits.
    assert len(callbacks) == 1
    callbacks[0]()
    job.refresh_from_db()
    assert (job.status, job.rows_created, job.rows_done) == (ImportStatus.DONE, 1, 5)


def test_starting_twice_is_refused_with_a_message(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    manager.post(f"/imports/{job.pk}/start/")
    response = manager.post(f"/imports/{job.pk}/start/", follow=True)
    assert "This import has already been started." in response.content.decode()
    assert Customer.objects.filter(last_name="Иванов").count() == 1
    # The mapping of a job that ran cannot be changed any more: its page leads to the job.
    assert manager.get(f"/imports/{job.pk}/mapping/")["Location"] == f"/imports/{job.pk}/"


def test_undo_refuses_where_later_edits_conflict(manager: Client, base: dict):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    manager.post(f"/imports/{job.pk}/start/")
    ivanov = Customer.objects.get(last_name="Иванов")
    # Someone edits the imported customer afterwards; undo must leave that work alone.
    factories_edit = {"notes": "звонил, просит скидку"}
    Customer.objects.filter(pk=ivanov.pk).update(version=ivanov.version + 1, **factories_edit)

    response = manager.post(f"/imports/{job.pk}/undo/", follow=True)
    html = response.content.decode()
    job.refresh_from_db()
    assert job.undo_report["conflicts"] == 1
    assert Customer.objects.filter(pk=ivanov.pk).exists()
    assert "except for records edited since" in html
    assert f'href="/customers/{ivanov.pk}/"' in html
    assert job.undo_report["conflict_list"][0]["reason"] in html

    # A second undo is refused with the reason, and changes nothing.
    html = manager.post(f"/imports/{job.pk}/undo/", follow=True).content.decode()
    assert "Only a finished import can be undone" in html
    assert Customer.objects.filter(pk=ivanov.pk).exists()


def test_the_error_file_is_only_served_from_the_data_dir(manager: Client, base: dict, tmp_path):
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    outside = tmp_path.parent / "secret.csv"
    outside.write_text("a;b\n")
    ImportJob.objects.filter(pk=job.pk).update(error_file=f"../{outside.name}")
    response = manager.get(f"/imports/{job.pk}/errors/")
    assert response.status_code == 302
    assert response["Location"] == f"/imports/{job.pk}/"
    # No file yet for the dry run either: the same polite redirect, and nothing audited.
    assert manager.get(f"/imports/{job.pk}/errors/?dry_run=1").status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


ORDER_CSV = (
    "Номер заказа;Дата заказа;Email покупателя;Телефон покупателя;Сумма заказа;Статус\n"
    "A-1001;12.05.2025;maria@example.ru;;1 250,00 ₽;Оплачен\n"  # 2 Petrova's order
    "A-1002;13.05.2025;new.buyer@example.ru;+7 903 111-22-33;990;Новый\n"  # 3 a new customer
    "A-1003;вчера;maria@example.ru;;500;Новый\n"  # 4 rejected: the date
)


def test_an_order_file_goes_through_the_same_screens(manager: Client, base: dict):
    response = _upload(manager, ORDER_CSV.encode("utf-8"), name="orders.csv", kind="orders")
    job = ImportJob.objects.get()
    assert job.kind == "orders"
    page = manager.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert '<optgroup label="Items">' in html
    assert page.context["form"]["col_0"].value() == "order_id"

    response = manager.post(
        f"/imports/{job.pk}/mapping/", {**_mapping_post(job), "action": "preview"}
    )
    assert response["Location"] == f"/imports/{job.pk}/preview/"
    preview = manager.get(response["Location"])
    report = preview.context["report"]
    assert (report["created"], report["rejected"]) == (2, 1)
    html = preview.content.decode()
    assert "№A-1001" in html
    assert '<td class="text-end font-monospace">4</td>' in html

    manager.post(f"/imports/{job.pk}/start/")
    job.refresh_from_db()
    assert (job.status, job.rows_created, job.rows_rejected) == (ImportStatus.DONE, 2, 1)
    assert base["petrova"].orders.count() == 1
    manager.post(f"/imports/{job.pk}/undo/")
    job.refresh_from_db()
    assert job.status == ImportStatus.UNDONE
    assert base["petrova"].orders.count() == 0
    html = manager.get(f"/imports/{job.pk}/").content.decode()
    assert "2 records created by the import removed" in html
    assert "1 customer created for the orders removed" in html


def test_a_known_system_export_is_named_on_the_mapping_screen(manager: Client, db: Any):
    shopify = (
        "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
        "Default Address Address1,Default Address City,Total Spent,Total Orders,Phone,Tax Exempt\n"
        "7001,Анна,Кузнецова,anna@example.ru,yes,,Ленина 1,Москва,1500.00,2,'+79161112233,no\n"
    )
    response = _upload(manager, shopify.encode("utf-8"), name="customers_export.csv")
    page = manager.get(response["Location"])
    html = page.content.decode()
    assert "Looks like a Shopify export" in html
    assert "known export format" in html
    assert page.context["form"]["col_0"].value() == "external_id"
    assert "comma" in html


def test_a_big_files_dry_run_runs_in_the_background_with_a_progress_page(
    manager: Client, base: dict, settings: Any, django_capture_on_commit_callbacks: Any
):
    settings.IMPORT_INLINE_MAX_ROWS = 2
    _upload(manager, RUSSIAN_CSV.encode("utf-8"))
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager.post(
            f"/imports/{job.pk}/mapping/", {**_mapping_post(job), "action": "preview"}
        )
    assert response["Location"] == f"/imports/{job.pk}/"
    page = manager.get(response["Location"]).content.decode()
    assert "every 2s" in page
    # While the worker checks the file, its mapping cannot change under it.
    assert manager.get(f"/imports/{job.pk}/mapping/")["Location"] == f"/imports/{job.pk}/"
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED
    partial = manager.get(f"/imports/{job.pk}/status/", HTTP_HX_REQUEST="true")
    assert partial["HX-Refresh"] == "true"
    preview = manager.get(f"/imports/{job.pk}/preview/")
    assert preview.status_code == 200
    assert not Customer.objects.filter(last_name="Иванов").exists()


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(
    manager: Client, base: dict, settings: Any
):
    settings.IMPORT_MAX_FILE_MB = 1
    body = b"x" * (2 * 1024 * 1024)
    response = manager.post(
        "/imports/new/",
        data=body,
        content_type="multipart/form-data; boundary=nothing",
    )
    assert response.status_code == 413
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and " 1 " in shown[0]  # the limit, in whichever language
    assert not ImportJob.objects.exists()


def test_dry_run_examples_show_values_as_the_card_will(settings, manager, base):
    # The file's values as stored (canonical city, phone in E.164, ISO dates, choice codes) are
    # shown as the card shows them: formatted phone, local date, labels in the user's language.
    content = (
        "ФИО;Телефон;Город;Дата рождения;Пол\n"
        "Лебедева Ирина;8 903 111 22 33;москва;24.08.1990;ж\n"
        "Орлов Олег;8 903 555-00-01;;08/24;м\n"
    )
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        _upload(manager, content.encode("utf-8"))
        job = ImportJob.objects.get()
        manager.post(f"/imports/{job.pk}/mapping/", {**_mapping_post(job), "action": "preview"})
        preview = manager.get(f"/imports/{job.pk}/preview/")
    [created] = preview.context["examples"]["created"]
    assert created.values == [
        ("Фамилия", "Лебедева"),
        ("Имя", "Ирина"),
        ("Пол", "Женский"),
        ("Дата рождения", "24.08.1990"),
        ("Телефон", "+7 903 111-22-33"),
        ("Город", "Москва"),
    ]
    [updated] = preview.context["examples"]["updated"]
    assert [(c.label, c.before, c.after) for c in updated.changes] == [
        ("Пол", "—", "Мужской"),
        ("Дата рождения", "—", "24 августа (год неизвестен)"),
    ]
    html = preview.content.decode()
    assert '<span class="text-body-secondary">Город:</span> Москва' in html
    assert '<span class="text-body-secondary">Телефон:</span> +7 903 111-22-33' in html
    assert "+79031112233" not in html and "1990-08-24" not in html
