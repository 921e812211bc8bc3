"""Compare evaluation results of two runs, and say what an evaluation can detect (pure functions).

Runs evaluated on the same samples are compared *paired*, per sample (E. Miller, "Adding Error
Bars to Evals", 2024): two runs usually agree on most samples, so the difference of their scores
is far more precise than two overlapping marginal intervals suggest.

* :func:`paired_accuracy_difference`: accuracy, from per-sample 0/1 correctness; McNemar's exact
  test and Tango's score interval (the interval that inverts McNemar's score test).
* :func:`paired_bootstrap_difference`: any statistic (:func:`balanced_accuracy`, :func:`f1`,
  :func:`rmse`, ...), by resampling sample ids jointly for both runs.
* :func:`unpaired_difference`: accuracy of runs evaluated on different samples.
* :func:`minimum_detectable_difference`: the smallest difference an evaluation of ``n`` samples
  detects with the usual power.

Conventions, as in :mod:`.metrics`: labels are 0/1 and a prediction that is neither is
:data:`~summarize_experiment.evidence.labels.OTHER` (always wrong); differences are ``a - b``;
a function returns None when there is nothing to estimate (no sample, or the statistic is
undefined on the data) and raises ValueError on malformed input.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from .metrics import wilson_interval

__all__ = [
    "BOOTSTRAP_BATCH",
    "BOOTSTRAP_RESAMPLES",
    "PairedResult",
    "UnpairedResult",
    "balanced_accuracy",
    "f1",
    "minimum_detectable_difference",
    "paired_accuracy_difference",
    "paired_bootstrap_difference",
    "rmse",
    "unpaired_difference",
]

BOOTSTRAP_RESAMPLES = 1000
"""Default resamples B of :func:`paired_bootstrap_difference`.

Time per call at n = 2,000 samples (``bench/compare_bootstrap.py``; CPU time, fastest of 60
calls on the shared 2-core benchmark machine while other test suites ran, load 3-8): balanced
accuracy and F1 ~19 ms, RMSE ~27 ms, within the 30 ms a call may take (a sweep makes one per
run and task); medians under that load were ~30-40 ms.  B = 2,000 doubles it (~38 ms): about
half is scipy drawing the B x n int64 sample ids, so the time grows as B x n.  Precision: the
Monte Carlo error of a 95% percentile bound is ~0.085 standard errors of the difference at
B = 1,000 (0.06 at 2,000), and the p-value resolves 1/1,001: ample to tell "clearly different"
from "not".
"""

BOOTSTRAP_BATCH = 250
"""Resamples scipy evaluates per vectorized call: a batch of 250 x 2,000 ids (4 MB) stays in
cache; measured ~20% faster than one batch of all resamples for the label statistics and ~40%
for RMSE (float arrays), and it bounds the memory for large n (250 x n ids and one gathered
copy of each input array)."""

_TANGO_EDGE = 1e-12
"""Tango's score statistic has zero variance at a difference of exactly -1 or 1; the bounds are
searched on [-1 + edge, 1 - edge], where the statistic is finite and, for any n below 1e10,
already beyond every usual critical value (it grows like 1 / sqrt(n * edge))."""

_ROOT_TOLERANCE = 1e-12
"""Absolute tolerance of the interval bounds: far below any digit a report shows."""

Statistic = Callable[..., np.ndarray]
"""``statistic(*arrays, axis=-1)``: a value per slice along ``axis``, NaN where undefined."""


class _Interval:
    ci_low: float
    ci_high: float

    @property
    def clearly_different(self) -> bool:
        """True when the confidence interval of the difference excludes 0."""
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class PairedResult(_Interval):
    """Difference ``value_a - value_b`` of a statistic of two runs on the same ``n`` samples.

    ``only_a_correct`` / ``only_b_correct`` are the discordant counts (samples exactly one run
    got right) of :func:`paired_accuracy_difference`, None for the bootstrap; ``resamples`` is
    the number of bootstrap resamples the difference was defined on, None for McNemar.
    """

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    method: str
    confidence: float
    value_a: float
    value_b: float
    only_a_correct: int | None = None
    only_b_correct: int | None = None
    resamples: int | None = None

    @property
    def discordance(self) -> float | None:
        """Share of samples exactly one run got right (for the power of a paired design)."""
        if self.only_a_correct is None or self.only_b_correct is None:
            return None
        return (self.only_a_correct + self.only_b_correct) / self.n


@dataclass(frozen=True)
class UnpairedResult(_Interval):
    """Difference ``accuracy_a - accuracy_b`` of two runs evaluated on different samples."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int
    accuracy_a: float
    accuracy_b: float
    method: str
    confidence: float


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")


def _critical_value(confidence: float) -> float:
    """z such that a standard normal lies within [-z, z] with probability ``confidence``."""
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def _correctness(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 (or False/True) values")
    return array.astype(bool)


# ---------------------------------------------------------------- accuracy, paired


def paired_accuracy_difference(
    correct_a: ArrayLike, correct_b: ArrayLike, confidence: float = 0.95
) -> PairedResult | None:
    """Accuracy of run a minus that of run b, on the same samples; None without samples.

    ``correct_a[i]`` and ``correct_b[i]`` say whether each run got sample ``i`` right (0/1),
    aligned by sample id.  Only the discordant samples carry information: ``only_a_correct``
    (a right, b wrong) and ``only_b_correct``.

    * p-value: McNemar's exact test, ``scipy.stats.binomtest(only_a, only_a + only_b, 0.5)``
      (two-sided), 1.0 without discordant samples.
    * interval: Tango's (1998) score interval, the differences ``d`` whose score statistic
      ``(only_a - only_b - n d) / sqrt(n (2 q(d) + d (1 - d)))`` (``q(d)``: the maximum
      likelihood share of "only b correct" given ``d``) lies within +/- z.  Chosen because it
      is the inversion of McNemar's score test (at ``d = 0`` the statistic is McNemar's
      ``(only_a - only_b) / sqrt(only_a + only_b)``), so interval and test mostly agree; it is
      one of the intervals Fagerland, Lydersen & Laake (2017, ch. 8) recommend for paired
      proportions, keeps close to nominal coverage down to small samples (see the tests'
      simulations) and, unlike a Wald interval, is not a single point when no sample is
      discordant.  Near the boundary the exact test is the more conservative of the two
      (e.g. 6 against 16 discordant of 161: interval -0.124 to -0.005, p = 0.052);
      ``clearly_different`` follows the interval.
    """
    _check_confidence(confidence)
    a = _correctness(correct_a, "correct_a")
    b = _correctness(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"{len(a)} results for run a but {len(b)} for run b")
    n = len(a)
    if n == 0:
        return None
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(b & ~a))
    discordant = only_a + only_b
    p_value = float(stats.binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    low, high = _tango_interval(only_a, only_b, n, _critical_value(confidence))
    return PairedResult(
        difference=(only_a - only_b) / n,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        n=n,
        method="McNemar exact test, Tango score interval",
        confidence=confidence,
        value_a=float(np.count_nonzero(a)) / n,
        value_b=float(np.count_nonzero(b)) / n,
        only_a_correct=only_a,
        only_b_correct=only_b,
    )


def _tango_statistic(delta: float, only_a: int, only_b: int, n: int) -> float:
    """Tango's score statistic for the difference ``delta`` (decreasing in ``delta``)."""
    spread = delta * (1 - delta)
    # q: the root in [0, 1] of 2n q^2 + w q - only_b * spread = 0, written without cancellation
    w = -only_a - only_b + (2 * n - only_a + only_b) * delta
    root = math.sqrt(max(w * w + 8 * n * only_b * spread, 0.0))
    q = (root - w) / (4 * n) if w <= 0 else 2 * only_b * spread / (root + w)
    numerator = only_a - only_b - n * delta
    variance = n * (2 * q + spread)
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def _tango_interval(only_a: int, only_b: int, n: int, z: float) -> tuple[float, float]:
    estimate = (only_a - only_b) / n

    def above_upper(delta: float) -> float:
        return _tango_statistic(delta, only_a, only_b, n) + z

    def below_lower(delta: float) -> float:
        return _tango_statistic(delta, only_a, only_b, n) - z

    top, bottom = 1 - _TANGO_EDGE, -1 + _TANGO_EDGE
    if above_upper(top) >= 0:
        high = 1.0
    else:
        high = optimize.brentq(above_upper, estimate, top, xtol=_ROOT_TOLERANCE)
    if below_lower(bottom) <= 0:
        low = -1.0
    else:
        low = optimize.brentq(below_lower, bottom, estimate, xtol=_ROOT_TOLERANCE)
    return float(low), float(high)


# ---------------------------------------------------------------- any statistic, paired


def _count(mask: np.ndarray, axis: int) -> np.ndarray:
    """True values along ``axis``: an int32 sum, ~40% faster than ``np.count_nonzero`` (intp),
    which matters in a bootstrap; no evaluation has 2^31 samples."""
    return np.sum(mask, axis=axis, dtype=np.int32)


def balanced_accuracy(targets: np.ndarray, predictions: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean recall over the classes present in the targets, per slice along ``axis``.

    Targets 0/1; a prediction is right when it equals its target, so :data:`OTHER` is always
    wrong.  With one class present it is that class's recall, as in scikit-learn's
    ``balanced_accuracy_score``; NaN for an empty slice.
    """
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    positive = targets == 1
    right = targets == predictions
    positives = _count(positive, axis)
    negatives = targets.shape[axis] - positives
    right_positive = _count(right & positive, axis)
    right_negative = _count(right, axis) - right_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        recall_1 = right_positive / positives
        recall_0 = right_negative / negatives
    return np.where(
        positives == 0, recall_0, np.where(negatives == 0, recall_1, (recall_0 + recall_1) / 2)
    )


def f1(targets: np.ndarray, predictions: np.ndarray, axis: int = -1) -> np.ndarray:
    """F1 of class 1, ``2 TP / (2 TP + FP + FN)``, per slice along ``axis``.

    Targets 0/1, predictions 0/1/:data:`OTHER` (:data:`OTHER` is never a prediction of 1).
    NaN when there is no 1 among the targets nor the predictions (as ``f1`` is None in
    :func:`.metrics.binary_metrics`); 0 when there are 1s but no true positive.
    """
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    positive = targets == 1
    predicted = predictions == 1
    true_positives = _count(positive & predicted, axis)
    # 2 TP + FP + FN = (TP + FN) + (TP + FP) = positives + predicted positives
    denominator = _count(positive, axis) + _count(predicted, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2 * true_positives / denominator


def rmse(targets: np.ndarray, predictions: np.ndarray, axis: int = -1) -> np.ndarray:
    """Root mean squared error over the pairs where neither value is NaN, per slice.

    NaN stands for an answer that is not a number (``labels.number_array``); such pairs are left
    out of each slice (each resample, in a bootstrap), so each run's RMSE is over the answers it
    gave; NaN when a slice has no such pair.  Lower is better: a negative ``a - b`` favours a.
    """
    errors = np.subtract(predictions, targets, dtype=float)
    missing = np.isnan(errors)
    parsed = errors.shape[axis] - _count(missing, axis)
    np.copyto(errors, 0.0, where=missing)
    # the sum of squares as a dot product: ~2x faster than squaring and summing
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.vecdot(errors, errors, axis=axis) / parsed)


def _arrays(data: ArrayLike | Sequence[ArrayLike], name: str) -> list[np.ndarray]:
    items = [data] if isinstance(data, np.ndarray) else list(data)
    arrays = [np.asarray(item) for item in items]
    if not arrays or any(array.ndim != 1 for array in arrays):
        raise ValueError(f"{name} must be one or more one-dimensional arrays")
    return arrays


def _same(first: np.ndarray, second: np.ndarray) -> bool:
    return first is second or (
        first.dtype == second.dtype
        and np.array_equal(first, second, equal_nan=first.dtype.kind in "fc")
    )


def paired_bootstrap_difference(
    statistic: Statistic,
    data_a: ArrayLike | Sequence[ArrayLike],
    data_b: ArrayLike | Sequence[ArrayLike],
    *,
    confidence: float = 0.95,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    batch: int = BOOTSTRAP_BATCH,
    method: Literal["percentile", "BCa"] = "percentile",
    seed: int = 0,
) -> PairedResult | None:
    """``statistic(*data_a) - statistic(*data_b)`` with a paired bootstrap interval and p-value.

    ``data_a`` / ``data_b``: the statistic's arguments for each run (a tuple of arrays, or one
    array), all aligned by sample id, e.g. ``(targets, predictions_a)`` and ``(targets,
    predictions_b)`` for :func:`balanced_accuracy`.  ``statistic`` is vectorized like scipy's:
    ``statistic(*arrays, axis=-1)``, NaN where undefined.

    The sample ids are resampled jointly for both runs: the result is that of
    ``scipy.stats.bootstrap(data_a + data_b, difference, paired=True, vectorized=True,
    method=method, rng=np.random.default_rng(seed))``.  With ``paired=True`` scipy bootstraps
    the one sample ``arange(n)`` and gathers every array at the drawn ids, twice per batch; here
    ``arange(n)`` is handed to scipy as the sample itself, and each array shared by both runs
    (the targets) gathered once per batch: the same draws and numbers, in 35-50% less time.

    * interval: ``method`` "percentile" by default: consistent with the p-value below, and the
      BCa jackknife (n leave-one-out statistics) triples the time at n = 2,000; "BCa" on demand.
    * p-value: ``2 min(share of resampled differences <= 0, share >= 0)``, clipped to
      ``[1 / (B + 1), 1]`` (B: resamples): the smallest ``1 - confidence`` at which the
      percentile interval reaches 0; 1 for identical runs.
    * degenerate cases: when every resample gives the same difference the interval is that
      point; resamples where the statistic is undefined (NaN, e.g. F1 of a resample without any
      1) are left out, with a percentile interval over the others (``resamples`` says how many).

    None with fewer than 2 samples or when the difference is undefined on the data; ValueError
    when the arrays are not one-dimensional or not all of the same length.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    arrays_a, arrays_b = _arrays(data_a, "data_a"), _arrays(data_b, "data_b")
    lengths = {len(array) for array in arrays_a + arrays_b}
    if len(lengths) != 1:
        raise ValueError(f"all arrays must have the same length, got lengths {sorted(lengths)}")
    n = lengths.pop()
    if n < 2:
        return None
    distinct: list[np.ndarray] = []
    slots: list[int] = []
    for array in arrays_a + arrays_b:
        slot = next((k for k, seen in enumerate(distinct) if _same(seen, array)), len(distinct))
        if slot == len(distinct):
            distinct.append(array)
        slots.append(slot)
    slots_a, slots_b = slots[: len(arrays_a)], slots[len(arrays_a) :]

    def difference(ids: np.ndarray, axis: int = -1) -> np.ndarray:
        gathered = [np.take(array, ids) for array in distinct]
        return statistic(*(gathered[k] for k in slots_a), axis=axis) - statistic(
            *(gathered[k] for k in slots_b), axis=axis
        )

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        value_a = float(statistic(*arrays_a, axis=-1))
        value_b = float(statistic(*arrays_b, axis=-1))
        if not math.isfinite(value_a - value_b):
            return None
        result = stats.bootstrap(
            (np.arange(n),),
            difference,
            n_resamples=n_resamples,
            batch=batch,
            vectorized=True,
            confidence_level=confidence,
            method=method,
            rng=np.random.default_rng(seed),
        )
    replicates = np.asarray(result.bootstrap_distribution, dtype=float)
    defined = replicates[np.isfinite(replicates)]
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    label = f"paired bootstrap ({method}, {n_resamples} resamples)"
    if len(defined) < len(replicates) or not (math.isfinite(low) and math.isfinite(high)):
        if len(defined) == 0:
            return None
        tail = (1 - confidence) / 2
        low, high = (float(bound) for bound in np.quantile(defined, [tail, 1 - tail]))
        label = (
            f"paired bootstrap (percentile, {n_resamples} resamples; {method} undefined)"
            if len(defined) == len(replicates)
            else f"paired bootstrap (percentile over the {len(defined)} of {n_resamples}"
            " resamples where the statistic is defined)"
        )
    below = np.count_nonzero(defined <= 0) / len(defined)
    above = np.count_nonzero(defined >= 0) / len(defined)
    p_value = min(1.0, max(1 / (len(defined) + 1), 2 * min(below, above)))
    return PairedResult(
        difference=value_a - value_b,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        n=n,
        method=label,
        confidence=confidence,
        value_a=value_a,
        value_b=value_b,
        resamples=len(defined),
    )


# ---------------------------------------------------------------- accuracy, unpaired


def unpaired_difference(
    correct_a: int, n_a: int, correct_b: int, n_b: int, *, confidence: float = 0.95
) -> UnpairedResult | None:
    """Accuracy ``correct_a / n_a`` minus ``correct_b / n_b``, runs on different samples.

    * interval: Newcombe's (1998) hybrid score interval (his method 10), from the Wilson
      intervals ``[l, u]`` of each accuracy: ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` to
      ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``; near-nominal coverage down to small samples
      and accuracies near 0 or 1, where a Wald interval fails.
    * p-value: the two-proportion z-test with pooled variance, ``2 (1 - Phi(|z|))``, ``z = d /
      sqrt(p (1 - p) (1 / n_a + 1 / n_b))`` (the same p as scipy's ``chi2_contingency`` without
      continuity correction); 1.0 when every sample of both runs is right, or every one wrong.
      Test and interval may disagree right at the boundary; ``clearly_different`` follows the
      interval.

    None when a run has no sample; ValueError when a count is out of range.
    """
    _check_confidence(confidence)
    for correct, total, run in ((correct_a, n_a, "a"), (correct_b, n_b, "b")):
        if not 0 <= correct <= total:
            raise ValueError(f"run {run}: {correct} correct out of {total} samples")
    interval_a = wilson_interval(correct_a, n_a, confidence)
    interval_b = wilson_interval(correct_b, n_b, confidence)
    if interval_a is None or interval_b is None:
        return None
    p_a, p_b = correct_a / n_a, correct_b / n_b
    difference = p_a - p_b
    low = difference - math.hypot(p_a - interval_a[0], interval_b[1] - p_b)
    high = difference + math.hypot(interval_a[1] - p_a, p_b - interval_b[0])
    pooled = (correct_a + correct_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    p_value = 2 * float(stats.norm.sf(abs(difference) / math.sqrt(variance))) if variance else 1.0
    return UnpairedResult(
        difference=difference,
        ci_low=max(low, -1.0),
        ci_high=min(high, 1.0),
        p_value=min(p_value, 1.0),
        n_a=n_a,
        n_b=n_b,
        accuracy_a=p_a,
        accuracy_b=p_b,
        method="two-proportion z-test, Newcombe hybrid score interval",
        confidence=confidence,
    )


# ---------------------------------------------------------------- power


def minimum_detectable_difference(
    n: int,
    accuracy: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    paired_discordance: float | None = None,
) -> float:
    """Smallest difference in accuracy ``n`` samples per run detect (two-sided ``alpha``).

    Normal approximation, ``(z_{1 - alpha/2} + z_{power}) * sqrt(V / n)``, where ``V / n`` is
    the variance of the difference of two accuracies around ``accuracy`` (the runs' mean):

    * ``paired_discordance`` None: two independent evaluations of ``n`` samples each (or a
      paired one whose agreement is unknown: then usually an overestimate, as runs that agree on
      most samples detect smaller differences), ``V = 2 p (1 - p)`` at ``p = accuracy``;
    * ``paired_discordance`` given (the share of samples exactly one run gets right, e.g.
      :attr:`PairedResult.discordance`): both runs on the same ``n`` samples, compared by
      McNemar's test, ``V = discordance`` (the variance of a per-sample difference in
      {-1, 0, 1} for a small difference); ``accuracy`` is then not used.

    0 when ``V`` is 0 (accuracy 0 or 1, or no discordance), where the approximation says
    nothing.  ValueError for an argument out of range.
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    for name, value in (("alpha", alpha), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be within (0, 1), got {value}")
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be within [0, 1], got {accuracy}")
    if paired_discordance is None:
        variance = 2 * accuracy * (1 - accuracy)
    elif 0 <= paired_discordance <= 1:
        variance = paired_discordance
    else:
        raise ValueError(f"paired_discordance must be within [0, 1], got {paired_discordance}")
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return z * math.sqrt(variance / n)
