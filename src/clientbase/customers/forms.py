"""Forms of the customer card: the main form, contact formsets, consent, custom fields, actions."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory
from django.forms.models import fields_for_model, model_to_dict
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from clientbase.accounts.models import User
from clientbase.core.formatting import format_number
from clientbase.core.forms import BootstrapMixin
from clientbase.core.templatetags.clientbase_ui import field_label
from clientbase.customers import services
from clientbase.customers.choices import (
    ConsentChannel,
    ConsentState,
    CustomerKind,
    CustomFieldType,
    PhoneKind,
    StopListReason,
)
from clientbase.customers.models import CUSTOM_TEXT_MAX_LENGTH, Customer, CustomFieldDefinition
from clientbase.customers.normalize import format_phone, normalize_email, normalize_phone
from clientbase.customers.services import (
    AddressInput,
    ConsentInput,
    CustomerInput,
    EmailInput,
    PhoneInput,
)

# The card's scalar fields as the form shows them, in reading order.
PERSON_FIELDS = ["kind", "last_name", "first_name", "middle_name", "gender", "birthday"]
COMPANY_FIELDS = [
    "company_name",
    "inn",
    "kpp",
    "ogrn",
    "bank_bic",
    "bank_account",
    "legal_address",
]
DOCUMENT_FIELDS = ["document_type", "document_number"]
OTHER_FIELDS = ["source", "external_id", "manager", "notes", "vip"]

# Service error keys that belong to a section of the form rather than to one field.
SECTIONS = ("phones", "emails", "addresses", "consents", "custom_fields", "tags", "interests")


def _split_list(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.replace(";", ",").split(",") if p.strip()]


class CustomerForm(BootstrapMixin, forms.Form):
    """Customer's editable fields, generated from the model so labels and choices match it."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    interests = forms.CharField(
        label=_("Preferences and interests"),
        required=False,
        help_text=_("Separate with commas."),
    )
    tags = forms.CharField(label=_("Tags"), required=False, help_text=_("Separate with commas."))
    confirm_duplicate = forms.BooleanField(
        label=_("Create anyway: this is a different customer"), required=False
    )

    def __init__(self, *args: Any, can_edit_document: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        names = PERSON_FIELDS + COMPANY_FIELDS + OTHER_FIELDS
        # Without the permission the document fields are not part of the form at all, so a
        # posted value is never read, whatever the browser sends.
        if can_edit_document:
            names += DOCUMENT_FIELDS
        model_fields = fields_for_model(
            Customer,
            fields=names,
            widgets={
                "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                "document_number": forms.TextInput(attrs={"autocomplete": "off"}),
                "legal_address": forms.TextInput(),
                "notes": forms.Textarea(attrs={"rows": 3}),
            },
        )
        model_fields["manager"].queryset = User.objects.filter(is_active=True).order_by("username")
        # app.js shows and hides the parts that depend on the kind (a company has no document).
        model_fields["kind"].widget.attrs["data-customer-kind"] = ""
        self.fields.update(model_fields)
        self.model_field_names = names
        self.style_fields()

    def customer_fields(self) -> dict[str, Any]:
        # Only what was read: a field with an error of its own stays out, so the service does
        # not report it a second time as empty.
        data = {
            name: self.cleaned_data[name]
            for name in self.model_field_names
            if name in self.cleaned_data
        }
        for name, value in list(data.items()):
            if value is None and name not in ("birthday", "manager", "external_id"):
                data[name] = ""
        data["interests"] = _split_list(self.cleaned_data.get("interests") or "")
        return data

    def tag_names(self) -> list[str]:
        return _split_list(self.cleaned_data.get("tags") or "")

    @staticmethod
    def initial_for(customer: Customer, names: list[str]) -> dict[str, Any]:
        initial = model_to_dict(customer, fields=names)
        initial["version"] = customer.version
        initial["interests"] = ", ".join(str(i) for i in customer.interests or [])
        initial["tags"] = ", ".join(t.name for t in customer.tags.all())
        return initial


class PhoneForm(BootstrapMixin, forms.Form):
    number = forms.CharField(label=_("Phone"), required=False, max_length=40)
    kind = forms.ChoiceField(label=_("Type"), choices=PhoneKind.choices, initial=PhoneKind.MOBILE)
    is_primary = forms.BooleanField(label=_("Primary"), required=False)

    def clean_number(self) -> str:
        # Checked here too, so the message appears beside the very row that is wrong.
        value = self.cleaned_data["number"].strip()
        return normalize_phone(value) if value else ""


class EmailForm(BootstrapMixin, forms.Form):
    address = forms.CharField(label=_("E-mail"), required=False, max_length=254)
    is_primary = forms.BooleanField(label=_("Primary"), required=False)

    def clean_address(self) -> str:
        value = self.cleaned_data["address"].strip()
        return normalize_email(value) if value else ""


class AddressForm(BootstrapMixin, forms.Form):
    label = forms.CharField(label=_("Label"), required=False, max_length=50)
    postal_code = forms.CharField(label=_("Postal code"), required=False, max_length=12)
    region = forms.CharField(label=_("Region"), required=False, max_length=100)
    city = forms.CharField(label=_("City"), required=False, max_length=100)
    line = forms.CharField(label=_("Street, house, flat"), required=False, max_length=300)
    comment = forms.CharField(label=_("Comment for the courier"), required=False, max_length=300)
    is_default = forms.BooleanField(label=_("Default"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        filled = any((data.get(n) or "").strip() for n in ("postal_code", "region", "city", "line"))
        if filled:
            for name in ("city", "line"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("This field is required."))
        return data


class StyledFormSet(BaseFormSet):
    def add_fields(self, form: Any, index: int | None) -> None:
        super().add_fields(form, index)
        form.style_fields()  # the DELETE box is added after the form styled its fields


PhoneFormSet = formset_factory(
    PhoneForm, formset=StyledFormSet, extra=1, can_delete=True, max_num=20
)
EmailFormSet = formset_factory(
    EmailForm, formset=StyledFormSet, extra=1, can_delete=True, max_num=20
)
AddressFormSet = formset_factory(
    AddressForm, formset=StyledFormSet, extra=1, can_delete=True, max_num=20
)


class ConsentForm(BootstrapMixin, forms.Form):
    """One state and source per marketing channel."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for channel, label in ConsentChannel.choices:
            self.fields[f"{channel}_state"] = forms.ChoiceField(
                label=label, choices=ConsentState.choices, initial=ConsentState.UNKNOWN
            )
            self.fields[f"{channel}_source"] = forms.CharField(
                label=_("Where it came from"), required=False, max_length=200
            )
        self.style_fields()

    def channels(self) -> list[tuple[str, Any, forms.BoundField, forms.BoundField]]:
        return [
            (channel, label, self[f"{channel}_state"], self[f"{channel}_source"])
            for channel, label in ConsentChannel.choices
        ]

    def changed_consents(self, current: dict[str, str]) -> list[ConsentInput]:
        """Only channels whose state the user changed: the service stamps the time on each."""
        result = []
        for channel in ConsentChannel.values:
            state = self.cleaned_data[f"{channel}_state"]
            if state != current.get(channel, ConsentState.UNKNOWN):
                source = self.cleaned_data[f"{channel}_source"].strip()
                result.append(ConsentInput(channel=channel, state=state, source=source))
        return result


def _custom_form_field(definition: CustomFieldDefinition) -> forms.Field:
    common: dict[str, Any] = {"label": definition.label, "required": definition.required}
    kind = definition.field_type
    if kind == CustomFieldType.NUMBER:
        return forms.DecimalField(**common)
    if kind == CustomFieldType.DATE:
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common
        )
    if kind == CustomFieldType.BOOLEAN:
        # Yes / no / not answered: a required checkbox could only ever mean "yes".
        return forms.NullBooleanField(label=definition.label, required=False)
    if kind == CustomFieldType.CHOICE:
        choices = [("", "—"), *[(c, c) for c in definition.choices]]
        return forms.ChoiceField(choices=choices, **common)
    return forms.CharField(max_length=CUSTOM_TEXT_MAX_LENGTH, **common)


class CustomFieldsForm(BootstrapMixin, forms.Form):
    """Typed inputs for the fields an admin defined; values go to Customer.custom_fields."""

    prefix = "cf"

    def __init__(self, *args: Any, definitions: list[CustomFieldDefinition], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for definition in definitions:
            self.fields[definition.key] = _custom_form_field(definition)
        self.style_fields()

    def values(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in self.cleaned_data.items():
            if value in (None, ""):
                continue
            if isinstance(value, Decimal):
                value = int(value) if value == value.to_integral_value() else float(value)
            elif isinstance(value, dt.date):
                value = value.isoformat()
            result[key] = value
        return result


class CustomerCardForm:
    """The whole add/edit page: main form, contact formsets, consent and custom fields.

    Keeps the view thin: it validates everything at once, builds the service input, and maps
    the service's ValidationError back onto the right field or section.
    """

    def __init__(
        self,
        data: Any = None,
        *,
        customer: Customer | None = None,
        can_edit_document: bool = False,
    ):
        self.customer = customer
        definitions = list(CustomFieldDefinition.objects.all())
        self.current_consents: dict[str, str] = {}
        main_initial: dict[str, Any] = {}
        phones: list[dict[str, Any]] = []
        emails: list[dict[str, Any]] = []
        addresses: list[dict[str, Any]] = []
        consent_initial: dict[str, Any] = {}
        custom_initial: dict[str, Any] = {}
        if customer is not None:
            names = PERSON_FIELDS + COMPANY_FIELDS + OTHER_FIELDS
            names += DOCUMENT_FIELDS if can_edit_document else []
            main_initial = CustomerForm.initial_for(customer, names)
            phones = [
                {"number": format_phone(p.number), "kind": p.kind, "is_primary": p.is_primary}
                for p in customer.phones.all()
            ]
            emails = [
                {"address": e.address, "is_primary": e.is_primary} for e in customer.emails.all()
            ]
            addresses = [
                {
                    "label": a.label,
                    "postal_code": a.postal_code,
                    "region": a.region,
                    "city": a.city,
                    "line": a.line,
                    "comment": a.comment,
                    "is_default": a.is_default,
                }
                for a in customer.addresses.all()
            ]
            for consent in customer.consents.all():
                self.current_consents[consent.channel] = consent.state
                consent_initial[f"{consent.channel}_state"] = consent.state
                consent_initial[f"{consent.channel}_source"] = consent.source
            custom_initial = dict(customer.custom_fields or {})
        self.main = CustomerForm(data, initial=main_initial, can_edit_document=can_edit_document)
        self.phones = PhoneFormSet(data, initial=phones or None, prefix="phones")
        self.emails = EmailFormSet(data, initial=emails or None, prefix="emails")
        self.addresses = AddressFormSet(data, initial=addresses or None, prefix="addresses")
        self.consent = ConsentForm(data, initial=consent_initial, prefix="consent")
        self.custom = CustomFieldsForm(data, initial=custom_initial, definitions=definitions)
        self.section_errors: dict[str, list[str]] = {}

    @property
    def parts(self) -> list[Any]:
        return [self.main, self.phones, self.emails, self.addresses, self.consent, self.custom]

    def is_valid(self) -> bool:
        # Every part validates, not just up to the first failure, so all errors show at once.
        results = [part.is_valid() for part in self.parts]
        if all(results):
            return True
        # The service's own rules (checksums, a company's legal name, a birthday in the
        # future...) run now too, on what the parts could read: otherwise they would only
        # speak after the user fixed the first batch, a second round of errors.
        try:
            services.customer_validate(
                data=self.to_input(), customer_id=self.customer.pk if self.customer else None
            )
        except ValidationError as exc:
            self.add_service_errors(exc, skip_reported=True)
        return False

    @property
    def is_company(self) -> bool:
        return bool(self.main["kind"].value() == CustomerKind.COMPANY)

    def _person_only_hidden(self, *names: str) -> bool:
        """A company has no gender, birthday or identity document: their inputs hide unless
        they hold a value to clear (or an error to read)."""
        if not self.is_company or any(n not in self.main.fields for n in names):
            return False
        return not any(self.main[n].value() or self.main[n].errors for n in names)

    @property
    def document_hidden(self) -> bool:
        return self._person_only_hidden("document_type", "document_number")

    @property
    def gender_hidden(self) -> bool:
        return self._person_only_hidden("gender")

    @property
    def birthday_hidden(self) -> bool:
        return self._person_only_hidden("birthday")

    @property
    def expected_version(self) -> int:
        return int(self.main.cleaned_data.get("version") or 0)

    @property
    def confirm_duplicate(self) -> bool:
        return bool(self.main.cleaned_data.get("confirm_duplicate"))

    def to_input(self) -> CustomerInput:
        """The service's input from what the parts read; a part with errors is left out
        (None: the service leaves that part as it is and does not check it)."""
        fields = self.main.customer_fields()
        if self.custom.is_valid():
            fields["custom_fields"] = self.custom.values()
        return CustomerInput(
            fields=fields,
            phones=[
                PhoneInput(number=f["number"], kind=f["kind"], is_primary=f["is_primary"])
                for f in self._rows(self.phones)
                if f["number"]
            ]
            if self.phones.is_valid()
            else None,
            emails=[
                EmailInput(address=f["address"], is_primary=f["is_primary"])
                for f in self._rows(self.emails)
                if f["address"]
            ]
            if self.emails.is_valid()
            else None,
            addresses=[
                AddressInput(**{k: v for k, v in f.items() if k != "DELETE"})
                for f in self._rows(self.addresses)
                if (f.get("city") or f.get("line"))
            ]
            if self.addresses.is_valid()
            else None,
            tags=self.main.tag_names(),
            consents=self.consent.changed_consents(self.current_consents)
            if self.consent.is_valid()
            else None,
        )

    @staticmethod
    def _rows(formset: Any) -> list[dict[str, Any]]:
        return [
            f.cleaned_data
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]

    def add_service_errors(self, exc: ValidationError, *, skip_reported: bool = False) -> None:
        """Put each message from the service next to its field, or atop its section.

        With `skip_reported`, a field or section that already shows an error of the form's
        own gets nothing more: the service saw it empty and would only repeat the problem.
        """
        if not hasattr(exc, "error_dict"):
            for message in exc.messages:
                self.main.add_error(None, message)
            return
        sections = {
            "phones": self.phones,
            "emails": self.emails,
            "addresses": self.addresses,
            "consents": self.consent,
            "custom_fields": self.custom,
        }
        for key, errors in exc.error_dict.items():
            messages = [m for e in errors for m in e.messages]
            if skip_reported and (
                key in self.main.errors or (key in sections and not sections[key].is_valid())
            ):
                continue
            if key in self.main.fields:
                self.main.add_error(key, messages)
            elif key in SECTIONS:
                self.section_errors.setdefault(key, []).extend(messages)
            else:
                label = field_label(Customer._meta.label_lower, key)
                for message in messages:
                    self.main.add_error(None, f"{label}: {message}")


# ---------------------------------------------------------------- actions on the card and list


class VersionForm(BootstrapMixin, forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class StopListForm(VersionForm):
    reason = forms.ChoiceField(label=_("Reason"), choices=StopListReason.choices)
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class TagNameForm(BootstrapMixin, forms.Form):
    tag = forms.CharField(label=_("Tag"), max_length=60)


class IdListField(forms.Field):
    """The ids of the rows ticked in the list."""

    widget = forms.MultipleHiddenInput
    max_ids = 1000

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            ids = sorted({int(v) for v in value})
        except (TypeError, ValueError) as exc:
            raise ValidationError(_("Invalid selection."), code="invalid") from exc
        if len(ids) > self.max_ids:
            raise ValidationError(
                _("Select at most %(n)s customers at a time."),
                params={"n": format_number(self.max_ids)},
            )
        return ids

    def validate(self, value: list[int]) -> None:
        if not value:
            raise ValidationError(_("Select at least one customer."), code="required")


class BulkActionForm(BootstrapMixin, forms.Form):
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    ASSIGN_MANAGER = "assign_manager"

    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (ADD_TAG, _("Add tag")),
            (REMOVE_TAG, _("Remove tag")),
            (ASSIGN_MANAGER, _("Assign manager")),
        ],
    )
    ids = IdListField()
    tag = forms.CharField(label=_("Tag"), required=False, max_length=60)
    manager = forms.ModelChoiceField(
        label=_("Manager"),
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label=_("— no manager —"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (
            data.get("action") in (self.ADD_TAG, self.REMOVE_TAG)
            and not (data.get("tag") or "").strip()
        ):
            self.add_error("tag", _("Enter a tag."))
        return data


class ServiceErrorsMixin:
    """Maps a service's ValidationError onto the form's fields."""

    def add_service_errors(self, exc: ValidationError) -> None:
        form: Any = self
        if not hasattr(exc, "error_dict"):
            form.add_error(None, exc.messages)
            return
        for key, errors in exc.error_dict.items():
            messages = [m for e in errors for m in e.messages]
            form.add_error(key if key in form.fields else None, messages)


class TagForm(ServiceErrorsMixin, BootstrapMixin, forms.Form):
    name = forms.CharField(label=pgettext_lazy("tag", "Name"), max_length=60)
    color = forms.ChoiceField(
        label=_("Colour"),
        choices=[
            ("secondary", _("Grey")),
            ("primary", _("Blue")),
            ("success", _("Green")),
            ("danger", _("Red")),
            ("warning", _("Yellow")),
            ("info", _("Light blue")),
            ("dark", _("Black")),
        ],
        initial="secondary",
    )


class CustomFieldDefinitionForm(ServiceErrorsMixin, BootstrapMixin, forms.Form):
    key = forms.SlugField(
        label=_("Key"),
        max_length=40,
        help_text=_("Latin letters, digits, hyphens; used in imports and the API. Fixed later."),
    )
    label = forms.CharField(label=_("Label"), max_length=100)
    field_type = forms.ChoiceField(label=_("Type"), choices=CustomFieldType.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For “choice from a list”: one choice per line."),
    )
    required = forms.BooleanField(label=_("Required"), required=False)
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=32767, initial=0)

    def __init__(self, *args: Any, definition: CustomFieldDefinition | None = None, **kwargs: Any):
        if definition is not None:
            kwargs.setdefault(
                "initial",
                {
                    "key": definition.key,
                    "label": definition.label,
                    "field_type": definition.field_type,
                    "choices": "\n".join(definition.choices or []),
                    "required": definition.required,
                    "position": definition.position,
                },
            )
        super().__init__(*args, **kwargs)
        self.definition = definition
        if definition is not None:
            # Stored values are keyed by it: renaming would orphan them.
            self.fields["key"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The service's checks (a key in use, a choice type without choices) run now, beside
        # the fields' own, so every problem is reported in one round.
        checked = copy.copy(self.definition) if self.definition else CustomFieldDefinition()
        checked.key = data.get("key", checked.key)
        checked.label = (data.get("label") or "").strip()
        checked.field_type = data.get("field_type", "")
        checked.choices = _choice_lines(data.get("choices", ""))
        checked.required = bool(data.get("required"))
        checked.position = data.get("position") or 0
        problems = services.custom_field_problems(checked, exclude=set(self._errors or {}))
        for field, messages in problems.items():
            self.add_error(field if field in self.fields else None, messages)
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "key": data["key"],
            "label": data["label"],
            "field_type": data["field_type"],
            "choices": _choice_lines(data["choices"]),
            "required": data["required"],
            "position": data["position"],
        }


def _choice_lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
