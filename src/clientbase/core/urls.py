"""URLs of the audit log browser."""

app_name = "audit"

urlpatterns: list = []
