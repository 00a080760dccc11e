"""Forms of the analytics app: the dashboard's date range."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.dashboard import DateRange, default_range
from clientbase.core.forms import BootstrapMixin

# Ten years of months is plenty for a dashboard and keeps the monthly series bounded.
MAX_RANGE_DAYS = 3660


class DateRangeForm(BootstrapMixin, forms.Form):
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if self.errors:
            return data
        default = default_range()
        start = start or (end.replace(day=1) if end else default.start)
        end = end or default.end
        if start > end:
            raise forms.ValidationError(_("The start of the range must not be after its end."))
        if (end - start).days > MAX_RANGE_DAYS:
            raise forms.ValidationError(_("The range must not be longer than ten years."))
        data["start"], data["end"] = start, end
        return data

    def period(self) -> DateRange:
        """The range asked for, or the default one when the form is invalid."""
        if self.is_valid():
            return DateRange(start=self.cleaned_data["start"], end=self.cleaned_data["end"])
        return default_range()
