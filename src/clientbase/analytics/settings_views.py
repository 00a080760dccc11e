"""Web UI of the analytics app: the scoring settings page, its save and "Refresh now"."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clientbase.accounts.permissions import Perm, requires, user_has
from clientbase.analytics import selectors, services
from clientbase.analytics.forms import ScoringConfigForm
from clientbase.analytics.models import ScoringConfig
from clientbase.analytics.services import RFM_DIMENSIONS
from clientbase.analytics.tasks import analytics_refresh_task


def _page(request: HttpRequest, form: ScoringConfigForm) -> HttpResponse:
    context = {
        "form": form,
        "last_refresh": selectors.last_refresh(),
        "can_manage": user_has(request.user, Perm.ANALYTICS_MANAGE),
        "cut_point_fields": RFM_DIMENSIONS,
    }
    return render(request, "analytics/settings.html", context)


@requires(Perm.ANALYTICS_VIEW)
@require_GET
def scoring_settings(request: HttpRequest) -> HttpResponse:
    config = ScoringConfig.objects.order_by("pk").first() or ScoringConfig()
    return _page(request, ScoringConfigForm(initial=ScoringConfigForm.initial_from(config)))


@requires(Perm.ANALYTICS_MANAGE)
@require_POST
def scoring_settings_save(request: HttpRequest) -> HttpResponse:
    form = ScoringConfigForm(request.POST)
    if form.is_valid():
        try:
            services.scoring_config_save(actor=request.user, data=form.to_data())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(
                request, _("Scoring settings saved. They apply from the next analytics refresh.")
            )
            return redirect("analytics:settings")
    return _page(request, form)


@requires(Perm.ANALYTICS_MANAGE)
@require_POST
def analytics_refresh_now(request: HttpRequest) -> HttpResponse:
    analytics_refresh_task()  # no arguments: the worker recomputes everything as of today
    messages.success(
        request, _("Analytics refresh queued: the scores are updated when it finishes.")
    )
    return redirect("analytics:settings")
