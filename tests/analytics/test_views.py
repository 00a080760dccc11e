"""Importance everywhere: card, list with r/f filters, lookup API, caller page, order lists
sorted by importance with keyset pages, the RFM grid, the VIP mark on the edit form."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clientbase.accounts.services import apitoken_create
from clientbase.analytics.choices import Importance, RfmSegment
from clientbase.analytics.models import CustomerScore, ModelFit
from clientbase.customers.models import Customer
from clientbase.orders.models import Order
from clientbase.orders.services import OrderInput, order_upsert
from tests.api.conftest import SHOP_SCOPES, ApiClient
from tests.customers.test_views import form_data
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2025, 6, 30)
T0 = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)


def scored(customer: Customer, importance: int, **fields) -> CustomerScore:
    defaults = {
        "as_of": AS_OF,
        "importance": importance,
        "rfm_segment": RfmSegment.CHAMPIONS,
        "r_score": 5,
        "f_score": 4,
        "m_score": 3,
        "frequency": 3,
        "monetary": Decimal("1500"),
        "recency_days": 4,
        "p_alive": 0.873,
        "expected_order_value": Decimal("512.40"),
        "clv": Decimal("2048.10"),
    }
    defaults.update(fields)
    return CustomerScore.objects.create(customer=customer, **defaults)


def test_card_shows_scores_only_when_they_exist(client_for, operator_user):
    with_score = make_customer(last_name="Оценкин")
    scored(with_score, Importance.HIGH)
    client = client_for(operator_user)
    body = client.get(f"/customers/{with_score.pk}/").content.decode()
    assert "customer-scores" in body and "importance-badge" in body
    # Russian number format: no-break spaces in groups and before the ruble sign and percent
    assert "87\u00a0%" in body and "512,40\u00a0₽" in body and "2\u00a0048,10\u00a0₽" in body
    plain = make_customer(last_name="Безоценкин")
    assert "customer-scores" not in client.get(f"/customers/{plain.pk}/").content.decode()


def test_list_shows_importance_without_extra_queries_and_filters_by_cell(client_for, operator_user):
    cells = [(5, 4), (5, 4), (1, 1), (3, 3)]
    customers = []
    for i, (r, f) in enumerate(cells):
        customer = make_customer(last_name=f"Клетка{i}")
        scored(customer, Importance.VIP if i == 0 else Importance.NORMAL, r_score=r, f_score=f)
        customers.append(customer)
    client = client_for(operator_user)
    with CaptureQueriesContext(connection) as few:
        client.get("/customers/")
    make_customer(last_name="Клетка9")
    with CaptureQueriesContext(connection) as more:
        response = client.get("/customers/")
    assert len(more.captured_queries) == len(few.captured_queries)  # no N+1 for the badge
    assert response.content.decode().count("importance-badge") == 4
    response = client.get("/customers/", {"r": 5, "f": 4})
    assert {c.pk for c in response.context["page"].rows} == {customers[0].pk, customers[1].pk}
    response = client.get("/customers/", {"r": 1})
    assert [c.pk for c in response.context["page"].rows] == [customers[2].pk]
    response = client.get("/customers/", {"r": 9})  # not a score: an error, and nobody shown
    assert response.context["page"].rows == []
    assert response.context["filterset"].errors["r"]


def test_lookup_and_card_api_carry_importance():
    customer = make_customer(phones=["+79161112233"])
    _token, key = apitoken_create(actor=None, name="shop", scopes=[*SHOP_SCOPES, "customers:read"])
    api = ApiClient(key)
    body = api.get("/api/v1/customers/lookup", {"phone": "8 916 111-22-33"}).json()
    assert (body["importance"], body["rfm_segment"], body["p_alive"]) == (None, None, None)
    scored(customer, Importance.VIP)
    body = api.get("/api/v1/customers/lookup", {"phone": "8 916 111-22-33"}).json()
    assert (body["importance"], body["rfm_segment"], body["p_alive"]) == (4, "champions", 0.873)
    card = api.get(f"/api/v1/customers/{customer.pk}/").json()
    assert (card["importance"], card["rfm_segment"], card["p_alive"]) == (4, "champions", 0.873)


def test_caller_page_shows_importance(client_for, operator_user):
    customer = make_customer(phones=["+79165554433"])
    scored(customer, Importance.VIP)
    body = client_for(operator_user).get("/orders/caller/", {"phone": "89165554433"})
    text = body.content.decode()
    assert "importance-badge" in text and "caller-scores" in text and "87\u00a0%" in text


def _orders(manager) -> dict[str, Order]:
    """Orders of customers of every importance (and one unscored), placed at different times."""
    made = {}
    plan = [
        ("vip-late", Importance.VIP, 5),
        ("vip-early", Importance.VIP, 1),
        ("high", Importance.HIGH, 0),
        ("normal", Importance.NORMAL, 2),
        ("unscored", None, 3),  # counts as NORMAL
        ("low", Importance.LOW, -1),
        ("normal-same-time", Importance.NORMAL, 2),
    ]
    for name, importance, days in plan:
        customer = make_customer(last_name=name)
        if importance is not None:
            scored(customer, importance)
        made[name], _ = order_upsert(
            actor=None,
            data=OrderInput(
                external_id=name,
                placed_at=T0 + dt.timedelta(days=days),
                total=Decimal("100"),
                manager_id=manager.pk,
            ),
            customer=customer,
        )
    return made


EXPECTED = ["vip-early", "vip-late", "high", "normal", "normal-same-time", "unscored", "low"]


def test_orders_by_importance_sort_and_pages(client_for, manager_user):
    orders = _orders(manager_user)
    client = client_for(manager_user)
    for url in ("/orders/", "/orders/mine/"):
        response = client.get(url, {"sort": "importance"})
        assert [o.external_id for o in response.context["page"].rows] == EXPECTED
        assert response.content.decode().count("importance-badge") == 6
    from clientbase.orders import selectors

    params = selectors.OrderListParams(sort=selectors.BY_IMPORTANCE)
    seen, after, pages = [], "", []
    while True:
        page = selectors.order_page(params, after=after, size=2)
        pages.append(page)
        seen += [o.external_id for o in page.rows]
        if not page.has_next:
            break
        after = page.next_cursor
    assert seen == EXPECTED and len(pages) == 4
    back = selectors.order_page(params, before=pages[-1].previous_cursor, size=2)
    assert [o.external_id for o in back.rows] == EXPECTED[4:6] and back.has_previous
    first = selectors.order_page(params, before=pages[1].previous_cursor, size=2)
    assert [o.external_id for o in first.rows] == EXPECTED[:2] and not first.has_previous
    assert selectors.order_page(params, after="garbage", size=2).rows[0] == orders["vip-early"]


def test_rfm_grid_page(client_for, users_by_role):
    for i, (r, f, money) in enumerate([(5, 5, "100"), (5, 5, "300"), (1, 2, "50")]):
        scored(make_customer(last_name=f"Грид{i}"), 2, r_score=r, f_score=f, monetary=money)
    make_customer(last_name="Без оценки")
    client = client_for(users_by_role["analyst"])
    response = client.get("/analytics/rfm/")
    assert response.status_code == 200
    grid = response.context["grid"]
    top = grid.rows[0][4]  # R5 F5
    assert (top.r, top.f, top.customers, top.average_monetary) == (5, 5, 2, Decimal("200.00"))
    assert grid.rows[4][1].customers == 1  # R1 F2
    assert sum(c.customers for row in grid.rows for c in row) == 3
    assert {code: n for code, _, n in grid.segments}["champions"] == 3
    assert "?r=5&amp;f=5" in response.content.decode()
    assert client_for(users_by_role["operator"]).get("/analytics/rfm/").status_code == 403


def test_rfm_grid_says_how_each_dimension_was_cut(client_for, users_by_role):
    client = client_for(users_by_role["analyst"])
    assert "rfm-scoring" not in client.get("/analytics/rfm/").content.decode()
    ModelFit.objects.create(
        as_of=AS_OF,
        customers=3,
        rfm_scoring={
            "recency": {"method": "quintiles", "cut_points": [12, 45, 120, 300]},
            "frequency": {"method": "fixed", "cut_points": [2, 3, 4, 6]},
            "monetary": {"method": "shop", "cut_points": [1000, 5000, 10000, 50000.5]},
        },
    )
    html = client.get("/analytics/rfm/").content.decode().replace("\xa0", " ")
    rows = re.findall(
        r'<tr class="rfm-scoring-(\w+)">\s*<th[^>]*>([^<]*)</th>\s*<td>(.*?)</td>', html, re.S
    )
    assert [(method, label) for method, label, _cell in rows] == [
        ("quintiles", "Давность R, дней с последней покупки"),
        ("fixed", "Частота F, доставленных заказов"),
        ("shop", "Деньги M, выручка"),
    ]
    cells = [re.sub(r"<[^>]+>", "|", cell).replace("||", "|") for _m, _l, cell in rows]
    assert [cell.split("|")[0] for cell in cells] == [
        "квинтили клиентов с покупками, равные значения в одной группе",
        "фиксированные границы: у клиентов с покупками меньше пяти разных значений",
        "границы магазина (настройки оценок)",
    ]
    assert [re.sub(r"[|]+", "", cell.split("|", 1)[1]) for cell in cells] == [
        "Границы: 12; 45; 120; 300",
        "Границы: 2; 3; 4; 6",
        "Границы: 1 000; 5 000; 10 000; 50 000,50",
    ]


def test_vip_checkbox_on_the_edit_form(client_for, operator_user):
    customer = make_customer(last_name="Важный")
    client = client_for(operator_user)
    data = form_data(client.get(f"/customers/{customer.pk}/edit/"))
    data["vip"] = "on"
    assert client.post(f"/customers/{customer.pk}/edit/", data).status_code == 302
    customer.refresh_from_db()
    assert customer.vip is True
