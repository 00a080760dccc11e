"""Web UI of the analytics app: the dashboard."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from clientbase.accounts.permissions import Perm, requires
from clientbase.analytics import dashboard as selectors
from clientbase.analytics.forms import DateRangeForm


def _charts(data: selectors.Dashboard) -> dict[str, object]:
    """What the page's script plots: labels formatted for the user's language, plain numbers."""

    def month_labels(points: list[selectors.MonthPoint]) -> list[str]:
        return [formats.date_format(point.month, "YEAR_MONTH_FORMAT") for point in points]

    return {
        # Plotly's separators: the decimal mark, then the thousands separator.
        "separators": ",\u00a0" if get_language() == "ru" else ".,",
        "new_customers": {
            "x": month_labels(data.new_customers_by_month),
            "y": [int(point.value) for point in data.new_customers_by_month],
        },
        "revenue": {
            "x": month_labels(data.revenue_by_month),
            "y": [float(point.value) for point in data.revenue_by_month],
        },
        "rfm": {
            "x": [label for _, label, _ in data.rfm],
            "y": [customers for _, _, customers in data.rfm],
        },
    }


@requires(Perm.ANALYTICS_VIEW)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form = DateRangeForm(request.GET or None)
    data = selectors.dashboard(form.period())
    context = {
        "form": form,
        "data": data,
        "charts": _charts(data),
        "active_days": selectors.ACTIVE_DAYS,
        "cohort_offsets": range(selectors.COHORT_MONTHS),
    }
    return render(request, "analytics/dashboard.html", context)
