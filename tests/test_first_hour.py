"""A new user's first hour in a real Chromium, as `make run` leaves the base: the demo data,
log in, a customer card with statistics, the caller page by a differently typed phone, an
import of a small cp1251 file with a family phone and a surname-first name, its dry run, the
dashboard. Screenshots of each step go to var/screenshots/ to be looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Q, Sum

from clientbase.accounts.choices import Role
from clientbase.customers.models import Customer
from clientbase.orders.choices import OrderStatus
from clientbase.orders.models import Order
from tests import factories
from tests.browser import BROWSER_MARKS, chromium_page, log_in

pytestmark = BROWSER_MARKS

SCREENSHOTS = Path(__file__).resolve().parent.parent / "var" / "screenshots"

# A family sharing one phone (the husband is already in the base) and a name written surname
# first, in the Windows code page Russian Excel still saves in.
CSV = (
    "ФИО;Телефон;E-mail;Город\n"
    "Лебедева Ирина;+7 (903) 111-22-33;irina@example.ru;москва\n"
    "Лебедев Олег;8 903 111 22 33;oleg@example.ru;Москва\n"
)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"first-hour-{name}.png"), full_page=True)


@pytest.fixture
def page(live_server: Any, audit_purged_after: Any, settings: Any, tmp_path: Path) -> Iterator[Any]:
    settings.DATA_DIR = tmp_path / "data"
    settings.IMPORT_BACKUP = False
    with chromium_page(viewport={"width": 1440, "height": 900}) as page:
        yield page


def test_the_first_hour(page: Any, live_server: Any, tmp_path: Path) -> None:
    # What `make run` does before it serves: the demo, then the scores.
    call_command("demo", customers=200, orders=600, seed=7, verbosity=0)
    call_command("analytics", "refresh", verbosity=0)
    factories.make_user(role=Role.ADMIN, username="owner")
    base = live_server.url
    log_in(page, base, "owner")
    shot(page, "1-customers")

    # A customer with delivered orders: the card shows their exact statistics.
    delivered = Q(orders__status=OrderStatus.DELIVERED)
    customer = (
        Customer.objects.annotate(
            delivered=Count("orders", filter=delivered),
            revenue=Sum("orders__total", filter=delivered),
            placed=Count("orders", distinct=True),
        )
        .filter(delivered__gte=2)
        .order_by("-delivered", "pk")
        .first()
    )
    assert customer is not None, "the demo made no customer with two delivered orders"
    placed = Order.objects.filter(customer=customer).count()
    page.goto(f"{base}/customers/{customer.pk}/")
    stats = page.locator(".order-stats").first
    stats.wait_for()
    stats_text = stats.inner_text()
    assert re.search(rf"\b{placed}\b", stats_text), stats_text
    revenue = Decimal(customer.revenue).quantize(Decimal("0.01"))
    whole = f"{int(revenue):,}".replace(",", "\xa0")
    assert whole in stats_text.replace(" ", "\xa0").replace("\u202f", "\xa0"), stats_text
    shot(page, "2-card")

    # The caller page by the primary phone typed the national way.
    digits = customer.primary_phone[2:]
    national = f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    page.goto(f"{base}/orders/caller/?phone={national}")
    caller = page.inner_text("main")
    assert str(customer) in caller
    assert re.search(rf"\b{placed}\b", page.locator(".order-stats").first.inner_text())
    shot(page, "3-caller")

    # The husband is in the base; his wife's row shares his phone.
    husband = factories.make_customer(
        last_name="Лебедев", first_name="Олег", phones=["+79031112233"]
    )
    source = tmp_path / "семья.csv"
    source.write_bytes(CSV.encode("cp1251"))
    page.goto(f"{base}/imports/new/")
    page.set_input_files("input[type=file]", str(source))
    page.click("#import-upload button[type=submit]")
    shot(page, "4-upload")
    page.wait_for_url(re.compile(r".*/imports/\d+/mapping/$"))
    shot(page, "4-mapping")
    page.click("#import-mapping button[value=preview]")
    page.wait_for_url(re.compile(r".*/imports/\d+/preview/$"))
    shot(page, "5-dry-run")
    preview = page.inner_text("main")
    # Irina is not swallowed by Oleg's card: she is a new customer or a conflict to decide.
    assert "Лебедева" in preview
    assert not Customer.objects.filter(last_name="Лебедева").exists()
    husband.refresh_from_db()
    assert husband.first_name == "Олег"

    page.goto(f"{base}/analytics/")
    page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)
    shot(page, "6-dashboard")
