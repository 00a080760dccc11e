"""A URL conf with one view that fails, for the 500 page test."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from clientbase.accounts.permissions import PUBLIC, requires


@requires(PUBLIC)
def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a fault in a view")


urlpatterns = [path("boom/", boom)]
