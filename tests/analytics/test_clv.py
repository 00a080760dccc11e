"""Customer models: published CDNOW figures, recovery from simulated data, too little data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from clientbase.analytics.clv import (
    BgNbdParams,
    GammaGammaParams,
    InsufficientData,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_p_alive,
    customer_lifetime_value,
    gamma_gamma_expected_value,
    gamma_gamma_fit,
)

FloatArray = npt.NDArray[np.float64]
CDNOW = Path(__file__).resolve().parent.parent / "data" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> dict[str, FloatArray]:
    table = np.genfromtxt(CDNOW, delimiter=",", names=True)
    return {name: np.asarray(table[name], dtype=np.float64) for name in ("x", "t_x", "T", "zbar")}


def simulate_bgnbd(
    params: BgNbdParams, customers: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The BG/NBD story: Poisson purchases at rate lambda, dropout with probability p after each."""
    rates = rng.gamma(params.r, 1.0 / params.alpha, customers)
    dropout = rng.beta(params.a, params.b, customers)
    # Ages spread like a cohort acquired over a year, in days as the shop uses them.
    age = rng.uniform(30.0, 365.0, customers)
    frequency = np.zeros(customers)
    recency = np.zeros(customers)
    clock = np.zeros(customers)
    active = np.ones(customers, dtype=bool)
    while active.any():
        clock[active] += rng.exponential(1.0, active.sum()) / rates[active]
        bought = active & (clock <= age)
        frequency[bought] += 1
        recency[bought] = clock[bought]
        # After a purchase outside the window the customer is simply not observed any more.
        active = bought & (rng.random(customers) >= dropout)
    return frequency, recency, age


def simulate_gamma_gamma(
    params: GammaGammaParams, customers: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    frequency = 1.0 + rng.poisson(2.0, customers)
    nu = rng.gamma(params.q, 1.0 / params.v, customers)
    # The sum of x Gamma(p, nu) orders is Gamma(p x, nu); its mean is the monetary value.
    monetary = rng.gamma(params.p * frequency, 1.0 / nu) / frequency
    return frequency, monetary


def assert_close(fitted: float, expected: float, tolerance: float, name: str) -> None:
    assert abs(fitted - expected) <= tolerance * expected, f"{name}: {fitted:.4f} vs {expected}"


# --- CDNOW: the published figures (Fader, Hardie & Lee 2005), weeks ---


def test_bgnbd_matches_published_cdnow_figures(cdnow: dict[str, FloatArray]) -> None:
    params = bgnbd_fit(cdnow["x"], cdnow["t_x"], cdnow["T"])

    assert cdnow["x"].size == 2357
    for name, published in (("r", 0.243), ("alpha", 4.414), ("a", 0.793), ("b", 2.426)):
        assert_close(getattr(params, name), published, 0.01, name)


def test_gamma_gamma_matches_published_cdnow_figures(cdnow: dict[str, FloatArray]) -> None:
    # The summary has zbar = 0 for one-time buyers; the fit keeps the 946 repeat buyers, the
    # same customers as in the paper, which is why the figures agree.
    assert int((cdnow["x"] > 0).sum()) == 946

    params = gamma_gamma_fit(cdnow["x"], cdnow["zbar"])

    for name, published in (("p", 6.25), ("q", 3.74), ("v", 15.44)):
        assert_close(getattr(params, name), published, 0.01, name)


def test_cdnow_predictions_are_sane(cdnow: dict[str, FloatArray]) -> None:
    params = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    x, t_x, age = cdnow["x"], cdnow["t_x"], cdnow["T"]

    alive = bgnbd_p_alive(params, x, t_x, age)
    assert ((alive > 0.0) & (alive <= 1.0)).all()
    assert np.isfinite(bgnbd_expected_purchases(params, 39.0, x, t_x, age)).all()

    # Worked example of the paper's appendix: x = 2, t_x = 30.43, T = 38.86 -> 1.226 in 39 weeks.
    example = bgnbd_expected_purchases(params, 39.0, [2], [30.43], [38.86])
    assert example[0] == pytest.approx(1.226, abs=0.002)


def test_weights_give_the_same_fit_as_repeated_rows(cdnow: dict[str, FloatArray]) -> None:
    x, t_x, age = cdnow["x"][:600], cdnow["t_x"][:600], cdnow["T"][:600]
    doubled = bgnbd_fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(age, 2))
    weighted = bgnbd_fit(x, t_x, age, weights=np.full(x.size, 2.0))

    for name in ("r", "alpha", "a", "b"):
        assert getattr(weighted, name) == pytest.approx(getattr(doubled, name), rel=1e-4)


# --- Recovery from simulated data ---


def test_bgnbd_recovers_simulated_parameters() -> None:
    truth = BgNbdParams(r=0.5, alpha=10.0, a=0.6, b=2.5)
    frequency, recency, age = simulate_bgnbd(truth, 20_000, np.random.default_rng(20050101))

    fitted = bgnbd_fit(frequency, recency, age)

    # With 20,000 customers the standard errors (inverse Hessian at the truth) are 1.2% for r,
    # 1.8% for alpha, 3.2% for a and 4.7% for b; each tolerance is about 3-4 of them.
    tolerances = {"r": 0.05, "alpha": 0.07, "a": 0.12, "b": 0.15}
    for name, tolerance in tolerances.items():
        assert_close(getattr(fitted, name), getattr(truth, name), tolerance, name)


def test_gamma_gamma_recovers_simulated_parameters() -> None:
    truth = GammaGammaParams(p=6.0, q=4.0, v=15.0)
    frequency, monetary = simulate_gamma_gamma(truth, 40_000, np.random.default_rng(42))

    fitted = gamma_gamma_fit(frequency, monetary)

    # Only each customer's MEAN order value is seen, so p (and v, tied to it) are identified weakly,
    # through how the spread of the means shrinks with x: at 40,000 customers the standard errors
    # (inverse Hessian) are about 4% for p, 5% for v and 1.2% for q. Tolerances are ~3 of those.
    assert_close(fitted.p, truth.p, 0.15, "p")
    assert_close(fitted.q, truth.q, 0.05, "q")
    assert_close(fitted.v, truth.v, 0.15, "v")
    # What the model predicts with, the mean order value p v / (q - 1), is far better determined.
    assert_close(fitted.p * fitted.v / (fitted.q - 1), 6.0 * 15.0 / 3.0, 0.03, "mean")


def test_p_alive_is_a_probability_and_prefers_recent_buyers() -> None:
    params = BgNbdParams(r=0.5, alpha=10.0, a=0.6, b=2.5)
    frequency, recency, age = simulate_bgnbd(params, 2_000, np.random.default_rng(7))

    alive = bgnbd_p_alive(params, frequency, recency, age)

    assert ((alive >= 0.0) & (alive <= 1.0)).all()
    assert (alive[frequency == 0] == 1.0).all()
    recent, old = bgnbd_p_alive(params, [4, 4], [170.0, 20.0], [180.0, 180.0])
    assert recent > old
    # A frequent buyer gone for a long time: the power term would overflow without logs.
    assert bgnbd_p_alive(params, [500], [1.0], [10_000.0])[0] == pytest.approx(0.0, abs=1e-12)


def test_expected_purchases_are_non_negative_and_grow_with_the_horizon() -> None:
    params = BgNbdParams(r=0.5, alpha=10.0, a=0.6, b=2.5)
    frequency, recency, age = simulate_bgnbd(params, 2_000, np.random.default_rng(8))

    horizons = [0.0, 7.0, 30.0, 90.0, 365.0]
    expected = np.array(
        [bgnbd_expected_purchases(params, t, frequency, recency, age) for t in horizons]
    )

    assert np.isfinite(expected).all()
    assert (expected >= 0.0).all()
    assert (expected[0] == 0.0).all()
    assert (np.diff(expected, axis=0) > 0.0).all()


def test_gamma_gamma_expected_value_shrinks_towards_the_population_mean() -> None:
    params = GammaGammaParams(p=6.25, q=3.74, v=15.44)
    population_mean = 6.25 * 15.44 / (3.74 - 1.0)

    one_time, few, many = gamma_gamma_expected_value(params, [0, 1, 50], [0.0, 100.0, 100.0])

    assert one_time == pytest.approx(population_mean)
    assert population_mean < few < many < 100.0


def test_customer_lifetime_value_sums_discounted_purchases() -> None:
    bgnbd = BgNbdParams(r=0.5, alpha=10.0, a=0.6, b=2.5)
    gg = GammaGammaParams(p=6.0, q=4.0, v=15.0)
    frequency, recency, age, monetary = [0, 3, 3], [0.0, 90.0, 10.0], [100.0] * 3, [0.0, 40.0, 40.0]

    undiscounted = customer_lifetime_value(bgnbd, gg, frequency, recency, age, monetary, 365.0)
    discounted = customer_lifetime_value(
        bgnbd, gg, frequency, recency, age, monetary, 365.0, discount_rate_per_unit=0.001
    )

    # Without discounting the periods telescope to value x purchases over the whole horizon.
    expected = gamma_gamma_expected_value(gg, frequency, monetary) * bgnbd_expected_purchases(
        bgnbd, 365.0, frequency, recency, age
    )
    np.testing.assert_allclose(undiscounted, expected, rtol=1e-9)
    assert ((discounted > 0.0) & (discounted < undiscounted)).all()
    assert undiscounted[1] > undiscounted[2]  # same history, but the second went quiet long ago


# --- Too little or bad data ---


def test_five_customers_are_not_enough() -> None:
    with pytest.raises(InsufficientData, match="at least 20 customers"):
        bgnbd_fit([1, 2, 0, 3, 1], [5.0, 8.0, 0.0, 9.0, 2.0], [10.0] * 5)


def test_nobody_with_a_repeat_purchase_is_not_enough() -> None:
    with pytest.raises(InsufficientData, match="repeat purchase"):
        bgnbd_fit(np.zeros(100), np.zeros(100), np.full(100, 30.0))
    with pytest.raises(InsufficientData, match="repeat purchase"):
        gamma_gamma_fit(np.zeros(100), np.zeros(100))


def test_too_few_repeat_buyers_for_gamma_gamma() -> None:
    with pytest.raises(InsufficientData, match="at least 20 customers with a repeat purchase"):
        gamma_gamma_fit([1, 2, 3, 0, 0], [10.0, 20.0, 30.0, 0.0, 0.0])


def test_non_finite_rows_are_ignored_by_the_fit_and_refused_by_predictions() -> None:
    truth = BgNbdParams(r=0.5, alpha=10.0, a=0.6, b=2.5)
    frequency, recency, age = simulate_bgnbd(truth, 500, np.random.default_rng(3))
    clean = bgnbd_fit(frequency, recency, age)
    frequency = np.append(frequency, [np.nan, 2.0, 1.0, -1.0])
    recency = np.append(recency, [1.0, np.inf, 50.0, 1.0])
    age = np.append(age, [10.0, 10.0, 20.0, 10.0])  # the third row has recency > T

    assert bgnbd_fit(frequency, recency, age) == clean
    with pytest.raises(ValueError, match="finite"):
        bgnbd_p_alive(truth, frequency, recency, age)
    with pytest.raises(InsufficientData, match="at least 20 customers"):
        bgnbd_fit([np.nan] * 30, [1.0] * 30, [2.0] * 30)


def test_degenerate_data_gives_finite_parameters_or_a_clear_refusal() -> None:
    # Everybody bought twice on the same days: the optimum is at the edge (identical rates).
    frequency = np.ones(50)
    try:
        params = bgnbd_fit(frequency, np.full(50, 5.0), np.full(50, 5.0))
    except InsufficientData as refusal:
        assert "identify" in str(refusal)
    else:
        assert all(np.isfinite([params.r, params.alpha, params.a, params.b]))
        assert np.isfinite(bgnbd_expected_purchases(params, 30.0, [1], [5.0], [5.0])).all()
    # Identical order values: no spread to estimate the shape p from.
    with pytest.raises(InsufficientData, match="do not identify parameter"):
        gamma_gamma_fit(frequency, np.full(50, 10.0))
