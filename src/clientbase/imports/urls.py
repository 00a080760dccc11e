"""URLs of the imports app: exports (and imports) of customers and orders."""

from django.urls import path

from clientbase.imports import export_views, views

app_name = "imports"

urlpatterns = [
    # ------------------------------------------------------------ exports
    path("exports/", export_views.export_list, name="export_list"),
    path("exports/customers/", export_views.export_customers, name="export_customers"),
    path("exports/orders/", export_views.export_orders, name="export_orders"),
    path("exports/segments/<int:pk>/", export_views.export_segment, name="export_segment"),
    path("exports/<int:pk>/", export_views.export_detail, name="export_detail"),
    path("exports/<int:pk>/status/", export_views.export_status, name="export_status"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export_download"),
    # ------------------------------------------------------------ imports
    path("", views.import_list, name="import_list"),
    path("new/", views.import_upload, name="import_upload"),
    path("<int:job_id>/", views.import_detail, name="import_detail"),
    path("<int:job_id>/status/", views.import_status, name="import_status"),
    path("<int:job_id>/mapping/", views.import_mapping, name="import_mapping"),
    path("<int:job_id>/preview/", views.import_preview, name="import_preview"),
    path("<int:job_id>/start/", views.import_start, name="import_start"),
    path("<int:job_id>/undo/", views.import_undo, name="import_undo"),
    path("<int:job_id>/errors/", views.import_errors, name="import_errors"),
]
