"""The fields of customer and order files, shared by imports and exports.

One catalogue for column recognition, normalisation, the mapping screen, the import engine,
the export's headers and the documentation: an exported file is recognised when imported
again because both sides name a column the same way. A field's `kind` decides how its values
are normalised. Also here: the formula neutralisation both sides agree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clientbase.customers.choices import CustomerKind, Gender
from clientbase.orders.choices import OrderStatus, PaymentMethod

# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """The text with an apostrophe in front when a spreadsheet would run it as a formula.

    Exports apply it in CSV and in XLSX alike: XLSX string cells are never evaluated, but a
    sheet re-saved as CSV would carry the formula out again. The import strips the apostrophe.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# Value kinds (imports.normalize has one vectorised normaliser per kind).
TEXT = "text"
PHONE = "phone"
EMAIL = "email"
DATE = "date"  # a calendar date (birthday)
DATETIME = "datetime"  # a moment (order placed at); a bare date means local midnight
MONEY = "money"
DECIMAL = "decimal"  # quantities
BOOL = "bool"
TAGS = "tags"  # several values in one cell: "vip, opt; new"
CHOICE = "choice"  # one of the field's choices, by value or by a synonym
FULL_NAME = "full_name"  # "Иванов Иван Иванович" or "Ivan Ivanov": split into three fields


@dataclass(frozen=True)
class TargetField:
    key: str
    label: str | Promise
    kind: str = TEXT
    max_length: int = 0  # 0: no limit beyond the kind's own
    # Several columns may map to it (phones, e-mails, tags); their values are all kept.
    multiple: bool = False


CUSTOMER_FIELDS: tuple[TargetField, ...] = (
    TargetField("external_id", _("External id"), max_length=100),
    TargetField("full_name", _("Full name (one column)"), FULL_NAME, max_length=400),
    TargetField("last_name", _("Last name"), max_length=100),
    TargetField("first_name", _("First name"), max_length=100),
    TargetField("middle_name", _("Middle name"), max_length=100),
    TargetField("company_name", _("Company name"), max_length=255),
    TargetField("kind", _("Person or company"), CHOICE),
    TargetField("gender", _("Gender"), CHOICE),
    TargetField("birthday", _("Birthday"), DATE),
    TargetField("phone", _("Phone"), PHONE, multiple=True),
    TargetField("email", _("E-mail"), EMAIL, multiple=True),
    TargetField("postal_code", _("Postal code"), max_length=12),
    TargetField("region", _("Region"), max_length=100),
    TargetField("city", _("City"), max_length=100),
    TargetField("address", _("Street, house, flat"), max_length=300),
    TargetField("inn", _("INN"), max_length=12),
    TargetField("kpp", _("KPP"), max_length=9),
    TargetField("ogrn", _("OGRN"), max_length=15),
    TargetField("bank_bic", _("Bank BIC"), max_length=9),
    TargetField("bank_account", _("Bank account"), max_length=20),
    TargetField("legal_address", _("Legal address"), max_length=500),
    TargetField("tags", _("Tags"), TAGS, multiple=True),
    TargetField("notes", _("Notes"), max_length=5000),
    TargetField("consent_email", _("Agrees to e-mails"), BOOL),
    TargetField("consent_sms", _("Agrees to SMS"), BOOL),
    TargetField("vip", _("VIP"), BOOL),
    TargetField("registered_at", _("Customer since"), DATETIME),
)

ORDER_FIELDS: tuple[TargetField, ...] = (
    TargetField("order_id", _("Order number"), max_length=100),
    TargetField("placed_at", _("Order date"), DATETIME),
    TargetField("total", _("Order total"), MONEY),
    TargetField("subtotal", _("Subtotal"), MONEY),
    TargetField("discount", _("Discount"), MONEY),
    TargetField("delivery_cost", _("Delivery cost"), MONEY),
    TargetField("currency", _("Currency"), max_length=3),
    TargetField("status", _("Order status"), CHOICE),
    TargetField("payment_method", _("Payment method"), CHOICE),
    TargetField("delivery_method", _("Delivery method"), max_length=100),
    TargetField("delivery_address", _("Delivery address"), max_length=500),
    TargetField("coupon", _("Coupon"), max_length=50),
    TargetField("customer_external_id", _("Customer id"), max_length=100),
    TargetField("customer_email", _("Customer e-mail"), EMAIL),
    TargetField("customer_phone", _("Customer phone"), PHONE),
    TargetField("customer_full_name", _("Customer name (one column)"), FULL_NAME, max_length=400),
    TargetField("customer_last_name", _("Customer last name"), max_length=100),
    TargetField("customer_first_name", _("Customer first name"), max_length=100),
    TargetField("item_sku", _("Item SKU"), max_length=100),
    TargetField("item_name", _("Item name"), max_length=300),
    TargetField("item_category", _("Item category"), max_length=200),
    TargetField("item_quantity", _("Item quantity"), DECIMAL),
    TargetField("item_price", _("Item price"), MONEY),
)

FIELDS = {"customers": CUSTOMER_FIELDS, "orders": ORDER_FIELDS}


def fields_for(kind: str) -> dict[str, TargetField]:
    return {f.key: f for f in FIELDS[kind]}


# What the choice fields accept besides their stored values (compared case-insensitively).
CHOICE_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "kind": {
        "person": (
            "person",
            "individual",
            "физ",
            "физлицо",
            "физ. лицо",
            "физическое лицо",
            "частное лицо",
            "persoana fizica",
            "persoană fizică",
            "pf",
        ),
        "company": (
            "company",
            "organization",
            "organisation",
            "legal",
            "юр",
            "юрлицо",
            "юр. лицо",
            "юридическое лицо",
            "организация",
            "компания",
            "ип",
            "persoana juridica",
            "persoană juridică",
            "pj",
            "firma",
            "firmă",
        ),
    },
    "gender": {
        "female": ("female", "f", "woman", "ж", "жен", "женский", "женщина", "feminin", "femeie"),
        "male": (
            "male",
            "m",
            "man",
            "м",
            "муж",
            "мужской",
            "мужчина",
            "masculin",
            "bărbat",
            "barbat",
        ),
    },
    "status": {
        "new": ("new", "pending", "open", "новый", "новый заказ", "принят", "nou", "nouă"),
        "confirmed": (
            "confirmed",
            "processing",
            "on-hold",
            "подтвержден",
            "подтверждён",
            "в работе",
            "в обработке",
            "confirmat",
        ),
        "paid": ("paid", "оплачен", "оплачено", "achitat", "plătit", "platit"),
        "shipped": (
            "shipped",
            "fulfilled",
            "sent",
            "отправлен",
            "передан в доставку",
            "в пути",
            "expediat",
        ),
        "delivered": (
            "delivered",
            "completed",
            "complete",
            "done",
            "доставлен",
            "выполнен",
            "завершен",
            "завершён",
            "получен",
            "livrat",
            "finalizat",
        ),
        "refused": ("refused", "rejected", "отказ", "отказ от получения", "не выкуплен", "refuzat"),
        "cancelled": ("cancelled", "canceled", "voided", "отменен", "отменён", "отмена", "anulat"),
        "returned": (
            "returned",
            "refunded",
            "возврат",
            "возвращен",
            "возвращён",
            "returnat",
            "rambursat",
        ),
    },
    "payment_method": {
        "card": ("card", "credit card", "online", "карта", "картой", "онлайн", "card bancar"),
        "cod": (
            "cod",
            "cash on delivery",
            "cash",
            "наложенный платеж",
            "наложенный платёж",
            "наличные",
            "наличными",
            "при получении",
            "ramburs",
            "numerar",
        ),
        "invoice": (
            "invoice",
            "bank transfer",
            "bacs",
            "счет",
            "счёт",
            "безнал",
            "безналичный расчет",
            "по счету",
            "factura",
            "factură",
            "transfer bancar",
        ),
        "other": ("other", "другое", "altele"),
    },
}

# The stored choices behind the choice fields: exports write their labels by default.
CHOICE_CLASSES: dict[str, type[models.Choices]] = {
    "kind": CustomerKind,
    "gender": Gender,
    "status": OrderStatus,
    "payment_method": PaymentMethod,
}


def choice_label_codes(key: str) -> dict[str, str]:
    """Label -> stored code of a choice field, in every interface language.

    An export writes "Частное лицо" or "Person" for `person` by default, so the import reads
    the labels back in either language, whatever the importing user's language is.
    """
    choices = CHOICE_CLASSES.get(key)
    if choices is None:
        return {}
    found: dict[str, str] = {}
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            for value, label in choices.choices:
                if value:  # "not stated" is an empty cell, not a word
                    found[str(label)] = str(value)
    return found
