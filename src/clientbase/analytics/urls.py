"""URLs of the analytics app."""

from django.urls import path

from clientbase.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
