"""Forms of the exports app."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from clientbase.core.forms import BootstrapMixin
from clientbase.exports import columns as catalogue
from clientbase.exports.choices import ExportFormat


class ExportForm(BootstrapMixin, forms.Form):
    file_format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=ExportFormat.choices,
        initial=ExportFormat.XLSX,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "XLSX opens in Excel with phones and dates as they are; CSV (UTF-8, semicolons) "
            "is for other programs."
        ),
    )
    values = forms.ChoiceField(
        label=gettext_lazy("Values"),
        choices=[
            ("labels", gettext_lazy("Words, in the interface language")),
            ("codes", gettext_lazy("Codes, the same in every language")),
        ],
        initial="labels",
        # Not sent by a form opened before the choice existed: words, the default.
        required=False,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "Words (“Person”, “Cash on delivery”, “yes”) are for people; codes (person, cod, "
            "yes) for other programs. The import reads both."
        ),
    )
    columns = forms.MultipleChoiceField(
        label=gettext_lazy("Columns"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, kind: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        columns = self.fields["columns"]
        assert isinstance(columns, forms.MultipleChoiceField)
        columns.choices = [(c.key, c.label) for c in catalogue.COLUMNS[kind]]
        columns.initial = catalogue.default_columns(kind)
        # Radios and checkboxes are laid out by the template, not styled as one control.
        for name in ("file_format", "values", "columns"):
            self.fields[name].widget.attrs.pop("class", None)
