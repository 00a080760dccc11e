"""One score row per customer, refreshed set-wise, and the record of each model fit."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from clientbase.analytics.choices import Importance, RfmSegment


class CustomerScore(models.Model):
    customer = models.OneToOneField(
        "customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    as_of = models.DateField(_("as of"))
    recency_days = models.PositiveIntegerField(_("days since the last purchase"), null=True)
    frequency = models.PositiveIntegerField(_("purchases"), default=0)
    monetary = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2, default=0)
    r_score = models.PositiveSmallIntegerField(_("R score"), default=0)
    f_score = models.PositiveSmallIntegerField(_("F score"), default=0)
    m_score = models.PositiveSmallIntegerField(_("M score"), default=0)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=24, choices=RfmSegment.choices, default=RfmSegment.NO_ORDERS
    )
    # Model outputs are NULL when the models could not be fitted (too little data).
    p_alive = models.FloatField(_("probability of being active"), null=True, blank=True)
    expected_purchases = models.FloatField(_("expected purchases"), null=True, blank=True)
    expected_order_value = models.DecimalField(
        _("expected order value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    clv = models.DecimalField(
        _("customer lifetime value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    importance = models.PositiveSmallIntegerField(
        _("importance"), choices=Importance.choices, default=Importance.NORMAL
    )

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["rfm_segment"], name="score_rfm_idx"),
            models.Index(fields=["importance"], name="score_importance_idx"),
            models.Index(fields=["p_alive"], name="score_p_alive_idx"),
            models.Index(fields=["clv"], name="score_clv_idx"),
            models.Index(fields=["r_score", "f_score"], name="score_rf_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.rfm_segment}"


class ModelFit(models.Model):
    """One analytics refresh: the fitted parameters of each model, for the record and the UI."""

    at = models.DateTimeField(_("when"), auto_now_add=True)
    as_of = models.DateField(_("as of"))
    customers = models.PositiveIntegerField(_("customers scored"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)
    # {"bgnbd": {"r":…, "alpha":…, "a":…, "b":…, "time_unit": "day"} | {"error": "…"}, …}
    models_json = models.JSONField(_("models"), default=dict)
    rfm_sizes = models.JSONField(_("RFM segment sizes"), default=dict)
    # {"recency": {"method": "quintiles" | "fixed" | "shop", "cut_points": [4 numbers]}, …}
    rfm_scoring = models.JSONField(_("RFM cut points"), default=dict)

    class Meta:
        verbose_name = _("analytics refresh")
        verbose_name_plural = _("analytics refreshes")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.as_of} ({self.customers})"


class ScoringConfig(models.Model):
    """The shop's own thresholds (one row). Empty values mean "use the documented defaults"."""

    rfm_thresholds = models.JSONField(_("RFM thresholds"), default=dict, blank=True)
    importance = models.JSONField(_("importance thresholds"), default=dict, blank=True)
    horizon_days = models.PositiveIntegerField(_("prediction horizon, days"), default=365)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("scoring settings")
        verbose_name_plural = _("scoring settings")

    def __str__(self) -> str:
        return "scoring settings"
