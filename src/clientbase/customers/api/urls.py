"""Customers API routes, under /api/v1/."""

from django.urls import path

from clientbase.customers.api import views

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="customers"),
    path("customers/upsert/", views.CustomerUpsertView.as_view(), name="customer_upsert"),
    path("customers/lookup", views.CustomerLookupView.as_view(), name="customer_lookup"),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="customer"),
    path("customers/<int:pk>/orders/", views.CustomerOrdersView.as_view(), name="customer_orders"),
]
