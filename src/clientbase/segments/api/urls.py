"""Segments API routes, under /api/v1/."""

from django.urls import path

from clientbase.segments.api import views

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segments"),
    path("segments/<int:pk>/", views.SegmentDetailView.as_view(), name="segment"),
    path("segments/<int:pk>/members/", views.SegmentMembersView.as_view(), name="segment_members"),
]
