"""The scoring settings page: who may see and change it, validation, audit, "Refresh now"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from clientbase.accounts.choices import Role
from clientbase.analytics.clv import InsufficientData, gamma_gamma_fit
from clientbase.analytics.models import CustomerScore, ModelFit, ScoringConfig
from clientbase.analytics.services import _fit_error, analytics_refresh, scoring_config_save
from clientbase.core.choices import AuditAction
from clientbase.core.models import AuditEvent
from clientbase.orders.services import OrderInput, order_upsert
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
MSK = ZoneInfo("Europe/Moscow")
AS_OF = dt.date(2025, 6, 30)
URL = "/analytics/settings/"
SAVE_URL = "/analytics/settings/save/"
REFRESH_URL = "/analytics/settings/refresh/"

VALID = {
    "recency_0": "7",
    "recency_1": "30",
    "recency_2": "90",
    "recency_3": "180",
    "monetary_0": "1000",
    "monetary_1": "5000.50",
    "monetary_2": "10000",
    "monetary_3": "50000",
    "vip_percentile": "95",
    "min_p_alive": "0.2",
    "horizon_days": "180",
}


@pytest.fixture(autouse=True)
def _english(settings):
    """Messages are asserted by their English msgids; Russian has its own test below."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def clients(users_by_role, client_for):
    return {role: client_for(user) for role, user in users_by_role.items()}


def state() -> list:
    return [
        list(ScoringConfig.objects.values()),
        AuditEvent.objects.filter(object_type="analytics.scoringconfig").count(),
        ModelFit.objects.count(),
    ]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MARKETER, Role.MANAGER, Role.ADMIN])
def test_the_page_renders_for_analytics_viewers(clients, role):
    response = clients[role].get(URL)
    assert response.status_code == 200
    text = response.content.decode()
    assert 'name="recency_0"' in text
    assert 'name="horizon_days"' in text
    assert ("Refresh now" in text) == (role == Role.ADMIN)
    assert (f'action="{SAVE_URL}"' in text) is True


def test_the_page_is_refused_to_the_operator(clients):
    assert clients[Role.OPERATOR].get(URL).status_code == 403


def test_dashboard_and_rfm_grid_link_the_page(clients):
    for page in ("/analytics/", "/analytics/rfm/"):
        assert f'href="{URL}"' in clients[Role.ANALYST].get(page).content.decode()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MARKETER, Role.ANALYST, Role.OPERATOR])
def test_only_the_admin_may_save_or_refresh(clients, role):
    before = state()
    assert clients[role].post(SAVE_URL, VALID).status_code == 403
    assert clients[role].post(REFRESH_URL).status_code == 403
    assert state() == before
    assert not ScoringConfig.objects.exists()


def test_valid_settings_are_saved_and_audited(clients, users_by_role):
    response = clients[Role.ADMIN].post(SAVE_URL, VALID)
    assert response.status_code == 302
    assert response["Location"] == URL
    config = ScoringConfig.objects.get()
    assert config.rfm_thresholds == {
        "recency": [7, 30, 90, 180],
        "monetary": [1000, 5000.5, 10000, 50000],
    }
    assert config.importance == {"vip_percentile": 95, "min_p_alive": 0.2}
    assert config.horizon_days == 180
    event = AuditEvent.objects.get(object_type="analytics.scoringconfig")
    assert event.action == AuditAction.CREATE
    assert event.actor_id == users_by_role[Role.ADMIN].pk
    assert event.changes["horizon_days"] == [None, 180]
    assert event.changes["importance"] == [None, {"vip_percentile": 95, "min_p_alive": 0.2}]

    # A second save changes the one row, and the audit keeps before and after.
    clients[Role.ADMIN].post(SAVE_URL, {**VALID, "horizon_days": "365", "no_automatic_vip": "on"})
    config = ScoringConfig.objects.get()
    assert config.horizon_days == 365
    assert config.importance == {"vip_percentile": None, "min_p_alive": 0.2}
    update = AuditEvent.objects.filter(object_type="analytics.scoringconfig").latest("pk")
    assert update.action == AuditAction.UPDATE
    assert update.changes["horizon_days"] == [180, 365]
    # The page shows what was saved.
    text = clients[Role.ADMIN].get(URL).content.decode()
    assert 'name="recency_3" value="180"' in text


def _buy(customer, day: dt.date) -> None:
    order_upsert(
        actor=None,
        data=OrderInput(
            external_id=f"{customer.pk}-{day}",
            placed_at=dt.datetime.combine(day, dt.time(12), tzinfo=MSK),
            total=Decimal("100"),
            status="delivered",
        ),
        customer=customer,
    )


def test_saved_thresholds_are_honoured_by_the_next_refresh(settings, clients):
    settings.TIME_ZONE = "Europe/Moscow"
    recency_days = [0, 7, 8, 30, 31, 90, 91, 180, 181, 400]
    customers = []
    for days in recency_days:
        customer = make_customer()
        _buy(customer, AS_OF - dt.timedelta(days=days))
        customers.append(customer)
    clients[Role.ADMIN].post(SAVE_URL, VALID)

    analytics_refresh(as_of=AS_OF)

    scores = {s.customer_id: s for s in CustomerScore.objects.all()}
    got = [(scores[c.pk].recency_days, scores[c.pk].r_score) for c in customers]
    # R = 5 minus the number of cut points (7, 30, 90, 180) the days exceed.
    assert got == [
        (0, 5),
        (7, 5),
        (8, 4),
        (30, 4),
        (31, 3),
        (90, 3),
        (91, 2),
        (180, 2),
        (181, 1),
        (400, 1),
    ]
    # Frequency was left empty: one distinct value is too few for quintiles, so the fixed cut
    # points (2, 3, 4, 6 orders) apply and every one-order buyer scores 1.
    assert {scores[c.pk].f_score for c in customers} == {1}
    # Monetary: 100 reaches none of the cut points.
    assert {scores[c.pk].m_score for c in customers} == {1}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"recency_0": "7", "recency_1": "30", "recency_3": "180"},
            "recency",
            "Enter four cut points, or leave all four empty to use quintiles.",
        ),
        (
            {"frequency_0": "5", "frequency_1": "3", "frequency_2": "4", "frequency_3": "6"},
            "frequency",
            "Cut points must be in ascending order, each not less than the one before.",
        ),
        (
            {"monetary_0": "-1", "monetary_1": "3", "monetary_2": "4", "monetary_3": "6"},
            "monetary",
            "Cut points must be numbers of zero or more.",
        ),
        (
            {"vip_percentile": "101"},
            "vip_percentile",
            "A percentile must be a number from 0 to 100.",
        ),
        (
            {"high_percentile": "-5"},
            "high_percentile",
            "A percentile must be a number from 0 to 100.",
        ),
        ({"min_p_alive": "1.5"}, "min_p_alive", "A probability must be a number from 0 to 1."),
        ({"inactive_days": "-1"}, "inactive_days", "Days must be a number of zero or more."),
        ({"vip_value": "-10"}, "vip_value", "A value must be an amount of zero or more."),
        (
            {"horizon_days": "0"},
            "horizon_days",
            "The horizon must be a whole number of days from 1 to 3650.",
        ),
    ],
)
def test_invalid_input_is_shown_next_to_its_field_and_saves_nothing(clients, data, field, message):
    before = state()
    response = clients[Role.ADMIN].post(SAVE_URL, {"horizon_days": "365", **data})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors == {field: [message]}
    text = response.content.decode()
    # The message sits in the field's block, after its input.
    assert text.index(message) > text.index(f'name="{field}') > 0
    assert state() == before


def test_the_service_refuses_what_the_refresh_would_ignore():
    with pytest.raises(ValidationError) as refused:
        scoring_config_save(
            actor=None,
            data={
                "rfm_thresholds": {"recency": [1, 2, "x", 4], "other": [1, 2, 3, 4]},
                "importance": {"vip_percentile": True},
                "horizon_days": 30,
            },
        )
    assert set(refused.value.message_dict) == {"rfm_thresholds", "vip_percentile"}
    with pytest.raises(ValidationError) as refused:
        scoring_config_save(
            actor=None,
            data={
                "rfm_thresholds": {"recency": [1, 2, float("nan"), 4]},
                "importance": {"vip_percentile": True, "surprise": 1},
                "horizon_days": 30,
            },
        )
    assert set(refused.value.message_dict) == {"recency", "importance"}
    assert not ScoringConfig.objects.exists()


def test_refresh_now_creates_a_model_fit_and_the_page_shows_it(clients):
    customer = make_customer()
    _buy(customer, dt.date.today() - dt.timedelta(days=3))
    response = clients[Role.ADMIN].post(REFRESH_URL)
    assert response.status_code == 302
    assert response["Location"] == URL
    fit = ModelFit.objects.get()
    assert fit.customers == 1
    text = clients[Role.ADMIN].get(URL).content.decode()
    assert 'data-refresh="customers">1<' in text
    # One buyer is far too little for the models: the page says so.
    assert "Not enough data: RFM only." in text
    messages = [str(m) for m in clients[Role.ADMIN].get(URL).context["messages"]]
    assert messages == []  # shown once, on the page after the redirect


def test_messages_are_in_russian_for_russian_users(settings, clients):
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        response = clients[Role.ADMIN].post(SAVE_URL, {"horizon_days": "0"})
    assert response.context["form"].errors == {
        "horizon_days": ["Горизонт должен быть целым числом дней от 1 до 3650."]
    }
    assert "Настройки оценок" in response.content.decode()


def test_a_model_fit_reason_is_shown_in_russian_with_russian_numbers(settings, clients):
    # A refresh records why Gamma-Gamma was not fitted as a code and its numbers; the page says
    # it in the reader's language, not the English kept for the JSON output.
    gamma_gamma = gamma_gamma_fit_refusal()
    ModelFit.objects.create(
        as_of=dt.date(2026, 12, 1),
        customers=2848,
        models_json={"gamma_gamma": _fit_error(gamma_gamma)},
    )
    settings.LANGUAGE_CODE = "ru"
    with translation.override("ru"):
        text = clients[Role.ADMIN].get(URL).content.decode()
    assert (
        "суммы заказов слишком разбросаны для модели Gamma-Gamma (q = 0,647 ≤ 1, "
        "поэтому у ожидаемой суммы заказа нет конечного значения)"
    ) in text
    assert "too spread out" not in text
    assert 'data-refresh="customers">2\u00a0848<' in text


def gamma_gamma_fit_refusal() -> InsufficientData:
    # Order values over six orders of magnitude: q = 0.647 <= 1, no finite mean order value.
    monetary = np.exp(np.random.default_rng(1).normal(5, 3, 200))
    with pytest.raises(InsufficientData) as refusal:
        gamma_gamma_fit(np.ones(200), monetary)
    assert (refusal.value.code, refusal.value.params) == ("order_values_too_spread", {"q": 0.647})
    return refusal.value
