"""`clientbase export customers|orders`: filters, formats, columns, exit code 2, the audit row."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation
from python_calamine import CalamineWorkbook

from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.orders.services import OrderInput, order_upsert
from tests import factories


@pytest.fixture(autouse=True)
def _english(settings: Any) -> Any:
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def base(db: Any) -> dict[str, Any]:
    moscow = factories.make_customer(last_name="Москвич", city="Москва", phones=["+79160000001"])
    kazan = factories.make_customer(last_name="Казанец", city="Казань", phones=["+79160000002"])
    for number, day, status, customer in [
        ("1", dt.datetime(2026, 1, 5, 12), "delivered", moscow),
        ("2", dt.datetime(2026, 2, 5, 12), "new", moscow),
        ("3", dt.datetime(2026, 3, 5, 12), "delivered", kazan),
    ]:
        order_upsert(
            actor=None,
            data=OrderInput(external_id=number, placed_at=timezone.make_aware(day), status=status),
            customer=customer,
        )
    return {"moscow": moscow, "kazan": kazan}


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=";"))


def test_customers_by_segment_query_to_csv(base, tmp_path, capsys):
    target = tmp_path / "moscow.csv"
    call_command("export", "customers", "--filter", 'город = "Москва"', "-o", str(target))
    assert capsys.readouterr().out.strip() == f"1 rows written to {target}"
    rows = _read(target)
    assert rows[0][:3] == ["External id", "Person or company", "Last name"]
    assert [r[2] for r in rows[1:]] == ["Москвич"]
    event = AuditEvent.objects.get(action=AuditAction.EXPORT)
    assert event.actor_id is None and event.actor_name == ""
    assert event.extra["via"] == "cli" and event.extra["rows"] == 1
    assert event.extra["filters"] == {"query": 'city = "Москва"'}


def test_format_from_the_extension_and_chosen_columns(base, tmp_path):
    target = tmp_path / "all.xlsx"
    call_command("export", "customers", "--columns", "id,phone,last_name", "-o", str(target))
    rows = CalamineWorkbook.from_path(str(target)).get_sheet_by_index(0).to_python()
    assert rows[0] == ["clientbase id", "Phone", "Last name"]
    assert sorted(r[1] for r in rows[1:]) == ["+79160000001", "+79160000002"]
    forced = tmp_path / "all.txt"
    call_command("export", "customers", "--format", "xlsx", "-o", str(forced))
    assert forced.read_bytes().startswith(b"PK")  # a zip: XLSX whatever the name


def test_orders_with_the_simple_filter(base, tmp_path):
    target = tmp_path / "orders.csv"
    call_command(
        "export",
        "orders",
        "--filter",
        "status=delivered,from=2026-01-01,to=2026-02-28",
        "--columns",
        "order_id,status,placed_at",
        "-o",
        str(target),
    )
    assert _read(target) == [
        ["Order number", "Order status", "Order date"],
        ["1", "Delivered", "2026-01-05 12:00:00"],
    ]
    call_command("export", "orders", "--columns", "order_id,status", "--codes", "-o", str(target))
    assert _read(target)[1] == ["1", "delivered"]
    assert AuditEvent.objects.filter(extra__values="codes").count() == 1
    call_command("export", "orders", "--filter", f"customer={base['kazan'].pk}", "-o", str(target))
    assert [r[0] for r in _read(target)[1:]] == ["3"]


def test_bad_customer_query_exits_2_with_the_position(db, tmp_path, capsys):
    target = tmp_path / "x.csv"
    with pytest.raises(SystemExit) as info:
        call_command("export", "customers", "--filter", "orders >= x", "-o", str(target))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Expected a number after “>=” at position 11" in err
    assert "  orders >= x\n" in err and "\n" + " " * 12 + "^" in err
    assert not target.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("status=lost", "Status: Select a valid choice. lost is not one of the available choices."),
        ("from=2026-13-01", "Placed from: Enter a valid date."),
        ("from=2026-03-01,to=2026-01-01", "The start date is after the end date."),
        ("customer=x", "Customer: Select a valid choice."),
        ("manager=nobody.here", "No staff user “nobody.here”."),
        ("sort=importance", "Not understood: “sort=importance”; use key=value with keys q,"),
    ],
)
def test_bad_order_filter_exits_2(db, tmp_path, capsys, text, reason):
    target = tmp_path / "o.csv"
    with pytest.raises(SystemExit) as info:
        call_command("export", "orders", "--filter", text, "-o", str(target))
    assert info.value.code == 2
    assert reason in capsys.readouterr().err
    assert not target.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_orders_with_the_order_lists_search_and_a_manager_by_name(base, tmp_path):
    """The same filters as the order list: its search (here a phone typed another way, a
    name), and a manager named by user name."""
    from clientbase.accounts.choices import Role
    from clientbase.orders.models import Order

    manager = factories.make_user(role=Role.MANAGER, username="ivanov")
    Order.objects.filter(external_id__in=["1", "3"]).update(manager=manager)
    target = tmp_path / "orders.csv"
    for text, numbers in [
        ("q=8 916 000-00-01", ["1", "2"]),
        ("q=Москвич,from=2026-02-01", ["2"]),
        ("q=казанец,status=delivered", ["3"]),
        ("q=Москвич,manager=ivanov", ["1"]),
        ("manager=none", ["2"]),
        ("q=Нетакого", []),
    ]:
        call_command(
            "export", "orders", "--filter", text, "--columns", "order_id", "-o", str(target)
        )
        assert sorted(r[0] for r in _read(target)[1:]) == numbers, text
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT).order_by("pk").first()
    assert event.extra["filters"] == {"query_kind": "phone"}


def test_unknown_column_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="Unknown columns: colour"):
        call_command("export", "customers", "--columns", "id,colour", "-o", str(tmp_path / "c"))


def test_the_row_count_is_grouped_in_russian(db, tmp_path, capsys):
    from clientbase.customers.models import Customer

    Customer.objects.bulk_create(
        Customer(last_name=f"Петров{n}", first_name="Иван") for n in range(1200)
    )
    target = tmp_path / "all.csv"
    with translation.override("ru"):
        call_command("export", "customers", "-o", str(target))
    assert capsys.readouterr().out.strip() == f"Записано строк в {target}: 1\u00a0200"
