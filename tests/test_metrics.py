"""Tests of summarize_experiment.judge.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from summarize_experiment.judge.metrics import (
    balanced_accuracy_interval,
    binary_metrics,
    is_binary_task,
    is_numeric_task,
    normalize_label,
    parse_number,
    regression_metrics,
    wilson_interval,
)

# ---------------------------------------------------------------- labels and numbers


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("1", 1),
        (" 1 ", 1),
        ("1.0", 1),
        ("1\n", 1),
        (1, 1),
        (1.0, 1),
        (True, 1),
        (np.int64(1), 1),
        (np.bool_(True), 1),
        ("0", 0),
        (" 0.0", 0),
        (0, 0),
        (False, 0),
        ("2", None),
        ("yes", None),
        ("", None),
        (None, None),
        ("nan", None),
        (0.5, None),
        (10**400, None),
        ([1], None),
        ("True", None),
    ],
)
def test_normalize_label(value: object, label: int | None) -> None:
    assert normalize_label(value) == label


def test_is_binary_task() -> None:
    assert is_binary_task(["0", "1", " 1 ", 0, True])
    assert is_binary_task(["1", "1"])  # a single class present is still binary
    assert not is_binary_task([])
    assert not is_binary_task(["0", "1", "2"])
    assert not is_binary_task(["0", "yes"])


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("3.5", 3.5),
        (" 42 ", 42.0),
        ("1e3", 1000.0),
        ("-2", -2.0),
        (7, 7.0),
        (2.5, 2.5),
        ("abc", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
        (math.nan, None),
        ("1e400", None),
        (True, None),
        ("1,000", None),
    ],
)
def test_parse_number(value: object, number: float | None) -> None:
    assert parse_number(value) == number


def test_is_numeric_task() -> None:
    assert is_numeric_task(["3.5", "42", "-1"])
    assert is_numeric_task(["2", "3"])
    assert not is_numeric_task(["0", "1", "1"])  # binary
    assert not is_numeric_task(["1", "x"])
    assert not is_numeric_task([])


# ---------------------------------------------------------------- binary metrics


def test_binary_metrics_with_other_predictions() -> None:
    targets = ["1", "1", "1", "0", "0", "0", "0", "0"]
    predictions = ["1", "0", None, "0", "0", "1", "0", "yes"]
    result = binary_metrics(targets, predictions)
    assert list(result) == [
        "samples",
        "accuracy",
        "balanced_accuracy",
        "f1",
        "precision_1",
        "recall_1",
        "recall_0",
        "confusion_matrix",
    ]
    assert result["samples"] == 8
    assert result["confusion_matrix"] == {"tp": 1, "tn": 3, "fp": 1, "fn": 1, "other": 2}
    assert result["accuracy"] == pytest.approx(4 / 8)
    # the `other` answers stay in their class's recall denominator
    assert result["recall_1"] == pytest.approx(1 / 3)
    assert result["recall_0"] == pytest.approx(3 / 5)
    # ... and are predictions of neither class
    assert result["precision_1"] == pytest.approx(1 / 2)
    assert result["f1"] == pytest.approx(0.4)
    assert result["balanced_accuracy"] == pytest.approx((1 / 3 + 3 / 5) / 2)


def test_binary_metrics_seed_example_shape() -> None:
    targets = [1] * 50 + [0] * 50
    predictions = [1] * 42 + [0] * 8 + [0] * 43 + [1] * 7
    result = binary_metrics(targets, predictions)
    assert result["confusion_matrix"] == {"tp": 42, "tn": 43, "fp": 7, "fn": 8, "other": 0}
    assert result["accuracy"] == pytest.approx(0.85)
    assert result["precision_1"] == pytest.approx(42 / 49)
    assert result["recall_1"] == pytest.approx(0.84)
    assert result["recall_0"] == pytest.approx(0.86)
    assert result["balanced_accuracy"] == pytest.approx(0.85)


def test_binary_metrics_undefined_ratios_are_none() -> None:
    # nothing predicted positive: precision undefined; F1 is 0 since there are positives
    result = binary_metrics(["1", "0", "0"], ["0", "0", None])
    assert result["precision_1"] is None
    assert result["recall_1"] == 0.0
    assert result["f1"] == 0.0
    # only class 0 in the targets: recall_1 undefined, balanced accuracy = recall_0
    result = binary_metrics(["0", "0", "0", "0"], ["0", "1", "0", "maybe"])
    assert result["recall_1"] is None
    assert result["recall_0"] == pytest.approx(0.5)
    assert result["balanced_accuracy"] == pytest.approx(0.5)
    assert result["precision_1"] == 0.0
    assert result["f1"] == 0.0
    # no positive anywhere: F1 undefined
    result = binary_metrics(["0", "0"], ["0", "0"])
    assert result["f1"] is None
    assert result["precision_1"] is None
    assert result["balanced_accuracy"] == 1.0


def test_binary_metrics_empty_and_errors() -> None:
    result = binary_metrics([], [])
    assert result["samples"] == 0
    assert result["accuracy"] is None
    assert result["balanced_accuracy"] is None
    assert result["confusion_matrix"] == {"tp": 0, "tn": 0, "fp": 0, "fn": 0, "other": 0}
    with pytest.raises(ValueError):
        binary_metrics(["1"], [])
    with pytest.raises(ValueError):
        binary_metrics(["1", "2"], ["1", "1"])


LABEL_SPELLINGS = {0: ["0", 0, " 0 ", "0.0", False], 1: ["1", 1, "1.0", True, " 1"]}
PREDICTIONS = st.sampled_from([0, 1, "0", "1", " 1", "1.0", True, False, None, "yes", "2", ""])


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 4), PREDICTIONS), min_size=1, max_size=60
    )
)
def test_binary_metrics_match_the_seed_definitions(pairs: list[tuple[int, int, object]]) -> None:
    truth = [label for label, _, _ in pairs]
    targets = [LABEL_SPELLINGS[label][spelling] for label, spelling, _ in pairs]
    predictions = [prediction for _, _, prediction in pairs]
    result = binary_metrics(targets, predictions)

    guessed = [normalize_label(prediction) for prediction in predictions]
    tp = sum(t == 1 and g == 1 for t, g in zip(truth, guessed, strict=True))
    tn = sum(t == 0 and g == 0 for t, g in zip(truth, guessed, strict=True))
    fp = sum(t == 0 and g == 1 for t, g in zip(truth, guessed, strict=True))
    fn = sum(t == 1 and g == 0 for t, g in zip(truth, guessed, strict=True))
    other = sum(g is None for g in guessed)
    assert result["confusion_matrix"] == {"tp": tp, "tn": tn, "fp": fp, "fn": fn, "other": other}
    positives, negatives = truth.count(1), truth.count(0)
    recall_1, recall_0 = _ratio(tp, positives), _ratio(tn, negatives)
    precision_1 = _ratio(tp, tp + fp)
    assert result["samples"] == len(pairs)
    assert result["accuracy"] == pytest.approx((tp + tn) / len(pairs))
    assert result["recall_1"] == pytest.approx(recall_1)
    assert result["recall_0"] == pytest.approx(recall_0)
    assert result["precision_1"] == pytest.approx(precision_1)
    defined = [recall for recall in (recall_0, recall_1) if recall is not None]
    assert result["balanced_accuracy"] == pytest.approx(sum(defined) / len(defined))
    if precision_1 is not None and recall_1 is not None and precision_1 + recall_1 > 0:
        f1 = 2 * precision_1 * recall_1 / (precision_1 + recall_1)
    elif tp + fp + positives == 0:
        f1 = None
    else:
        f1 = 0.0
    assert result["f1"] == pytest.approx(f1)

    if other == 0:
        y_pred = [int(g) for g in guessed]
        assert result["balanced_accuracy"] == pytest.approx(
            balanced_accuracy_score(truth, y_pred) if len(set(truth)) == 2 else defined[0]
        )
        assert result["accuracy"] == pytest.approx(accuracy_score(truth, y_pred))
        matrix = confusion_matrix(truth, y_pred, labels=[0, 1])
        assert [[tn, fp], [fn, tp]] == matrix.tolist()
        if positives and tp + fp:
            assert result["precision_1"] == pytest.approx(precision_score(truth, y_pred))
            assert result["recall_1"] == pytest.approx(recall_score(truth, y_pred))
            assert result["f1"] == pytest.approx(f1_score(truth, y_pred))


def test_balanced_accuracy_single_class_matches_sklearn() -> None:
    truth, y_pred = [1, 1, 1, 1], [1, 0, 1, 1]
    with pytest.warns(UserWarning):
        expected = balanced_accuracy_score(truth, y_pred)
    assert binary_metrics(truth, y_pred)["balanced_accuracy"] == pytest.approx(expected)


# ---------------------------------------------------------------- regression


def test_regression_metrics_values() -> None:
    targets = ["1", "2", "3", "4", "5"]
    predictions = ["1.5", "2", "abc", " 5 ", None]
    result = regression_metrics(targets, predictions)
    assert result["samples"] == 5
    assert result["parsed"] == 3
    assert result["parse_rate"] == pytest.approx(0.6)
    errors = np.array([0.5, 0.0, 1.0])
    assert result["mae"] == pytest.approx(errors.mean())
    assert result["rmse"] == pytest.approx(math.sqrt((errors**2).mean()))
    y_true = np.array([1.0, 2.0, 4.0])
    expected_r2 = 1 - (errors**2).sum() / ((y_true - y_true.mean()) ** 2).sum()
    assert result["r2"] == pytest.approx(expected_r2)
    assert result["constant_predictions"] is False


def test_regression_metrics_edge_cases() -> None:
    none = regression_metrics(["1", "2"], ["x", None])
    assert none == {
        "samples": 2,
        "parsed": 0,
        "parse_rate": 0.0,
        "mae": None,
        "rmse": None,
        "r2": None,
        "constant_predictions": False,
    }
    single = regression_metrics(["3"], ["4"])
    assert single["mae"] == 1.0
    assert single["r2"] is None
    assert single["constant_predictions"] is False
    constant_targets = regression_metrics(["2", "2", "2"], ["1", "2", "3"])
    assert constant_targets["r2"] is None
    assert constant_targets["mae"] == pytest.approx(2 / 3)
    constant = regression_metrics(["1", "2", "3"], ["2", "2.0", " 2"])
    assert constant["constant_predictions"] is True
    assert constant["r2"] == pytest.approx(0.0)
    assert regression_metrics([], [])["parse_rate"] is None
    with pytest.raises(ValueError):
        regression_metrics(["1"], [])


# ---------------------------------------------------------------- intervals


def _wilson_by_hand(successes: int, n: int, confidence: float) -> tuple[float, float]:
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return center - half, center + half


def test_wilson_interval_values() -> None:
    low, high = wilson_interval(85, 100)
    assert (low, high) == pytest.approx(_wilson_by_hand(85, 100, 0.95), abs=1e-12)
    assert (low, high) == pytest.approx((0.7672, 0.9069), abs=1e-4)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 5000),
    fraction=st.floats(0, 1),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_interval_matches_the_formula(n: int, fraction: float, confidence: float) -> None:
    successes = round(fraction * n)
    low, high = wilson_interval(successes, n, confidence)
    assert low <= successes / n <= high
    assert 0.0 <= low <= high <= 1.0
    assert (low, high) == pytest.approx(_wilson_by_hand(successes, n, confidence), abs=1e-9)


def _sample(n: int, positive_rate: float, accuracy: float, seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < positive_rate).astype(int)
    predictions = np.where(rng.random(n) < accuracy, truth, 1 - truth)
    return truth.tolist(), predictions.tolist()


def _balanced_statistic(truth: np.ndarray, guess: np.ndarray, axis: int = -1) -> np.ndarray:
    right = truth == guess
    with np.errstate(invalid="ignore", divide="ignore"):
        recall_1 = (right & (truth == 1)).sum(axis) / (truth == 1).sum(axis)
        recall_0 = (right & (truth == 0)).sum(axis) / (truth == 0).sum(axis)
    both = (recall_0 + recall_1) / 2
    return np.where(np.isnan(recall_0), recall_1, np.where(np.isnan(recall_1), recall_0, both))


@pytest.mark.parametrize(("n", "positive_rate", "accuracy"), [(150, 0.5, 0.8), (120, 0.15, 0.9)])
def test_balanced_accuracy_interval_agrees_with_scipy_bootstrap(
    n: int, positive_rate: float, accuracy: float
) -> None:
    truth, guess = _sample(n, positive_rate, accuracy, seed=n)
    expected = stats.bootstrap(
        (np.array(truth), np.array(guess)),
        _balanced_statistic,
        paired=True,
        vectorized=True,
        n_resamples=8000,
        method="BCa",
        rng=np.random.default_rng(1),
    ).confidence_interval
    low, high = balanced_accuracy_interval(truth, guess, resamples=8000)
    assert low == pytest.approx(expected.low, abs=0.015)
    assert high == pytest.approx(expected.high, abs=0.015)
    point = binary_metrics(truth, guess)["balanced_accuracy"]
    assert low < point < high


def test_balanced_accuracy_interval_is_reproducible_and_seeded() -> None:
    truth, guess = _sample(400, 0.3, 0.75, seed=5)
    guess[:10] = [None] * 10
    first = balanced_accuracy_interval(truth, guess)
    assert first == balanced_accuracy_interval(truth, guess)
    assert first != balanced_accuracy_interval(truth, guess, seed=1)
    wide = balanced_accuracy_interval(truth, guess, confidence=0.99)
    assert wide[0] < first[0] and first[1] < wide[1]


def test_balanced_accuracy_interval_undefined_and_degenerate() -> None:
    assert balanced_accuracy_interval(["1"], ["1"]) is None
    assert balanced_accuracy_interval([], []) is None
    assert balanced_accuracy_interval(["1", "1", "1"], ["1", "0", "1"]) is None
    # every resample gives 1.0: BCa is degenerate, the percentile interval is used
    assert balanced_accuracy_interval(["0", "1", "0", "1"], ["0", "1", "0", "1"]) == (1.0, 1.0)
    with pytest.raises(ValueError):
        balanced_accuracy_interval(["0", "x"], ["0", "1"])
