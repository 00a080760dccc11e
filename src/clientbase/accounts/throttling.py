"""Login throttling: failures counted in the database, so every app server agrees."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from clientbase.accounts.models import LoginFailure


def _window_start() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def is_locked(*, username: str, ip: str | None) -> bool:
    since = _window_start()
    by_user = LoginFailure.objects.filter(username__iexact=username, at__gte=since).count()
    if by_user >= settings.LOGIN_FAILURE_LIMIT:
        return True
    if ip:
        by_ip = LoginFailure.objects.filter(ip=ip, at__gte=since).count()
        if by_ip >= settings.LOGIN_FAILURE_IP_LIMIT:
            return True
    return False


def failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip=ip)
    # Old rows are of no use after the window; trimming here keeps the table small.
    LoginFailure.objects.filter(at__lt=_window_start() - dt.timedelta(days=1)).delete()


def failures_clear(*, username: str) -> None:
    LoginFailure.objects.filter(username__iexact=username).delete()
