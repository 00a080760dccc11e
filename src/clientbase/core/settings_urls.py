"""URLs of the admin settings pages: outgoing webhooks and API tokens."""

from django.urls import path

from clientbase.accounts import views as accounts_views
from clientbase.core import webhook_views

app_name = "settings"

urlpatterns = [
    path("webhooks/", webhook_views.webhook_list, name="webhook_list"),
    path("webhooks/new/", webhook_views.webhook_edit, name="webhook_create"),
    path("webhooks/<int:pk>/", webhook_views.webhook_edit, name="webhook_edit"),
    path(
        "webhooks/<int:pk>/rotate-secret/",
        webhook_views.webhook_secret_rotate,
        name="webhook_rotate_secret",
    ),
    path(
        "webhooks/<int:pk>/deliveries/",
        webhook_views.webhook_deliveries,
        name="webhook_deliveries",
    ),
    path("api-tokens/", accounts_views.apitoken_list, name="apitoken_list"),
    path("api-tokens/new/", accounts_views.apitoken_create, name="apitoken_create"),
    path("api-tokens/<int:pk>/revoke/", accounts_views.apitoken_revoke, name="apitoken_revoke"),
]
