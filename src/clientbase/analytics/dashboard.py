"""Reads behind the analytics dashboard: KPIs, monthly series, cohorts, RFM and segment sizes.

Every figure is one set-based query (a fixed number of queries whatever the data size) and works
on SQLite and PostgreSQL alike. A purchase is a delivered order, dated by when it was placed:
cancelled, refused, returned and still open orders never count. docs/analytics.md defines each
figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    Expression,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncMonth
from django.utils import timezone

from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.models import CustomerScore
from clientbase.customers.models import Customer
from clientbase.orders.choices import OrderStatus
from clientbase.orders.models import Order
from clientbase.segments.models import Segment

# A customer is active when they bought within this many days before the end of the range.
ACTIVE_DAYS = 365
# The cohort table shows the last this-many cohorts, each followed for as many months.
COHORT_MONTHS = 12
TOP_SEGMENTS = 5


@dataclass(frozen=True)
class DateRange:
    """Both ends inclusive, as calendar days in the current time zone."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def since(self) -> dt.datetime:
        return _aware(self.start)

    @property
    def until(self) -> dt.datetime:
        """The first moment after the range."""
        return _aware(self.end + dt.timedelta(days=1))

    def previous(self) -> DateRange:
        """The period of the same length just before this one."""
        return DateRange(
            start=self.start - dt.timedelta(days=self.days),
            end=self.start - dt.timedelta(days=1),
        )

    def months(self) -> list[dt.date]:
        """The first day of each calendar month the range touches."""
        found = []
        month = self.start.replace(day=1)
        while month <= self.end:
            found.append(month)
            month = add_months(month, 1)
        return found


@dataclass(frozen=True)
class MonthPoint:
    month: dt.date
    value: Decimal | int


@dataclass(frozen=True)
class CohortRow:
    month: dt.date
    size: int
    # Share (0..1) of the cohort that bought k months after its first month; None = not yet known.
    shares: list[float | None]


@dataclass(frozen=True)
class Kpis:
    customers_total: int
    new_customers: int
    active_customers: int
    buyers: int
    repeat_buyers: int
    repeat_share: float | None
    previous_buyers: int
    churned: int
    churn_rate: float | None
    orders: int
    revenue: Decimal
    average_order_value: Decimal | None


@dataclass(frozen=True)
class Dashboard:
    period: DateRange
    kpis: Kpis
    new_customers_by_month: list[MonthPoint]
    revenue_by_month: list[MonthPoint]
    cohorts: list[CohortRow]
    rfm: list[tuple[str, str, int]] = field(default_factory=list)  # (value, label, customers)
    top_segments: list[Segment] = field(default_factory=list)


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, later: dt.date) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def default_range(today: dt.date | None = None) -> DateRange:
    """The last 12 calendar months, this one included."""
    today = today or timezone.localdate()
    return DateRange(start=add_months(today.replace(day=1), -11), end=today)


def _purchases():  # type: ignore[no-untyped-def]
    return Order.objects.filter(status=OrderStatus.DELIVERED)


def _month(expression: str | Expression | Subquery[Any]) -> TruncMonth:
    return TruncMonth(expression, output_field=DateField())


# ---------------------------------------------------------------- figures


def new_customers_by_month(period: DateRange) -> list[MonthPoint]:
    rows = (
        Customer.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .annotate(month=_month("created_at"))
        .values("month")
        .annotate(customers=Count("pk"))
        .values_list("month", "customers")
    )
    by_month = dict(rows)
    return [MonthPoint(month, by_month.get(month, 0)) for month in period.months()]


def sales_by_month(period: DateRange) -> tuple[list[MonthPoint], int, Decimal]:
    """Revenue of each month, and the number of orders and revenue of the whole range."""
    rows = (
        _purchases()
        .filter(placed_at__gte=period.since, placed_at__lt=period.until)
        .annotate(month=_month("placed_at"))
        .values("month")
        .annotate(orders=Count("pk"), revenue=Sum("total"))
        .values_list("month", "orders", "revenue")
    )
    by_month = {month: (orders, revenue) for month, orders, revenue in rows}
    points = [
        MonthPoint(month, by_month.get(month, (0, Decimal(0)))[1]) for month in period.months()
    ]
    orders = sum(orders for orders, _ in by_month.values())
    revenue = sum((revenue for _, revenue in by_month.values()), Decimal(0))
    return points, orders, revenue


def buyer_counts(period: DateRange) -> dict[str, int]:
    """Buyers of the range, repeat buyers among them, buyers of the previous period, churned."""
    previous = period.previous()
    in_range = Q(placed_at__gte=period.since)
    per_customer = (
        _purchases()
        .filter(placed_at__gte=previous.since, placed_at__lt=period.until)
        .values("customer")
        .annotate(
            now=Count("pk", filter=in_range),
            before=Count("pk", filter=~in_range),
        )
    )
    totals = per_customer.aggregate(
        buyers=Count("customer", filter=Q(now__gte=1)),
        repeat_buyers=Count("customer", filter=Q(now__gte=2)),
        previous_buyers=Count("customer", filter=Q(before__gte=1)),
        churned=Count("customer", filter=Q(before__gte=1, now=0)),
    )
    return {key: int(value or 0) for key, value in totals.items()}


def active_customers(period: DateRange) -> int:
    since = period.until - dt.timedelta(days=ACTIVE_DAYS)
    return (
        _purchases()
        .filter(placed_at__gte=since, placed_at__lt=period.until)
        .aggregate(customers=Count("customer", distinct=True))["customers"]
    )


def customer_totals(period: DateRange) -> tuple[int, int]:
    """Customers that existed at the end of the range, and those created within it."""
    totals = Customer.objects.filter(created_at__lt=period.until).aggregate(
        total=Count("pk"), new=Count("pk", filter=Q(created_at__gte=period.since))
    )
    return totals["total"], totals["new"]


def cohort_table(period: DateRange) -> list[CohortRow]:
    """Monthly cohorts by first purchase: the share of each buying again k months later.

    One grouped query over (first purchase month, purchase month) pairs, pivoted here.
    """
    last_cohort = period.end.replace(day=1)
    first_cohort = add_months(last_cohort, -(COHORT_MONTHS - 1))
    first_purchase = Subquery(
        _purchases()
        .filter(customer=OuterRef("customer"))
        .order_by("placed_at")
        .values("placed_at")[:1],
        output_field=DateTimeField(),
    )
    rows = (
        _purchases()
        .filter(placed_at__gte=_aware(first_cohort), placed_at__lt=period.until)
        .annotate(cohort=_month(first_purchase), month=_month("placed_at"))
        .filter(cohort__gte=first_cohort)
        .values("cohort", "month")
        .annotate(customers=Count("customer", distinct=True))
        .values_list("cohort", "month", "customers")
    )
    counts: dict[dt.date, dict[int, int]] = {}
    for cohort, month, customers in rows:
        counts.setdefault(cohort, {})[months_between(cohort, month)] = customers
    table = []
    for cohort in sorted(counts):
        cells = counts[cohort]
        size = cells.get(0, 0)
        known = months_between(cohort, last_cohort) + 1
        shares: list[float | None] = [
            (cells.get(k, 0) / size if size else 0.0) if k < known else None
            for k in range(COHORT_MONTHS)
        ]
        table.append(CohortRow(month=cohort, size=size, shares=shares))
    return table


def rfm_distribution() -> list[tuple[str, str, int]]:
    """Customers per RFM segment, in the documented order; empty before the first refresh."""
    rows = dict(
        CustomerScore.objects.values("rfm_segment")
        .annotate(customers=Count("pk"))
        .values_list("rfm_segment", "customers")
    )
    if not rows:
        return []
    return [(value, str(label), rows.get(value, 0)) for value, label in RfmSegment.choices]


def top_segments() -> list[Segment]:
    return list(
        Segment.objects.filter(last_count__isnull=False).order_by("-last_count", "name")[
            :TOP_SEGMENTS
        ]
    )


def dashboard(period: DateRange) -> Dashboard:
    customers_total, new_customers = customer_totals(period)
    revenue_points, orders, revenue = sales_by_month(period)
    buyers = buyer_counts(period)
    kpis = Kpis(
        customers_total=customers_total,
        new_customers=new_customers,
        active_customers=active_customers(period),
        buyers=buyers["buyers"],
        repeat_buyers=buyers["repeat_buyers"],
        repeat_share=(buyers["repeat_buyers"] / buyers["buyers"] if buyers["buyers"] else None),
        previous_buyers=buyers["previous_buyers"],
        churned=buyers["churned"],
        churn_rate=(
            buyers["churned"] / buyers["previous_buyers"] if buyers["previous_buyers"] else None
        ),
        orders=orders,
        revenue=revenue,
        average_order_value=((revenue / orders).quantize(Decimal("0.01")) if orders else None),
    )
    return Dashboard(
        period=period,
        kpis=kpis,
        new_customers_by_month=new_customers_by_month(period),
        revenue_by_month=revenue_points,
        cohorts=cohort_table(period),
        rfm=rfm_distribution(),
        top_segments=top_segments(),
    )
