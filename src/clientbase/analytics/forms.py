"""Forms of the analytics app: the dashboard's date range and the scoring settings."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.dashboard import DateRange, default_range
from clientbase.analytics.models import ScoringConfig
from clientbase.analytics.services import IMPORTANCE_DEFAULTS, RFM_DIMENSIONS
from clientbase.core.formatting import format_number
from clientbase.core.forms import BootstrapMixin

# Ten years of months is plenty for a dashboard and keeps the monthly series bounded.
# Defaults shown in help texts: "0,1" in Russian, formatted when the page is rendered.
number_lazy = lazy(format_number, str)

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


class CutPointsWidget(forms.MultiWidget):
    """Four number inputs (the page lays them out side by side)."""

    def __init__(self, step: str = "1") -> None:
        attrs = {"step": step, "min": "0"}
        super().__init__([forms.NumberInput(attrs=attrs) for _ in range(4)])

    def decompress(self, value: Any) -> list[Any]:
        return list(value) if value else [None] * 4


class CutPointsField(forms.MultiValueField):
    """Four cut points of one RFM dimension; all empty means quintiles (None).

    The form only parses numbers; how many and in what order is checked by
    services.scoring_config_save, so the rule lives in one place.
    """

    def __init__(self, *, whole: bool, **kwargs: Any) -> None:
        fields: list[forms.Field] = [
            forms.IntegerField(required=False)
            if whole
            else forms.DecimalField(required=False, max_digits=14, decimal_places=2)
            for _ in range(4)
        ]
        super().__init__(
            fields,
            require_all_fields=False,
            required=False,
            widget=CutPointsWidget(step="1" if whole else "0.01"),
            **kwargs,
        )

    def compress(self, data_list: list[Any]) -> list[Any] | None:
        if not data_list or all(value is None for value in data_list):
            return None
        return list(data_list)


class ScoringConfigForm(BootstrapMixin, forms.Form):
    """The shop's scoring settings; an empty input means the documented default."""

    recency = CutPointsField(
        whole=True,
        label=_("Recency R, days since the last purchase"),
        help_text=_(
            "Four ascending cut points, e.g. 7, 30, 90, 180: R is 5 minus the number of cut "
            "points the days exceed. Empty: quintiles of the buyers."
        ),
    )
    frequency = CutPointsField(
        whole=True,
        label=_("Frequency F, delivered orders"),
        help_text=_(
            "Four ascending cut points, e.g. 2, 3, 4, 5: F is 1 plus the number of cut points "
            "reached. Empty: quintiles of the buyers."
        ),
    )
    monetary = CutPointsField(
        whole=False,
        label=_("Monetary M, revenue"),
        help_text=_(
            "Four ascending cut points, e.g. 1000, 5000, 10000, 50000: M is 1 plus the number "
            "of cut points reached. Empty: quintiles of the buyers."
        ),
    )
    vip_percentile = forms.FloatField(
        label=_("VIP percentile"),
        required=False,
        help_text=format_lazy(
            _(
                "Buyers whose value is at or above this percentile of all buyers' values are VIP. "
                "From 0 to 100; default {default}."
            ),
            default=number_lazy(IMPORTANCE_DEFAULTS["vip_percentile"]),
        ),
    )
    no_automatic_vip = forms.BooleanField(
        label=_("No VIP by percentile"),
        required=False,
        help_text=_("Only the manual mark on the card and the VIP value make a customer VIP."),
    )
    high_percentile = forms.FloatField(
        label=_("High importance percentile"),
        required=False,
        help_text=format_lazy(
            _(
                "Buyers at or above this percentile of the values are of high importance. "
                "From 0 to 100; default {default}."
            ),
            default=number_lazy(IMPORTANCE_DEFAULTS["high_percentile"]),
        ),
    )
    vip_value = forms.DecimalField(
        label=_("VIP value"),
        required=False,
        max_digits=14,
        decimal_places=2,
        help_text=_(
            "An amount of money instead of the VIP percentile: value = revenue to date plus "
            "lifetime value over the horizon. Default: not set."
        ),
    )
    high_value = forms.DecimalField(
        label=_("High importance value"),
        required=False,
        max_digits=14,
        decimal_places=2,
        help_text=_("An amount of money instead of the high percentile. Default: not set."),
    )
    min_p_alive = forms.FloatField(
        label=_("Lowest probability of being active"),
        required=False,
        help_text=format_lazy(
            _(
                "Below it a buyer is of low importance (when the models could be fitted). "
                "From 0 to 1; default {default}."
            ),
            default=number_lazy(IMPORTANCE_DEFAULTS["min_p_alive"]),
        ),
    )
    inactive_days = forms.IntegerField(
        label=_("Inactive after, days"),
        required=False,
        help_text=format_lazy(
            _(
                "Without models, a buyer with no purchase for longer than this is of low "
                "importance. Default {default}."
            ),
            default=number_lazy(IMPORTANCE_DEFAULTS["inactive_days"]),
        ),
    )
    horizon_days = forms.IntegerField(
        label=_("Prediction horizon, days"),
        help_text=_("Expected purchases and lifetime value look this many days ahead."),
    )

    IMPORTANCE_FIELDS = (
        "vip_percentile",
        "high_percentile",
        "vip_value",
        "high_value",
        "min_p_alive",
        "inactive_days",
    )

    @classmethod
    def initial_from(cls, config: ScoringConfig) -> dict[str, Any]:
        """The form's initial values from the stored settings; malformed ones show empty."""
        initial: dict[str, Any] = {"horizon_days": config.horizon_days}
        thresholds = config.rfm_thresholds if isinstance(config.rfm_thresholds, dict) else {}
        for name in RFM_DIMENSIONS:
            values = thresholds.get(name)
            if isinstance(values, list) and len(values) == 4:
                initial[name] = values
        importance = config.importance if isinstance(config.importance, dict) else {}
        for key in cls.IMPORTANCE_FIELDS:
            if importance.get(key) is not None:
                initial[key] = importance[key]
        initial["no_automatic_vip"] = "vip_percentile" in importance and (
            importance["vip_percentile"] is None
        )
        return initial

    def to_data(self) -> dict[str, Any]:
        """The cleaned input in ScoringConfig's shape, for services.scoring_config_save."""
        data = self.cleaned_data
        importance = {key: data[key] for key in self.IMPORTANCE_FIELDS if data.get(key) is not None}
        if data.get("no_automatic_vip"):
            importance["vip_percentile"] = None
        return {
            "rfm_thresholds": {
                name: data[name] for name in RFM_DIMENSIONS if data.get(name) is not None
            },
            "importance": importance,
            "horizon_days": data.get("horizon_days"),
        }
