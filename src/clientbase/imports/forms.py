"""Forms of the import screens: upload, sheet choice and the column mapping."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbase.core.file_fields import FIELDS
from clientbase.core.forms import BootstrapMixin
from clientbase.imports.choices import ImportKind, ImportMode, MatchKey
from clientbase.imports.models import ImportJob

ACCEPTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls", ".ods")
IGNORE = ""

# The mapping select groups fields the way a person looks for them; a field the catalogue
# gains later and no group names lands in "Other", so the select never loses one.
FIELD_GROUPS: dict[str, tuple[tuple[Any, tuple[str, ...]], ...]] = {
    ImportKind.CUSTOMERS: (
        (_("Name"), ("full_name", "last_name", "first_name", "middle_name", "gender", "birthday")),
        (_("Contacts"), ("phone", "email")),
        (_("Identity"), ("external_id", "kind", "company_name", "registered_at")),
        (_("Address"), ("postal_code", "region", "city", "address")),
        (
            _("Company details"),
            ("inn", "kpp", "ogrn", "bank_bic", "bank_account", "legal_address"),
        ),
        (_("Marketing"), ("tags", "consent_email", "consent_sms", "vip", "notes")),
    ),
    ImportKind.ORDERS: (
        (
            _("Order"),
            (
                "order_id",
                "placed_at",
                "status",
                "total",
                "subtotal",
                "discount",
                "delivery_cost",
                "currency",
                "payment_method",
                "delivery_method",
                "delivery_address",
                "coupon",
            ),
        ),
        (
            _("Customer"),
            (
                "customer_external_id",
                "customer_email",
                "customer_phone",
                "customer_full_name",
                "customer_last_name",
                "customer_first_name",
            ),
        ),
        (_("Items"), ("item_sku", "item_name", "item_category", "item_quantity", "item_price")),
    ),
}


def field_choices(kind: str) -> list[Any]:
    """Choices of a column's select: "ignore" first, then the kind's fields in groups."""
    catalogue = {field.key: field.label for field in FIELDS[kind]}
    choices: list[Any] = [(IGNORE, _("— ignore —"))]
    placed: set[str] = set()
    for label, keys in FIELD_GROUPS.get(kind, ()):
        group = [(key, catalogue[key]) for key in keys if key in catalogue]
        placed.update(key for key, _label in group)
        if group:
            choices.append((label, group))
    rest = [(key, label) for key, label in catalogue.items() if key not in placed]
    if rest:
        choices.append((_("Other"), rest))
    return choices


class ImportUploadForm(BootstrapMixin, forms.Form):
    kind = forms.ChoiceField(
        label=_("What the file holds"),
        choices=ImportKind.choices,
        initial=ImportKind.CUSTOMERS,
        widget=forms.RadioSelect,
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "CSV (any delimiter and encoding), Excel (XLSX, XLS) or OpenDocument (ODS). "
            "The first row must hold the column headers."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_SUFFIXES)}),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Radios get Bootstrap's check class, not the text-field look the mixin gives them.
        self.fields["kind"].widget.attrs["class"] = "form-check-input"


class SheetForm(forms.Form):
    sheet = forms.ChoiceField(label=_("Sheet"))

    def __init__(self, job: ImportJob, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        sheet = self.fields["sheet"]
        assert isinstance(sheet, forms.ChoiceField)
        sheet.choices = [(name, name) for name in job.sheets]
        sheet.initial = job.sheet
        sheet.widget.attrs["class"] = "form-select"


class ImportMappingForm(BootstrapMixin, forms.Form):
    """One select per file column (named col_<index>), the mode and the match priority."""

    mode = forms.ChoiceField(
        label=_("What to do with the rows"),
        choices=ImportMode.choices,
        widget=forms.RadioSelect,
    )
    match_1 = forms.ChoiceField(
        label=pgettext_lazy("match order", "First"), choices=MatchKey.choices
    )
    match_2 = forms.ChoiceField(
        label=_("then"), choices=[("", "—"), *MatchKey.choices], required=False
    )
    match_3 = forms.ChoiceField(
        label=_("then"), choices=[("", "—"), *MatchKey.choices], required=False
    )
    save_as = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=100,
        help_text=_("A file with the same columns will get this mapping next time."),
    )

    def __init__(self, job: ImportJob, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.job = job
        choices = field_choices(job.kind)
        for index, header in enumerate(job.headers):
            self.fields[self.column_name(index)] = forms.ChoiceField(
                label=header or _("Column %(number)d") % {"number": index + 1},
                choices=choices,
                required=False,
                initial=job.mapping.get(str(index), IGNORE),
            )
        self.fields["mode"].initial = job.mode
        match_by = [*job.match_by, "", "", ""]
        for position in range(3):
            self.fields[f"match_{position + 1}"].initial = match_by[position]
        self.style_fields()
        # Radios get Bootstrap's check class, not the text-field look the mixin gives them.
        self.fields["mode"].widget.attrs["class"] = "form-check-input"

    @staticmethod
    def column_name(index: int) -> str:
        return f"col_{index}"

    def column(self, index: int) -> forms.BoundField:
        return self[self.column_name(index)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        keys = [data.get(f"match_{n}") for n in (1, 2, 3)]
        chosen = [key for key in keys if key]
        if len(set(chosen)) != len(chosen):
            raise forms.ValidationError(
                _("Each way of matching may be chosen once."), code="match_twice"
            )
        return data

    def mapping(self) -> dict[str | int, str | None]:
        return {
            index: self.cleaned_data.get(self.column_name(index)) or None
            for index in range(len(self.job.headers))
        }

    def match_by(self) -> list[str]:
        return [key for n in (1, 2, 3) if (key := self.cleaned_data.get(f"match_{n}"))]
