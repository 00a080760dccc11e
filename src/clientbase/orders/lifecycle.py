"""The order life cycle: which status may follow which. docs/orders.md documents it."""

from __future__ import annotations

from django.utils.translation import gettext as _

from clientbase.core.errors import DomainError
from clientbase.orders.choices import OrderStatus

S = OrderStatus

# What staff may do in one move. Confirmed and paid are the two steps before shipping and come
# in either order: a card order is paid on the website and then confirmed, an invoice order is
# confirmed and then paid. An order may be handed over without shipping (pickup, courier paid
# on the spot), so delivered may follow any of the first three. A shipped parcel can no longer
# be cancelled, only delivered or refused; a delivered one can only come back. A refusal may
# turn out a delivery after all (the customer takes the parcel at a second attempt); cancelled
# and returned are final.
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    S.NEW: (S.CONFIRMED, S.PAID, S.SHIPPED, S.DELIVERED, S.CANCELLED),
    S.CONFIRMED: (S.PAID, S.SHIPPED, S.DELIVERED, S.CANCELLED),
    S.PAID: (S.CONFIRMED, S.SHIPPED, S.DELIVERED, S.CANCELLED),
    S.SHIPPED: (S.DELIVERED, S.REFUSED),
    S.DELIVERED: (S.RETURNED,),
    S.REFUSED: (S.DELIVERED,),
    S.CANCELLED: (),
    S.RETURNED: (),
}

FINAL_STATUSES = tuple(s for s, following in NEXT_STATUSES.items() if not following)

TRANSITION_NOT_ALLOWED = "status_transition_not_allowed"


def _reachable(status: str) -> frozenset[str]:
    seen: set[str] = set()
    pending = list(NEXT_STATUSES[status])
    while pending:
        following = pending.pop()
        if following not in seen:
            seen.add(following)
            pending.extend(NEXT_STATUSES[following])
    seen.discard(status)  # confirmed -> paid -> confirmed is a step back, not a step forward
    return frozenset(seen)


# Any number of moves forward: what the shop's own system may report through the API, since it
# may push only some of its statuses (new, then straight to refused at delivery).
REACHABLE: dict[str, frozenset[str]] = {status: _reachable(status) for status in NEXT_STATUSES}


def next_statuses(status: str) -> tuple[str, ...]:
    """The statuses an order in this status may move to in one step."""
    return NEXT_STATUSES.get(status, ())


def check_transition(current: str, new: str, *, skip_steps: bool = False) -> None:
    """Refuse a status change outside the life cycle with DomainError (HTTP 422).

    Staying in the same status is no change and always allowed. With skip_steps (the shop's
    system reporting through the API) any status further along the life cycle is allowed;
    never one back, never out of a final status.
    """
    if current == new:
        return
    allowed = REACHABLE[current] if skip_steps else frozenset(NEXT_STATUSES[current])
    if new in allowed:
        return
    labels = dict(OrderStatus.choices)
    following = [s for s in OrderStatus.values if s in allowed]
    if not following:
        message = _("The order is «%(current)s», a final status: it cannot become «%(new)s».") % {
            "current": labels[current],
            "new": labels[new],
        }
    else:
        message = _(
            "An order cannot go from «%(current)s» to «%(new)s»; from «%(current)s» it can "
            "become: %(allowed)s."
        ) % {
            "current": labels[current],
            "new": labels[new],
            "allowed": ", ".join(f"«{labels[s]}»" for s in following),
        }
    raise DomainError(
        message,
        code=TRANSITION_NOT_ALLOWED,
        details={"from": current, "to": new, "allowed": following},
    )
