"""Customer analytics: RFM, churn and value models, importance, dashboard."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "clientbase.analytics"
    label = "analytics"
    verbose_name = _("Analytics")
