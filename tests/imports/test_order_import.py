"""Order files through the whole engine: orders, items, customers, statistics, modes, undo."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone, translation

from clientbase.customers.models import Customer
from clientbase.imports.choices import ImportMode, ImportStatus
from clientbase.imports.models import ImportBatch, ImportChange, ImportJob
from clientbase.imports.services import import_file, import_job_execute, import_job_undo
from clientbase.orders.models import (
    CustomerStats,
    Order,
    OrderItem,
    OrderStatusChange,
    local_day,
)
from clientbase.orders.services import (
    ItemInput,
    OrderInput,
    customer_stats_refresh,
    order_status_set,
    order_upsert,
)
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

UTC = dt.UTC
RU_HEADER = "Номер заказа;Дата заказа;Сумма заказа;Статус;Телефон;Email;Покупатель\n"
RU_MAPPING = {
    "Номер заказа": "order_id",
    "Дата заказа": "placed_at",
    "Сумма заказа": "total",
    "Статус": "status",
    "Телефон": "customer_phone",
    "Email": "customer_email",
    "Покупатель": "customer_full_name",
}
SHOPIFY_MAPPING = {
    "Name": "order_id",
    "Email": "customer_email",
    "Financial Status": "status",
    "Currency": "currency",
    "Subtotal": "subtotal",
    "Shipping": "delivery_cost",
    "Total": "total",
    "Discount Amount": "discount",
    "Created at": "placed_at",
    "Lineitem quantity": "item_quantity",
    "Lineitem name": "item_name",
    "Lineitem price": "item_price",
    "Lineitem sku": "item_sku",
    "Billing Name": "customer_full_name",
}


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> Iterator[None]:
    """No backup; Moscow time and roubles; reasons asserted by their English msgids."""
    settings.IMPORT_BACKUP = False
    settings.TIME_ZONE = "Europe/Moscow"
    settings.ORDER_CURRENCY = "RUB"
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(path: Path, mapping: dict[str, str] | None = None, **options: Any) -> ImportJob:
    return import_file(
        actor=None,
        kind="orders",
        path=path,
        mapping={"columns": mapping} if mapping else None,
        **options,
    )


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.rows_created, job.rows_updated, job.rows_unchanged, job.rows_rejected


def created(job: ImportJob, ranges: str) -> list[int]:
    """Ids a job's batches recorded as created (orders or customers), for undo."""
    return sorted(
        i
        for batch in ImportBatch.objects.filter(job=job).values_list(ranges, flat=True)
        for first, last in batch
        for i in range(first, last + 1)
    )


def moment(text: str) -> dt.datetime:
    """A shop-local wall time (Moscow, UTC+3) as the aware UTC moment the base stores."""
    local = dt.datetime.fromisoformat(text)
    return (local - dt.timedelta(hours=3)).replace(tzinfo=UTC)


def stats_of(customer_id: int) -> tuple[Any, ...]:
    stats = CustomerStats.objects.get(customer_id=customer_id)
    return (
        stats.orders_count,
        stats.delivered_count,
        stats.revenue,
        stats.average_order_value,
        stats.first_order_at,
        stats.last_order_at,
    )


def test_a_russian_order_file_creates_orders_customers_and_statistics(tmp_path: Path) -> None:
    known = make_customer(phones=["+79031112233"], last_name="Сидоров", first_name="Пётр")
    path = write(
        tmp_path,
        RU_HEADER + "A-1;05.03.2024 14:30;1 500,00 ₽;Доставлен;8 (916) 123-45-67;Ivan@Mail.ru;"
        "Иванов Иван\n"
        + "A-2;2024-04-01 09:00;2 000;;+7 916 123 45 67;;Иванов Иван\n"
        + "A-3;01.02.2024 12:00;700,50;Отменён;+7 903 111-22-33;;\n",
    )
    job = run(path)  # the headers are recognised without help
    assert job.mapping == {str(i): field for i, field in enumerate(RU_MAPPING.values())}
    assert job.status == ImportStatus.DONE
    assert counts(job) == (3, 0, 0, 0)

    ivan = Customer.objects.get(primary_email="ivan@mail.ru")
    assert (ivan.last_name, ivan.first_name, ivan.primary_phone) == (
        "Иванов",
        "Иван",
        "+79161234567",
    )
    assert ivan.source == "import" and ivan.version == 1
    assert Customer.objects.count() == 2  # Иван once for his two orders; Пётр matched
    assert created(job, "created_customer_ranges") == [ivan.pk]

    orders = {o.external_id: o for o in Order.objects.all()}
    assert sorted(orders) == ["A-1", "A-2", "A-3"]
    first = orders["A-1"]
    assert first.source == "import"
    assert first.customer_id == ivan.pk
    assert first.placed_at == moment("2024-03-05T14:30")
    assert first.placed_day == local_day(first.placed_at)
    assert (first.status, first.total, first.subtotal, first.currency) == (
        "delivered",
        Decimal("1500.00"),
        Decimal("1500.00"),
        "RUB",
    )
    assert first.payment_method == "other" and first.manager_id is None
    assert first.delivered_at == first.placed_at
    # No status in the file: a purchase history is delivered.
    assert orders["A-2"].status == "delivered"
    assert orders["A-3"].customer_id == known.pk
    assert (orders["A-3"].status, orders["A-3"].total) == ("cancelled", Decimal("700.50"))
    assert orders["A-3"].delivered_at is None
    for order in orders.values():
        assert order.placed_day == local_day(order.placed_at)
        history = list(OrderStatusChange.objects.filter(order=order).values_list("status", "at"))
        assert history == [(order.status, order.placed_at)]
    assert created(job, "created_ranges") == sorted(o.pk for o in orders.values())

    assert stats_of(ivan.pk) == (
        2,
        2,
        Decimal("3500.00"),
        Decimal("1750.00"),
        moment("2024-03-05T14:30"),
        moment("2024-04-01T09:00"),
    )
    assert stats_of(known.pk)[:4] == (1, 0, Decimal("0.00"), Decimal("0.00"))
    # The set-based refresh left what the one-customer refresh computes.
    for customer_id in (ivan.pk, known.pk):
        before = stats_of(customer_id)
        customer_stats_refresh(customer_id)
        assert stats_of(customer_id) == before

    again = run(path)
    assert counts(again) == (0, 0, 3, 0)
    assert Order.objects.count() == 3 and Customer.objects.count() == 2
    assert OrderStatusChange.objects.count() == 3
    assert not ImportChange.objects.exists()


def test_a_shopify_export_with_line_items(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Name,Email,Financial Status,Currency,Subtotal,Shipping,Total,Discount Amount,"
        "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Billing Name\n"
        "#1001,anna@example.com,paid,USD,100.00,5.00,95.00,10.00,2024-05-02T10:00:00+03:00,"
        "1,Green tea,60.00,T-1,Anna Smith\n"
        "#1001,anna@example.com,,,,,,,,2,Mug,20.00,M-2,\n"
        "#1002,bob@example.com,refunded,USD,,,,,2024-05-03T12:00:00+03:00,3,Honey,9.99,H-5,"
        "Bob Brown\n",
        name="orders_export.csv",
    )
    job = run(path, SHOPIFY_MAPPING)
    # Orders are counted once; the second line of #1001 is merged into it.
    assert counts(job) == (2, 0, 1, 0)
    first = Order.objects.get(external_id="#1001")
    assert (first.currency, first.status) == ("USD", "paid")
    assert (first.subtotal, first.discount, first.delivery_cost, first.total) == (
        Decimal("100.00"),
        Decimal("10.00"),
        Decimal("5.00"),
        Decimal("95.00"),
    )
    assert first.placed_at == moment("2024-05-02T10:00")
    items = list(
        OrderItem.objects.filter(order=first)
        .order_by("id")
        .values_list("sku", "name", "quantity", "price")
    )
    assert items == [
        ("T-1", "Green tea", Decimal("1.000"), Decimal("60.00")),
        ("M-2", "Mug", Decimal("2.000"), Decimal("20.00")),
    ]
    assert (first.customer.first_name, first.customer.last_name) == ("Anna", "Smith")
    # No totals in the file: the subtotal is the items' sum and the total follows from it.
    second = Order.objects.get(external_id="#1002")
    assert (second.status, second.subtotal, second.total) == (
        "returned",
        Decimal("29.97"),
        Decimal("29.97"),
    )
    assert counts(run(path, SHOPIFY_MAPPING)) == (0, 0, 3, 0)
    assert OrderItem.objects.count() == 3


def test_item_rows_continue_the_order_above_and_are_never_split_across_batches(
    tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 3
    path = write(
        tmp_path,
        "Номер заказа;Дата заказа;Email;Товар;Количество;Цена;Валюта\n"
        "1;01.03.2024;a@example.com;Чай;1;100;руб\n"
        "2;02.03.2024;b@example.com;Кофе;1;300;₽\n"
        ";;;Кружка;2;150;\n"  # no number, date or customer: the order above goes on
        ";;;Мёд;1;400;\n"
        "3;03.03.2024;a@example.com;Сахар;1;50;usd\n",
    )
    mapping = {
        "Номер заказа": "order_id",
        "Дата заказа": "placed_at",
        "Email": "customer_email",
        "Товар": "item_name",
        "Количество": "item_quantity",
        "Цена": "item_price",
        "Валюта": "currency",
    }
    job = run(path, mapping)
    assert counts(job) == (3, 0, 2, 0)
    currencies = dict(Order.objects.values_list("external_id", "currency"))
    assert currencies == {"1": "RUB", "2": "RUB", "3": "USD"}
    second = Order.objects.get(external_id="2")
    assert sorted(second.items.values_list("name", flat=True)) == ["Кофе", "Кружка", "Мёд"]
    assert second.total == Decimal("1000.00")
    assert ImportBatch.objects.filter(job=job).count() >= 2
    assert Customer.objects.count() == 2


def test_customer_id_date_and_amount_are_enough(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "client_id,date,amount\n"
        "42,2024-01-10,100\n"
        "42,2024-02-10,250.50\n"
        "43,2024-01-15,80\n"
        "43,2024-01-15,80\n",  # the same purchase twice: one order
        name="history.csv",
    )
    mapping = {"client_id": "customer_external_id", "date": "placed_at", "amount": "total"}
    job = run(path, mapping)
    assert counts(job) == (3, 0, 1, 0)
    first, second = Customer.objects.order_by("external_id")
    assert (first.external_id, second.external_id) == ("42", "43")
    assert stats_of(first.pk) == (
        2,
        2,
        Decimal("350.50"),
        Decimal("175.25"),
        moment("2024-01-10T00:00"),
        moment("2024-02-10T00:00"),
    )
    numbers = set(Order.objects.values_list("external_id", flat=True))
    assert len(numbers) == 3 and all(n.startswith("F-") for n in numbers)
    # The numbers are made from the rows, so a second import finds every order again.
    assert counts(run(path, mapping)) == (0, 0, 4, 0)
    assert Order.objects.count() == 3 and Customer.objects.count() == 2


def test_update_mode_changes_existing_orders_and_rejects_unknown_ones(tmp_path: Path) -> None:
    customer = make_customer(emails=["olga@example.com"])
    order, _created = order_upsert(
        actor=None,
        data=OrderInput(
            external_id="W-1",
            placed_at=moment("2024-06-01T10:00"),
            status="paid",
            total=Decimal("500"),
            items=[ItemInput(name="Чай", price=Decimal("500"))],
        ),
        customer=customer,
    )
    stamp_before = order.updated_at
    path = write(
        tmp_path,
        RU_HEADER
        # No customer named: the order keeps its own.
        + "W-1;01.06.2024 10:00;650;Доставлен;;;\n"
        + "W-404;02.06.2024 10:00;100;;;olga@example.com;\n",
    )
    job = run(path, RU_MAPPING, mode=ImportMode.UPDATE)
    assert counts(job) == (0, 1, 0, 1)
    assert job.report["rejects"] == [
        {
            "row": 3,
            "column": "",
            "value": "",
            "reason": "No order with this number in the base (the import only updates).",
        }
    ]
    order.refresh_from_db()
    assert (order.source, order.status, order.total) == ("website", "delivered", Decimal("650"))
    assert order.customer_id == customer.pk
    assert order.updated_at > stamp_before
    assert order.items.count() == 1  # the file lists no items: they stay
    change = ImportChange.objects.get(job=job)
    assert change.object_id == order.pk
    assert change.before["fields"] == {"status": "paid", "total": "500.00", "delivered_at": None}
    assert list(order.status_history.values_list("status", flat=True)) == ["paid", "delivered"]
    assert stats_of(customer.pk)[:3] == (1, 1, Decimal("650.00"))
    assert not Order.objects.filter(external_id="W-404").exists()
    # Nothing left to change the second time.
    assert counts(run(path, RU_MAPPING, mode=ImportMode.UPDATE)) == (0, 0, 1, 1)


def test_create_mode_leaves_existing_orders_alone(tmp_path: Path) -> None:
    customer = make_customer(emails=["olga@example.com"])
    order, _created = order_upsert(
        actor=None,
        data=OrderInput(
            external_id="W-1", placed_at=moment("2024-06-01T10:00"), total=Decimal("500")
        ),
        customer=customer,
    )
    path = write(
        tmp_path,
        RU_HEADER
        + "W-1;01.06.2024 10:00;999;Отменён;;olga@example.com;\n"
        + "W-2;03.06.2024 10:00;100;;;olga@example.com;\n",
    )
    job = run(path, RU_MAPPING, mode=ImportMode.CREATE)
    assert counts(job) == (1, 0, 1, 0)
    order.refresh_from_db()
    assert (order.status, order.total) == ("new", Decimal("500.00"))
    assert Order.objects.get(external_id="W-2").customer_id == customer.pk
    assert not ImportChange.objects.exists()


def test_rejected_rows_are_reported_with_their_row_and_take_their_order_along(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "Номер заказа;Дата заказа;Email;Товар;Цена\n"
        "1;01.03.2024;a@example.com;Чай;100\n"
        "1;01.03.2024;a@example.com;Кофе;сто рублей\n"
        "2;31.02.2024;b@example.com;Мёд;50\n"
        "3;03.03.2024;;Сахар;10\n"
        "4;04.03.2024;c@example.com;Соль;20\n",
    )
    mapping = {
        "Номер заказа": "order_id",
        "Дата заказа": "placed_at",
        "Email": "customer_email",
        "Товар": "item_name",
        "Цена": "item_price",
    }
    job = run(path, mapping)
    assert counts(job) == (1, 0, 0, 4)
    assert job.rows_done == 5
    rejects = {r["row"]: r for r in job.report["rejects"]}
    assert sorted(rejects) == [2, 3, 4, 5]
    assert (rejects[3]["column"], rejects[3]["value"]) == ("Цена", "сто рублей")
    assert rejects[2]["reason"] == "Another row of this order (row 3) was rejected."
    assert (rejects[4]["column"], rejects[4]["value"]) == ("Дата заказа", "31.02.2024")
    assert rejects[5]["reason"] == (
        "The order names no customer: give its customer id, e-mail or phone."
    )
    assert list(Order.objects.values_list("external_id", flat=True)) == ["4"]
    assert job.error_file


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    customer = make_customer(emails=["olga@example.com"])
    path = write(
        tmp_path,
        RU_HEADER
        + "N-1;01.06.2024 10:00;650;;;olga@example.com;\n"
        + "N-2;01.06.2024 11:00;100;;;new@example.com;Новая Анна\n",
    )
    job = run(path, RU_MAPPING, dry_run=True)
    assert job.status == ImportStatus.PREVIEWED
    assert (job.preview["created"], job.preview["rejected"]) == (2, 0)
    assert not Order.objects.exists()
    assert list(Customer.objects.values_list("id", flat=True)) == [customer.pk]
    assert not CustomerStats.objects.filter(orders_count__gt=0).exists()
    assert not ImportBatch.objects.exists()


def test_undo_removes_created_restores_updated_and_refuses_where_edited_since(
    tmp_path: Path,
) -> None:
    olga = make_customer(emails=["olga@example.com"])
    existing, _created = order_upsert(
        actor=None,
        data=OrderInput(
            external_id="W-1",
            placed_at=moment("2024-06-01T10:00"),
            status="paid",
            total=Decimal("500"),
        ),
        customer=olga,
    )
    path = write(
        tmp_path,
        RU_HEADER
        + "W-1;01.06.2024 10:00;650;Доставлен;;olga@example.com;\n"
        + "N-1;02.06.2024 10:00;100;;;new@example.com;Новая Анна\n"
        + "N-2;03.06.2024 10:00;200;;;kept@example.com;Пётр Кепт\n"
        + "N-3;04.06.2024 10:00;300;;;olga@example.com;\n",
    )
    job = run(path, RU_MAPPING)
    assert counts(job) == (3, 1, 0, 0)
    assert Customer.objects.count() == 3
    # Someone works on one of the imported orders after the import.
    edited = Order.objects.get(external_id="N-2")
    order_status_set(actor=None, order_id=edited.pk, status="returned")

    undone = import_job_undo(actor=None, job_id=job.pk)
    assert undone.status == ImportStatus.UNDONE
    report = undone.undo_report
    assert (report["removed"], report["restored"], report["customers_removed"]) == (2, 1, 1)
    assert report["conflicts"] == 2
    reasons = {(c["id"], c["reason"]) for c in report["conflict_list"]}
    assert (edited.pk, "edited after the import") in reasons
    assert (edited.customer_id, "has orders since the import") in reasons
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["N-2", "W-1"]
    existing.refresh_from_db()
    assert (existing.status, existing.total, existing.delivered_at) == (
        "paid",
        Decimal("500.00"),
        None,
    )
    assert list(existing.status_history.values_list("status", flat=True)) == ["paid"]
    assert not Customer.objects.filter(emails__address="new@example.com").exists()
    assert Customer.objects.filter(pk=edited.customer_id).exists()
    assert stats_of(olga.pk)[:3] == (1, 0, Decimal("0.00"))


def test_undo_refuses_to_restore_an_order_edited_since(tmp_path: Path) -> None:
    olga = make_customer(emails=["olga@example.com"])
    existing, _created = order_upsert(
        actor=None,
        data=OrderInput(external_id="W-1", placed_at=moment("2024-06-01T10:00"), status="paid"),
        customer=olga,
    )
    path = write(tmp_path, RU_HEADER + "W-1;01.06.2024 10:00;650;Доставлен;;olga@example.com;\n")
    job = run(path, RU_MAPPING)
    assert counts(job) == (0, 1, 0, 0)
    later = timezone.now() + dt.timedelta(seconds=1)
    Order.objects.filter(pk=existing.pk).update(total=Decimal("700"), updated_at=later)
    report = import_job_undo(actor=None, job_id=job.pk).undo_report
    assert (report["restored"], report["conflicts"]) == (0, 1)
    existing.refresh_from_db()
    assert (existing.status, existing.total) == ("delivered", Decimal("700.00"))


def test_an_interrupted_import_resumes_without_splitting_or_repeating_orders(
    tmp_path: Path, settings: Any
) -> None:
    settings.IMPORT_BATCH_ROWS = 3
    lines = []
    for number in range(1, 6):
        # Orders of one, two and three item rows in turn, so batches end inside orders.
        for item in range(number % 3 + 1):
            lines.append(f"{number};0{number}.03.2024;c{number}@example.com;Товар {item};10\n")
    path = write(tmp_path, "Номер заказа;Дата заказа;Email;Товар;Цена\n" + "".join(lines))
    mapping = {
        "Номер заказа": "order_id",
        "Дата заказа": "placed_at",
        "Email": "customer_email",
        "Товар": "item_name",
        "Цена": "item_price",
    }
    job = import_file(
        actor=None, kind="orders", path=path, mapping={"columns": mapping}, dry_run=True
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    with pytest.raises(InterruptedError):
        import_job_execute(job.pk, stop_after_batches=2)
    assert Order.objects.count() == 2  # whole orders only
    job = import_job_execute(job.pk, force=True)
    assert job.status == ImportStatus.DONE
    assert counts(job) == (5, 0, len(lines) - 5, 0)
    sizes = {o.external_id: o.items.count() for o in Order.objects.all()}
    assert sizes == {str(n): n % 3 + 1 for n in range(1, 6)}
    assert all(o.total == Decimal(10 * (int(o.external_id) % 3 + 1)) for o in Order.objects.all())
    batches = list(ImportBatch.objects.filter(job=job).order_by("seq"))
    assert all(a.last_row < b.first_row for a, b in itertools.pairwise(batches))
    assert Customer.objects.count() == 5


def test_customers_are_matched_in_key_order_and_created_once(tmp_path: Path, settings: Any) -> None:
    settings.IMPORT_BATCH_ROWS = 2
    known = make_customer(phones=["+79031112233"], emails=["known@example.com"])
    other = make_customer(phones=["+79035556677"], emails=["other@example.com"])
    path = write(
        tmp_path,
        "Номер заказа;Дата заказа;Телефон;Email\n"
        "1;01.03.2024;+7 903 111-22-33;new-address@example.com\n"  # known, by phone
        "2;02.03.2024;+7 916 000-00-01;anna@example.com\n"  # a new customer ...
        "3;03.03.2024;+7 916 000-00-01;anna.work@example.com\n"  # ... the same (phone)
        "4;04.03.2024;;anna.work@example.com\n"  # ... the same (e-mail), in a later batch
        "5;05.03.2024;+7 903 111-22-33;other@example.com\n",  # e-mail goes before phone
    )
    mapping = {
        "Номер заказа": "order_id",
        "Дата заказа": "placed_at",
        "Телефон": "customer_phone",
        "Email": "customer_email",
    }
    job = run(path, mapping)
    assert counts(job) == (5, 0, 0, 0)
    owners = dict(Order.objects.values_list("external_id", "customer_id"))
    anna = Customer.objects.get(primary_phone="+79160000001")
    assert owners == {"1": known.pk, "2": anna.pk, "3": anna.pk, "4": anna.pk, "5": other.pk}
    assert Customer.objects.count() == 3
    assert sorted(anna.emails.values_list("address", flat=True)) == [
        "anna.work@example.com",
        "anna@example.com",
    ]
    # An order file does not add contacts to customers already in the base.
    assert list(known.emails.values_list("address", flat=True)) == ["known@example.com"]
    assert created(job, "created_customer_ranges") == [anna.pk]
    assert stats_of(anna.pk)[:2] == (3, 3)


def test_an_order_of_a_company_creates_a_company_customer(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "Номер заказа;Дата;Сумма;Покупатель;Телефон\n"
        "A-1;2024-05-01;1000;ООО «Ромашка»;+79160000001\n"
        "A-2;2024-05-02;500;Лебедева Ирина;+79160000002\n",
        encoding="utf-8",
    )
    job = import_file(actor=None, kind="orders", path=path)
    assert job.rows_rejected == 0
    firm = Customer.objects.get(primary_phone="+79160000001")
    assert (firm.kind, firm.company_name, firm.last_name, firm.first_name) == (
        "company",
        "ООО «Ромашка»",
        "",
        "",
    )
    person = Customer.objects.get(primary_phone="+79160000002")
    assert (person.kind, person.last_name, person.first_name) == ("person", "Лебедева", "Ирина")
