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
    path("new/<int:customer_id>/", views.order_new, name="new"),
    path("number/<path:number>/", views.order_by_number, name="by_number"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/status/", views.order_status, name="status"),
    path("<int:pk>/reassign/", views.order_reassign, name="reassign"),
    # Last: any other single segment is an order number ("/orders/W-100/").
    path("<str:number>/", views.order_by_number, name="by_number_short"),
]
