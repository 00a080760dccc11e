"""URLs of the analytics app."""

from django.urls import path

from clientbase.analytics import rfm_views, settings_views, views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("rfm/", rfm_views.rfm_grid, name="rfm"),
    path("settings/", settings_views.scoring_settings, name="settings"),
    path("settings/save/", settings_views.scoring_settings_save, name="settings_save"),
    path("settings/refresh/", settings_views.analytics_refresh_now, name="refresh"),
]
