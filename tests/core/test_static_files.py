"""Static files as `clientbase serve` serves them: hashed names, gzip, a year in the cache."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests import factories
from tests.core.clitools import clean_env
from tests.core.test_settings import _show

YEAR_IMMUTABLE = "max-age=315360000, public, immutable"


@pytest.fixture
def collected(settings, tmp_path):
    """The production storage: collectstatic into a fresh STATIC_ROOT, served without finders."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


@pytest.mark.django_db
def test_the_chart_library_travels_compressed_under_a_hashed_name(collected):
    client = Client()
    client.force_login(factories.make_user(role="admin"))
    html = client.get("/analytics/").content.decode()
    plotly = re.search(r'data-plotly="(/static/plotly/plotly\.min\.[0-9a-f]{12}\.js)"', html)
    assert plotly, "the dashboard does not name plotly by its hashed name"
    response = Client().get(plotly[1], HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert response["Cache-Control"] == YEAR_IMMUTABLE
    size = int(response["Content-Length"])
    assert size < (collected / "plotly" / "plotly.min.js").stat().st_size / 3
    for name in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", name), f"{name} has no content hash"
        assert Client().get(name).status_code == 200, name


def test_outside_tests_the_app_serves_collected_compressed_files(tmp_path):
    env = clean_env(CLIENTBASE_DATA_DIR=str(tmp_path))
    assert _show(
        env, "settings.STORAGES['staticfiles']['BACKEND']", "settings.WHITENOISE_USE_FINDERS"
    ) == ["'whitenoise.storage.CompressedManifestStaticFilesStorage'", "False"]
