"""URLs of the customers app."""

from django.urls import path

from clientbase.customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("bulk/", views.customer_bulk, name="bulk"),
    path("cities/", views.city_suggestions, name="cities"),
    path("new/", views.customer_create, name="create"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/stoplist/", views.customer_stoplist_add, name="stoplist_add"),
    path("<int:pk>/stoplist/remove/", views.customer_stoplist_remove, name="stoplist_remove"),
    path("<int:pk>/archive/", views.customer_archive, name="archive"),
    path("<int:pk>/restore/", views.customer_restore, name="restore"),
    path("<int:pk>/delete/", views.customer_delete, name="delete"),
    path("<int:pk>/tags/add/", views.customer_tag, {"op": "add"}, name="tag_add"),
    path("<int:pk>/tags/remove/", views.customer_tag, {"op": "remove"}, name="tag_remove"),
    path("tags/", views.tag_list, name="tag_list"),
    path("tags/new/", views.tag_edit, name="tag_create"),
    path("tags/<int:pk>/", views.tag_edit, name="tag_edit"),
    path("tags/<int:pk>/delete/", views.tag_delete, name="tag_delete"),
    path("fields/", views.field_list, name="field_list"),
    path("fields/new/", views.field_edit, name="field_create"),
    path("fields/<int:pk>/", views.field_edit, name="field_edit"),
]
