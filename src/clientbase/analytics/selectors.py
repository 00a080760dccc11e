"""Reads of the analytics app: the RFM grid (cells, segment sizes) and the last refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.choices import RfmSegment
from clientbase.analytics.models import CustomerScore, ModelFit
from clientbase.core.formatting import format_number


@dataclass
class RfmCell:
    r: int
    f: int
    customers: int = 0
    average_monetary: Decimal | None = None


@dataclass
class RfmDimensionScoring:
    """How one dimension was cut into scores in the last refresh, for the grid page."""

    label: str
    method: str  # "quintiles", "fixed" or "shop"
    method_label: str
    cut_points: list[int | float]


RFM_DIMENSION_LABELS = {
    "recency": _("Recency R, days since the last purchase"),
    "frequency": _("Frequency F, delivered orders"),
    "monetary": _("Monetary M, revenue"),
}
RFM_METHOD_LABELS = {
    "quintiles": _("quintiles of the buyers, equal values kept together"),
    "fixed": _("fixed cut points: fewer than five distinct values among the buyers"),
    "shop": _("the shop's cut points (scoring settings)"),
}


@dataclass
class RfmGrid:
    rows: list[list[RfmCell]] = field(default_factory=list)  # R from 5 down to 1, F from 1 to 5
    segments: list[tuple[str, str, int]] = field(default_factory=list)  # (code, label, size)
    last_fit: ModelFit | None = None
    scoring: list[RfmDimensionScoring] = field(default_factory=list)  # R, F, M


def rfm_grid() -> RfmGrid:
    """The 5×5 R×F grid (one aggregate query) and the named segment sizes (one more)."""
    cells = {
        (row["r_score"], row["f_score"]): row
        for row in CustomerScore.objects.filter(r_score__gt=0, f_score__gt=0)
        .values("r_score", "f_score")
        .annotate(customers=Count("pk"), average_monetary=Avg("monetary"))
        .order_by()
    }
    grid = RfmGrid()
    for r in range(5, 0, -1):
        row = []
        for f in range(1, 6):
            found = cells.get((r, f))
            cell = RfmCell(r=r, f=f)
            if found:
                cell.customers = found["customers"]
                cell.average_monetary = Decimal(found["average_monetary"]).quantize(Decimal("0.01"))
            row.append(cell)
        grid.rows.append(row)
    sizes = dict(
        CustomerScore.objects.values_list("rfm_segment")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("rfm_segment", "n")
    )
    grid.segments = [(code, str(label), sizes.get(code, 0)) for code, label in RfmSegment.choices]
    grid.last_fit = ModelFit.objects.order_by("-at", "-pk").first()
    # Refreshes recorded before the cut points were kept have none to show.
    recorded = grid.last_fit.rfm_scoring if grid.last_fit else {}
    for name, label in RFM_DIMENSION_LABELS.items():
        row = recorded.get(name) if isinstance(recorded, dict) else None
        if not isinstance(row, dict) or row.get("method") not in RFM_METHOD_LABELS:
            continue
        grid.scoring.append(
            RfmDimensionScoring(
                label=str(label),
                method=row["method"],
                method_label=str(RFM_METHOD_LABELS[row["method"]]),
                cut_points=list(row.get("cut_points") or []),
            )
        )
    return grid


# Display names of the models a refresh records (ModelFit.models_json keys), in page order.
MODEL_LABELS = {
    "bgnbd": _("BG/NBD: probability of being active and expected purchases"),
    "gamma_gamma": _("Gamma-Gamma: expected order value"),
    "clv": _("Customer lifetime value"),
}
TIME_UNITS = {"day": _("days"), "week": _("weeks")}


# Why a model was not fitted, by the code a refresh records (see services._fit_error); numbers
# are filled in formatted for the active language.
FIT_ERRORS = {
    "not_converged": _("the model fit did not converge to finite values"),
    "not_identified": _(
        "the data do not identify parameter(s) %(parameters)s (the fit ran to the bound)"
    ),
    "too_few_customers": _("need at least %(minimum)s customers with valid data, got %(count)s"),
    "too_few_repeat_buyers": _(
        "need at least %(minimum)s customers with a repeat purchase, got %(count)s"
    ),
    "too_few_spending_repeat_buyers": _(
        "need at least %(minimum)s customers with a repeat purchase and a positive order value, "
        "got %(count)s"
    ),
    "order_values_too_spread": _(
        "order values are too spread out for the Gamma-Gamma model (q = %(q)s ≤ 1, "
        "so the expected order value is not finite)"
    ),
    "not_installed": _("the customer models are not installed"),
    "fit_failed": _("the model could not be fitted to these data"),
}


def model_fit_reason(entry: dict[str, Any]) -> str:
    """Why a model was not fitted, in the active language; "" for a fitted model.

    A record written before the reasons had codes keeps its English text.
    """
    error = entry.get("error")
    if not error:
        return ""
    template = FIT_ERRORS.get(str(entry.get("error_code", "")))
    params = entry.get("error_params")
    if template is None or not isinstance(params, dict):
        return str(error)
    shown = {
        name: format_number(value) if isinstance(value, int | float) else str(value)
        for name, value in params.items()
    }
    try:
        return str(template) % shown
    except (KeyError, TypeError, ValueError):  # a record that lacks a number the text needs
        return str(error)


@dataclass
class FittedModel:
    code: str
    label: str
    parameters: list[tuple[str, float]] = field(default_factory=list)
    time_unit: str = ""
    error: str = ""  # why it was not fitted; the page says "not enough data: RFM only"


@dataclass
class LastRefresh:
    fit: ModelFit
    models: list[FittedModel]


def last_refresh() -> LastRefresh | None:
    """The latest analytics refresh with each model's parameters or error, None before any."""
    fit = ModelFit.objects.order_by("-at", "-pk").first()
    if fit is None:
        return None
    recorded: dict[str, Any] = fit.models_json if isinstance(fit.models_json, dict) else {}
    codes = [code for code in MODEL_LABELS if code in recorded]
    codes += sorted(code for code in recorded if code not in MODEL_LABELS)
    models = []
    for code in codes:
        entry = recorded[code] if isinstance(recorded[code], dict) else {}
        unit = str(entry.get("time_unit", ""))
        models.append(
            FittedModel(
                code=code,
                label=str(MODEL_LABELS.get(code, code)),
                parameters=[
                    (name, float(value))
                    for name, value in entry.items()
                    if not name.startswith("error")
                    and name != "time_unit"
                    and isinstance(value, int | float)
                ],
                time_unit=str(TIME_UNITS.get(unit, unit)),
                error=model_fit_reason(entry),
            )
        )
    return LastRefresh(fit=fit, models=models)
