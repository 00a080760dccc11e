"""Root URL configuration."""

from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from clientbase.accounts.permissions import LOGIN, PUBLIC, requires
from clientbase.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("i18n/setlang/", requires(PUBLIC)(set_language), name="set_language"),
    path("accounts/", include("clientbase.accounts.urls")),
    path("customers/", include("clientbase.customers.urls")),
    path("orders/", include("clientbase.orders.urls")),
    path("segments/", include("clientbase.segments.urls")),
    path("imports/", include("clientbase.imports.urls")),
    path("exports/", include("clientbase.exports.urls")),
    path("audit/", include("clientbase.core.urls")),
    path("analytics/", include("clientbase.analytics.urls")),
    path("api/v1/", include("clientbase.api_urls")),
    path("settings/", include("clientbase.core.settings_urls")),
    path(
        "",
        requires(LOGIN)(RedirectView.as_view(pattern_name="customers:list", permanent=False)),
        name="home",
    ),
]

handler400 = "clientbase.api_urls.bad_request"
handler403 = "clientbase.api_urls.permission_denied"
handler404 = "clientbase.api_urls.not_found"
