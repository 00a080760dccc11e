"""Saved segments: dynamic (a query re-evaluated) or static (a frozen list of customers)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic")
        STATIC = "static", _("Static")

    name = models.CharField(_("name"), max_length=100, unique=True)
    query = models.TextField(_("query"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    description = models.CharField(_("description"), max_length=300, blank=True)
    last_count = models.PositiveIntegerField(_("customers"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A member of a static segment, frozen when the segment was saved."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="segment_memberships"
    )

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"
