"""Customer models in numpy/scipy: BG/NBD (alive, purchases), Gamma-Gamma (order value), CLV."""

# Time unit: every function here is unit-agnostic; frequency, recency, T, the horizon ``t`` and the
# discount rate must share one unit, and the fitted ``alpha`` is a rate in that unit. The shop's
# analytics refresh works in DAYS. The CDNOW benchmark (Fader, Hardie & Lee 2005) is in WEEKS, so
# its published alpha = 4.414 is per week (about 30.9 in days).
#
# Definitions, as in the literature:
# - frequency ``x``: number of REPEAT purchases, i.e. distinct purchase days minus one;
# - recency ``t_x``: time of the last purchase, measured from the first purchase (0 when x == 0);
# - ``T``: the customer's age, time from the first purchase to the end of the observation;
# - monetary: mean value of the repeat purchases (the first purchase is excluded, as in the paper).
#
# References:
# - P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting your customers the easy way: an
#   alternative to the Pareto/NBD model", Marketing Science 24(2).
# - P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "RFM and CLV: using iso-value curves for
#   customer base analysis", Journal of Marketing Research 42(4); and B. G. S. Hardie's note
#   "The Gamma-Gamma model of monetary value" (2013), whose ``gamma`` is ``v`` here.

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

BGNBD_MIN_CUSTOMERS = 20
BGNBD_MIN_REPEAT_BUYERS = 5
GAMMA_GAMMA_MIN_REPEAT_BUYERS = 20

# Log-parameters are kept in [-LOG_BOUND, LOG_BOUND] (about 3e-7 .. 3e6): wide enough for any real
# shop in days or weeks, narrow enough that exp() never overflows. An optimum on the bound means the
# data do not identify that parameter, which we report as InsufficientData rather than return it.
LOG_BOUND = 15.0


class InsufficientData(ValueError):
    """The data cannot support a fit; the message says what is missing.

    ``code`` and ``params`` say the same for a reader in another language: this module knows
    nothing of translations, so the analytics pages and the CLI build their sentence from them.
    """

    def __init__(self, code: str, message: str, **params: float | str) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: order value ~ Gamma(p, nu), nu ~ Gamma(q, v); v is "gamma" in FHL."""

    p: float
    q: float
    v: float


def _as_float_array(values: npt.ArrayLike) -> FloatArray:
    # Flattened so a column vector from a query result works as well as a 1-d array.
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        array = array.reshape(-1)
    return array


def _rfm_arrays(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Prediction inputs: refused clearly if inconsistent, since a silent NaN would reach the UI."""
    x = _as_float_array(frequency)
    t_x = _as_float_array(recency)
    age = _as_float_array(T)
    if not (x.shape == t_x.shape == age.shape):
        raise ValueError(
            "frequency, recency and T must have the same length, "
            f"got {x.size}, {t_x.size}, {age.size}"
        )
    if not (np.isfinite(x).all() and np.isfinite(t_x).all() and np.isfinite(age).all()):
        raise ValueError("frequency, recency and T must be finite (no NaN or infinity)")
    if (x < 0).any() or (t_x < 0).any() or (t_x > age).any():
        raise ValueError("need frequency >= 0 and 0 <= recency <= T for every customer")
    return x, t_x, age


def _minimise(
    negative_log_likelihood: Callable[[FloatArray], float],
    start: FloatArray,
    names: tuple[str, ...],
) -> FloatArray:
    """Minimise over log-parameters: L-BFGS-B, with Nelder-Mead plus a polish as a rescue."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    with np.errstate(all="ignore"):
        result = optimize.minimize(
            negative_log_likelihood, start, method="L-BFGS-B", bounds=bounds, options=options
        )
        if not (result.success and np.isfinite(result.fun)):
            # L-BFGS-B can stall on a flat or badly scaled surface; the simplex does not need
            # gradients, and polishing its answer gives back the precision.
            rescue = optimize.minimize(
                negative_log_likelihood,
                np.clip(result.x if np.isfinite(result.x).all() else start, -LOG_BOUND, LOG_BOUND),
                method="Nelder-Mead",
                bounds=bounds,
                options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-12},
            )
            result = optimize.minimize(
                negative_log_likelihood, rescue.x, method="L-BFGS-B", bounds=bounds, options=options
            )
            if not np.isfinite(result.fun) and np.isfinite(rescue.fun):
                result = rescue
    log_params = np.asarray(result.x, dtype=np.float64)
    if not (np.isfinite(result.fun) and np.isfinite(log_params).all()):
        raise InsufficientData("not_converged", "the model fit did not converge to finite values")
    at_bound = [
        name
        for name, value in zip(names, log_params, strict=True)
        if abs(value) >= LOG_BOUND - 1e-3
    ]
    if at_bound:
        raise InsufficientData(
            "not_identified",
            f"the data do not identify parameter(s) {', '.join(at_bound)} "
            "(the fit ran to the bound)",
            parameters=", ".join(at_bound),
        )
    return log_params


# --- BG/NBD ---


def _bgnbd_log_likelihood(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x_levels: FloatArray,
    x_index: npt.NDArray[np.intp],
    t_x: FloatArray,
    age: FloatArray,
) -> FloatArray:
    """Per-customer log-likelihood, FHL 2005 eq. 6, evaluated in logs so large x cannot overflow.

    Frequencies take few distinct values (``x_levels``; ``x_levels[x_index]`` is each customer's
    x), so the costly gamma and beta functions run once per level, not once per customer.
    """
    repeat_level = x_levels > 0
    common = (
        special.gammaln(r + x_levels)
        - special.gammaln(r)
        + r * np.log(alpha)
        - special.betaln(a, b)
    )
    stay = common + special.betaln(a, b + x_levels)
    # The second term exists only for repeat buyers (dropped out right after the last purchase);
    # b + x - 1 > 0 there, and -inf elsewhere makes logaddexp ignore it.
    drop = np.where(
        repeat_level,
        common + special.betaln(a + 1.0, np.where(repeat_level, b + x_levels - 1.0, 1.0)),
        -np.inf,
    )
    x = x_levels[x_index]
    log_stay = stay[x_index] - (r + x) * np.log(alpha + age)
    log_drop = drop[x_index] - (r + x) * np.log(alpha + t_x)
    return np.asarray(np.logaddexp(log_stay, log_drop), dtype=np.float64)


def _unique_rows(
    columns: tuple[FloatArray, ...], weights: FloatArray | None
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows into one weighted row: many customers share the same (x, t_x, T)."""
    stacked = np.column_stack(columns)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    row_weights = np.ones(stacked.shape[0]) if weights is None else weights
    summed = np.bincount(inverse, weights=row_weights, minlength=unique.shape[0]).astype(np.float64)
    return tuple(unique[:, i].copy() for i in range(unique.shape[1])), summed


def _fit_weights(weights: npt.ArrayLike | None, size: int) -> FloatArray | None:
    if weights is None:
        return None
    w = _as_float_array(weights)
    if w.size != size:
        raise ValueError(f"weights must have one value per customer, got {w.size} for {size}")
    return w


def bgnbd_fit(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
) -> BgNbdParams:
    """Fit BG/NBD by maximum likelihood (FHL 2005).

    Rows that are not finite or are inconsistent (frequency < 0, recency < 0, recency > T, weight
    <= 0) are dropped and counted in the log, so one bad row does not sink a nightly refresh.
    ``weights`` counts identical customers (e.g. one row per distinct (x, t_x, T) with its count);
    identical rows are aggregated anyway, so big inputs cost the number of distinct rows.
    Raises InsufficientData with fewer than 20 usable customers, fewer than 5 repeat buyers, or
    when the optimiser does not reach a finite, interior optimum.
    """
    x = _as_float_array(frequency)
    t_x = _as_float_array(recency)
    age = _as_float_array(T)
    if not (x.shape == t_x.shape == age.shape):
        raise ValueError(
            "frequency, recency and T must have the same length, "
            f"got {x.size}, {t_x.size}, {age.size}"
        )
    w = _fit_weights(weights, x.size)
    with np.errstate(invalid="ignore"):
        usable = (
            np.isfinite(x)
            & np.isfinite(t_x)
            & np.isfinite(age)
            & (x >= 0)
            & (t_x >= 0)
            & (t_x <= age)
            & (age > 0)
        )
        if w is not None:
            usable &= np.isfinite(w) & (w > 0)
    dropped = int(x.size - usable.sum())
    if dropped:
        logger.warning("bgnbd_fit: ignored %d rows with missing or inconsistent values", dropped)
    x, t_x, age = x[usable], t_x[usable], age[usable]
    # Repeat purchases only have a time if they happened: t_x of a one-time buyer does not enter
    # the likelihood, and zeroing it lets those rows aggregate.
    t_x = np.where(x > 0, t_x, 0.0)
    w = None if w is None else w[usable]
    customers = float(w.sum()) if w is not None else float(x.size)
    repeat_buyers = float(w[x > 0].sum()) if w is not None else float((x > 0).sum())
    if customers < BGNBD_MIN_CUSTOMERS:
        raise InsufficientData(
            "too_few_customers",
            f"need at least {BGNBD_MIN_CUSTOMERS} customers with valid data, got {customers:g}",
            minimum=BGNBD_MIN_CUSTOMERS,
            count=customers,
        )
    if repeat_buyers < BGNBD_MIN_REPEAT_BUYERS:
        raise InsufficientData(
            "too_few_repeat_buyers",
            f"need at least {BGNBD_MIN_REPEAT_BUYERS} customers with a repeat purchase, "
            f"got {repeat_buyers:g}",
            minimum=BGNBD_MIN_REPEAT_BUYERS,
            count=repeat_buyers,
        )
    (x, t_x, age), counts = _unique_rows((x, t_x, age), w)
    total = counts.sum()
    x_levels, x_index = np.unique(x, return_inverse=True)
    x_index = x_index.reshape(-1)

    def negative_log_likelihood(log_params: FloatArray) -> float:
        r, alpha, a, b = np.exp(log_params)
        ll = _bgnbd_log_likelihood(r, alpha, a, b, x_levels, x_index, t_x, age)
        # Mean rather than sum, so the optimiser's tolerances do not depend on n. Not np.dot: a BLAS
        # call per evaluation costs milliseconds of thread start-up on a busy machine.
        value = -float(np.sum(counts * ll)) / total
        return value if np.isfinite(value) else np.inf

    # Start from r = a = b = 1 and alpha matching the average purchase rate, which makes the same
    # start work whether the unit is days or weeks.
    mean_rate = float(np.sum(counts * x) / max(float(np.sum(counts * age)), 1e-12))
    alpha_start = 1.0 / max(mean_rate, 1e-6)
    start = np.array([0.0, np.log(alpha_start), 0.0, 0.0])
    start = np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1)
    r, alpha, a, b = np.exp(_minimise(negative_log_likelihood, start, ("r", "alpha", "a", "b")))
    return BgNbdParams(r=float(r), alpha=float(alpha), a=float(a), b=float(b))


def bgnbd_p_alive(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

    1 for x == 0: in BG/NBD a customer can only drop out right after a repeat purchase.
    """
    x, t_x, age = _rfm_arrays(frequency, recency, T)
    return _p_alive(params, x, t_x, age)


def _p_alive(params: BgNbdParams, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    result = np.ones_like(x)
    xr = x[repeat]
    # Odds of having dropped out, in logs: the power overflows for frequent, long-gone buyers.
    log_odds = (
        np.log(a)
        - np.log(b + xr - 1.0)
        + (r + xr) * (np.log(alpha + age[repeat]) - np.log(alpha + t_x[repeat]))
    )
    result[repeat] = special.expit(-log_odds)
    return np.asarray(result, dtype=np.float64)


def bgnbd_expected_purchases(
    params: BgNbdParams,
    t: float,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
) -> FloatArray:
    """E[purchases in (T, T + t] | x, t_x, T], FHL 2005 eq. 10.

    E = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        * P(alive | x, t_x, T)
    """
    x, t_x, age = _rfm_arrays(frequency, recency, T)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"the horizon t must be a finite number >= 0, got {t}")
    if t == 0:
        return np.zeros_like(x)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-9:
        # The closed form has a removable singularity at a = 1; a nudge keeps it finite and the
        # change is far below the estimation error of a.
        a = 1.0 + 1e-9
    with np.errstate(over="ignore", invalid="ignore"):
        z = t / (alpha + age + t)
        log_power = (r + x) * (np.log(alpha + age) - np.log(alpha + age + t))
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        bracket = 1.0 - np.exp(log_power) * hyp
        expected = (a + b + x - 1.0) / (a - 1.0) * bracket * _p_alive(params, x, t_x, age)
    # Round-off can give tiny negatives for tiny t.
    return np.asarray(np.maximum(expected, 0.0), dtype=np.float64)


# --- Gamma-Gamma ---


def _gamma_gamma_arrays(
    frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    x = _as_float_array(frequency)
    m = _as_float_array(monetary)
    if x.shape != m.shape:
        raise ValueError(
            f"frequency and monetary must have the same length, got {x.size}, {m.size}"
        )
    return x, m


def gamma_gamma_fit(
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
) -> GammaGammaParams:
    """Fit Gamma-Gamma by maximum likelihood on repeat buyers (frequency > 0, monetary > 0).

    ``monetary`` is the mean value of a customer's repeat purchases. Rows with frequency 0,
    non-positive or non-finite values are ignored (one-time buyers carry no information on the
    spread of a customer's own order values). Raises InsufficientData with fewer than 20 usable
    repeat buyers, or when the fit gives q <= 1 (no finite mean order value to predict with).
    """
    x, m = _gamma_gamma_arrays(frequency, monetary)
    w = _fit_weights(weights, x.size)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(x) & np.isfinite(m) & (x > 0) & (m > 0)
        if w is not None:
            usable &= np.isfinite(w) & (w > 0)
    x, m = x[usable], m[usable]
    w = None if w is None else w[usable]
    repeat_buyers = float(w.sum()) if w is not None else float(x.size)
    if repeat_buyers < GAMMA_GAMMA_MIN_REPEAT_BUYERS:
        raise InsufficientData(
            "too_few_spending_repeat_buyers",
            f"need at least {GAMMA_GAMMA_MIN_REPEAT_BUYERS} customers with a repeat purchase "
            f"and a positive order value, got {repeat_buyers:g}",
            minimum=GAMMA_GAMMA_MIN_REPEAT_BUYERS,
            count=repeat_buyers,
        )
    (x, m), counts = _unique_rows((x, m), w)
    total = counts.sum()
    log_m = np.log(m)
    log_x = np.log(x)
    # Gamma functions once per distinct frequency, as in the BG/NBD likelihood.
    x_levels, x_index = np.unique(x, return_inverse=True)
    x_index = x_index.reshape(-1)

    def negative_log_likelihood(log_params: FloatArray) -> float:
        p, q, v = np.exp(log_params)
        px = p * x
        px_levels = p * x_levels
        # Density of the mean of x Gamma(p, nu) orders, mixed over nu ~ Gamma(q, v) (Hardie 2013).
        ll = (
            (special.gammaln(px_levels + q) - special.gammaln(px_levels))[x_index]
            - special.gammaln(q)
            + q * np.log(v)
            + (px - 1.0) * log_m
            + px * log_x
            - (px + q) * np.log(v + x * m)
        )
        value = -float(np.sum(counts * ll)) / total
        return value if np.isfinite(value) else np.inf

    # Start at a moderate shape and v scaled to the order values, so roubles and dollars both work.
    scale = float(np.sum(counts * m) / total)
    start = np.array([0.0, np.log(2.0), np.log(max(scale, 1e-6))])
    start = np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1)
    p, q, v = np.exp(_minimise(negative_log_likelihood, start, ("p", "q", "v")))
    if q <= 1.0:
        raise InsufficientData(
            "order_values_too_spread",
            f"order values are too spread out for the Gamma-Gamma model (q = {q:.3g} <= 1, "
            "so the expected order value is not finite)",
            q=float(f"{q:.3g}"),
        )
    return GammaGammaParams(p=float(p), q=float(q), v=float(v))


def gamma_gamma_expected_value(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> FloatArray:
    """E[order value | x, mean m] = p (v + x m) / (p x + q - 1); for x = 0 the mean p v / (q - 1).

    Equivalently a weighted average of the population mean and the customer's own mean, the weight
    on the customer's mean growing with x.
    """
    x, m = _gamma_gamma_arrays(frequency, monetary)
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("frequency must be finite and >= 0")
    p, q, v = params.p, params.q, params.v
    repeat = x > 0
    if (~np.isfinite(m[repeat])).any() or (m[repeat] <= 0).any():
        raise ValueError("monetary must be finite and > 0 for customers with frequency > 0")
    population_mean = p * v / (q - 1.0)
    result = np.full(x.shape, population_mean, dtype=np.float64)
    xr = x[repeat]
    result[repeat] = p * (v + xr * m[repeat]) / (p * xr + q - 1.0)
    return result


# --- CLV ---


def customer_lifetime_value(
    bgnbd: BgNbdParams,
    gg: GammaGammaParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary: npt.ArrayLike,
    horizon: float,
    discount_rate_per_unit: float = 0.0,
    steps: int = 12,
) -> FloatArray:
    """Expected, discounted value of each customer's purchases over the next ``horizon`` units.

    With h = horizon / steps, E(t) = bgnbd_expected_purchases(t) and M = gamma_gamma_expected_value:

        CLV = M * sum_{k=1..steps} [E(k h) - E((k-1) h)] / (1 + d)^(k h)

    where d = ``discount_rate_per_unit`` in the same time unit (e.g. a yearly 10% in days is
    1.1 ** (1 / 365) - 1). Purchases of period k are discounted from its end, a slightly
    conservative choice; with d = 0 the sum telescopes to M * E(horizon). ``monetary`` is the mean
    repeat-purchase value (ignored where frequency is 0, which gets the population mean).
    """
    if not np.isfinite(horizon) or horizon < 0:
        raise ValueError(f"horizon must be a finite number >= 0, got {horizon}")
    if not np.isfinite(discount_rate_per_unit) or discount_rate_per_unit <= -1.0:
        raise ValueError(f"discount_rate_per_unit must be > -1, got {discount_rate_per_unit}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    order_value = gamma_gamma_expected_value(gg, frequency, monetary)
    if discount_rate_per_unit == 0.0:
        # Without discounting the sum telescopes: one evaluation gives the same value.
        steps = 1
    step = horizon / steps
    previous = np.zeros_like(order_value)
    discounted_purchases = np.zeros_like(order_value)
    for k in range(1, steps + 1):
        cumulative = bgnbd_expected_purchases(bgnbd, k * step, frequency, recency, T)
        discount = (1.0 + discount_rate_per_unit) ** (k * step)
        # Cumulative expectations are monotone in exact arithmetic; clip round-off.
        discounted_purchases += np.maximum(cumulative - previous, 0.0) / discount
        previous = cumulative
    return np.asarray(order_value * discounted_purchases, dtype=np.float64)
