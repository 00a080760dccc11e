"""URLs of the imports app: exports (and imports) of customers and orders."""

from django.urls import path

from clientbase.imports import export_views

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
]
