"""The customer list's search and filters as a form, shared by the UI, the API and exports.

A plain Django form rather than django-filter: the predicates must stay index-friendly (see
selectors.customer_list), so the form only parses and validates, and the selector builds SQL.
An invalid value is an error, never dropped: a dropped filter widens the list (or an export)
to the whole base.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbase.accounts.models import User
from clientbase.core.forms import BootstrapMixin
from clientbase.customers.choices import CustomerKind, CustomerStatus
from clientbase.customers.models import Tag
from clientbase.customers.normalize import normalize_city
from clientbase.customers.selectors import DEFAULT_SORT, NO_MANAGER, CustomerListParams

MONTHS = [
    (1, _("January")),
    (2, _("February")),
    (3, _("March")),
    (4, _("April")),
    (5, _("May")),
    (6, _("June")),
    (7, _("July")),
    (8, _("August")),
    (9, _("September")),
    (10, _("October")),
    (11, _("November")),
    (12, _("December")),
]
# Every key of selectors.SORTS; the list's column headers switch between them.
SORT_CHOICES = [
    ("name", pgettext_lazy("sort order", "Name")),
    ("-name", pgettext_lazy("sort order", "Name, Z to A")),
    ("city", pgettext_lazy("sort order", "City")),
    ("-city", pgettext_lazy("sort order", "City, Z to A")),
    ("newest", _("Newest first")),
    ("oldest", _("Oldest first")),
]


def _with_any(choices: Any) -> list[tuple[Any, Any]]:
    return [("", _("Any")), *choices]


class CustomerFilterSet(BootstrapMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                # Brief; the title says it in full (the search also finds the last digits
                # of a phone and the start of an e-mail, see selectors.interpret_query).
                "placeholder": _("Name, phone or its last 4 digits, start of an e-mail, INN"),
                "title": _(
                    "The start of a name, a phone in any format or its last 4 to 9 digits, "
                    "an e-mail or its start, or an INN."
                ),
                "autocomplete": "off",
            }
        ),
    )
    tag = forms.TypedChoiceField(label=_("Tag"), required=False, coerce=int, empty_value=None)
    city = forms.CharField(
        label=_("City"),
        required=False,
        max_length=100,
        # The known cities are offered as the user types (views.city_suggestions).
        widget=forms.TextInput(
            attrs={
                "list": "city-options",
                "autocomplete": "off",
                "hx-get": reverse_lazy("customers:cities"),
                "hx-trigger": "input changed delay:250ms, focus once",
                "hx-target": "#city-options",
                "hx-swap": "innerHTML",
                "hx-push-url": "false",
                "hx-sync": "this:replace",
                "hx-indicator": "this",
            }
        ),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=_with_any(CustomerKind.choices)
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_with_any(CustomerStatus.choices)
    )
    manager = forms.ChoiceField(label=_("Manager"), required=False)
    birth_month = forms.TypedChoiceField(
        label=_("Birthday month"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_with_any(MONTHS),
    )
    r = forms.TypedChoiceField(
        label=_("R score"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_with_any([(n, str(n)) for n in range(1, 6)]),
    )
    f = forms.TypedChoiceField(
        label=_("F score"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=_with_any([(n, str(n)) for n in range(1, 6)]),
    )
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Tags and staff are small tables; listing them costs one query each.
        self.fields["tag"].choices = _with_any(Tag.objects.values_list("id", "name"))
        managers = [
            (str(u.pk), str(u)) for u in User.objects.filter(is_active=True).order_by("username")
        ]
        self.fields["manager"].choices = _with_any([(NO_MANAGER, _("— no manager —")), *managers])

    def clean_city(self) -> str:
        # Cities are stored in one form (normalize_city): "москва" finds "Москва" by "=".
        return normalize_city(self.cleaned_data.get("city") or "")

    def params(self) -> CustomerListParams:
        """The search and filters asked for; no filters for an unbound form.

        Raises ValidationError (field -> messages) when any value is not valid: callers check
        is_valid() first and show or return the errors (400 in the API).
        """
        if not self.is_bound:
            return CustomerListParams()
        if not self.is_valid():
            raise ValidationError(self.errors.as_data())
        data = self.cleaned_data
        return CustomerListParams(
            q=data.get("q") or "",
            tag=data.get("tag"),
            city=data.get("city") or "",
            kind=data.get("kind") or "",
            status=data.get("status") or "",
            manager=data.get("manager") or "",
            birth_month=data.get("birth_month"),
            r=data.get("r"),
            f=data.get("f"),
            sort=data.get("sort") or DEFAULT_SORT,
        )
