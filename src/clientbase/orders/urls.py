"""URLs of the orders app."""

from django.urls import path

from clientbase.orders import views

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("mine/", views.order_mine, name="mine"),
    path("caller/", views.caller, name="caller"),
    path("managers/", views.manager_list, name="managers"),
    path("managers/<int:user_id>/", views.manager_capacity, name="manager_capacity"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/status/", views.order_status, name="status"),
    path("<int:pk>/reassign/", views.order_reassign, name="reassign"),
]
