"""Settings: the production switch passes `check --deploy`; the embedded default stays on http."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.core.clitools import clean_env, run_cli


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {
        "CLIENTBASE_ENV": "production",
        "CLIENTBASE_DATA_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "crm.example.com",
        "DATABASE_URL": "postgres://clientbase@db.example.com:5432/clientbase",
        **extra,
    }
    return clean_env(**{k: v for k, v in values.items() if v})


def _show(env: dict[str, str], *expressions: str) -> list[str]:
    """Values of Python expressions over `settings`, as a child process with `env` sees them."""
    code = "from django.conf import settings; " + "; ".join(
        f"print(repr({expression}))" for expression in expressions
    )
    result = run_cli("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_production_passes_check_deploy_without_issues(tmp_path: Path) -> None:
    result = run_cli("check", "--deploy", "--fail-level", "WARNING", env=_production_env(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_fails_with_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("check", "--deploy", env=_production_env(tmp_path, SECRET_KEY=""))

    assert result.returncode != 0
    assert "SECRET_KEY must be set when CLIENTBASE_ENV=production" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_without_field_key_fails_with_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("check", env=_production_env(tmp_path, FIELD_ENCRYPTION_KEY=""))

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY must be set" in result.stderr


def test_production_without_allowed_hosts_is_reported(tmp_path: Path) -> None:
    result = run_cli("check", "--deploy", env=_production_env(tmp_path, ALLOWED_HOSTS=""))

    assert "ALLOWED_HOSTS" in result.stdout + result.stderr


def test_production_trusts_the_https_proxy_and_secures_cookies(tmp_path: Path) -> None:
    values = _show(
        _production_env(tmp_path),
        "settings.SECURE_PROXY_SSL_HEADER",
        "settings.SESSION_COOKIE_SECURE",
        "settings.CSRF_COOKIE_SECURE",
        "settings.SECURE_SSL_REDIRECT",
        "settings.DEBUG",
        "settings.DATABASES['default']['ENGINE']",
    )

    assert values == [
        "('HTTP_X_FORWARDED_PROTO', 'https')",
        "True",
        "True",
        "True",
        "False",
        "'django.db.backends.postgresql'",
    ]


def test_embedded_default_works_over_plain_http_on_localhost(tmp_path: Path) -> None:
    env = clean_env(CLIENTBASE_DATA_DIR=str(tmp_path))
    values = _show(
        env,
        "settings.SESSION_COOKIE_SECURE",
        "settings.CSRF_COOKIE_SECURE",
        "settings.SECURE_SSL_REDIRECT",
        "'127.0.0.1' in settings.ALLOWED_HOSTS",
        "settings.DATABASES['default']['ENGINE']",
    )

    assert values == ["False", "False", "False", "True", "'django.db.backends.sqlite3'"]
    # Secrets of the embedded mode are generated once and kept private in the data directory.
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert run_cli("check", env=env).returncode == 0
