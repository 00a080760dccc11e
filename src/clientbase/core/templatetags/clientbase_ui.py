"""Template helpers of the web UI: field labels and values for audit diffs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def field_label(object_type: str, name: str) -> str:
    """The translated label of `name` on the model `object_type` ('customers.customer')."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return name
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    if field.is_relation and field.auto_created and not field.concrete:
        # Reverse relations (phones, e-mails, addresses, consents) carry no verbose name.
        return str(field.related_model._meta.verbose_name_plural)
    return str(getattr(field, "verbose_name", name))


@register.simple_tag
def label_of(object_type: str, name: str) -> str:
    return field_label(object_type, name)


@register.simple_tag
def object_label(object_type: str, object_repr: str) -> str:
    """The audit row's object as the viewer reads it.

    Objects without a name of their own (the shop's scoring settings) are stored under the
    model's English verbose name; show that name in the viewer's language instead.
    """
    try:
        meta = apps.get_model(object_type)._meta
    except (LookupError, ValueError):
        return object_repr
    with translation.override("en"):
        english = str(meta.verbose_name)
    return capfirst(str(meta.verbose_name)) if object_repr == english else object_repr


@register.filter
def audit_value(value: Any) -> str:
    """A before/after value as one line of text."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if isinstance(value, list):
        return "; ".join(audit_value(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {audit_value(v)}" for k, v in value.items())
    return str(value)


@register.filter
def iso_datetime(value: Any) -> Any:
    """An ISO 8601 string (as stored in JSON) -> datetime, for the |date filter."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
