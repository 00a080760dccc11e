"""Customer files through the engine: what lands, re-import, merge, undo, resume."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from clientbase.core.errors import DomainError
from clientbase.core.models import AuditEvent
from clientbase.customers.models import Customer, CustomerEmail, CustomerPhone
from clientbase.customers.normalize import search_key
from clientbase.imports import engine, tasks
from clientbase.imports.choices import ImportStatus
from clientbase.imports.engine import LeaseLostError
from clientbase.imports.models import ImportBatch, ImportChange, ImportJob
from clientbase.imports.readers import ReadError
from clientbase.imports.services import (
    import_file,
    import_files_prune,
    import_job_create,
    import_job_execute,
    import_job_preview_start,
    import_job_start,
    import_job_undo,
    preview_pending,
)
from clientbase.orders.models import Order
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

HEADER = "ФИО;Моб. телефон;Почта;Дата рождения;Город;Теги\n"


@pytest.fixture(autouse=True)
def _no_backup(settings: Any) -> None:
    settings.IMPORT_BACKUP = False


def write(tmp_path: Path, text: str, name: str = "clients.csv", encoding: str = "cp1251") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.rows_created, job.rows_updated, job.rows_unchanged, job.rows_rejected


def test_a_russian_cp1251_file_lands_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Иванов Иван Иванович;8 (916) 123-45-67;Ivan@Mail.RU ;24.08.1990;Москва;vip, опт\n"
        + "Анна Петрова;+7 903 111-22-33;anna@example.org;1985-03-01;Казань;\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert job.status == ImportStatus.DONE
    assert counts(job) == (2, 0, 0, 0)
    assert job.encoding == "cp1251" and job.delimiter == ";"
    ivanov = Customer.objects.get(primary_phone="+79161234567")
    assert (ivanov.last_name, ivanov.first_name, ivanov.middle_name) == (
        "Иванов",
        "Иван",
        "Иванович",
    )
    assert ivanov.primary_email == "ivan@mail.ru"
    assert ivanov.birthday == dt.date(1990, 8, 24)
    assert (ivanov.birth_month, ivanov.birth_day) == (8, 24)
    assert ivanov.city == "Москва"
    assert ivanov.source == "import"
    assert ivanov.version == 1
    assert ivanov.search_name == search_key("Иванов", "Иван", "Иванович")
    assert sorted(ivanov.tags.values_list("name", flat=True)) == ["vip", "опт"]
    assert list(ivanov.phones.values_list("number", "is_primary")) == [("+79161234567", True)]
    # "Имя Фамилия" order is recognised too.
    anna = Customer.objects.get(primary_email="anna@example.org")
    assert (anna.last_name, anna.first_name) == ("Петрова", "Анна")
    # One audit event for the import, naming its counts; no personal data in it.
    event = AuditEvent.objects.get(action="import")
    assert event.extra["created"] == 2 and event.extra["rows"] == 2
    assert "ivan@mail.ru" not in str(event.extra)


def test_reimporting_the_same_file_changes_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Иванов Иван;8 916 123 45 67;ivan@mail.ru;24.08.1990;Москва;vip\n"
        + "Иванов И.;+79161234567;second@mail.ru;;;новый\n"  # the same phone: merged
        + "Сидоров Пётр;;;;;\n",  # no contact at all: matched by name on the second run
    )
    first = import_file(actor=None, kind="customers", path=path)
    assert counts(first) == (2, 0, 1, 0)
    before = {c.pk: (c.version, c.updated_at) for c in Customer.objects.all()}
    second = import_file(actor=None, kind="customers", path=path)
    assert counts(second) == (0, 0, 3, 0)
    assert {c.pk: (c.version, c.updated_at) for c in Customer.objects.all()} == before
    assert not ImportChange.objects.filter(job=second).exists()


def test_duplicates_inside_the_file_become_one_customer_with_all_contacts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Иванов Иван;8 916 123 45 67;ivan@mail.ru;;Москва;vip\n"
        + "Иванов Иван Петрович;;IVAN@mail.ru;24.08.1990;Тверь;опт\n"
        + "Иванов;+7 916 123-45-67;work@firm.ru;;;\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (1, 0, 2, 0)
    customer = Customer.objects.get()
    # The first occurrence wins; later rows fill gaps and add contacts and tags.
    assert (customer.last_name, customer.first_name, customer.middle_name) == (
        "Иванов",
        "Иван",
        "Петрович",
    )
    assert customer.birthday == dt.date(1990, 8, 24)
    assert customer.city == "Москва"
    assert sorted(customer.emails.values_list("address", flat=True)) == [
        "ivan@mail.ru",
        "work@firm.ru",
    ]
    assert customer.primary_email == "ivan@mail.ru"
    assert sorted(customer.tags.values_list("name", flat=True)) == ["vip", "опт"]


def test_existing_customers_are_updated_and_undo_restores_them(tmp_path: Path) -> None:
    existing = make_customer(
        phones=["+79161234567"], city="Москва", last_name="Новиков", first_name=""
    )
    path = write(
        tmp_path,
        HEADER + "Новиков Иван;89161234567;new@mail.ru;01.02.1980;Казань;vip\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (0, 1, 0, 0)
    existing.refresh_from_db()
    assert (existing.last_name, existing.first_name) == ("Новиков", "Иван")
    assert existing.birthday == dt.date(1980, 2, 1)
    assert existing.primary_email == "new@mail.ru"
    assert existing.version == 2
    change = ImportChange.objects.get(job=job)
    assert change.object_id == existing.pk
    assert change.before["fields"]["first_name"] == ""
    assert job.report["examples"]["updated"][0]["changes"]["first_name"] == "Иван"

    job = import_job_undo(actor=None, job_id=job.pk)
    assert job.status == ImportStatus.UNDONE
    assert job.undo_report["restored"] == 1 and job.undo_report["conflicts"] == 0
    existing.refresh_from_db()
    assert (existing.last_name, existing.first_name) == ("Новиков", "")
    assert existing.birthday is None
    assert (existing.birth_month, existing.birth_day) == (None, None)
    assert existing.primary_email == ""
    assert not CustomerEmail.objects.filter(customer=existing).exists()
    assert list(existing.tags.all()) == []
    assert existing.version == 3
    assert AuditEvent.objects.filter(action="import_undo").count() == 1


def test_undo_removes_created_customers_but_keeps_later_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Первый Клиент;+79160000001;;;;\n"
        + "Второй Клиент;+79160000002;;;;\n"
        + "Третий Клиент;+79160000003;;;;\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    edited = Customer.objects.get(primary_phone="+79160000002")
    Customer.objects.filter(pk=edited.pk).update(version=2, notes="called")
    with_order = Customer.objects.get(primary_phone="+79160000003")
    Order.objects.create(
        customer=with_order, external_id="A-1", placed_at=dt.datetime.now(dt.UTC), total=10
    )
    job = import_job_undo(actor=None, job_id=job.pk)
    assert job.undo_report["removed"] == 1
    assert job.undo_report["conflicts"] == 2
    assert {c["id"] for c in job.undo_report["conflict_list"]} == {edited.pk, with_order.pk}
    assert set(Customer.objects.values_list("primary_phone", flat=True)) == {
        "+79160000002",
        "+79160000003",
    }
    with pytest.raises(DomainError):
        import_job_undo(actor=None, job_id=job.pk)


def test_modes_create_only_and_update_only(tmp_path: Path) -> None:
    existing = make_customer(phones=["+79161234567"], last_name="Старов")
    text = HEADER + "Старов Иван;89161234567;ivan@mail.ru;;;\nНовый Клиент;+79035550000;;;;\n"
    created = import_file(actor=None, kind="customers", path=write(tmp_path, text), mode="create")
    assert counts(created) == (1, 0, 1, 0)
    existing.refresh_from_db()
    assert existing.primary_email == ""
    Customer.objects.filter(primary_phone="+79035550000").delete()
    updated = import_file(actor=None, kind="customers", path=write(tmp_path, text), mode="update")
    assert counts(updated) == (0, 1, 0, 1)
    assert updated.report["rejects"][0]["row"] == 3
    assert not Customer.objects.filter(primary_phone="+79035550000").exists()


def test_match_priority_decides_between_two_customers(tmp_path: Path) -> None:
    by_phone = make_customer(phones=["+79161234567"], last_name="Телефонов")
    by_email = make_customer(phones=[], emails=["a@b.ru"], last_name="Почтов")
    text = HEADER + "Иван;89161234567;a@b.ru;24.08.1990;;\n"
    job = import_file(
        actor=None, kind="customers", path=write(tmp_path, text), match_by=["phone", "email"]
    )
    assert counts(job) == (0, 1, 0, 0)
    by_phone.refresh_from_db()
    by_email.refresh_from_db()
    assert by_phone.birthday == dt.date(1990, 8, 24) and by_email.birthday is None


def test_a_row_loses_only_the_value_it_cannot_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + "Хорошев Пётр;+79160000001;;;;\n"
        + "Плохов Иван;12345;;;;\n"
        + "Датова Анна;+79160000002;;31.02.1990;;\n"
        + ";;;;Москва;\n"
        + ";12345;;;Москва;\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    # Only the rows with nothing to identify a person are rejected.
    assert counts(job) == (3, 0, 0, 2)
    assert (job.rows_done, job.rows_warned) == (5, 2)
    warnings = {w["row"]: (w["column"], w["value"]) for w in job.report["warnings"]}
    assert warnings == {3: ("Моб. телефон", "12345"), 4: ("Дата рождения", "31.02.1990")}
    rejects = {r["row"]: (r["column"], r["value"]) for r in job.report["rejects"]}
    # The last row's only identity was the unreadable phone: its reason says so.
    assert rejects == {5: ("", ""), 6: ("Моб. телефон", "12345")}
    phone = Customer.objects.get(last_name="Плохов")
    assert (phone.first_name, phone.primary_phone) == ("Иван", "")
    date = Customer.objects.get(last_name="Датова")
    assert (date.primary_phone, date.birthday, date.birth_month) == ("+79160000002", None, None)
    # The error file holds the rejected rows and the warned ones, each with what went wrong.
    error_file = Path(settings.DATA_DIR) / job.error_file
    lines = error_file.read_bytes().decode("cp1251").splitlines()
    assert lines[0].startswith("ФИО;Моб. телефон;Почта;Дата рождения;Город;Теги;")
    assert [line.split(";")[:5] for line in lines[1:]] == [
        ["Плохов Иван", "12345", "", "", ""],
        ["Датова Анна", "'+79160000002", "", "31.02.1990", ""],
        ["", "", "", "", "Москва"],
        ["", "12345", "", "", "Москва"],
    ]
    assert "Моб. телефон" in lines[1].split(";")[-1]
    assert "Дата рождения" in lines[2].split(";")[-1]


def test_a_dry_run_writes_nothing_and_predicts_the_real_run(tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_BATCH_ROWS = 2  # duplicates across batches must be predicted too
    existing = make_customer(phones=["+79161234567"], last_name="Новиков", first_name="")
    text = (
        HEADER
        + "Новиков Иван;89161234567;;;;\n"
        + "Новый Клиент;+79035550000;;;;\n"
        + ";123;;;;\n"
        + "Новый Клиент;8 903 555 00 00;x@y.ru;;;\n"
    )
    preview = import_file(actor=None, kind="customers", path=write(tmp_path, text), dry_run=True)
    assert preview.status == ImportStatus.PREVIEWED
    assert Customer.objects.count() == 1
    existing.refresh_from_db()
    assert existing.version == 1
    report = preview.preview
    real = import_file(actor=None, kind="customers", path=write(tmp_path, text))
    assert (
        (report["created"], report["updated"], report["unchanged"], report["rejected"])
        == (
            real.rows_created,
            real.rows_updated,
            real.rows_unchanged,
            real.rows_rejected,
        )
        == (1, 1, 1, 1)
    )


def test_an_interrupted_import_resumes_without_duplicates_or_gaps(
    tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 3
    lines = [f"Тестов Клиент;+7916{i:07d};c{i}@mail.ru;;;\n" for i in range(10)]
    lines.insert(4, ";123;;;;\n")
    path = write(tmp_path, HEADER + "".join(lines))
    job = import_job_create(actor=None, kind="customers", source=path, original_name=path.name)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    with pytest.raises(InterruptedError):
        import_job_execute(job.pk, stop_after_batches=2)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING
    assert ImportBatch.objects.filter(job=job).count() == 2
    assert Customer.objects.count() == 5
    job = import_job_execute(job.pk, force=True)
    assert job.status == ImportStatus.DONE
    assert counts(job) == (10, 0, 0, 1)
    assert Customer.objects.count() == 10
    assert CustomerPhone.objects.count() == 10
    batches = list(ImportBatch.objects.filter(job=job).order_by("seq"))
    rows = [(b.first_row, b.last_row) for b in batches]
    assert rows[0][0] == 2 and rows[-1][1] == 12
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(rows))
    assert Path(settings.DATA_DIR, job.error_file).read_bytes().decode("cp1251").count("\n") == 2


def test_a_backup_is_taken_before_the_import(tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_BACKUP = True
    settings.BACKUP_DIR = tmp_path / "backups"
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\n")
    job = import_file(actor=None, kind="customers", path=path)
    assert job.backup_path and Path(job.backup_path).is_file()


def test_a_broken_file_creates_no_job(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    with pytest.raises(ReadError):
        import_job_create(actor=None, kind="customers", source=path, original_name="junk.csv")
    assert not ImportJob.objects.exists()
    assert not list((Path(settings.DATA_DIR) / "imports").glob("*/source-junk.csv"))


def test_a_mapping_without_identity_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "Город;Теги\nМосква;vip\n")
    with pytest.raises(DomainError) as caught:
        import_file(actor=None, kind="customers", path=path)
    assert caught.value.code == "mapping_incomplete"


def test_import_started_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\n")
    job = import_file(actor=None, kind="customers", path=path)
    with pytest.raises(DomainError):
        import_job_start(actor=None, job_id=job.pk)


def test_a_big_files_dry_run_runs_in_the_background(
    tmp_path: Path, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.IMPORT_INLINE_MAX_ROWS = 1
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\nКлиент Два;+79160000002;;;;\n")
    job = import_job_create(actor=None, kind="customers", source=path, original_name=path.name)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = import_job_preview_start(actor=None, job_id=job.pk)
    assert preview_pending(job) and job.status == ImportStatus.UPLOADED
    # The service queues nothing itself (tasks call services, not the other way round): the
    # caller, here the test, hands the job to the worker.
    assert callbacks == []
    # While it runs, neither the mapping nor the start may change under it.
    with pytest.raises(DomainError):
        import_job_start(actor=None, job_id=job.pk)
    tasks.import_preview_run(job.pk)  # the worker's turn (Huey runs tasks at once in tests)
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED and not preview_pending(job)
    assert (job.preview["created"], job.preview["rejected"]) == (2, 0)
    assert job.rows_done == 0
    assert not Customer.objects.exists()


def test_a_resumed_run_keeps_the_first_occurrence_across_the_interruption(
    tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 2
    path = write(
        tmp_path,
        HEADER
        + "Иванов Иван;+79160000001;;;Москва;\n"
        + "Петров Пётр;+79160000002;;;;\n"
        + "Иванов;+79160000001;ivan@mail.ru;;Тверь;\n",  # the first row's customer
    )
    job = import_job_create(actor=None, kind="customers", source=path, original_name=path.name)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    with pytest.raises(InterruptedError):
        import_job_execute(job.pk, stop_after_batches=1)
    job = import_job_execute(job.pk, force=True)
    assert counts(job) == (2, 0, 1, 0)
    ivanov = Customer.objects.get(primary_phone="+79160000001")
    # As in an uninterrupted run: the later row fills the e-mail, the first row's name and
    # city stay.
    assert (ivanov.first_name, ivanov.city, ivanov.primary_email) == (
        "Иван",
        "Москва",
        "ivan@mail.ru",
    )
    again = import_file(actor=None, kind="customers", path=path)
    assert counts(again) == (0, 0, 3, 0)


def test_a_run_whose_job_another_worker_took_over_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\n")
    job = import_job_create(actor=None, kind="customers", source=path, original_name=path.name)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)
    job.refresh_from_db()
    # Another worker found the job stale and claimed it: its lease is newer than ours.
    ImportJob.objects.filter(pk=job.pk).update(updated_at=job.updated_at + dt.timedelta(seconds=1))
    with pytest.raises(LeaseLostError):
        engine.run(job)
    assert not Customer.objects.exists()
    assert not ImportBatch.objects.filter(job=job).exists()


def test_old_import_files_are_deleted_but_the_jobs_stay(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\n;123;;;;\n")
    done = import_file(actor=None, kind="customers", path=path)
    abandoned = import_job_create(actor=None, kind="customers", source=path, original_name="x.csv")
    running = import_job_create(actor=None, kind="customers", source=path, original_name="y.csv")
    ImportJob.objects.filter(pk=running.pk).update(status=ImportStatus.RUNNING)
    folders = {
        j.pk: (Path(settings.DATA_DIR) / j.file_path).parent for j in (done, abandoned, running)
    }
    assert Path(settings.DATA_DIR, done.error_file).is_file()
    assert import_files_prune(keep_days=30) == 0  # all fresh
    ImportJob.objects.update(updated_at=timezone.now() - dt.timedelta(days=31))
    assert import_files_prune(keep_days=30) == 2
    done.refresh_from_db()
    abandoned.refresh_from_db()
    assert not folders[done.pk].exists() and not folders[abandoned.pk].exists()
    assert folders[running.pk].exists()  # a running import still needs its file
    assert (done.status, done.file_path, done.error_file) == (ImportStatus.DONE, "", "")
    assert abandoned.status == ImportStatus.FAILED
    # Undo works from the job's records, not from the file.
    assert import_job_undo(actor=None, job_id=done.pk).undo_report["removed"] == 1


def test_an_internal_error_fails_the_job_and_logs_no_personal_data(
    tmp_path: Path, monkeypatch: Any, caplog: Any
) -> None:
    path = write(tmp_path, HEADER + "Клиент Один;+79160000001;;;;\n")

    secret = "+7916" + "0000001"  # not spelled out: traceback frames show source lines

    def broken(job: ImportJob, **options: Any) -> ImportJob:
        raise RuntimeError(f"UNIQUE failed: value {secret}")  # as a database error might

    monkeypatch.setattr(engine, "run", broken)
    with caplog.at_level("DEBUG"):
        job = import_file(actor=None, kind="customers", path=path)
    assert job.status == ImportStatus.FAILED
    assert "RuntimeError" in job.failure and "+79160000001" not in job.failure
    assert "RuntimeError" in caplog.text and "+79160000001" not in caplog.text
    # It can be resumed once the cause is gone.
    monkeypatch.undo()
    job = import_job_execute(job.pk, force=True)
    assert (job.status, job.rows_created) == (ImportStatus.DONE, 1)


def test_unchanged_rows_are_told_from_changed_ones_in_sets(tmp_path: Path) -> None:
    header = "ID;ФИО;Телефон;Почта;Дата рождения;Город;Теги;VIP;Согласие на рассылку\n"
    first = (
        header
        + "a1;Иванов Иван;+79160000001;a@x.ru;24.08.1990;Москва;опт;да;да\n"
        + "a2;Петров Пётр;+79160000002;b@x.ru;01.01.1980;Тверь;vip;нет;нет\n"
        + "a3;Сидоров Олег;+79160000003;c@x.ru;;Омск;;нет;\n"
        + "a4;Козлов Илья;+79160000004;;02.02.1992;;;;\n"
    )
    import_file(actor=None, kind="customers", path=write(tmp_path, first, "first.csv"))
    versions = dict(Customer.objects.values_list("external_id", "version"))
    # Rows in another order; each changed one differs in one value only.
    second = (
        header
        + "a4;Козлов Илья;+79160000004;;02.02.1992;;;;\n"  # the same
        + "a3;Сидоров Олег;+79160000003;c@x.ru;;Омск;новый;нет;\n"  # a tag more
        + "a2;Петров Пётр;+79160000002;b@x.ru;01.01.1980;Тверь;vip;нет;да\n"  # consent
        + "a1;Иванов Иван;8 916 000-00-01;A@X.RU;24.08.1990;Москва;опт;да;да\n"  # the same
    )
    job = import_file(actor=None, kind="customers", path=write(tmp_path, second, "second.csv"))
    assert counts(job) == (0, 2, 2, 0)
    now = dict(Customer.objects.values_list("external_id", "version"))
    assert now == {**versions, "a2": versions["a2"] + 1, "a3": versions["a3"] + 1}
    third = header + "a1;Иванов Иван;;;25.08.1990;;;;\n"  # only the birthday differs
    job = import_file(actor=None, kind="customers", path=write(tmp_path, third, "third.csv"))
    assert counts(job) == (0, 1, 0, 0)
    assert str(Customer.objects.get(external_id="a1").birthday) == "1990-08-25"


# ---------------------------------------------------------------- issue 9: the first hour


def test_a_family_phone_keeps_two_people_apart(tmp_path: Path) -> None:
    husband = make_customer(phones=["+79161234567"], last_name="Лебедев", first_name="Пётр")
    path = write(
        tmp_path,
        HEADER
        # His wife with the same phone: another person, not his second e-mail.
        + "Лебедева Ирина;8 916 123-45-67;irina@mail.ru;;;\n"
        # A family inside the file: the son and the daughter share one phone too.
        + "Смирнов Олег;+79035550000;;;;\n"
        + "Смирнова Анна;+79035550000;anna@mail.ru;;;\n"
        # The son once more, with his patronymic and e-mail: the same person, merged.
        + "Смирнов Олег Иванович;+79035550000;oleg@mail.ru;;;\n"
        # The husband by his initial: he, and his e-mail is added.
        + "Лебедев П.;+79161234567;petr@mail.ru;;;\n",
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (3, 1, 1, 0)
    husband.refresh_from_db()
    assert (husband.last_name, husband.first_name) == ("Лебедев", "Пётр")
    assert set(husband.emails.values_list("address", flat=True)) == {"petr@mail.ru"}
    irina = Customer.objects.get(first_name="Ирина")
    # The shared phone is hers too (phones are unique per customer only), as her main one.
    assert (irina.last_name, irina.primary_phone, irina.primary_email) == (
        "Лебедева",
        "+79161234567",
        "irina@mail.ru",
    )
    oleg = Customer.objects.get(first_name="Олег")
    anna = Customer.objects.get(first_name="Анна")
    assert (oleg.middle_name, oleg.primary_email) == ("Иванович", "oleg@mail.ru")
    assert (anna.last_name, anna.primary_phone, anna.primary_email) == (
        "Смирнова",
        "+79035550000",
        "anna@mail.ru",
    )
    # Never silent: each row kept apart is a warning that says with whom it shares the phone.
    assert job.report["conflicts"] == 2
    warned = {w["row"]: w for w in job.report["warnings"]}
    assert set(warned) == {2, 4}
    assert f"{husband.pk} «Лебедев Пётр»" in warned[2]["reason"]
    assert warned[2]["value"] == "Лебедева Ирина"
    assert "3" in warned[4]["reason"] and warned[4]["value"] == "Смирнова Анна"
    # A re-import finds each of them again, by phone and name: nothing new, nothing changed.
    again = import_file(actor=None, kind="customers", path=path)
    assert counts(again) == (0, 0, 5, 0)
    assert Customer.objects.count() == 4


def test_the_dry_run_lists_a_shared_phone_as_a_conflict_and_predicts_the_run(
    tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 1  # the family's rows in different batches
    make_customer(phones=["+79161234567"], last_name="Лебедев", first_name="Пётр")
    text = (
        HEADER
        + "Лебедева Ирина;8 916 123-45-67;;;;\n"
        + "Орлова Мария;+79035550000;;;;\n"
        + "Орлов Игорь;+79035550000;;;;\n"
        + "Орлова Мария;+79035550000;maria@mail.ru;;;\n"
    )
    preview = import_file(actor=None, kind="customers", path=write(tmp_path, text), dry_run=True)
    report = preview.preview
    assert (report["created"], report["updated"], report["conflicts"]) == (3, 0, 2)
    assert [w["row"] for w in report["warnings"]] == [2, 4]
    assert Customer.objects.count() == 1
    real = import_file(actor=None, kind="customers", path=write(tmp_path, text))
    assert (real.rows_created, real.rows_updated, real.rows_unchanged) == (3, 0, 1)
    assert real.report["conflicts"] == 2


def test_a_company_row_never_writes_its_name_into_the_contact_persons(tmp_path: Path) -> None:
    company = make_customer(
        kind="company",
        company_name="ООО «Ромашка»",
        last_name="Петров",
        first_name="Иван",
        phones=[],
        emails=["info@romashka.ru"],
    )
    path = write(tmp_path, HEADER + "ООО Ромашка;;info@romashka.ru;;Тверь;опт\n")
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (0, 1, 0, 0)
    company.refresh_from_db()
    assert (company.kind, company.last_name, company.first_name, company.middle_name) == (
        "company",
        "Петров",
        "Иван",
        "",
    )
    assert company.company_name == "ООО Ромашка"
    assert list(company.tags.values_list("name", flat=True)) == ["опт"]
    # A company row and a person who share an e-mail are two customers.
    person = make_customer(last_name="Сидоров", first_name="Олег", emails=["oleg@firm.ru"])
    job = import_file(
        actor=None, kind="customers", path=write(tmp_path, HEADER + "ИП Фирмов;;oleg@firm.ru;;;\n")
    )
    assert counts(job) == (1, 0, 0, 0)
    person.refresh_from_db()
    assert (person.kind, person.company_name, person.version) == ("person", "", 1)
    firm = Customer.objects.get(company_name="ИП Фирмов")
    assert (firm.kind, firm.last_name, firm.first_name) == ("company", "", "")


def test_a_surname_first_full_name_lands_in_the_right_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "Лебедева Ирина;+79160000001;;;;\nМарина Галкина;+79160000002;;;;\n",
    )
    import_file(actor=None, kind="customers", path=path)
    names = set(Customer.objects.values_list("last_name", "first_name"))
    assert names == {("Лебедева", "Ирина"), ("Галкина", "Марина")}


def test_a_birthday_without_a_year_keeps_day_and_month(tmp_path: Path) -> None:
    header = "Email Address;First Name;Last Name;Birthday\n"  # a Mailchimp audience
    text = (
        header
        + "anna@mail.ru;Анна;Петрова;08/24\n"
        + "olga@mail.ru;Ольга;Жукова;12/31\n"
        + "ivan@mail.ru;Иван;Орлов;13/45\n"
    )
    job = import_file(actor=None, kind="customers", path=write(tmp_path, text, encoding="utf-8"))
    assert counts(job) == (3, 0, 0, 0)
    assert job.rows_warned == 1 and job.report["warnings"][0]["value"] == "13/45"
    birthdays = {
        c.first_name: (c.birthday, c.birth_month, c.birth_day) for c in Customer.objects.all()
    }
    assert birthdays == {
        "Анна": (None, 8, 24),
        "Ольга": (None, 12, 31),
        "Иван": (None, None, None),
    }
    # "Born in August" finds her, in the list filter and in segments.
    from clientbase.customers.selectors import CustomerListParams, customer_list
    from clientbase.segments.language import compile_node, parse

    assert [c.first_name for c in customer_list(CustomerListParams(birth_month=8))] == ["Анна"]
    august = Customer.objects.filter(compile_node(parse("birth_month = 8")))
    assert [c.first_name for c in august] == ["Анна"]
    # Re-import: the same day without a year is no change.
    again = import_file(actor=None, kind="customers", path=write(tmp_path, text, encoding="utf-8"))
    assert counts(again) == (0, 0, 3, 0)


def test_a_day_without_a_year_replaces_another_stored_date_and_undo_brings_it_back(
    tmp_path: Path,
) -> None:
    customer = make_customer(
        emails=["anna@mail.ru"], first_name="Анна", birthday=dt.date(1990, 3, 1)
    )
    path = write(tmp_path, "Email;Birthday\nanna@mail.ru;24.08\n", encoding="utf-8")
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (0, 1, 0, 0)
    customer.refresh_from_db()
    assert (customer.birthday, customer.birth_month, customer.birth_day) == (None, 8, 24)
    import_job_undo(actor=None, job_id=job.pk)
    customer.refresh_from_db()
    assert (customer.birthday, customer.birth_month, customer.birth_day) == (
        dt.date(1990, 3, 1),
        3,
        1,
    )


def test_a_new_customer_needs_a_name_or_a_contact(tmp_path: Path) -> None:
    known = make_customer(external_id="a2", city="Омск")
    path = write(tmp_path, "ID;Город;Теги\na1;Москва;vip\na2;Тверь;\n", encoding="utf-8")
    job = import_file(actor=None, kind="customers", path=path)
    # "a1" alone would be a nameless card "#N"; "a2" is a customer the base knows.
    assert counts(job) == (0, 1, 0, 1)
    assert job.report["rejects"][0]["row"] == 2
    assert not Customer.objects.filter(external_id="a1").exists()
    known.refresh_from_db()
    assert known.city == "Тверь"


def test_imported_customers_get_a_created_entry_on_their_timeline(tmp_path: Path) -> None:
    from clientbase.customers.models import TimelineEvent
    from tests.factories import make_user

    user = make_user(username="importer")
    path = write(tmp_path, HEADER + "Орлов Олег;+79160000001;;;;\nЖукова Ольга;+79160000002;;;;\n")
    job = import_job_create(actor=user, kind="customers", source=path, original_name="x.csv")
    job = engine.run(job)
    events = TimelineEvent.objects.filter(kind="created").order_by("customer_id")
    assert [(e.customer_id, e.actor_id, e.data) for e in events] == [
        (cid, user.pk, {"source": "import", "import": job.pk})
        for cid in sorted(Customer.objects.values_list("id", flat=True))
    ]
    assert TimelineEvent.objects.count() == 2


def test_the_error_file_neutralises_formulas_and_imports_back_the_same(tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://evil.example";"Жми")'
    path = write(
        tmp_path, f'ФИО;Моб. телефон;Теги\n;12345;"{formula.replace(chr(34), chr(34) * 2)}"\n'
    )
    job = import_file(actor=None, kind="customers", path=path)
    assert counts(job) == (0, 0, 0, 1)
    first = (Path(settings.DATA_DIR) / job.error_file).read_bytes().decode("cp1251")
    # The cell starts with an apostrophe, so a spreadsheet shows it instead of running it.
    assert f"'{formula}" in first.replace('""', '"')
    assert "\n=" not in first and ";=" not in first
    # Fixed or not, the error file imports back as the same rows with the same values.
    back = tmp_path / "again.csv"
    back.write_bytes(first.encode("cp1251"))
    again = import_file(actor=None, kind="customers", path=back)
    assert counts(again) == (0, 0, 0, 1)
    assert again.report["rejects"][0]["value"] == "12345"
    second = (Path(settings.DATA_DIR) / again.error_file).read_bytes().decode("cp1251")
    assert second.splitlines()[1].split(";")[:3] == first.splitlines()[1].split(";")[:3]
