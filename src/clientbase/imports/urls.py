"""URLs of the imports app; /imports/exports/… is where exports lived before their own app."""

from django.urls import path

from clientbase.exports.views import moved_to_exports
from clientbase.imports import views

app_name = "imports"

urlpatterns = [
    # Old addresses of exports (bookmarks, job links in old messages): redirected.
    path("exports/", moved_to_exports, name="old_export_list"),
    path("exports/<path:rest>", moved_to_exports, name="old_export"),
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
