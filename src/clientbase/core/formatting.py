"""Numbers, money and phones as people read them, in the active language (one place for all)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import formats
from django.utils.translation import get_language

from clientbase.customers.normalize import format_phone

# Symbols for the currencies a shop in the region is likely to use; any other code is shown
# as the code itself ("MDL 1 234,00").
CURRENCY_SYMBOLS = {
    "RUB": "₽",
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "KZT": "₸",
    "UAH": "₴",
    "BYN": "Br",
    "CNY": "¥",
}
NBSP = "\u00a0"
EMPTY = "—"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def format_number(value: Any, decimals: int | None = None) -> str:
    """2848 -> "2 848" in Russian (no-break space), "2,848" in English; None -> "—"."""
    number = _decimal(value)
    if number is None:
        return EMPTY if value is None or value == "" else str(value)
    if decimals is None and number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    return formats.number_format(number, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def format_money(value: Any, currency: str | None = None) -> str:
    """140190245.72 -> "140 190 245,72 ₽" in Russian, "₽140,190,245.72" in English."""
    amount = _decimal(value)
    if amount is None:
        return EMPTY if value is None or value == "" else str(value)
    code = (currency or settings.ORDER_CURRENCY or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code, code)
    digits = format_number(abs(amount), 2)
    sign = "-" if amount < 0 else ""
    if not symbol:
        return f"{sign}{digits}"
    # English puts a symbol before the amount ($5.00); Russian, like most of Europe, after it
    # (5,00 ₽). A bare code reads as a word and keeps a space on either side.
    if (get_language() or settings.LANGUAGE_CODE).startswith("en"):
        gap = NBSP if symbol == code else ""
        return f"{sign}{symbol}{gap}{digits}"
    return f"{sign}{digits}{NBSP}{symbol}"


def format_phone_number(value: Any) -> str:
    """ "+79325431208" -> "+7 932 543-12-08"; empty -> ""."""
    return format_phone(str(value)) if value else ""


def format_percent(share: Any, decimals: int = 1) -> str:
    """0.375 -> "37,5 %" in Russian, "37.5 %" in English (a no-break space before the sign)."""
    value = _decimal(share)
    if value is None:
        return EMPTY
    return f"{format_number(value * 100, decimals)}{NBSP}%"
