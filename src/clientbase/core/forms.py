"""Forms of the core app: the audit log filter and webhook subscriptions."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clientbase.accounts.models import User
from clientbase.core.choices import AuditAction
from clientbase.core.webhooks import WEBHOOK_EVENTS

OBJECT_TYPES = [
    ("customers.customer", _("Customer")),
    ("customers.tag", _("Tag")),
    ("customers.customfielddefinition", _("Custom field")),
    ("accounts.user", _("Staff user")),
    ("orders.order", _("Order")),
]


def labelled_errors(form: forms.Form) -> list[str]:
    """Every error of a form, each after its field's label ("Tag: Select a valid choice."):
    what a list shows above no rows, and what an export that refuses a filter says."""
    found: list[str] = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        found.extend(f"{label}: {error}" if label else str(error) for error in errors)
    return found


# Django's placeholder for "nothing chosen" in a dropdown; people read it as a glitch.
DJANGO_EMPTY_LABEL = "---------"
EMPTY_CHOICE_LABEL = _("— not chosen —")


def _name_the_empty_choice(field: forms.Field) -> None:
    if isinstance(field, forms.ModelChoiceField):
        if field.empty_label == DJANGO_EMPTY_LABEL:
            field.empty_label = EMPTY_CHOICE_LABEL
    elif isinstance(field, forms.ChoiceField) and not callable(field.choices):
        choices = list(field.choices)
        blank = ("", DJANGO_EMPTY_LABEL)
        if blank in choices:
            field.choices = [("", EMPTY_CHOICE_LABEL) if c == blank else c for c in choices]


class BootstrapMixin:
    """Gives widgets Bootstrap's classes, and marks fields with errors as invalid."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.style_fields()

    def style_fields(self) -> None:
        """Forms that add fields in __init__ call this again afterwards."""
        form: Any = self
        for field in form.fields.values():
            _name_the_empty_choice(field)
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select | forms.SelectMultiple):
                css = "form-select"
            elif isinstance(widget, forms.HiddenInput | forms.MultipleHiddenInput):
                continue
            else:
                css = "form-control"
            current = widget.attrs.get("class", "")
            if css not in current.split():
                widget.attrs["class"] = f"{current} {css}".strip()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        form: Any = self
        names = [field] if field else []
        if isinstance(error, dict):
            names = list(error)
        for name in names:
            if name in form.fields:
                widget = form.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()


class AuditFilterForm(BootstrapMixin, forms.Form):
    actor = forms.ModelChoiceField(
        label=_("Who"), queryset=User.objects.order_by("username"), required=False
    )
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("Any")), *AuditAction.choices]
    )
    object_type = forms.CharField(
        label=_("Object type"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"list": "audit-object-types"}),
    )
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    request_id = forms.CharField(label=_("Request id"), required=False, max_length=64)

    object_types = OBJECT_TYPES

    def filters(self) -> dict[str, Any]:
        """The filters asked for; ValidationError when any is not valid (never "every event")."""
        if not self.is_valid():
            raise ValidationError(self.errors.as_data())
        data = self.cleaned_data
        result: dict[str, Any] = {}
        for name in ("actor", "action", "object_type", "object_id", "request_id"):
            value = data.get(name)
            if isinstance(value, str):
                value = value.strip()
            if value:
                result[name] = value
        if data.get("date_from"):
            result["date_from"] = data["date_from"]
        if data.get("date_to"):
            result["date_to"] = data["date_to"]
        return result


class WebhookSubscriptionForm(BootstrapMixin, forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where clientbase sends a signed POST for each event."),
    )
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=WEBHOOK_EVENTS, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("Active"), required=False)
