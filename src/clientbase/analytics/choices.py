"""Choices of the analytics app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", _("Potential loyalists")
    NEW = "new", _("New customers")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to sleep")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")
    NO_ORDERS = "no_orders", _("No purchases yet")


class Importance(models.IntegerChoices):
    """Higher is more important; the operator sees it the moment the customer calls."""

    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    VIP = 4, _("VIP")
