"""The analytics dashboard: each figure exact on a handmade data set, queries, access, assets."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clientbase.accounts.choices import Role
from clientbase.analytics import dashboard
from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.dashboard import DateRange
from clientbase.analytics.models import CustomerScore
from clientbase.customers.models import Customer
from clientbase.orders.choices import OrderStatus
from clientbase.orders.models import Order
from clientbase.orders.services import OrderInput, order_upsert
from clientbase.segments.models import Segment
from tests import factories

URL = "/analytics/"
PERIOD = DateRange(start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 30))
D = OrderStatus.DELIVERED


def at(day: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.fromisoformat(day + "T12:00:00"))


def customer(created: str) -> Customer:
    made = factories.make_customer()
    Customer.objects.filter(pk=made.pk).update(created_at=at(created))
    return made


def order(who: Customer, day: str, total: int, status: str = D) -> None:
    order_upsert(
        actor=None,
        customer=who,
        data=OrderInput(
            external_id=f"{who.pk}-{day}-{status}",
            placed_at=at(day),
            status=status,
            total=Decimal(total),
            subtotal=Decimal(total),
        ),
    )


@pytest.fixture
def shop(db):
    """Seven customers with purchases in known months; cancelled and returned orders too."""
    a = customer("2024-11-10")
    order(a, "2024-11-15", 100)
    order(a, "2025-01-10", 200)
    order(a, "2025-03-05", 300)
    order(a, "2025-02-01", 999, OrderStatus.CANCELLED)
    b = customer("2025-01-05")
    order(b, "2025-01-20", 50)
    order(b, "2025-02-11", 150)
    c = customer("2025-02-01")
    order(c, "2025-02-03", 400)
    order(c, "2025-04-01", 70, OrderStatus.RETURNED)
    d = customer("2024-12-01")  # bought in the previous period only: churned
    order(d, "2024-12-02", 80)
    e = customer("2025-03-15")  # never bought: a cancelled order only
    order(e, "2025-03-16", 500, OrderStatus.CANCELLED)
    f = customer("2025-07-10")  # after the range
    order(f, "2025-07-12", 60)
    g = customer("2025-01-02")
    order(g, "2025-01-25", 100)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g}


def test_kpis_are_exact(shop):
    kpis = dashboard.dashboard(PERIOD).kpis
    assert kpis.customers_total == 6  # f was created after the range
    assert kpis.new_customers == 4  # b, c, e, g
    assert kpis.active_customers == 5  # a, b, c, d, g bought within 365 days before July
    assert (kpis.buyers, kpis.repeat_buyers, kpis.repeat_share) == (4, 2, 0.5)
    # The previous period is 2024-07-04 .. 2024-12-31: a and d bought; d did not come back.
    assert (kpis.previous_buyers, kpis.churned, kpis.churn_rate) == (2, 1, 0.5)
    assert kpis.orders == 6
    assert kpis.revenue == Decimal("1200.00")
    assert kpis.average_order_value == Decimal("200.00")


def test_monthly_series_are_exact(shop):
    data = dashboard.dashboard(PERIOD)
    months = [dt.date(2025, m, 1) for m in range(1, 7)]
    assert [(p.month, p.value) for p in data.new_customers_by_month] == list(
        zip(months, [2, 1, 1, 0, 0, 0], strict=True)
    )
    assert [(p.month, p.value) for p in data.revenue_by_month] == list(
        zip(months, [Decimal(v) for v in (350, 550, 300, 0, 0, 0)], strict=True)
    )


def test_cohort_table_is_exact(shop):
    rows = dashboard.cohort_table(PERIOD)
    n = None
    assert [(r.month, r.size, r.shares) for r in rows] == [
        (dt.date(2024, 11, 1), 1, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, n, n, n, n]),
        (dt.date(2024, 12, 1), 1, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, n, n, n, n, n]),
        (dt.date(2025, 1, 1), 2, [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, n, n, n, n, n, n]),
        (dt.date(2025, 2, 1), 1, [1.0, 0.0, 0.0, 0.0, 0.0, n, n, n, n, n, n, n]),
    ]


def test_cohorts_start_at_the_first_purchase_even_before_the_table(shop):
    # A range ending in December 2025 shows the cohorts from January 2025 on: a, whose first
    # purchase was in November 2024, is in no cohort even though a bought again in 2025.
    late = DateRange(start=dt.date(2025, 7, 1), end=dt.date(2025, 12, 31))
    assert [r.month for r in dashboard.cohort_table(late)] == [
        dt.date(2025, 1, 1),
        dt.date(2025, 2, 1),
        dt.date(2025, 7, 1),
    ]


def test_empty_database_gives_zeroes_and_no_division_by_zero(db):
    data = dashboard.dashboard(PERIOD)
    assert data.kpis.customers_total == 0
    assert data.kpis.repeat_share is None
    assert data.kpis.churn_rate is None
    assert data.kpis.average_order_value is None
    assert data.cohorts == []
    assert data.rfm == []
    assert data.top_segments == []


def test_rfm_distribution_and_biggest_segments(shop):
    for who, segment in [("a", RfmSegment.CHAMPIONS), ("b", RfmSegment.LOYAL)]:
        CustomerScore.objects.create(
            customer=shop[who], as_of=dt.date(2025, 6, 30), rfm_segment=segment
        )
    CustomerScore.objects.create(
        customer=shop["c"], as_of=dt.date(2025, 6, 30), rfm_segment=RfmSegment.CHAMPIONS
    )
    rfm = {value: count for value, _, count in dashboard.rfm_distribution()}
    assert rfm[RfmSegment.CHAMPIONS] == 2
    assert rfm[RfmSegment.LOYAL] == 1
    assert rfm[RfmSegment.LOST] == 0
    assert list(rfm) == RfmSegment.values
    for n, count in enumerate([10, 50, None, 30, 70, 20, 5]):
        Segment.objects.create(name=f"s{n}", query="orders >= 1", last_count=count)
    assert [(s.name, s.last_count) for s in dashboard.top_segments()] == [
        ("s4", 70),
        ("s1", 50),
        ("s3", 30),
        ("s5", 20),
        ("s0", 10),
    ]


def test_page_shows_the_figures(shop, client_for, admin_user):
    response = client_for(admin_user).get(URL, {"start": "2025-01-01", "end": "2025-06-30"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="cohort-table"' in html
    assert 'id="rfm-empty"' in html  # no refresh has run
    assert response.context["data"].kpis.revenue == Decimal("1200.00")
    assert response.context["charts"]["revenue"]["y"] == [350.0, 550.0, 300.0, 0.0, 0.0, 0.0]


def test_numbers_follow_the_language(shop, client_for, admin_user):
    client = client_for(admin_user)
    order(shop["a"], "2025-05-05", 12345)
    query = {"start": "2025-01-01", "end": "2025-06-30"}
    english = client.get(URL, query, headers={"accept-language": "en"}).content.decode()
    russian = client.get(URL, query, headers={"accept-language": "ru"}).content.decode()
    assert "13,545.00" in english
    assert "13\xa0545,00" in russian
    assert "Customers in total" in english
    assert "Analytics" in english


def test_default_range_is_the_last_twelve_months(db, client_for, admin_user):
    response = client_for(admin_user).get(URL)
    assert response.status_code == 200
    period = response.context["data"].period
    today = timezone.localdate()
    assert period.end == today
    assert period.start == dashboard.add_months(today.replace(day=1), -11)
    assert len(response.context["data"].revenue_by_month) == 12


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2025-06-01", "end": "2025-01-01"}, "must not be after its end"),
        ({"start": "not a date"}, "Enter a valid date"),
        ({"start": "2000-01-01", "end": "2025-01-01"}, "longer than ten years"),
    ],
)
def test_invalid_range_says_why_and_falls_back(db, client_for, admin_user, query, message):
    response = client_for(admin_user).get(URL, query, headers={"accept-language": "en"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["data"].period == dashboard.default_range()


def test_one_end_of_the_range_is_enough(db, client_for, admin_user):
    response = client_for(admin_user).get(URL, {"end": "2025-03-20"})
    assert response.context["data"].period == DateRange(dt.date(2025, 3, 1), dt.date(2025, 3, 20))


def _bulk_shop(size: int) -> None:
    made = [factories.make_customer() for _ in range(size)]
    Order.objects.bulk_create(
        Order(
            customer=who,
            external_id=f"bulk-{who.pk}-{n}",
            placed_at=at(f"2025-0{1 + (who.pk + n) % 6}-1{n}"),
            status=D if n else OrderStatus.CANCELLED,
            total=Decimal(100 + n),
        )
        for who in made
        for n in range(3)
    )
    CustomerScore.objects.bulk_create(
        CustomerScore(customer=who, as_of=dt.date(2025, 6, 30), rfm_segment=RfmSegment.NEW)
        for who in made
    )
    Segment.objects.create(name=f"segment {size}", query="orders >= 1", last_count=size)


def test_query_count_does_not_grow_with_the_data(db, client_for, admin_user):
    client = client_for(admin_user)
    query = {"start": "2025-01-01", "end": "2025-06-30"}
    counts = []
    for size in (5, 45):
        _bulk_shop(size)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, query).status_code == 200
        counts.append(len(queries))
    assert Customer.objects.count() == 50
    assert counts[0] == counts[1]
    assert counts[0] <= 15


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ANALYST, 200),
        (Role.MARKETER, 200),
        (Role.MANAGER, 200),
        (Role.ADMIN, 200),
        (Role.OPERATOR, 403),
    ],
)
def test_who_may_see_the_dashboard(users_by_role, client_for, role, status):
    response = client_for(users_by_role[role]).get(URL)
    assert response.status_code == status
    navbar = client_for(users_by_role[role]).get("/customers/").content.decode()
    assert ('href="/analytics/"' in navbar) == (status == 200)


def test_anonymous_is_sent_to_log_in(db):
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_chart_library_is_served_by_us(db, client_for, admin_user):
    html = client_for(admin_user).get(URL).content.decode()
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    sources += re.findall(r'<link[^>]*\shref="([^"]+)"', html)
    sources += re.findall(r'\sdata-plotly="([^"]+)"', html)  # loaded once the page is shown
    assert "/static/plotly/plotly.min.js" in sources
    off_site = [s for s in sources if s.startswith(("http://", "https://", "//"))]
    assert off_site == []
    assert finders.find("plotly/plotly.min.js")
    response = Client().get("/static/plotly/plotly.min.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert b"plotly" in body[:2000].lower()
    assert Client().get("/static/analytics/dashboard.js").status_code == 200
