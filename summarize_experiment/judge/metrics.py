"""Evaluation metrics for inspect-ai samples (pure functions, scikit-learn based).

Binary tasks (every target is 0/1) get the seed's ``summary_binary.py`` metrics;
numeric tasks get regression metrics; both come with confidence intervals.

Conventions:

* A prediction that is not a 0/1 label (None, ``"yes"``, ``"2"``) counts as
  ``other``: it is always wrong, it stays in the denominator of the recall of
  its true class, and it is a prediction of neither class (it never enters a
  precision).
* A ratio whose denominator is empty is ``None``, never a made-up 0:
  ``precision_1`` when nothing was predicted 1, ``recall_c`` when class ``c`` is
  absent from the targets, ``f1`` when there is no positive in the targets nor
  in the predictions (F1 = 2TP / (2TP + FP + FN), which equals 2PR / (P + R) when
  both are defined and is 0 when there are positives but no true positive).
* ``balanced_accuracy`` is the mean recall over the classes present in the
  targets, so with a single class present it is that class's recall (what
  ``sklearn.metrics.balanced_accuracy_score`` computes too).

scikit-learn and scipy (~80 MB) are imported inside the functions that use them, so that
importing the judge loads neither: the processes forked to read logs never hold them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from ..evidence.labels import OTHER, is_binary_task, is_numeric_task, normalize_label, parse_number

__all__ = [
    "OTHER",
    "balanced_accuracy_interval",
    "binary_metrics",
    "is_binary_task",
    "is_numeric_task",
    "normalize_label",
    "parse_number",
    "regression_metrics",
    "wilson_interval",
]

_LABELS = [0, 1]


def _labels(
    targets: Sequence[object], predictions: Sequence[object | None]
) -> tuple[np.ndarray, np.ndarray]:
    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    y_true = [normalize_label(target) for target in targets]
    if None in y_true:
        raise ValueError("targets are not all binary (0/1) labels")
    y_pred = [normalize_label(prediction) for prediction in predictions]
    return (
        np.array(y_true, dtype=np.int64),
        np.array([OTHER if label is None else label for label in y_pred], dtype=np.int64),
    )


def _cells(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Counts of (true class, prediction) as a 2×3 array, columns other, 0, 1."""
    return np.bincount(y_true * 3 + (y_pred - OTHER), minlength=6).reshape(2, 3)


def _ratio(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def binary_metrics(targets: Sequence[object], predictions: Sequence[object | None]) -> dict:
    """The seed's binary metrics; see the module docstring for ``other`` and None.

    Keys: ``samples, accuracy, balanced_accuracy, f1, precision_1, recall_1,
    recall_0, confusion_matrix: {tp, tn, fp, fn, other}``.  Precision, recall and
    F1 come from scikit-learn's ``precision_recall_fscore_support`` (what
    ``precision_score``/``recall_score``/``f1_score`` wrap) with ``labels=[0, 1]``
    and ``other`` mapped to :data:`OTHER`; the counts, which are all accuracy and
    the confusion matrix need, from one ``numpy.bincount`` (several times faster
    than ``accuracy_score`` + ``confusion_matrix``, same values).  Raises
    ValueError when the lengths differ or a target is not a 0/1 label.
    """
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = _labels(targets, predictions)
    samples = len(y_true)
    cells = _cells(y_true, y_pred)
    matrix = {
        "tp": int(cells[1, 2]),
        "tn": int(cells[0, 1]),
        "fp": int(cells[0, 2]),
        "fn": int(cells[1, 1]),
        "other": int(cells[0, 0] + cells[1, 0]),
    }
    if samples == 0:
        return {
            "samples": 0,
            "accuracy": None,
            "balanced_accuracy": None,
            "f1": None,
            "precision_1": None,
            "recall_1": None,
            "recall_0": None,
            "confusion_matrix": matrix,
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=_LABELS, average=None, zero_division=np.nan
        )
    recalls = [_ratio(value) for value in recall]
    present = [value for value in recalls if value is not None]
    return {
        "samples": samples,
        "accuracy": (matrix["tp"] + matrix["tn"]) / samples,
        "balanced_accuracy": sum(present) / len(present) if present else None,
        "f1": _ratio(f1[1]),
        "precision_1": _ratio(precision[1]),
        "recall_1": recalls[1],
        "recall_0": recalls[0],
        "confusion_matrix": matrix,
    }


def regression_metrics(targets: Sequence[object], predictions: Sequence[object]) -> dict:
    """MAE, RMSE and R² over the pairs where both target and prediction are numbers.

    Keys: ``samples``, ``parsed`` (pairs used), ``parse_rate`` (parsed / samples,
    None without samples), ``mae``, ``rmse``, ``r2`` (None without pairs; ``r2``
    also None with fewer than 2 pairs or constant targets), and
    ``constant_predictions`` (at least 2 pairs and all their predictions equal).
    """
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

    if len(targets) != len(predictions):
        raise ValueError(f"{len(targets)} targets but {len(predictions)} predictions")
    pairs = [
        (target, prediction)
        for target, prediction in zip(
            map(parse_number, targets), map(parse_number, predictions), strict=True
        )
        if target is not None and prediction is not None
    ]
    samples, parsed = len(targets), len(pairs)
    result: dict = {
        "samples": samples,
        "parsed": parsed,
        "parse_rate": parsed / samples if samples else None,
        "mae": None,
        "rmse": None,
        "r2": None,
        "constant_predictions": False,
    }
    if not pairs:
        return result
    y_true = np.array([target for target, _ in pairs])
    y_pred = np.array([prediction for _, prediction in pairs])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result["mae"] = _ratio(mean_absolute_error(y_true, y_pred))
        result["rmse"] = _ratio(root_mean_squared_error(y_true, y_pred))
        if parsed >= 2 and np.ptp(y_true) > 0:
            result["r2"] = _ratio(r2_score(y_true, y_pred))
    result["constant_predictions"] = parsed >= 2 and bool(np.all(y_pred == y_pred[0]))
    return result


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (scipy ``binomtest``); None when ``n == 0``."""
    if n == 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} is not within 0..{n}")
    from scipy import stats

    interval = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return max(float(interval.low), 0.0), min(float(interval.high), 1.0)


def _balanced_from_counts(counts: np.ndarray) -> np.ndarray:
    """Balanced accuracy per row of (class-0 right, class-0 wrong, class-1 right, class-1 wrong)."""
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall_0 = counts[..., 0] / (counts[..., 0] + counts[..., 1])
        recall_1 = counts[..., 2] / (counts[..., 2] + counts[..., 3])
    both = (recall_0 + recall_1) / 2
    return np.where(np.isnan(recall_0), recall_1, np.where(np.isnan(recall_1), recall_0, both))


def balanced_accuracy_interval(
    targets: Sequence[object],
    predictions: Sequence[object | None],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Bootstrap confidence interval (BCa) of the balanced accuracy; None when undefined.

    Samples are resampled in pairs (target, prediction), as
    ``scipy.stats.bootstrap(..., paired=True, method="BCa")`` does.  The balanced
    accuracy depends on a sample only through its class and whether it was
    right, so a resample is drawn as multinomial counts over those four cells,
    which has exactly the distribution of resampling the pairs and costs
    nothing per sample; the jackknife of the BCa acceleration is computed per
    cell likewise.  Why not scipy's own: on a 2,000-sample log, ``scipy.stats.bootstrap``
    takes ~95 ms per call against 1.5 ms here (``bench/compare_bootstrap.py``), ~8 s more
    on the 162-log sweep, whose whole cold summary takes ~15 s; the tests check both give
    the same interval.  Falls back to the percentile interval when BCa is
    degenerate (e.g. every resample gives the same value).  Reproducible for
    the same inputs and ``seed``.  None with fewer than 2 samples or when a
    class is missing from the targets; raises ValueError like
    :func:`binary_metrics`.
    """
    y_true, y_pred = _labels(targets, predictions)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    samples = len(y_true)
    counts = _cells(y_true, y_pred)
    # (class 0 right, class 0 wrong, class 1 right, class 1 wrong)
    cells = np.array(
        [counts[0, 1], counts[0, 0] + counts[0, 2], counts[1, 2], counts[1, 0] + counts[1, 1]],
        dtype=np.int64,
    )
    if samples < 2 or cells[0] + cells[1] == 0 or cells[2] + cells[3] == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(samples, cells / samples, size=resamples)
    replicates = _balanced_from_counts(draws)
    observed = float(_balanced_from_counts(cells))
    alpha = (1 - confidence) / 2
    levels = _bca_levels(cells, replicates, observed, alpha)
    if levels is None:
        levels = (alpha, 1 - alpha)
    low, high = np.percentile(replicates, [levels[0] * 100, levels[1] * 100])
    return float(low), float(high)


def _bca_levels(
    cells: np.ndarray, replicates: np.ndarray, observed: float, alpha: float
) -> tuple[float, float] | None:
    """BCa percentile levels, following scipy's ``_bca_interval``; None when degenerate."""
    from scipy.special import ndtr, ndtri

    below = np.count_nonzero(replicates < observed) + np.count_nonzero(replicates <= observed)
    z0 = float(ndtri(below / (2 * len(replicates))))
    present = np.flatnonzero(cells)
    leave_one_out = _balanced_from_counts(cells - np.eye(4, dtype=np.int64)[present])
    weights = cells[present]
    spread = np.sum(weights * leave_one_out) / np.sum(weights) - leave_one_out
    denominator = np.sum(weights * spread**2) ** 1.5
    if not math.isfinite(z0) or denominator == 0 or not math.isfinite(denominator):
        return None
    acceleration = float(np.sum(weights * spread**3) / (6 * denominator))
    levels = []
    for z_alpha in (float(ndtri(alpha)), float(ndtri(1 - alpha))):
        shifted = z0 + z_alpha
        levels.append(float(ndtr(z0 + shifted / (1 - acceleration * shifted))))
    if not all(math.isfinite(level) for level in levels):
        return None
    return levels[0], levels[1]
