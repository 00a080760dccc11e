"""Forms of the orders UI: status change, reassignment, list filters, manager capacity, an
order keyed in by staff."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clientbase.core.forms import BootstrapMixin
from clientbase.customers.models import Customer
from clientbase.orders import selectors
from clientbase.orders.choices import OrderSource, OrderStatus, PaymentMethod
from clientbase.orders.lifecycle import next_statuses
from clientbase.orders.services import ItemInput, OrderInput


class OrderStatusForm(BootstrapMixin, forms.Form):
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


class OrderReassignForm(BootstrapMixin, forms.Form):
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
    # One customer's orders: kept in the query string, shown above the list, not typed.
    customer = forms.ModelChoiceField(
        label=_("Customer"),
        queryset=Customer.objects.all(),
        required=False,
        widget=forms.HiddenInput,
    )
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
        self.order_fields(["q", "status", "manager", "from", "to", "customer", "sort"])
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

    def params(self) -> selectors.OrderListParams:
        """The filters asked for; ValidationError when any is not valid (never "all orders")."""
        if not self.is_valid():
            raise ValidationError(self.errors.as_data())
        data = self.cleaned_data
        return selectors.OrderListParams(
            q=data.get("q", "").strip(),
            status=data.get("status", ""),
            manager=data.get("manager", ""),
            placed_from=data.get("from"),
            placed_to=data.get("to"),
            customer=data["customer"].pk if data.get("customer") else None,
            sort=data.get("sort", ""),
        )


class ManagerCapacityForm(forms.Form):
    accepts_orders = forms.BooleanField(label=_("Takes new orders"), required=False)
    capacity = forms.IntegerField(label=_("Open orders at most"), min_value=0, max_value=100_000)


# ---------------------------------------------------------------- an order keyed in by staff


class AmountField(forms.DecimalField):
    """A number as people type it: the locale's decimal separator (350,50 in Russian) and
    spaces between thousands (2 500)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(localize=True, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:
        if isinstance(value, str):
            value = "".join(value.split()).replace("\u202f", "")
        return super().to_python(value)


def _money_field(label: Any, *, required: bool = False) -> forms.DecimalField:
    return AmountField(
        label=label,
        required=required,
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
    )


class OrderItemForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Product"), max_length=300)
    sku = forms.CharField(label=_("SKU"), max_length=100, required=False)
    category = forms.CharField(label=_("Category"), max_length=200, required=False)
    quantity = AmountField(
        label=_("Quantity"), max_digits=12, decimal_places=3, min_value=Decimal("0.001"), initial=1
    )
    price = _money_field(_("Price"), required=True)

    def has_changed(self) -> bool:
        # The quantity starts at 1: a row counts as filled in only when something else is.
        return any(
            str(self.data.get(self.add_prefix(name), "")).strip()
            for name in ("name", "sku", "category", "price")
        )

    def to_input(self) -> ItemInput:
        data = self.cleaned_data
        return ItemInput(
            name=data["name"],
            sku=data["sku"],
            category=data["category"],
            quantity=data["quantity"],
            price=data["price"],
        )


ITEMS_PREFIX = "items"
MAX_ITEMS = 200


class BaseOrderItemFormSet(forms.BaseFormSet):
    default_error_messages = {
        "too_few_forms": _("Add at least one item: its name, quantity and price."),
        "too_many_forms": _("An order holds at most %(num)d items."),
    }


OrderItemFormSet = forms.formset_factory(
    OrderItemForm,
    formset=BaseOrderItemFormSet,
    extra=2,
    min_num=1,
    validate_min=True,
    max_num=MAX_ITEMS,
    validate_max=True,
)


class OrderCreateForm(BootstrapMixin, forms.Form):
    """What an operator asks a caller: delivery and payment; the items come in a formset."""

    number = forms.CharField(
        label=_("Order number"),
        max_length=100,
        required=False,
        help_text=_("Leave empty to number the order automatically."),
    )
    payment_method = forms.ChoiceField(
        label=_("Payment"), choices=PaymentMethod.choices, initial=PaymentMethod.CARD
    )
    delivery_method = forms.CharField(label=_("Delivery method"), max_length=100, required=False)
    address = forms.CharField(
        label=_("Delivery address"),
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"list": "customer-addresses"}),
    )
    delivery_cost = _money_field(_("Delivery"))
    discount = _money_field(_("Discount"))
    coupon = forms.CharField(label=_("Coupon"), max_length=50, required=False)
    promised_delivery = forms.DateField(
        label=_("Promised delivery"),
        required=False,
        input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    manager = forms.ModelChoiceField(
        label=_("Manager"),
        queryset=selectors.assignable_managers(),
        required=False,
        empty_label=_("Automatically: the least loaded manager"),
    )

    def to_input(self, items: list[ItemInput]) -> OrderInput:
        data = self.cleaned_data
        manager = data["manager"]
        return OrderInput(
            external_id=data["number"].strip(),
            source=OrderSource.PHONE,
            payment_method=data["payment_method"],
            delivery_method=data["delivery_method"],
            address=data["address"],
            delivery_cost=data["delivery_cost"] or Decimal("0"),
            discount=data["discount"] or Decimal("0"),
            coupon=data["coupon"],
            promised_delivery=data["promised_delivery"],
            manager_id=manager.pk if manager else None,
            items=items,
        )
