"""URLs of the segments app."""

from django.urls import path

from clientbase.segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create, name="create"),
    path("from-tags/", views.segment_from_tags, name="from_tags"),
    path("preview/", views.segment_preview, name="preview"),
    path("fields.json", views.segment_fields, name="fields"),
    path("help/", views.segment_help, name="help"),
    path("parse.json", views.segment_parse, name="parse"),
    path("<int:pk>/", views.segment_detail, name="detail"),
    path("<int:pk>/count/", views.segment_count, name="count"),
    path("<int:pk>/edit/", views.segment_edit, name="edit"),
    path("<int:pk>/delete/", views.segment_delete, name="delete"),
    path("<int:pk>/export.csv", views.segment_export, name="export"),
]
