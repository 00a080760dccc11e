"""Log-in lock-out: failures counted in the database, so every app server agrees.

The policy (docs/deployment.md, "Log-in lock-out") is built so that guessing hurts the guesser
more than the staff whose accounts are guessed at. Within LOGIN_LOCKOUT_SECONDS, a log-in of
user name U from address A is refused when:

1. U has LOGIN_FAILURE_LIMIT failures from A (always: the attacker's own address is closed);
2. or A is not a known address of U (U logged in from A within LOGIN_KNOWN_ADDRESS_DAYS), and
   either U has LOGIN_FAILURE_ACCOUNT_LIMIT failures from all addresses together (guessing
   from many machines), or A has LOGIN_FAILURE_IP_LIMIT failures for all user names together
   (one machine trying many accounts).

So staff keep logging in from where they always do while their account or their office address
is under attack; only the first rule (a few tries per account and address) applies to them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, Max, Q
from django.db.models.functions import Lower
from django.utils import timezone

from clientbase.accounts.models import LoginAddress, LoginFailure, User


def _window_start() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)


def _address_known(*, username: str, ip: str | None) -> bool:
    if not ip:
        return False
    since = timezone.now() - dt.timedelta(days=settings.LOGIN_KNOWN_ADDRESS_DAYS)
    return LoginAddress.objects.filter(
        user__username__iexact=username, ip=ip, last_login_at__gte=since
    ).exists()


def is_locked(*, username: str, ip: str | None) -> bool:
    same_user = Q(username__iexact=username)
    same_ip = Q(ip=ip) if ip else Q(ip__isnull=True)
    counts = LoginFailure.objects.filter(same_user | same_ip, at__gte=_window_start()).aggregate(
        pair=Count("pk", filter=same_user & same_ip),
        account=Count("pk", filter=same_user),
        address=Count("pk", filter=same_ip),
    )
    if counts["pair"] >= settings.LOGIN_FAILURE_LIMIT:
        return True
    if (
        counts["account"] < settings.LOGIN_FAILURE_ACCOUNT_LIMIT
        and counts["address"] < settings.LOGIN_FAILURE_IP_LIMIT
    ):
        return False
    return not _address_known(username=username, ip=ip)


def failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip=ip)
    # Old rows are of no use after the window; trimming here keeps the table small.
    LoginFailure.objects.filter(at__lt=_window_start() - dt.timedelta(days=1)).delete()


def success_record(*, user: User, ip: str | None) -> None:
    """A successful log-in: the user's failures are forgotten and the address becomes known."""
    failures_clear(username=user.username)
    if ip:
        LoginAddress.objects.update_or_create(
            user=user, ip=ip, defaults={"last_login_at": timezone.now()}
        )


def failures_clear(*, username: str) -> int:
    """Forget the user name's failures from every address; returns how many there were."""
    deleted, _ = LoginFailure.objects.filter(username__iexact=username).delete()
    return deleted


def locked_out_users() -> dict[str, dt.datetime]:
    """Lower-cased user names locked out from some address, with when the lock ends at the
    latest (the window after their last failure), for the staff page. Address-wide locks
    (rule 2, by address) are not an account's and are not listed."""
    rows = (
        LoginFailure.objects.filter(at__gte=_window_start())
        .annotate(name=Lower("username"))
        .values("name", "ip")
        .annotate(failures=Count("pk"), last=Max("at"))
    )
    per_account: dict[str, list[tuple[int, dt.datetime]]] = {}
    for row in rows:
        per_account.setdefault(row["name"], []).append((row["failures"], row["last"]))
    window = dt.timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    locked: dict[str, dt.datetime] = {}
    for name, pairs in per_account.items():
        if (
            max(failures for failures, _ in pairs) >= settings.LOGIN_FAILURE_LIMIT
            or sum(failures for failures, _ in pairs) >= settings.LOGIN_FAILURE_ACCOUNT_LIMIT
        ):
            locked[name] = max(last for _, last in pairs) + window
    return locked
