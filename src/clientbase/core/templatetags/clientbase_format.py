"""Template filters every page uses for money, numbers and phones: {% load clientbase_format %}."""

from __future__ import annotations

from typing import Any

from django import template

from clientbase.core.formatting import (
    format_money,
    format_number,
    format_percent,
    format_phone_number,
)

register = template.Library()


@register.filter
def money(value: Any, currency: str | None = None) -> str:
    """{{ order.total|money:order.currency }} -> "140 190 245,72 ₽" (default: shop currency)."""
    return format_money(value, currency)


@register.filter
def number(value: Any, decimals: int | None = None) -> str:
    """{{ count|number }} -> "2 848" ({{ share|number:1 }} -> "37,5")."""
    return format_number(value, decimals)


@register.filter
def phone(value: Any) -> str:
    """{{ customer.primary_phone|phone }} -> "+7 932 543-12-08"."""
    return format_phone_number(value)


@register.filter
def percent(share: Any, decimals: int = 1) -> str:
    """{{ 0.375|percent }} -> "37,5 %"; {{ p_alive|percent:0 }} -> "98 %"."""
    return format_percent(share, decimals)
