"""URLs of the analytics app."""

from django.urls import path

from clientbase.analytics import rfm_views, views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("rfm/", rfm_views.rfm_grid, name="rfm"),
]
