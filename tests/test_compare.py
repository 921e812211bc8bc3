"""Tests of summarize_experiment.judge.compare, each against an independent computation."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.metrics import balanced_accuracy_score, f1_score, root_mean_squared_error

from summarize_experiment.evidence.labels import OTHER
from summarize_experiment.judge.compare import (
    BOOTSTRAP_BATCH,
    BOOTSTRAP_RESAMPLES,
    PairedResult,
    _tango_interval,
    balanced_accuracy,
    f1,
    minimum_detectable_difference,
    paired_accuracy_difference,
    paired_bootstrap_difference,
    rmse,
    unpaired_difference,
)

Z_975 = 1.959963984540054  # standard normal 97.5% quantile
Z_80 = 0.8416212335729143  # standard normal 80% quantile


def _paired_outcomes(only_a: int, only_b: int, both: int, neither: int) -> tuple:
    """Correctness arrays of two runs with the given cell counts (shuffled, seeded)."""
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither)
    order = np.random.default_rng(7).permutation(len(a))
    return a[order], b[order]


def _labels(rng: np.random.Generator, n: int, right: float, other: float = 0.0) -> tuple:
    """Targets 0/1 and predictions right with probability ``right``, else wrong or OTHER."""
    targets = rng.integers(0, 2, n).astype(np.int8)
    wrong = np.where(rng.random(n) < other, OTHER, 1 - targets).astype(np.int8)
    return targets, np.where(rng.random(n) < right, targets, wrong).astype(np.int8)


# ---------------------------------------------------------------- McNemar exact test


def test_mcnemar_hand_worked_two_against_eight() -> None:
    # 2 samples only a gets right, 8 only b: X ~ Bin(10, 0.5) under "no difference";
    # P(X <= 2) = (C(10,0) + C(10,1) + C(10,2)) / 2^10 = (1 + 10 + 45) / 1024 = 56 / 1024,
    # two-sided p = 2 * 56 / 1024 = 0.109375
    a, b = _paired_outcomes(only_a=2, only_b=8, both=6, neither=4)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert result.p_value == pytest.approx(2 * 56 / 1024, rel=1e-12)
    assert (result.only_a_correct, result.only_b_correct, result.n) == (2, 8, 20)
    assert result.difference == pytest.approx((2 - 8) / 20)
    assert result.value_a == pytest.approx(8 / 20)
    assert result.value_b == pytest.approx(14 / 20)
    assert result.discordance == pytest.approx(10 / 20)
    assert "McNemar exact" in result.method


def test_mcnemar_cavo_2012() -> None:
    # Cavo et al. 2012 (Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency
    # Tables", 2017, ch. 8): table [[59, 6], [16, 80]], 6 vs 16 discordant pairs.
    # P(X <= 6 | Bin(22, 0.5)) = (1 + 22 + 231 + 1540 + 7315 + 26334 + 74613) / 2^22
    #                          = 110056 / 4194304
    assert sum(math.comb(22, k) for k in range(7)) == 110056
    a, b = _paired_outcomes(only_a=6, only_b=16, both=59, neither=80)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert result.p_value == pytest.approx(2 * 110056 / 4194304, rel=1e-12)
    # cross-checked once with statsmodels 0.15.0:
    # mcnemar([[59, 6], [16, 80]], exact=True).pvalue == 0.052478790283203125
    assert result.p_value == pytest.approx(0.052478790283203125, rel=1e-12)


def test_mcnemar_matches_statsmodels_and_binomtest() -> None:
    # cross-checked once with statsmodels 0.15.0:
    # mcnemar([[30, 12], [25, 33]], exact=True).pvalue == 0.04703102743951604
    a, b = _paired_outcomes(only_a=12, only_b=25, both=30, neither=33)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert result.p_value == pytest.approx(0.04703102743951604, rel=1e-12)
    assert result.p_value == stats.binomtest(12, 37, 0.5).pvalue


@pytest.mark.parametrize("seed", range(5))
def test_mcnemar_against_binomtest_on_random_runs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.random(300) < 0.7, rng.random(300) < 0.6
    result = paired_accuracy_difference(a, b)
    assert result is not None
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert (result.only_a_correct, result.only_b_correct) == (only_a, only_b)
    assert result.p_value == stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert result.difference == pytest.approx(a.mean() - b.mean())


def test_no_discordant_sample() -> None:
    a, b = _paired_outcomes(only_a=0, only_b=0, both=70, neither=30)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert result.p_value == 1.0
    assert result.difference == 0.0
    assert not result.clearly_different
    # the interval still has a width: see test_tango_interval_without_discordant_samples
    assert result.ci_low < 0 < result.ci_high


def test_paired_accuracy_input_checks() -> None:
    assert paired_accuracy_difference([], []) is None
    with pytest.raises(ValueError, match="results for run a"):
        paired_accuracy_difference([1, 0], [1])
    with pytest.raises(ValueError, match="0/1"):
        paired_accuracy_difference([1, 2], [1, 0])
    with pytest.raises(ValueError, match="confidence"):
        paired_accuracy_difference([1], [0], confidence=1.0)
    result = paired_accuracy_difference([True, False], [False, False])
    assert result is not None and result.only_a_correct == 1


# ---------------------------------------------------------------- Tango interval


def _tango_score(delta: float, only_a: int, only_b: int, n: int) -> float:
    """Tango's score statistic, the restricted maximum likelihood found numerically.

    Given the difference ``delta`` = P(only a) - P(only b), the likelihood of the discordant
    counts depends on q = P(only b) alone: only_a log(q + delta) + only_b log(q) +
    (n - only_a - only_b) log(1 - 2q - delta), maximized here by a bounded scalar search
    (not the closed-form root the module uses).
    """
    low, high = max(0.0, -delta), (1 - delta) / 2

    def negative_log_likelihood(q: float) -> float:
        rest = n - only_a - only_b
        return -(
            only_a * math.log(q + delta) + only_b * math.log(q) + rest * math.log(1 - 2 * q - delta)
        )

    span = high - low
    q = optimize.minimize_scalar(
        negative_log_likelihood,
        bounds=(low + 1e-15 * span, high - 1e-15 * span),
        method="bounded",
        options={"xatol": 1e-14},
    ).x
    variance = n * (2 * q + delta * (1 - delta))
    return (only_a - only_b - n * delta) / math.sqrt(variance)


def test_tango_interval_cavo_2012_published() -> None:
    # Fagerland, Lydersen & Laake 2017, ch. 8 (and the R package contingencytables' tests):
    # Tango asymptotic score CI: estimate = -0.0621 (95% CI -0.1240 to -0.0054)
    a, b = _paired_outcomes(only_a=6, only_b=16, both=59, neither=80)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert result.difference == pytest.approx(-0.0621, abs=5e-5)
    assert result.ci_low == pytest.approx(-0.1240, abs=5e-5)
    assert result.ci_high == pytest.approx(-0.0054, abs=5e-5)
    assert result.clearly_different
    # the exact test is more conservative right at the boundary: p = 0.052 > 0.05
    assert result.p_value > 0.05


@pytest.mark.parametrize(("only_a", "only_b", "n"), [(6, 16, 161), (12, 25, 100), (40, 20, 160)])
def test_tango_bounds_solve_the_score_equation(only_a: int, only_b: int, n: int) -> None:
    low, high = _tango_interval(only_a, only_b, n, Z_975)
    assert _tango_score(low, only_a, only_b, n) == pytest.approx(Z_975, abs=1e-6)
    assert _tango_score(high, only_a, only_b, n) == pytest.approx(-Z_975, abs=1e-6)


def test_tango_interval_without_discordant_samples() -> None:
    # No discordant pair: for delta > 0 the restricted MLE of P(only b) is 0, so the score is
    # -n delta / sqrt(n delta (1 - delta)) = -sqrt(n delta / (1 - delta)); setting it to -z:
    # n delta / (1 - delta) = z^2, delta = z^2 / (n + z^2); for n = 100:
    # 1.959964^2 / (100 + 1.959964^2) = 3.841459 / 103.841459 = 0.0369935
    a, b = _paired_outcomes(only_a=0, only_b=0, both=80, neither=20)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    bound = Z_975**2 / (100 + Z_975**2)
    assert bound == pytest.approx(0.0369935, abs=1e-7)
    assert result.ci_high == pytest.approx(bound, abs=1e-9)
    assert result.ci_low == pytest.approx(-bound, abs=1e-9)


def test_tango_interval_at_the_edges() -> None:
    a, b = _paired_outcomes(only_a=10, only_b=0, both=0, neither=0)
    result = paired_accuracy_difference(a, b)
    assert result is not None
    assert (result.difference, result.ci_high) == (1.0, 1.0)
    assert 0 < result.ci_low < 1
    mirrored = paired_accuracy_difference(b, a)
    assert mirrored is not None
    assert (mirrored.ci_low, mirrored.ci_high) == pytest.approx((-result.ci_high, -result.ci_low))


@pytest.mark.parametrize(
    ("n", "only_a", "only_b"),
    [(200, 0.12, 0.07), (50, 0.10, 0.04), (100, 0.05, 0.05), (500, 0.20, 0.10)],
)
def test_tango_interval_coverage(n: int, only_a: float, only_b: float) -> None:
    """2,000 simulated paired evaluations (seeded): the 95% interval covers the truth ~95%.

    From cell counts (the interval ``paired_accuracy_difference`` reports, whose exact test
    would dominate the time); ``test_interval_is_tango_of_the_counts`` ties the two together.
    """
    rng = np.random.default_rng(2024)
    truth = only_a - only_b
    counts = rng.multinomial(n, [only_a, only_b, 1 - only_a - only_b], size=2000)
    covered = [
        low <= truth <= high
        for low, high in (_tango_interval(int(x), int(y), n, Z_975) for x, y, _ in counts)
    ]
    assert 0.93 <= np.mean(covered) <= 0.97


def test_interval_is_tango_of_the_counts() -> None:
    a, b = _paired_outcomes(only_a=17, only_b=9, both=50, neither=24)
    result = paired_accuracy_difference(a, b, confidence=0.9)
    assert result is not None
    z_95 = stats.norm.ppf(0.95)
    assert (result.ci_low, result.ci_high) == _tango_interval(17, 9, 100, z_95)
    assert result.confidence == 0.9


# ---------------------------------------------------------------- ready statistics


@pytest.mark.parametrize("seed", range(4))
def test_balanced_accuracy_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets, predictions = _labels(rng, 200, right=0.7, other=0.3)
    rows_t = np.stack([targets, np.ones_like(targets), targets[::-1]])
    rows_p = np.stack([predictions, predictions, predictions])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that OTHER is not a target class
        expected = [balanced_accuracy_score(t, p) for t, p in zip(rows_t, rows_p, strict=True)]
    assert balanced_accuracy(rows_t, rows_p, axis=-1) == pytest.approx(expected)
    assert balanced_accuracy(rows_t.T, rows_p.T, axis=0) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(4))
def test_f1_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets, predictions = _labels(rng, 150, right=0.6, other=0.2)
    expected = f1_score(targets, predictions, labels=[0, 1], average=None)[1]
    assert float(f1(targets, predictions)) == pytest.approx(expected)


def test_f1_undefined_and_zero() -> None:
    assert math.isnan(float(f1(np.zeros(5), np.zeros(5))))
    assert math.isnan(float(f1(np.zeros(5), np.full(5, OTHER))))
    assert float(f1(np.array([1, 0, 0]), np.array([0, 1, 0]))) == 0.0


def test_rmse_leaves_out_unparsed_answers() -> None:
    rng = np.random.default_rng(3)
    targets = rng.normal(size=100)
    predictions = targets + rng.normal(size=100)
    predictions[::7] = np.nan
    parsed = ~np.isnan(predictions)
    expected = root_mean_squared_error(targets[parsed], predictions[parsed])
    assert float(rmse(targets, predictions)) == pytest.approx(expected)
    assert math.isnan(float(rmse(targets, np.full(100, np.nan))))


# ---------------------------------------------------------------- paired bootstrap


def _direct_scipy(statistic, data_a: tuple, data_b: tuple, method: str, seed: int = 0):
    """scipy.stats.bootstrap called directly: every array resampled with paired=True."""
    k = len(data_a)

    def difference(*arrays, axis=-1):
        return statistic(*arrays[:k], axis=axis) - statistic(*arrays[k:], axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        return stats.bootstrap(
            data_a + data_b,
            difference,
            paired=True,
            vectorized=True,
            n_resamples=BOOTSTRAP_RESAMPLES,
            batch=BOOTSTRAP_BATCH,
            method=method,
            rng=np.random.default_rng(seed),
        )


@pytest.mark.parametrize("method", ["percentile", "BCa"])
@pytest.mark.parametrize(
    ("statistic", "numeric"), [(balanced_accuracy, False), (f1, False), (rmse, True)]
)
def test_bootstrap_identical_to_scipy(statistic, numeric: bool, method: str) -> None:
    rng = np.random.default_rng(11)
    if numeric:
        targets = rng.normal(size=300)
        data_a = (targets, targets + rng.normal(size=300))
        data_b = (targets, targets + 1.1 * rng.normal(size=300))
    else:
        targets, predictions_a = _labels(rng, 300, right=0.75, other=0.1)
        predictions_b = np.where(rng.random(300) < 0.8, predictions_a, 1 - targets)
        data_a, data_b = (targets, predictions_a), (targets, predictions_b.astype(np.int8))
    result = paired_bootstrap_difference(statistic, data_a, data_b, method=method)
    direct = _direct_scipy(statistic, data_a, data_b, method)
    assert result is not None
    assert result.ci_low == direct.confidence_interval.low
    assert result.ci_high == direct.confidence_interval.high
    replicates = direct.bootstrap_distribution
    share_below, share_above = np.mean(replicates <= 0), np.mean(replicates >= 0)
    expected_p = min(1.0, max(1 / (len(replicates) + 1), 2 * min(share_below, share_above)))
    assert result.p_value == expected_p
    expected = float(statistic(*data_a)) - float(statistic(*data_b))
    assert result.difference == pytest.approx(expected, abs=1e-15)
    assert (result.n, result.resamples) == (300, BOOTSTRAP_RESAMPLES)
    assert method in result.method


def test_bootstrap_large_difference_is_clear() -> None:
    rng = np.random.default_rng(5)
    targets, good = _labels(rng, 400, right=0.95)
    bad = np.where(rng.random(400) < 0.6, targets, 1 - targets).astype(np.int8)
    result = paired_bootstrap_difference(balanced_accuracy, (targets, good), (targets, bad))
    assert result is not None
    assert result.clearly_different
    assert 0 < result.ci_low < result.difference < result.ci_high
    # every resampled difference is above 0: p is the floor 1 / (B + 1)
    assert result.p_value == 1 / (BOOTSTRAP_RESAMPLES + 1)
    assert result.value_a > result.value_b


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_bootstrap_identical_runs(method: str) -> None:
    rng = np.random.default_rng(6)
    targets, predictions = _labels(rng, 250, right=0.8, other=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_bootstrap_difference(
            balanced_accuracy, (targets, predictions), (targets, predictions.copy()), method=method
        )
    assert result is not None
    assert (result.difference, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1)
    assert not result.clearly_different


def test_bootstrap_leaves_out_undefined_resamples() -> None:
    # one positive among 30 samples: a finds it (F1 = 1), b predicts no 1 (F1 = 0); a resample
    # without that sample leaves F1 of a undefined (no 1 anywhere), ~(29/30)^30 = 36% of them
    targets = np.zeros(30, dtype=np.int8)
    targets[0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_bootstrap_difference(f1, (targets, targets), (targets, np.zeros(30)))
    assert result is not None
    assert result.difference == 1.0
    assert result.resamples is not None
    left_out = BOOTSTRAP_RESAMPLES - result.resamples
    assert 0.25 * BOOTSTRAP_RESAMPLES < left_out < 0.5 * BOOTSTRAP_RESAMPLES
    assert (result.ci_low, result.ci_high) == (1.0, 1.0)
    assert result.p_value == 1 / (result.resamples + 1)
    assert "defined" in result.method


def test_bootstrap_undefined_or_too_small() -> None:
    zeros = np.zeros(10, dtype=np.int8)
    assert paired_bootstrap_difference(f1, (zeros, zeros), (zeros, zeros)) is None
    one = np.ones(1, dtype=np.int8)
    assert paired_bootstrap_difference(balanced_accuracy, (one, one), (one, one)) is None
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_difference(balanced_accuracy, (zeros, zeros), (zeros, zeros[:5]))
    with pytest.raises(ValueError, match="one-dimensional"):
        paired_bootstrap_difference(balanced_accuracy, (zeros.reshape(2, 5),), (zeros,))
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap_difference(balanced_accuracy, (zeros,), (zeros,), n_resamples=0)


def test_bootstrap_single_array_per_run() -> None:
    def mean(values, axis=-1):
        return np.mean(values, axis=axis)

    rng = np.random.default_rng(8)
    a, b = rng.random(100) < 0.8, rng.random(100) < 0.5
    result = paired_bootstrap_difference(mean, a, b)
    direct = _direct_scipy(mean, (a,), (b,), "percentile")
    assert result is not None
    assert (result.ci_low, result.ci_high) == tuple(direct.confidence_interval)


def test_bootstrap_reproducible() -> None:
    rng = np.random.default_rng(9)
    targets, predictions_a = _labels(rng, 300, right=0.7)
    _, predictions_b = _labels(rng, 300, right=0.65)
    data_a, data_b = (targets, predictions_a), (targets, predictions_b)
    first = paired_bootstrap_difference(balanced_accuracy, data_a, data_b, seed=3)
    again = paired_bootstrap_difference(balanced_accuracy, data_a, data_b, seed=3)
    other = paired_bootstrap_difference(balanced_accuracy, data_a, data_b, seed=4)
    assert first == again
    assert other is not None and first is not None
    assert (other.ci_low, other.ci_high) != (first.ci_low, first.ci_high)


def test_paired_accuracy_reproducible() -> None:
    a, b = _paired_outcomes(only_a=9, only_b=4, both=60, neither=27)
    assert paired_accuracy_difference(a, b) == paired_accuracy_difference(a, b)


# ---------------------------------------------------------------- minimum detectable difference


def test_mde_hand_worked() -> None:
    # (z_0.975 + z_0.8) * sqrt(2 * 0.8 * 0.2 / 100) = 2.801585 * 0.0565685 = 0.158482
    assert minimum_detectable_difference(100, 0.8) == pytest.approx(0.1585, abs=5e-5)
    expected = (Z_975 + Z_80) * math.sqrt(2 * 0.8 * 0.2 / 100)
    assert minimum_detectable_difference(100, 0.8) == pytest.approx(expected, rel=1e-12)
    # paired, 20% discordant samples: 2.801585 * sqrt(0.2 / 100) = 0.125291
    paired = minimum_detectable_difference(100, 0.8, paired_discordance=0.2)
    assert paired == pytest.approx((Z_975 + Z_80) * math.sqrt(0.2 / 100), rel=1e-12)
    assert paired == pytest.approx(0.12529, abs=5e-6)


def test_mde_decreases_with_n() -> None:
    sizes = [10, 50, 100, 500, 1000, 5000]
    for paired in (None, 0.15):
        values = [minimum_detectable_difference(n, 0.7, paired_discordance=paired) for n in sizes]
        assert all(later < earlier for earlier, later in itertools.pairwise(values))
        # four times the samples halve the detectable difference
        quadrupled = minimum_detectable_difference(400, 0.7, paired_discordance=paired)
        base = minimum_detectable_difference(100, 0.7, paired_discordance=paired)
        assert quadrupled == pytest.approx(base / 2)


def test_mde_has_the_stated_power_by_simulation() -> None:
    rng = np.random.default_rng(12)
    n, simulations = 500, 4000
    # paired: McNemar's (score) test at the paired MDE
    delta = minimum_detectable_difference(n, 0.8, paired_discordance=0.2)
    cells = rng.multinomial(n, [(0.2 + delta) / 2, (0.2 - delta) / 2, 0.8], size=simulations)
    score = (cells[:, 0] - cells[:, 1]) / np.sqrt(cells[:, 0] + cells[:, 1])
    assert 0.77 <= np.mean(np.abs(score) > Z_975) <= 0.85
    # unpaired: the pooled two-proportion z-test at the MDE, accuracies around 0.8
    delta = minimum_detectable_difference(n, 0.8)
    right_a = rng.binomial(n, 0.8 + delta / 2, simulations)
    right_b = rng.binomial(n, 0.8 - delta / 2, simulations)
    pooled = (right_a + right_b) / (2 * n)
    z = (right_a - right_b) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    assert 0.77 <= np.mean(np.abs(z) > Z_975) <= 0.85


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0, "accuracy": 0.5},
        {"n": 10, "accuracy": 1.5},
        {"n": 10, "accuracy": 0.5, "alpha": 0.0},
        {"n": 10, "accuracy": 0.5, "power": 1.0},
        {"n": 10, "accuracy": 0.5, "paired_discordance": -0.1},
    ],
)
def test_mde_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        minimum_detectable_difference(**kwargs)


# ---------------------------------------------------------------- unpaired


# (correct_a, n_a, correct_b, n_b, low, high, p): intervals cross-checked once with statsmodels
# 0.15.0 confint_proportions_2indep(..., method="newcomb", compare="diff"), p-values with its
# proportions_ztest; the first two are Newcombe's (1998, Stat Med 17:873) examples (a) and (b),
# published as 0.0524 to 0.3339 and 0.1705 to 0.8090
NEWCOMBE_CASES = [
    (56, 70, 48, 80, 0.05243147240236498, 0.33387265403690614, 0.00804508136819656),
    (9, 10, 3, 10, 0.1705227239345029, 0.809017973535488, 0.006169899320544151),
    (6, 7, 2, 7, 0.05822792748231209, 0.8062496375242278, 0.030753561259274524),
    (5, 56, 0, 29, -0.038137147903536936, 0.19256001385511165, 0.09718656817057973),
    (0, 10, 0, 20, -0.1611251580528194, 0.27753279986288926, 1.0),
    (10, 10, 0, 20, 0.6790860371419145, 1.0, 4.320463057827506e-08),
]


@pytest.mark.parametrize(("ka", "na", "kb", "nb", "low", "high", "p"), NEWCOMBE_CASES)
def test_unpaired_newcombe(ka: int, na: int, kb: int, nb: int, low, high, p) -> None:
    result = unpaired_difference(ka, na, kb, nb)
    assert result is not None
    assert result.difference == pytest.approx(ka / na - kb / nb)
    assert result.ci_low == pytest.approx(low, abs=1e-12)
    assert result.ci_high == pytest.approx(high, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.clearly_different == (low > 0)


def test_unpaired_newcombe_published_digits() -> None:
    result = unpaired_difference(56, 70, 48, 80)
    assert result is not None
    assert (round(result.ci_low, 4), round(result.ci_high, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize(("ka", "na", "kb", "nb"), [(56, 70, 48, 80), (130, 200, 80, 150)])
def test_unpaired_p_equals_chi_square_without_correction(ka: int, na: int, kb: int, nb: int):
    table = [[ka, na - ka], [kb, nb - kb]]
    expected = stats.chi2_contingency(table, correction=False).pvalue
    result = unpaired_difference(ka, na, kb, nb)
    assert result is not None
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_unpaired_input_checks() -> None:
    assert unpaired_difference(0, 0, 3, 5) is None
    with pytest.raises(ValueError, match="run a"):
        unpaired_difference(6, 5, 3, 5)
    with pytest.raises(ValueError, match="run b"):
        unpaired_difference(1, 5, -1, 5)
    result = unpaired_difference(5, 5, 5, 5)
    assert result is not None and result.p_value == 1.0 and not result.clearly_different


def test_clearly_different_follows_the_interval() -> None:
    def paired(low: float, high: float) -> PairedResult:
        return PairedResult(0.0, low, high, 0.5, 10, "test", 0.95, 0.5, 0.5)

    assert paired(0.01, 0.2).clearly_different
    assert paired(-0.2, -0.01).clearly_different
    assert not paired(-0.01, 0.2).clearly_different
    assert not paired(0.0, 0.2).clearly_different
