"""The Russian UI's wording: one word for customers, labels not codes, no Django leftovers."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from clientbase.analytics.services import scoring_config_save
from clientbase.segments.language import SegmentQueryError, parse
from tests import factories
from tests.core.test_i18n import RU_DIR, parse_po

pytestmark = pytest.mark.django_db


def ru_client(role: str = "admin") -> Client:
    client = Client()
    client.force_login(factories.make_user(role=role))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    return client


def test_the_catalogue_calls_customers_klienty_only():
    _, entries = parse_po(RU_DIR / "django.po")
    mixed = [
        e.label()
        for e in entries
        if any(re.search("покупател", s, re.I) for s in e.msgstr.values())
    ]
    assert mixed == []


@pytest.mark.parametrize(
    ("msgid", "context", "russian"),
    [
        ("RFM thresholds", None, "Пороги RFM"),
        ("SKU", None, "Артикул"),
        ("Delivered", "orders count", "Доставлено"),
        ("Delivered", None, "Доставлен"),  # the order status keeps its own form
        ("Type", "segment kind", "Тип"),
        ("not a date", None, "дата не распознана"),
        (
            "Send it in the Authorization header: Authorization: Bearer &lt;token&gt;",
            None,
            "Передавайте его в заголовке: Authorization: Bearer &lt;токен&gt;",
        ),
    ],
)
def test_appendix_wording(msgid, context, russian):
    with translation.override("ru"):
        shown = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
    assert shown == russian


def test_segment_errors_quote_in_one_style():
    with translation.override("ru"), pytest.raises(SegmentQueryError) as error:
        parse("orders >= abc")
    assert error.value.message == "После «>=» в позиции 11 ожидается число, а найдено «abc»."


def test_defaults_in_help_texts_use_the_decimal_comma(admin_user):
    body = ru_client().get("/analytics/settings/").content.decode()
    assert "по умолчанию 0,1." in body and "0.1" not in body


def test_dropdowns_name_the_empty_choice():
    client = ru_client()
    for path in ("/customers/new/", "/accounts/staff/new/"):
        body = client.get(path).content.decode()
        assert "---------" not in body, path
    assert (
        '<option value="" selected>— не выбрано —</option>'
        in client.get("/customers/new/").content.decode()
    )


def test_segment_builder_offers_labels_and_the_help_page_lists_them():
    client = ru_client()
    fields = {f["name"]: f for f in client.get("/segments/fields.json").json()["fields"]}
    assert fields["rfm"]["labels"]["champions"] == "Чемпионы"
    assert fields["email_consent"]["labels"]["granted"] == "Дано"
    assert "champions" in fields["rfm"]["choices"]  # the query itself keeps the codes
    form = client.get("/segments/new/").content.decode()
    assert 'href="/segments/help/"' in form and "docs/segments.md" not in form
    help_page = client.get("/segments/help/").content.decode()
    assert "<div><code>champions</code> — Чемпионы</div>" in help_page
    assert "<td><code>город</code></td>" in help_page


def test_the_audit_log_names_the_scoring_settings_in_russian(admin_user):
    scoring_config_save(actor=admin_user, data={"horizon_days": 180})
    body = ru_client().get("/audit/").content.decode()
    assert "Настройки оценок" in body and ">scoring settings<" not in body
