"""Forms of the orders UI: status change, reassignment, list filters, manager capacity."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clientbase.orders import selectors
from clientbase.orders.choices import OrderStatus


class OrderStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=OrderStatus.choices)


class OrderReassignForm(forms.Form):
    manager = forms.ModelChoiceField(
        label=_("Manager"),
        queryset=selectors.assignable_managers(),
        required=False,
        empty_label=_("— nobody —"),
    )


class OrderFilterForm(forms.Form):
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

    def params(self) -> selectors.OrderListParams:
        """The filters asked for; ValidationError when any is not valid (never "all orders")."""
        if not self.is_valid():
            raise ValidationError(self.errors.as_data())
        data = self.cleaned_data
        return selectors.OrderListParams(
            status=data.get("status", ""),
            manager=data.get("manager", ""),
            sort=data.get("sort", ""),
        )


class ManagerCapacityForm(forms.Form):
    accepts_orders = forms.BooleanField(label=_("Takes new orders"), required=False)
    capacity = forms.IntegerField(label=_("Open orders at most"), min_value=0, max_value=100_000)
