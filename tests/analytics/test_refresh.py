"""The analytics refresh: exact RFM inputs, scores, segments, models, importance, the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import translation

from clientbase.analytics.choices import Importance, RfmSegment
from clientbase.analytics.models import CustomerScore, ModelFit, ScoringConfig
from clientbase.analytics.services import (
    analytics_refresh,
    importance_levels,
    rfm_scores,
    rfm_scoring,
    rfm_segment_of,
)
from clientbase.customers.models import Customer
from clientbase.orders.choices import OrderStatus
from clientbase.orders.models import Order
from clientbase.orders.services import OrderInput, order_upsert
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")
AS_OF = dt.date(2025, 6, 30)


def at(day: str, time: str = "12:00", tz: ZoneInfo = MSK) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=tz)


def push(customer: Customer, placed_at: dt.datetime, total: str, status: str = "delivered"):
    order, _ = order_upsert(
        actor=None,
        data=OrderInput(
            external_id=f"{customer.pk}-{placed_at.isoformat()}-{total}",
            placed_at=placed_at,
            total=Decimal(total),
            status=status,
        ),
        customer=customer,
    )
    return order


@pytest.fixture
def handmade(settings):
    settings.TIME_ZONE = "Europe/Moscow"
    a, b, c, d = (make_customer() for _ in range(4))
    push(a, at("2025-01-10", "10:00"), "100")
    push(a, at("2025-01-10", "18:00"), "50")  # the same day: one purchase day
    push(a, at("2025-03-01"), "200")
    push(a, at("2025-06-20"), "300")
    push(a, at("2025-06-25"), "999", OrderStatus.CANCELLED)  # not delivered: ignored
    push(a, at("2025-06-26"), "999", OrderStatus.SHIPPED)  # not delivered yet: ignored
    push(a, at("2025-07-05"), "500")  # after as_of: ignored
    push(b, at("2025-06-30", "23:30"), "100")  # 20:30 UTC, still June 30 in Moscow
    push(b, at("2025-06-30", "21:30", dt.UTC), "70")  # July 1 in Moscow: ignored
    push(c, at("2025-05-01"), "80", OrderStatus.NEW)  # no delivered order at all
    return {"a": a, "b": b, "c": c, "d": d}


def score(customer: Customer) -> CustomerScore:
    return CustomerScore.objects.get(customer=customer)


def test_exact_recency_frequency_monetary(handmade):
    result = analytics_refresh(as_of=AS_OF)
    assert result.customers == 4
    a = score(handmade["a"])
    assert (a.as_of, a.recency_days, a.frequency, a.monetary) == (AS_OF, 10, 4, Decimal("650"))
    b = score(handmade["b"])
    assert (b.recency_days, b.frequency, b.monetary) == (0, 1, Decimal("100"))
    for name in ("c", "d"):
        row = score(handmade[name])
        assert row.rfm_segment == RfmSegment.NO_ORDERS
        assert (row.recency_days, row.frequency, row.monetary) == (None, 0, Decimal("0"))
        assert (row.r_score, row.f_score, row.m_score) == (0, 0, 0)
        assert row.importance == Importance.NORMAL
    assert result.rfm_sizes[RfmSegment.NO_ORDERS] == 2
    assert sum(result.rfm_sizes.values()) == 4


def test_repeat_purchase_inputs_use_distinct_days(handmade, monkeypatch):
    from clientbase.analytics import services

    seen = {}
    fit = services._fit_models

    def spy(purchases, as_of_day, horizon_days):
        seen["p"] = purchases
        return fit(purchases, as_of_day, horizon_days)

    monkeypatch.setattr(services, "_fit_models", spy)
    analytics_refresh(as_of=AS_OF)
    p = seen["p"]
    i = int(np.flatnonzero(p.customer_ids == handmade["a"].pk)[0])
    assert (p.orders[i], p.days[i]) == (4, 3)
    assert p.last_day[i] - p.first_day[i] == (dt.date(2025, 6, 20) - dt.date(2025, 1, 10)).days
    assert p.revenue[i] == 650 and p.first_day_revenue[i] == 150  # mean repeat = 500 / 2


def test_too_little_data_reports_model_errors_and_keeps_rfm(handmade):
    result = analytics_refresh(as_of=AS_OF)
    assert set(result.models) >= {"bgnbd", "gamma_gamma"}
    assert "error" in result.models["bgnbd"] and "error" in result.models["gamma_gamma"]
    a = score(handmade["a"])
    assert a.p_alive is None and a.clv is None and a.expected_order_value is None
    assert a.r_score > 0 and a.rfm_segment != RfmSegment.NO_ORDERS
    fit = ModelFit.objects.get()
    assert fit.customers == 4 and fit.models_json == result.models


def test_refresh_twice_gives_the_same_rows(handmade):
    analytics_refresh(as_of=AS_OF)
    fields = [f.name for f in CustomerScore._meta.fields]
    first = list(CustomerScore.objects.order_by("pk").values_list(*fields))
    analytics_refresh(as_of=AS_OF)
    assert list(CustomerScore.objects.order_by("pk").values_list(*fields)) == first
    assert CustomerScore.objects.count() == 4 and ModelFit.objects.count() == 2


def test_shop_thresholds_are_honoured(handmade):
    ScoringConfig.objects.create(
        rfm_thresholds={
            "recency": [7, 30, 90, 180],
            "frequency": [2, 3, 4, 5],
            "monetary": [100, 200, 300, 1000],
        }
    )
    analytics_refresh(as_of=AS_OF)
    a = score(handmade["a"])  # 10 days, 4 orders, 650
    assert (a.r_score, a.f_score, a.m_score) == (4, 4, 4)
    assert a.rfm_segment == RfmSegment.LOYAL
    b = score(handmade["b"])  # 0 days, 1 order, 100
    assert (b.r_score, b.f_score, b.m_score) == (5, 1, 2)
    assert b.rfm_segment == RfmSegment.NEW


def test_quintile_scores_with_ties():
    recency = np.arange(1, 101)
    frequency = np.array([1] * 60 + [2] * 20 + list(range(3, 23)))
    monetary = np.arange(100, 0, -1).astype(float)
    r, f, m = rfm_scores(recency, frequency, monetary)
    assert [int(np.sum(r == s)) for s in range(1, 6)] == [20, 20, 20, 20, 20]
    assert r[0] == 5 and r[-1] == 1
    # Equal values, equal scores: the 60 single buyers all score 1, the 20 double buyers alike.
    assert set(f[:60].tolist()) == {1} and len(set(f[60:80].tolist())) == 1
    assert f[-1] == 5
    assert m[0] == 5 and m[-1] == 1
    r, f, m = rfm_scores(np.array([5, 5, 5]), np.array([2, 2, 2]), np.array([9.0, 9.0, 9.0]))
    assert len(set(r)) == len(set(f)) == len(set(m)) == 1


# Delivered orders per buyer after `clientbase demo --customers 2000 --orders 6000 --seed 1`.
DEMO_FREQUENCY = {
    1: 545, 2: 404, 3: 237, 4: 125, 5: 75, 6: 38, 7: 29, 8: 6, 9: 18, 10: 7, 11: 3, 12: 5,
    13: 4, 14: 4, 15: 3, 16: 3, 18: 1, 19: 2, 20: 1, 22: 1, 24: 2, 25: 1, 27: 1, 30: 1, 35: 1,
    63: 1, 161: 1,
}  # fmt: skip


def test_quintiles_with_heavy_ties_still_give_every_score_a_share():
    """Plain quintiles left F2 and F3 empty on the demo: 545 one-order buyers fill two fifths."""
    frequency = np.repeat(list(DEMO_FREQUENCY), list(DEMO_FREQUENCY.values()))
    n = frequency.size
    recency = np.arange(n) % 400
    monetary = np.arange(n, dtype=float)
    scoring = rfm_scoring(recency, frequency, monetary)
    f = scoring.scores[1]
    # Each score in turn takes the distinct values nearest an equal share of those left:
    # 1 order; 2; 3; 4-5; 6 and more.
    assert [int(np.sum(f == s)) for s in range(1, 6)] == [545, 404, 237, 200, 133]
    assert scoring.methods["frequency"] == {"method": "quintiles", "cut_points": [2, 3, 4, 6]}
    assert scoring.methods["monetary"]["method"] == "quintiles"
    # Equal values, equal scores, across the whole range.
    for value in DEMO_FREQUENCY:
        assert len(set(f[frequency == value].tolist())) == 1
    # Without ties these are the plain quintiles.
    assert [int(np.sum(scoring.scores[2] == s)) for s in range(1, 6)] == [304, 304, 304, 303, 304]


def test_fewer_than_five_distinct_values_fall_back_to_fixed_cut_points():
    recency = np.array([3, 3, 40, 40, 200, 400])
    frequency = np.array([1, 1, 1, 2, 2, 3])
    monetary = np.array([500.0, 500.0, 500.0, 500.0, 7000.0, 7000.0])
    scoring = rfm_scoring(recency, frequency, monetary)
    assert scoring.methods == {
        "recency": {"method": "fixed", "cut_points": [30, 90, 180, 365]},
        "frequency": {"method": "fixed", "cut_points": [2, 3, 4, 6]},
        "monetary": {"method": "fixed", "cut_points": [1000, 5000, 10000, 50000]},
    }
    r, f, m = scoring.scores
    assert r.tolist() == [5, 5, 4, 4, 2, 1]
    assert f.tolist() == [1, 1, 1, 2, 2, 3]
    assert m.tolist() == [1, 1, 1, 1, 3, 3]
    # The shop's own cut points win over both.
    shop = rfm_scoring(recency, frequency, monetary, {"frequency": [1, 2, 3, 4]})
    assert shop.methods["frequency"] == {"method": "shop", "cut_points": [1, 2, 3, 4]}
    assert shop.scores[1].tolist() == [2, 2, 2, 3, 3, 4]


def test_the_refresh_records_how_each_dimension_was_scored(handmade):
    analytics_refresh(as_of=AS_OF)
    fit = ModelFit.objects.get()
    # Two buyers: too few distinct values for quintiles in every dimension.
    assert {name: row["method"] for name, row in fit.rfm_scoring.items()} == {
        "recency": "fixed",
        "frequency": "fixed",
        "monetary": "fixed",
    }


@pytest.mark.parametrize(
    ("r", "f", "segment"),
    [
        (5, 5, "champions"),
        (5, 4, "champions"),
        (4, 5, "loyal"),
        (3, 4, "loyal"),
        (5, 2, "potential_loyalists"),
        (4, 3, "potential_loyalists"),
        (5, 1, "new"),
        (4, 1, "promising"),
        (3, 3, "need_attention"),
        (3, 1, "about_to_sleep"),
        (2, 3, "at_risk"),
        (1, 4, "at_risk"),
        (1, 5, "cant_lose"),
        (2, 2, "hibernating"),
        (1, 1, "lost"),
    ],
)
def test_segment_mapping(r, f, segment):
    assert rfm_segment_of(r, f) == segment


def test_importance_rules():
    value = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 1000.0])
    recency = np.array([5] * 9 + [400])
    levels = importance_levels(value=value, recency_days=recency, p_alive=None)
    # Top value but no purchase for 400 days: LOW; 80th percentile (82) and up: HIGH or VIP.
    assert levels.tolist() == [2] * 8 + [3, 1]
    p_alive = np.array([0.9] * 9 + [0.95])
    levels = importance_levels(value=value, recency_days=recency, p_alive=p_alive)
    assert levels.tolist() == [2] * 8 + [3, 4]
    levels = importance_levels(
        value=value,
        recency_days=recency,
        p_alive=p_alive,
        config={"high_value": 50, "vip_percentile": None, "min_p_alive": 0.92},
    )
    assert levels.tolist() == [1] * 9 + [3]  # p_alive 0.9 < 0.92: LOW whatever the value


def test_vip_mark_is_always_vip(handmade):
    d = handmade["d"]
    Customer.objects.filter(pk__in=[d.pk, handmade["b"].pk]).update(vip=True)
    analytics_refresh(as_of=AS_OF)
    assert score(d).importance == Importance.VIP  # no orders, but marked
    assert score(handmade["b"]).importance == Importance.VIP


def _simulate(customers: int, seed: int = 3) -> None:
    """Customers with purchase histories in bulk (fast): a few repeat buyers, many one-offs."""
    rng = random.Random(seed)
    people = Customer.objects.bulk_create(
        [Customer(last_name=f"Sim{i}", search_name=f"sim{i}") for i in range(customers)]
    )
    orders = []
    for person in people:
        mean_spend = rng.gammavariate(6, 400)  # spend differs between customers, as in life
        start = AS_OF - dt.timedelta(days=rng.randint(30, 360))
        day = start
        for n in range(rng.choice([1, 1, 2, 3, 5, 8])):
            if day > AS_OF:
                break
            orders.append(
                Order(
                    customer=person,
                    external_id=f"sim-{person.pk}-{n}",
                    placed_at=at(day.isoformat()),
                    status=OrderStatus.DELIVERED,
                    total=Decimal(round(rng.gammavariate(8, mean_spend / 8), 2)),
                )
            )
            day += dt.timedelta(days=rng.randint(5, 60))
    Order.objects.bulk_create(orders)


def test_models_fitted_with_enough_data():
    _simulate(300)
    result = analytics_refresh(as_of=AS_OF)
    bgnbd, gamma_gamma = result.models["bgnbd"], result.models["gamma_gamma"]
    assert set(bgnbd) == {"r", "alpha", "a", "b", "time_unit"}, bgnbd
    assert bgnbd["time_unit"] == "day"
    assert set(gamma_gamma) == {"p", "q", "v"}, gamma_gamma
    rows = list(CustomerScore.objects.all())
    assert len(rows) == 300
    assert all(0 <= row.p_alive <= 1 for row in rows)
    assert all(row.clv is not None and row.clv >= 0 for row in rows)
    assert all(row.expected_order_value > 0 for row in rows)
    assert {row.importance for row in rows} >= {Importance.HIGH, Importance.NORMAL}


def test_models_fitted_on_a_sample_still_score_every_customer(monkeypatch):
    from clientbase.analytics import services

    _simulate(300)
    full = analytics_refresh(as_of=AS_OF).models["bgnbd"]
    monkeypatch.setattr(services, "FIT_SAMPLE", 250)
    sampled = analytics_refresh(as_of=AS_OF).models["bgnbd"]

    assert set(sampled) == {"r", "alpha", "a", "b", "time_unit"}, sampled
    assert sampled != full  # really fitted on other data
    rows = list(CustomerScore.objects.all())
    assert len(rows) == 300
    assert all(row.p_alive is not None and 0 <= row.p_alive <= 1 for row in rows)


def test_cli_json_shape(handmade):
    out = io.StringIO()
    call_command("analytics", "refresh", "--as-of", AS_OF.isoformat(), "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert set(data) >= {"customers", "rfm_segments", "models", "seconds"}
    assert data["customers"] == 4
    assert set(data["rfm_segments"]) == set(RfmSegment.values)
    assert set(data["models"]) >= {"bgnbd", "gamma_gamma"}
    assert all(isinstance(m, dict) for m in data["models"].values())
    assert isinstance(data["seconds"], float)


def test_cli_text_output(handmade):
    out = io.StringIO()
    call_command("analytics", "refresh", "--as-of", AS_OF.isoformat(), stdout=out)
    assert "4" in out.getvalue()


def test_cli_says_why_a_model_was_not_fitted_in_russian(handmade):
    out = io.StringIO()
    with translation.override("ru"):
        call_command("analytics", "refresh", "--as-of", AS_OF.isoformat(), stdout=out)
    # One buyer with a usable history (the other bought only on the as-of day).
    assert out.getvalue().splitlines()[-2:] == [
        "  bgnbd: модель не подобрана (нужно не менее 20 клиентов с корректными данными, есть 1)",
        "  gamma_gamma: модель не подобрана (нужно не менее 20 клиентов с повторной покупкой "
        "на ненулевую сумму, есть 1)",
    ]
    # The stored record keeps the English text for the JSON output and the code to translate.
    assert ModelFit.objects.get().models_json["bgnbd"] == {
        "error": "need at least 20 customers with valid data, got 1",
        "error_code": "too_few_customers",
        "error_params": {"minimum": 20, "count": 1.0},
    }
