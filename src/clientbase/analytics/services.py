"""The analytics refresh: RFM, churn and value models and importance for every customer, set-wise.

One aggregate over the delivered orders gives per customer the purchase days, orders and
revenue; numpy turns those arrays into scores; the models of `clv.py` add the probability of
being active, expected purchases, expected order value and lifetime value; one bulk upsert
writes a score row per customer. See docs/analytics.md for the rules and their defaults.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbase.analytics.choices import Importance, RfmSegment
from clientbase.analytics.models import CustomerScore, ModelFit, ScoringConfig
from clientbase.core import audit
from clientbase.core.choices import AuditAction
from clientbase.customers.models import Customer
from clientbase.orders.choices import OrderStatus
from clientbase.orders.models import Order

logger = logging.getLogger(__name__)

EPOCH = datetime.date(2000, 1, 1)  # day numbers count from here, in the shop's time zone

IMPORTANCE_DEFAULTS: dict[str, Any] = {
    "vip_percentile": 99,  # top 1 % of buyers by value are VIP; None switches this off
    "high_percentile": 80,  # the next 19 % are HIGH
    "vip_value": None,  # an absolute value (money) instead of vip_percentile
    "high_value": None,  # an absolute value (money) instead of high_percentile
    "min_p_alive": 0.1,  # below this probability of being active: LOW (models available)
    "inactive_days": 365,  # no purchase for longer than this: LOW (models unavailable)
}
RFM_DIMENSIONS = ("recency", "frequency", "monetary")


# The common two-digit R/F mapping of the RFM literature (R and F scores 1-5), with its
# bottom-left cell 11 split off as "lost". Rows are R, columns F.
_SEGMENT_GRID: tuple[tuple[str, ...], ...] = (
    # F = 1 ... 5
    ("lost", "hibernating", "at_risk", "at_risk", "cant_lose"),  # R = 1
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),  # R = 2
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),  # R = 3
    ("promising", "potential_loyalists", "potential_loyalists", "loyal", "loyal"),  # R = 4
    ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),  # R = 5
)
SEGMENT_CODES: list[str] = [choice.value for choice in RfmSegment]
_SEGMENT_INDEX = np.zeros((6, 6), dtype=np.int64)
for _r, _row in enumerate(_SEGMENT_GRID, start=1):
    for _f, _name in enumerate(_row, start=1):
        _SEGMENT_INDEX[_r, _f] = SEGMENT_CODES.index(_name)
_NO_ORDERS_INDEX = SEGMENT_CODES.index(RfmSegment.NO_ORDERS)


def rfm_segment_of(r_score: int, f_score: int) -> str:
    """The named segment of an R and F score (1-5 each), per the documented grid."""
    return _SEGMENT_GRID[r_score - 1][f_score - 1]


@dataclass
class RefreshResult:
    as_of: datetime.date
    customers: int = 0
    rfm_sizes: dict[str, int] = field(default_factory=dict)
    rfm_scoring: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "as_of": self.as_of.isoformat(),
            "customers": data["customers"],
            "rfm_segments": data["rfm_sizes"],
            "rfm_scoring": data["rfm_scoring"],
            "models": data["models"],
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Purchases:
    """Per buyer, aligned arrays from the aggregate over delivered orders."""

    customer_ids: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    orders: np.ndarray
    days: np.ndarray
    revenue: np.ndarray
    first_day_revenue: np.ndarray


def _purchases(as_of: datetime.date) -> _Purchases:
    """One aggregate over the delivered orders placed on or before `as_of`, by customer.

    It reads only the covering index (status, customer, placed_day, total): Order.placed_day is
    the purchase's day in the shop's time zone, stored when the order is saved, so no date
    function runs per row. Each customer's first-day revenue, needed for the mean value of
    repeat purchases, is one index lookup per customer on (status, customer, first day).
    """
    table = connection.ops.quote_name(Order._meta.db_table)
    # Only the table name (from the model) is interpolated; values go through placeholders.
    sql = f"""
        SELECT t.customer_id, t.first_day, t.last_day, t.orders, t.days, t.revenue,
               (SELECT SUM(o.total) FROM {table} o
                WHERE o.status = %s AND o.customer_id = t.customer_id
                  AND o.placed_day = t.first_day)
        FROM (
            SELECT customer_id, MIN(placed_day) AS first_day, MAX(placed_day) AS last_day,
                   COUNT(*) AS orders, COUNT(DISTINCT placed_day) AS days, SUM(total) AS revenue
            FROM {table}
            WHERE status = %s AND placed_day <= %s
            GROUP BY customer_id
        ) t
        ORDER BY t.customer_id
    """  # noqa: S608
    delivered = OrderStatus.DELIVERED
    with connection.cursor() as cursor:
        cursor.execute(sql, [delivered, delivered, (as_of - EPOCH).days])
        rows = cursor.fetchall()
    if not rows:
        empty_int = np.zeros(0, dtype=np.int64)
        empty = np.zeros(0, dtype=np.float64)
        return _Purchases(empty_int, empty_int, empty_int, empty_int, empty_int, empty, empty)
    ids, first, last, orders, days, revenue, first_revenue = zip(*rows, strict=True)
    return _Purchases(
        customer_ids=np.array(ids, dtype=np.int64),
        first_day=np.array(first, dtype=np.int64),
        last_day=np.array(last, dtype=np.int64),
        orders=np.array(orders, dtype=np.int64),
        days=np.array(days, dtype=np.int64),
        revenue=np.array(revenue, dtype=np.float64),
        first_day_revenue=np.array(first_revenue, dtype=np.float64),
    )


# Used for a dimension whose buyers have fewer than five distinct values (a new shop, or
# everyone bought once), where no quintiles exist, unless the shop set its own. Recency in days,
# frequency in delivered orders (1, 2, 3, 4-5, 6+), monetary in the shop's currency.
RFM_FIXED_CUT_POINTS: dict[str, list[int]] = {
    "recency": [30, 90, 180, 365],
    "frequency": [2, 3, 4, 6],
    "monetary": [1000, 5000, 10000, 50000],
}
RFM_QUINTILES, RFM_FIXED, RFM_SHOP = "quintiles", "fixed", "shop"


@dataclass
class RfmScoring:
    """R, F and M scores of buyers, and per dimension how they were cut.

    methods: {dimension: {"method": "quintiles" | "fixed" | "shop", "cut_points": [4 numbers]}}.
    """

    scores: tuple[np.ndarray, np.ndarray, np.ndarray]
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)


def _edges(config: dict[str, Any], name: str) -> list[float] | None:
    """The shop's four ascending thresholds for one dimension, or None (use quintiles)."""
    edges = config.get(name)
    if not isinstance(edges, list | tuple) or len(edges) != 4:
        return None
    try:
        values = [float(v) for v in edges]
    except (TypeError, ValueError):
        return None
    return values if values == sorted(values) else None


def _tied_quintile_cut_points(name: str, values: np.ndarray) -> list[float] | None:
    """Cut points that split the buyers into five groups as near to fifths as ties allow.

    Equal values stay in one group, so with many ties plain quintile edges coincide and
    leave scores empty (on the demo data, 36 % of buyers with one order left F2 and F3 with
    nobody). Instead each score in turn, from the lowest values up, takes whole runs of equal
    values until it is nearest to an equal share of the buyers not yet placed, leaving at
    least one distinct value for each score after it. Without ties this is the plain
    quintiles. None when there are fewer than five distinct values.
    """
    distinct, counts = np.unique(values, return_counts=True)
    if distinct.size < 5:
        return None
    ends = np.cumsum(counts)  # ends[j]: buyers with a value up to distinct[j]
    total = int(ends[-1])
    last_ends: list[int] = []
    placed, first = 0, 0  # buyers placed so far; the first index the next group may end at
    for groups_left in range(5, 1, -1):
        target = placed + (total - placed) / groups_left
        latest = distinct.size - groups_left  # leaves a distinct value for each later group
        at = int(np.searchsorted(ends, target))
        candidates = [j for j in (at - 1, at) if first <= j <= latest] or [
            min(max(at, first), latest)
        ]
        # The nearest to the target; of two as near, the smaller group.
        end = min(candidates, key=lambda j: (abs(float(ends[j]) - target), j))
        last_ends.append(end)
        placed, first = int(ends[end]), end + 1
    if name == "recency":
        # R counts the cut points the days exceed: a group's largest value is its cut point.
        return [float(distinct[j]) for j in last_ends]
    # F and M count the cut points the value reaches: the next group's smallest value.
    return [float(distinct[j + 1]) for j in last_ends]


def rfm_scoring(
    recency: np.ndarray,
    frequency: np.ndarray,
    monetary: np.ndarray,
    thresholds: dict[str, Any] | None = None,
) -> RfmScoring:
    """R, F and M scores 1-5 of buyers, and how each dimension was cut (docs/analytics.md).

    Per dimension four ascending cut points: the shop's own when set; else quintiles that
    keep tied values together (_tied_quintile_cut_points); else, with fewer than five
    distinct values, RFM_FIXED_CUT_POINTS. F and M score 1 + the number of cut points the
    value reaches (value >= cut point); R scores 5 minus the number of cut points the days
    exceed (days > cut point). Scores are functions of the value, so equal values always get
    equal scores.
    """
    thresholds = thresholds or {}
    scores = []
    methods: dict[str, dict[str, Any]] = {}
    for name, values in zip(RFM_DIMENSIONS, (recency, frequency, monetary), strict=True):
        cut_points = _edges(thresholds, name)
        method = RFM_SHOP
        if cut_points is None:
            cut_points = _tied_quintile_cut_points(name, values)
            method = RFM_QUINTILES
        if cut_points is None:
            cut_points = [float(v) for v in RFM_FIXED_CUT_POINTS[name]]
            method = RFM_FIXED
        methods[name] = {
            "method": method,
            "cut_points": [_plain(v) for v in cut_points],
        }
        edges = np.array(cut_points, dtype=np.float64)
        if name == "recency":
            score = 5 - np.searchsorted(edges, values, side="left")
        else:
            score = 1 + np.searchsorted(edges, values, side="right")
        scores.append(np.asarray(score, dtype=np.int64))
    return RfmScoring(scores=(scores[0], scores[1], scores[2]), methods=methods)


def rfm_scores(
    recency: np.ndarray,
    frequency: np.ndarray,
    monetary: np.ndarray,
    thresholds: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R, F and M scores 1-5 of buyers; see rfm_scoring."""
    return rfm_scoring(recency, frequency, monetary, thresholds).scores


# Model parameters are estimated from at most this many customers, a seeded random sample:
# their standard errors are already small at this size (see tests/analytics/test_clv.py), and
# the fit stays within the refresh budget however big the base is. Every customer is then
# scored with the fitted parameters.
FIT_SAMPLE = 30_000


def _fit_sample(size: int) -> np.ndarray | slice:
    if size <= FIT_SAMPLE:
        return slice(None)
    return np.sort(np.random.default_rng(0).choice(size, FIT_SAMPLE, replace=False))


def _fit_error(exc: Exception) -> dict[str, Any]:
    """A failed fit as recorded: the English message for the JSON output and the logs, plus a
    code and its numbers from which the pages and the CLI say it in the user's language."""
    code = getattr(exc, "code", "fit_failed")
    params = getattr(exc, "params", {})
    return {
        "error": str(exc) or type(exc).__name__,
        "error_code": code if isinstance(code, str) else "fit_failed",
        "error_params": dict(params) if isinstance(params, dict) else {},
    }


def _fit_models(
    purchases: _Purchases, as_of_day: int, horizon_days: int
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray | None]]:
    """Fit BG/NBD and Gamma-Gamma; per model its parameters or {"error": …}, never raising."""
    try:
        from clientbase.analytics import clv
    except ImportError:  # pragma: no cover - only while the model module is being written
        unavailable = {
            "error": "the customer models are not installed",
            "error_code": "not_installed",
            "error_params": {},
        }
        return {"bgnbd": dict(unavailable), "gamma_gamma": dict(unavailable)}, {
            "p_alive": None,
            "expected_purchases": None,
            "expected_order_value": None,
            "clv": None,
        }

    x = (purchases.days - 1).astype(np.float64)  # repeat purchases, on distinct days
    t_x = (purchases.last_day - purchases.first_day).astype(np.float64)
    age = (as_of_day - purchases.first_day).astype(np.float64)
    repeat = x > 0
    # Mean value of the repeat purchases: the first day's revenue left out, as in the
    # literature (the first purchase is not a draw from the customer's spend distribution).
    mean_repeat = np.zeros_like(x)
    mean_repeat[repeat] = (purchases.revenue[repeat] - purchases.first_day_revenue[repeat]) / x[
        repeat
    ]

    models: dict[str, dict[str, Any]] = {}
    outputs: dict[str, np.ndarray | None] = {
        "p_alive": None,
        "expected_purchases": None,
        "expected_order_value": None,
        "clv": None,
    }
    bgnbd = None
    try:
        sample = _fit_sample(x.size)
        bgnbd = clv.bgnbd_fit(x[sample], t_x[sample], age[sample])
        outputs["p_alive"] = np.asarray(clv.bgnbd_p_alive(bgnbd, x, t_x, age), dtype=np.float64)
        outputs["expected_purchases"] = np.asarray(
            clv.bgnbd_expected_purchases(bgnbd, float(horizon_days), x, t_x, age),
            dtype=np.float64,
        )
        models["bgnbd"] = {
            "r": float(bgnbd.r),
            "alpha": float(bgnbd.alpha),
            "a": float(bgnbd.a),
            "b": float(bgnbd.b),
            "time_unit": "day",
        }
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:  # InsufficientData too
        bgnbd = None
        models["bgnbd"] = _fit_error(exc)
        outputs["p_alive"] = outputs["expected_purchases"] = None

    gamma_gamma = None
    # Repeat buyers whose repeat purchases are worth nothing (free orders) carry no spend
    # information: they count as first-time buyers and get the population mean.
    usable = repeat & (mean_repeat > 0)
    x_spend = np.where(usable, x, 0.0)
    try:
        spend_sample = _fit_sample(int(usable.sum()))
        gamma_gamma = clv.gamma_gamma_fit(
            x[usable][spend_sample], mean_repeat[usable][spend_sample]
        )
        outputs["expected_order_value"] = np.asarray(
            clv.gamma_gamma_expected_value(gamma_gamma, x_spend, mean_repeat), dtype=np.float64
        )
        models["gamma_gamma"] = {
            "p": float(gamma_gamma.p),
            "q": float(gamma_gamma.q),
            "v": float(gamma_gamma.v),
        }
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        gamma_gamma = None
        models["gamma_gamma"] = _fit_error(exc)
        outputs["expected_order_value"] = None

    if bgnbd is not None and gamma_gamma is not None:
        expected_value = outputs["expected_order_value"]
        assert expected_value is not None
        spend_for_clv = np.where(usable, mean_repeat, expected_value)
        try:
            outputs["clv"] = np.asarray(
                clv.customer_lifetime_value(
                    bgnbd,
                    gamma_gamma,
                    x,
                    t_x,
                    age,
                    spend_for_clv,
                    float(horizon_days),
                ),
                dtype=np.float64,
            )
        except (ValueError, ArithmeticError) as exc:
            models["clv"] = _fit_error(exc)
    for name, values in outputs.items():
        if values is not None and not np.all(np.isfinite(values)):
            # A numerically failed prediction is dropped rather than written as nonsense.
            logger.warning("analytics: non-finite %s predictions dropped", name)
            outputs[name] = None
    return models, outputs


def importance_levels(
    *,
    value: np.ndarray,
    recency_days: np.ndarray,
    p_alive: np.ndarray | None,
    config: dict[str, Any] | None = None,
) -> np.ndarray:
    """Importance of buyers (see docs/analytics.md), without the manual VIP mark.

    `value` is revenue to date plus lifetime value over the horizon (revenue alone when the
    models are unavailable). Inactive buyers (p_alive below min_p_alive, or without models no
    purchase for more than inactive_days) are LOW; otherwise VIP at or above the VIP threshold,
    HIGH at or above the high threshold, NORMAL below.
    """
    settings_ = {**IMPORTANCE_DEFAULTS, **(config or {})}
    levels = np.full(value.shape, int(Importance.NORMAL), dtype=np.int64)
    if value.size == 0:
        return levels

    def threshold(absolute_key: str, percentile_key: str) -> float | None:
        if settings_.get(absolute_key) is not None:
            return float(settings_[absolute_key])
        if settings_.get(percentile_key) is not None:
            return float(np.percentile(value, float(settings_[percentile_key])))
        return None

    high = threshold("high_value", "high_percentile")
    vip = threshold("vip_value", "vip_percentile")
    if high is not None:
        levels[value >= high] = Importance.HIGH
    if vip is not None:
        levels[value >= vip] = Importance.VIP
    if p_alive is not None:
        inactive = p_alive < float(settings_["min_p_alive"])
    else:
        inactive = recency_days > float(settings_["inactive_days"])
    levels[inactive] = Importance.LOW
    return levels


def _write_rows(rows: list[tuple[Any, ...]]) -> None:
    columns = [
        "customer_id",
        "as_of",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "p_alive",
        "expected_purchases",
        "expected_order_value",
        "clv",
        "importance",
    ]
    table = connection.ops.quote_name(CustomerScore._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - constants only
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    # Every customer gets a row, so the table is rewritten whole inside the refresh's
    # transaction (readers keep seeing the previous scores until the commit): delete and insert
    # cost less than half of an upsert per row. On SQLite, whose one writer holds the database
    # anyway, the secondary indexes are dropped and built again afterwards, one sort each
    # instead of 100k random inserts into each; on PostgreSQL that would lock out readers.
    rebuild = connection.vendor == "sqlite"
    editor = connection.schema_editor()
    editor.deferred_sql = []  # used only to render index SQL, never entered as a context
    indexes = CustomerScore._meta.indexes if rebuild else []
    with connection.cursor() as cursor:
        for index in indexes:
            cursor.execute(str(index.remove_sql(CustomerScore, editor)))
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - the model's table name
        cursor.executemany(sql, rows)
        for index in indexes:
            cursor.execute(str(index.create_sql(CustomerScore, editor)))


@transaction.atomic
def analytics_refresh(*, as_of: datetime.date | None = None) -> RefreshResult:
    """Recompute every customer's score row as of a date (default: today in the shop's zone)."""
    started = time.perf_counter()
    as_of = as_of or timezone.localdate()
    as_of_day = (as_of - EPOCH).days
    config = ScoringConfig.objects.order_by("pk").first() or ScoringConfig()

    purchases = _purchases(as_of)
    customers = list(Customer.objects.order_by("pk").values_list("pk", "vip"))
    customer_ids = np.array([c[0] for c in customers], dtype=np.int64)
    vip_marked = np.array([c[1] for c in customers], dtype=bool)
    total = customer_ids.size
    # Orders of a customer deleted in between cannot exist (PROTECT), so every buyer is found.
    position = np.searchsorted(customer_ids, purchases.customer_ids)

    recency = (as_of_day - purchases.last_day).astype(np.int64)
    scoring = rfm_scoring(recency, purchases.orders, purchases.revenue, config.rfm_thresholds)
    r, f, m = scoring.scores
    models, outputs = _fit_models(purchases, as_of_day, config.horizon_days)

    value = purchases.revenue + (outputs["clv"] if outputs["clv"] is not None else 0.0)
    buyer_importance = importance_levels(
        value=value, recency_days=recency, p_alive=outputs["p_alive"], config=config.importance
    )

    segment_index = np.full(total, _NO_ORDERS_INDEX, dtype=np.int64)
    segment_index[position] = _SEGMENT_INDEX[r, f]
    # A customer without purchases is NORMAL: a new lead on the phone is not unimportant.
    importance = np.full(total, int(Importance.NORMAL), dtype=np.int64)
    importance[position] = buyer_importance
    importance[vip_marked] = Importance.VIP

    def spread(values: np.ndarray | None, default: Any, digits: int | None = None) -> list[Any]:
        """Buyers' values at their customers' places, `default` for everyone else."""
        column = np.full(total, default, dtype=object)
        if values is not None:
            if digits is not None:
                values = np.round(values, digits)
            column[position] = values.tolist()
        return column.tolist()

    segments = [SEGMENT_CODES[i] for i in segment_index.tolist()]
    rows = list(
        zip(
            customer_ids.tolist(),
            [as_of] * total,
            spread(recency, None),
            spread(purchases.orders, 0),
            spread(purchases.revenue, 0, 2),
            spread(r, 0),
            spread(f, 0),
            spread(m, 0),
            segments,
            spread(outputs["p_alive"], None, 6),
            spread(outputs["expected_purchases"], None, 6),
            spread(outputs["expected_order_value"], None, 2),
            spread(outputs["clv"], None, 2),
            importance.tolist(),
            strict=True,
        )
    )
    if connection.vendor == "sqlite":
        # Dates as ISO text, the way Django stores them on SQLite.
        iso = as_of.isoformat()
        rows = [(row[0], iso, *row[2:]) for row in rows]
    _write_rows(rows)

    counts = np.bincount(segment_index, minlength=len(SEGMENT_CODES))
    rfm_sizes = {code: int(counts[i]) for i, code in enumerate(SEGMENT_CODES)}
    result = RefreshResult(
        as_of=as_of,
        customers=total,
        rfm_sizes=rfm_sizes,
        rfm_scoring=scoring.methods,
        models=models,
    )
    result.seconds = time.perf_counter() - started
    ModelFit.objects.create(
        as_of=as_of,
        customers=total,
        seconds=result.seconds,
        models_json=models,
        rfm_sizes=rfm_sizes,
        rfm_scoring=scoring.methods,
    )
    logger.info("analytics refresh: %d customers in %.2f s", total, result.seconds)
    return result


# ---------------------------------------------------------------- the shop's scoring settings

HORIZON_DAYS_MAX = 3650  # ten years: beyond that a lifetime value means little
# Importance keys whose value may be null, and what null means there: "no percentile rule".
_NULLABLE_IMPORTANCE = {"vip_percentile", "high_percentile", "vip_value", "high_value"}


def _number(value: Any) -> float | None:
    """A finite real number as float, or None for anything else (text, bool, NaN, infinity)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(value: Any) -> int | float:
    """Whole numbers as int, others as float, for a JSON value that reads back as written."""
    number = float(value)
    return int(number) if number.is_integer() else number


def _clean_cut_points(name: str, values: Any) -> list[int | float] | None:
    """Four ascending numbers of zero or more, as `_edges` reads them, or None (quintiles)."""
    if values is None or values == [] or values == ():
        return None
    if not isinstance(values, list | tuple) or len(values) != 4 or None in values:
        raise ValidationError(
            {name: _("Enter four cut points, or leave all four empty to use quintiles.")}
        )
    numbers = [_number(v) for v in values]
    if any(n is None or n < 0 for n in numbers):
        raise ValidationError({name: _("Cut points must be numbers of zero or more.")})
    cut_points = [_plain(v) for v in values]
    if cut_points != sorted(cut_points):
        raise ValidationError(
            {name: _("Cut points must be in ascending order, each not less than the one before.")}
        )
    return cut_points


def _clean_importance(settings_: Any) -> dict[str, Any]:
    """Only the keys of IMPORTANCE_DEFAULTS, each within the range importance_levels needs."""
    if not isinstance(settings_, dict):
        raise ValidationError({"importance": _("Importance settings must be a set of keys.")})
    unknown = sorted(set(settings_) - set(IMPORTANCE_DEFAULTS))
    if unknown:
        raise ValidationError(
            {
                "importance": _("Unknown importance settings: %(keys)s.")
                % {"keys": ", ".join(unknown)}
            }
        )
    bounds: dict[str, tuple[float, float | None, str]] = {
        "vip_percentile": (0, 100, _("A percentile must be a number from 0 to 100.")),
        "high_percentile": (0, 100, _("A percentile must be a number from 0 to 100.")),
        "vip_value": (0, None, _("A value must be an amount of zero or more.")),
        "high_value": (0, None, _("A value must be an amount of zero or more.")),
        "min_p_alive": (0, 1, _("A probability must be a number from 0 to 1.")),
        "inactive_days": (0, None, _("Days must be a number of zero or more.")),
    }
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in settings_.items():
        if value is None and key in _NULLABLE_IMPORTANCE:
            cleaned[key] = None
            continue
        low, high, message = bounds[key]
        number = _number(value)
        if number is None or number < low or (high is not None and number > high):
            errors[key] = message
        else:
            cleaned[key] = _plain(number)
    if errors:
        raise ValidationError(errors)
    return cleaned


def scoring_config_snapshot(config: ScoringConfig) -> dict[str, Any]:
    return {
        "rfm_thresholds": config.rfm_thresholds,
        "importance": config.importance,
        "horizon_days": config.horizon_days,
    }


@transaction.atomic
def scoring_config_save(*, actor: Any, data: dict[str, Any]) -> ScoringConfig:
    """Replace the shop's scoring settings (the one row, created on first save). Audited.

    `data` has the model's shape: `rfm_thresholds` (dimension -> four ascending numbers; a
    dimension left out or empty uses quintiles), `importance` (keys of IMPORTANCE_DEFAULTS; a
    key left out uses its default) and `horizon_days`. Everything is checked before anything is
    written, so what is saved is exactly what the refresh reads; a ValidationError names the
    dimension or key at fault.
    """
    errors: dict[str, list[str]] = {}
    thresholds_in = data.get("rfm_thresholds") or {}
    thresholds: dict[str, list[int | float]] = {}
    if not isinstance(thresholds_in, dict) or set(thresholds_in) - set(RFM_DIMENSIONS):
        errors["rfm_thresholds"] = [_("RFM thresholds are set for recency, frequency, monetary.")]
    else:
        for name in RFM_DIMENSIONS:
            try:
                cut_points = _clean_cut_points(name, thresholds_in.get(name))
            except ValidationError as exc:
                errors.update(exc.message_dict)
            else:
                if cut_points is not None:
                    thresholds[name] = cut_points
    importance: dict[str, Any] = {}
    try:
        importance = _clean_importance(data.get("importance") or {})
    except ValidationError as exc:
        errors.update(exc.message_dict)
    horizon = data.get("horizon_days")
    if (
        isinstance(horizon, bool)
        or not isinstance(horizon, int)
        or not 1 <= horizon <= HORIZON_DAYS_MAX
    ):
        errors["horizon_days"] = [
            _("The horizon must be a whole number of days from 1 to %(max)d.")
            % {"max": HORIZON_DAYS_MAX}
        ]
    if errors:
        raise ValidationError(errors)
    assert isinstance(horizon, int)  # checked above; tells the type checker

    config = ScoringConfig.objects.select_for_update().order_by("pk").first()
    creating = config is None
    if config is None:
        config = ScoringConfig()
        before: dict[str, Any] = {}
    else:
        before = scoring_config_snapshot(config)
    config.rfm_thresholds = thresholds
    config.importance = importance
    config.horizon_days = horizon
    config.full_clean()
    config.save()
    audit.record(
        action=AuditAction.CREATE if creating else AuditAction.UPDATE,
        actor=actor,
        obj=config,
        changes=audit.diff(before, scoring_config_snapshot(config)),
    )
    return config


__all__ = [
    "RefreshResult",
    "analytics_refresh",
    "importance_levels",
    "rfm_scores",
    "rfm_scoring",
    "scoring_config_save",
]
