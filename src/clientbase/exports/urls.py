"""URLs of the exports app: the export forms, and export jobs with their files."""

from django.urls import path

from clientbase.exports import views

app_name = "exports"

urlpatterns = [
    path("", views.export_list, name="list"),
    path("customers/", views.export_customers, name="customers"),
    path("orders/", views.export_orders, name="orders"),
    path("segments/<int:pk>/", views.export_segment, name="segment"),
    path("<int:pk>/", views.export_detail, name="detail"),
    path("<int:pk>/status/", views.export_status, name="status"),
    path("<int:pk>/download/", views.export_download, name="download"),
]
