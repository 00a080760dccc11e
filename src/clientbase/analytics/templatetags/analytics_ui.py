"""Template filters of the analytics pages."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    """0.375 -> "37.5 %" (or "37,5 %"), in the user's number format."""
    if share is None:
        return "—"
    return f"{floatformat(share * 100, 1)}\u00a0%"
