"""Orders API routes, under /api/v1/."""

from django.urls import path

from clientbase.orders.api import views

urlpatterns = [
    path("orders/", views.OrderListView.as_view(), name="orders"),
    path("orders/<int:pk>/", views.OrderDetailView.as_view(), name="order"),
    path("orders/<int:pk>/status/", views.OrderStatusView.as_view(), name="order_status"),
]
