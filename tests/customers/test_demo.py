"""The demo's stop-list comments agree with the customer: a man, a woman or a company."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import translation

from clientbase.customers.choices import CustomerKind, CustomerStatus, Gender
from clientbase.customers.models import Customer

pytestmark = pytest.mark.django_db


def test_demo_stoplist_comments_agree_with_the_customers_gender():
    call_command("demo", customers=2500, orders=0, seed=7, stdout=io.StringIO())
    rows = list(
        Customer.objects.filter(status=CustomerStatus.STOPLISTED).values_list(
            "kind", "gender", "stoplist_reason", "stoplist_comment"
        )
    )
    refused = {
        (kind if kind == CustomerKind.COMPANY else gender, comment)
        for kind, gender, reason, comment in rows
        if reason == "refused_cod"
    }
    # Every kind of customer appears with this reason, each with its own grammatical form.
    assert refused == {
        (Gender.MALE, "Отказался от трёх посылок наложенным платежом"),
        (Gender.FEMALE, "Отказалась от трёх посылок наложенным платежом"),
        (CustomerKind.COMPANY, "Не выкупили три посылки наложенным платежом"),
    }
    for kind, gender, _reason, comment in rows:
        if kind == CustomerKind.COMPANY or gender == Gender.FEMALE:
            assert "ался" not in comment, comment
        if kind == CustomerKind.COMPANY or gender == Gender.MALE:
            assert "алась" not in comment, comment


def test_demo_counts_are_grouped_in_russian():
    out = io.StringIO()
    with translation.override("ru"):
        call_command("demo", customers=1200, orders=0, seed=7, stdout=out)
    lines = out.getvalue().splitlines()
    # The seed is an identifier, not a quantity: never grouped.
    assert (
        lines[0] == "Загрузка демонстрационных данных (seed 7): клиентов — 1\u00a0200, заказов — 0…"
    )
    assert lines[1].startswith("Клиенты: 1\u00a0200 за ")
    assert "," in lines[1].split(" за ")[1].split(" с ")[0]  # seconds with a decimal comma
