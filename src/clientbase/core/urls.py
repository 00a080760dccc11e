"""URLs of the audit log browser."""

from django.urls import path

from clientbase.core import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_list, name="list"),
]
