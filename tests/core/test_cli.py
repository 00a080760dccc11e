"""The console commands createadmin, demo and serve, run as a user runs them."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum
from django.utils import translation

from clientbase.accounts.choices import Role
from clientbase.accounts.models import User
from clientbase.core.models import AuditEvent
from clientbase.customers.choices import CustomerKind, Gender
from clientbase.customers.models import Customer, CustomerEmail, CustomerPhone, TimelineEvent
from clientbase.customers.normalize import (
    normalize_email,
    normalize_phone,
    validate_bank_account,
    validate_bic,
    validate_inn,
    validate_kpp,
    validate_ogrn,
)
from clientbase.orders.models import Order, OrderItem, OrderStatusChange
from tests.core.clitools import child_env, clean_env, free_port, run_cli


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English; the suite's default language is Russian."""
    with translation.override("en"):
        yield


# ---------------------------------------------------------------- createadmin


def _credentials(stdout: str) -> tuple[str, str, str]:
    url = re.search(r"Log in at:\s+(\S+)", stdout)
    username = re.search(r"Username:\s+(\S+)", stdout)
    password = re.search(r"Password:\s+(\S+)", stdout)
    assert url and username and password, stdout
    return url.group(1), username.group(1), password.group(1)


@pytest.mark.usefixtures("audit_purged_after")
def test_createadmin_prints_a_password_that_logs_in(client: Any) -> None:
    result = run_cli("createadmin", env=child_env())

    assert result.returncode == 0, result.stderr
    url, username, password = _credentials(result.stdout)
    assert url == "http://127.0.0.1:8000/accounts/login/"
    assert username == "admin"
    assert len(password) >= 16
    user = User.objects.get(username="admin")
    assert user.role == Role.ADMIN
    assert not user.is_superuser
    assert client.login(username="admin", password=password)
    # The password is shown once on stdout and kept nowhere else.
    assert password not in result.stderr
    assert password not in json.dumps(list(AuditEvent.objects.values("changes", "extra")))


@pytest.mark.usefixtures("audit_purged_after")
def test_createadmin_if_none_is_idempotent() -> None:
    first = run_cli("createadmin", "--if-none", env=child_env())
    second = run_cli("createadmin", "--if-none", env=child_env())

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "already exists" in second.stdout
    assert "Password" not in second.stdout
    assert User.objects.filter(role=Role.ADMIN).count() == 1


@pytest.mark.usefixtures("audit_purged_after")
def test_createadmin_with_given_password_validates_and_does_not_echo_it(client: Any) -> None:
    weak = run_cli("createadmin", "--username", "owner", "--password", "12345", env=child_env())
    good = run_cli(
        "createadmin",
        "--username",
        "owner",
        "--password",
        "Tundra-Owl-58-kettle",
        env=child_env(),
    )

    assert weak.returncode != 0
    assert "too short" in weak.stderr
    assert good.returncode == 0, good.stderr
    assert "Tundra-Owl-58-kettle" not in good.stdout
    assert client.login(username="owner", password="Tundra-Owl-58-kettle")
    assert User.objects.filter(role=Role.ADMIN).count() == 1


@pytest.mark.usefixtures("audit_purged_after")
def test_createadmin_refuses_a_taken_username(make_user: Any) -> None:
    make_user(role=Role.OPERATOR, username="admin")

    result = run_cli("createadmin", env=child_env())

    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert User.objects.get(username="admin").role == Role.OPERATOR


# ---------------------------------------------------------------- demo


def _demo(**options: Any) -> str:
    out = io.StringIO()
    call_command("demo", stdout=out, **options)
    return out.getvalue()


def _snapshot() -> dict[str, list[Any]]:
    return {
        "customers": list(
            Customer.objects.order_by("id").values_list(
                "kind", "last_name", "first_name", "middle_name", "birthday", "primary_phone",
                "primary_email", "city", "inn", "status",
            )
        ),
        "orders": list(
            Order.objects.order_by("id").values_list("external_id", "status", "total", "placed_at")
        ),
    }  # fmt: skip


@pytest.mark.django_db
def test_demo_counts_are_exact_and_the_data_valid() -> None:
    output = _demo(customers=200, orders=500, seed=42)

    assert "customers/s" in output
    assert Customer.objects.count() == 200
    assert Order.objects.count() == 500
    assert TimelineEvent.objects.filter(kind="created").count() == 200
    # Every customer: one primary phone and one primary e-mail, mirrored on the card.
    assert CustomerPhone.objects.filter(is_primary=True).count() == 200
    assert CustomerEmail.objects.filter(is_primary=True).count() == 200
    for customer in Customer.objects.prefetch_related("phones", "emails", "addresses"):
        primary = next(p for p in customer.phones.all() if p.is_primary)
        assert customer.primary_phone == primary.number
        assert customer.primary_email == next(e for e in customer.emails.all()).address
        default = [a.city for a in customer.addresses.all() if a.is_default]
        assert customer.city == (default[0] if default else "")
        assert customer.search_name == customer.search_name.casefold()
        assert customer.search_name
    for number in CustomerPhone.objects.values_list("number", flat=True):
        assert re.fullmatch(r"\+79\d{9}", number)
        assert normalize_phone(number) == number
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))
    assert (
        CustomerPhone.objects.values("number").distinct().count() == CustomerPhone.objects.count()
    )
    for address in CustomerEmail.objects.values_list("address", flat=True):
        assert normalize_email(address) == address


@pytest.mark.django_db
def test_demo_companies_carry_valid_requisites() -> None:
    _demo(customers=200, orders=0, seed=7)

    companies = list(Customer.objects.filter(kind=CustomerKind.COMPANY))
    assert 5 <= len(companies) <= 45  # about one in ten
    for company in companies:
        assert company.company_name
        assert validate_inn(company.inn) == company.inn
        assert validate_ogrn(company.ogrn) == company.ogrn
        assert len(company.ogrn) == (15 if len(company.inn) == 12 else 13)
        if company.kpp:
            assert validate_kpp(company.kpp) == company.kpp
        assert validate_bic(company.bank_bic) == company.bank_bic
        assert validate_bank_account(company.bank_account, company.bank_bic)


@pytest.mark.django_db
def test_demo_names_agree_with_gender() -> None:
    _demo(customers=200, orders=0, seed=3)

    for customer in Customer.objects.filter(kind=CustomerKind.PERSON):
        if customer.gender == Gender.FEMALE:
            assert not customer.last_name.endswith(("ов", "ев", "ёв", "ин", "ский"))
            assert not customer.middle_name or customer.middle_name.endswith("на")
        else:
            assert not customer.last_name.endswith(("ова", "ева", "ина", "ская"))
            assert not customer.middle_name or customer.middle_name.endswith("ич")


@pytest.mark.django_db
def test_demo_orders_add_up() -> None:
    _demo(customers=100, orders=300, seed=11)

    items = dict(
        OrderItem.objects.values_list("order_id")
        .annotate(n=Count("id"))
        .values_list("order_id", "n")
    )
    assert len(items) == 300
    for order in Order.objects.annotate(item_total=Sum("items__price")).prefetch_related("items"):
        subtotal = sum((i.price * i.quantity for i in order.items.all()), Decimal("0"))
        assert order.subtotal == subtotal
        assert order.total == order.subtotal - order.discount + order.delivery_cost
        assert order.placed_at >= order.customer.created_at
        history = list(OrderStatusChange.objects.filter(order=order).order_by("at", "id"))
        assert history[0].status == "new"
        assert history[-1].status == order.status
        assert [h.at for h in history] == sorted(h.at for h in history)
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"delivered", "cancelled"} <= statuses


@pytest.mark.django_db
def test_demo_orders_go_to_managers_and_follow_the_life_cycle() -> None:
    from clientbase.orders.lifecycle import NEXT_STATUSES

    _demo(customers=100, orders=400, seed=5)

    roles = dict(
        Order.objects.filter(manager__isnull=False)
        .values_list("manager__role")
        .annotate(n=Count("id"))
        .values_list("manager__role", "n")
    )
    assert set(roles) == {Role.MANAGER} and roles[Role.MANAGER] > 0
    assert Order.objects.filter(source="phone", manager__isnull=False).exists()
    steps: dict[int, list[str]] = {}
    for order_id, status in OrderStatusChange.objects.order_by("order_id", "at", "id").values_list(
        "order_id", "status"
    ):
        steps.setdefault(order_id, []).append(status)
    for history in steps.values():
        for current, following in itertools.pairwise(history):
            assert following in NEXT_STATUSES[current], history


@pytest.mark.django_db
def test_demo_is_deterministic_with_a_seed() -> None:
    _demo(customers=150, orders=300, seed=2024)
    first = _snapshot()
    Order.objects.all().delete()
    Customer.objects.all().delete()

    _demo(customers=150, orders=300, seed=2024)

    assert _snapshot() == first
    assert len(first["customers"]) == 150


@pytest.mark.django_db
def test_demo_if_empty_leaves_a_filled_base_alone(make_customer: Any) -> None:
    make_customer()

    output = _demo(customers=50, orders=50, if_empty=True, seed=1)

    assert "already has customers" in output
    assert Customer.objects.count() == 1
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_demo_creates_staff_without_showing_passwords() -> None:
    output = _demo(customers=10, orders=10, seed=1)

    roles = dict(User.objects.values_list("username", "role"))
    assert roles == {"manager": Role.MANAGER, "operator": Role.OPERATOR, "marketer": Role.MARKETER}
    assert "assword:" not in output


@pytest.mark.usefixtures("audit_purged_after")
def test_demo_runs_from_the_command_line() -> None:
    result = run_cli("demo", "--customers", "30", "--orders", "40", "--seed", "5", env=child_env())

    assert result.returncode == 0, result.stderr
    rate = r"Customers: 30 in [\d.]+ s \([\d,]+ customers/s, [\d,]+ rows/s\)"
    assert re.search(rate, result.stdout)
    assert Customer.objects.count() == 30
    assert Order.objects.count() == 40


# ---------------------------------------------------------------- serve


def _wait_for_health(port: int, process: subprocess.Popen[str], seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                assert answer.status == 200
                return json.loads(answer.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("clientbase serve did not answer /healthz in time")


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "clientbase.cli", "serve", "--port", str(port), *extra],
        env=clean_env(CLIENTBASE_DATA_DIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Its own process group, like a terminal's foreground job: Ctrl+C can be imitated.
        start_new_session=True,
    )
    return process, port


def _worker_pid(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    for _line in range(20):
        line = process.stdout.readline()
        match = re.search(r"worker started \(process (\d+)\)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("no worker pid printed")


def test_serve_answers_healthz_and_stops_both_on_sigterm(tmp_path: Path) -> None:
    process, port = _serve(tmp_path)
    try:
        worker = _worker_pid(process)
        health = _wait_for_health(port, process)
        assert health == {"status": "ok", "database": "ok", "vendor": "sqlite"}

        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Background worker stopped." in stdout
    assert "Stopped." in stdout
    with pytest.raises(ProcessLookupError):
        # The worker is gone, not orphaned.
        os.kill(worker, 0)


def test_ctrl_c_stops_server_and_worker_without_false_alarm(tmp_path: Path) -> None:
    process, port = _serve(tmp_path)
    try:
        worker = _worker_pid(process)
        _wait_for_health(port, process)

        # A terminal sends SIGINT to every process of the foreground job.
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Stopped." in stdout
    assert "unexpectedly" not in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


def test_serve_says_when_the_worker_dies(tmp_path: Path) -> None:
    process, port = _serve(tmp_path)
    try:
        worker = _worker_pid(process)
        _wait_for_health(port, process)
        os.kill(worker, signal.SIGKILL)
        # serve gives a dying worker 2 s to be part of a shutdown before it reports it.
        time.sleep(3)
        # The web app keeps serving.
        _wait_for_health(port, process, seconds=5)
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=45)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "background worker stopped unexpectedly" in stderr


def test_serve_without_worker_prints_the_url(tmp_path: Path) -> None:
    process, port = _serve(tmp_path, "--no-worker")
    try:
        _wait_for_health(port, process)
        process.send_signal(signal.SIGINT)
        stdout, _stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert f"http://127.0.0.1:{port}/" in stdout
    assert "not started" in stdout


@pytest.mark.django_db
def test_healthz_names_the_database_vendor(client: Any) -> None:
    answer = client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json()["vendor"] == connection.vendor
