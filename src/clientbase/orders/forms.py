"""Forms of the orders UI: status change, reassignment, list filters, manager capacity."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clientbase.core.forms import BootstrapMixin
from clientbase.orders import selectors
from clientbase.orders.choices import OrderStatus
from clientbase.orders.lifecycle import next_statuses


class OrderStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=OrderStatus.choices)

    def __init__(self, *args: Any, current: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if current is not None:
            # The page offers only the next steps; a posted form accepts any status so that a
            # stale page gets the life cycle's own message from the service.
            following = next_statuses(current)
            status_field = self.fields["status"]
            assert isinstance(status_field, forms.ChoiceField)
            status_field.choices = [
                (s, label) for s, label in OrderStatus.choices if s in following
            ]


class OrderReassignForm(forms.Form):
    manager = forms.ModelChoiceField(
        label=_("Manager"),
        queryset=selectors.assignable_managers(),
        required=False,
        empty_label=_("— nobody —"),
    )


DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]


class OrderFilterForm(BootstrapMixin, forms.Form):
    """The order list's filters. An invalid value is an error shown to the user, never dropped:
    a dropped filter would list (and export) every order."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("Order number, customer's name, phone or e-mail"),
            }
        ),
    )
    status = forms.ChoiceField(label=_("Status"), required=False)
    manager = forms.ChoiceField(label=_("Manager"), required=False)
    sort = forms.ChoiceField(
        label=_("Sort"),
        required=False,
        choices=[
            (selectors.NEWEST, _("Newest first")),
            (selectors.BY_IMPORTANCE, _("By importance")),
        ],
    )

    def __init__(self, *args: Any, with_manager: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # "from" and "to", as the order export names them, so the list's query string
        # exports the same orders.
        self.fields["from"] = forms.DateField(
            label=_("Placed from"),
            required=False,
            input_formats=DATE_INPUT_FORMATS,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        )
        self.fields["to"] = forms.DateField(
            label=_("Placed to"),
            required=False,
            input_formats=DATE_INPUT_FORMATS,
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        )
        self.order_fields(["q", "status", "manager", "from", "to", "sort"])
        status_field = self.fields["status"]
        assert isinstance(status_field, forms.ChoiceField)
        status_field.choices = [
            ("", _("All")),
            (selectors.OPEN, _("Open")),
            *OrderStatus.choices,
        ]
        if with_manager:
            manager_field = self.fields["manager"]
            assert isinstance(manager_field, forms.ChoiceField)
            manager_field.choices = [
                ("", _("Any")),
                (selectors.NO_MANAGER, _("Nobody")),
                *[(str(u.pk), str(u)) for u in selectors.assignable_managers()],
            ]
        else:
            del self.fields["manager"]
        self.style_fields()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned

    def error_messages(self) -> list[str]:
        """Every error, each with its field's label: shown above the list."""
        found = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else None
            for error in errors:
                found.append(f"{label}: {error}" if label else str(error))
        return found

    def params(self) -> selectors.OrderListParams:
        """The filters of a valid form (call is_valid() first and show the errors if not)."""
        data = self.cleaned_data
        return selectors.OrderListParams(
            q=data.get("q", "").strip(),
            status=data.get("status", ""),
            manager=data.get("manager", ""),
            placed_from=data.get("from"),
            placed_to=data.get("to"),
            sort=data.get("sort", ""),
        )


class ManagerCapacityForm(forms.Form):
    accepts_orders = forms.BooleanField(label=_("Takes new orders"), required=False)
    capacity = forms.IntegerField(label=_("Open orders at most"), min_value=0, max_value=100_000)
