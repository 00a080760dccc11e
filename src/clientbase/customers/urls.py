"""URLs of the customers app."""

app_name = "customers"

urlpatterns: list = []
