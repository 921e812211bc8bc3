"""The numbers of one evaluation log, by the family of the scorer that scored it (pure).

The scorer named in the log (`results.scores[].scorer`) decides the family; the targets decide
only for a scorer this tool does not know:

- `match`, `includes`, `exact`, `choice` (inspect's own): classification. Accuracy and its
  interval come from the scorer's per-sample values (C/I), as inspect's own accuracy does;
  for a task whose targets are all 0/1, balanced accuracy and F1 come from the 0/1 label of
  each answer, read where the scorer reads (`labels.answer_label`).
- `risk_scorer`: accuracy (an exact string match) and its own header metrics (AUC, Brier,
  calibration errors); never balanced accuracy or F1 from labels (the toolkit's rule).
- `continuous_scorer`: regression (MAE, RMSE, R², parse rate); no accuracy.
- anything else: the metrics the header reports, as they are.
"""

from __future__ import annotations

import math

from ..evidence import codec
from ..evidence.eval_logs import main_score
from ..evidence.labels import OTHER
from ..evidence.model import LogHeader, LogSamples
from . import metrics
from .memo import Memo
from .model import ClassBalance, Confusion, Metrics, Regression

CLASSIFICATION_SCORERS = frozenset({"match", "includes", "exact", "choice"})
RISK_SCORERS = frozenset({"risk_scorer"})
REGRESSION_SCORERS = frozenset({"continuous_scorer"})
RISK_METRICS = (
    "auc_score",
    "brier_score",
    "expected_calibration_error",
    "risk_calibration_error",
    "mean_risk_score",
)
ACCURACY_TOLERANCE = 1e-9
"""The header's accuracy and the per-sample accuracy are the same number when they differ by
less than this (float rounding)."""


def scorer_name(header: LogHeader) -> str | None:
    """The registered name of the log's main scorer, without its package prefix."""
    score = main_score(header)
    if score is None:
        return None
    return (score.scorer or score.name).rsplit("/", 1)[-1]


def _all_binary(samples: LogSamples) -> bool:
    return samples.count > 0 and OTHER not in samples.target_labels


def _all_numeric(samples: LogSamples) -> bool:
    return samples.count > 0 and not any(math.isnan(v) for v in samples.target_numbers)


def family(header: LogHeader, samples: LogSamples | None) -> str:
    """`classification`, `risk`, `regression` or `other` (see the module docstring)."""
    name = scorer_name(header)
    if name in CLASSIFICATION_SCORERS:
        return "classification"
    if name in RISK_SCORERS:
        return "risk"
    if name in REGRESSION_SCORERS:
        return "regression"
    if samples is not None and _all_binary(samples):
        return "classification"
    if samples is not None and _all_numeric(samples):
        return "regression"
    return "other"


def _class_balance(samples: LogSamples) -> ClassBalance | None:
    if not _all_binary(samples):
        return None
    ones = sum(1 for label in samples.target_labels if label == 1)
    return ClassBalance(n_1=ones, n_0=samples.count - ones)


def _accuracy(samples: LogSamples) -> tuple[float | None, tuple[float, float] | None]:
    """Mean of the per-sample values (inspect's accuracy) and its 95% Wilson interval."""
    values = [v for v in samples.values if not math.isnan(v)]
    if not values:
        return None, None
    total = sum(values)
    return total / len(values), metrics.wilson_interval(round(total), len(values))


def _header_accuracy(header: LogHeader) -> float | None:
    score = main_score(header)
    return score.metrics.get("accuracy") if score else None


def _accuracy_note(header: LogHeader, accuracy: float | None) -> list[str]:
    stated = _header_accuracy(header)
    if stated is None or accuracy is None or abs(stated - accuracy) < ACCURACY_TOLERANCE:
        return []
    return [
        f"the log's header says accuracy {stated:.4g}; its per-sample scores give "
        f"{accuracy:.4g}, which is used"
    ]


def _binary_part(samples: LogSamples) -> dict:
    """Balanced accuracy, F1 and the confusion matrix from the answers' 0/1 labels."""
    found = metrics.binary_metrics(samples.target_labels, samples.answer_labels)
    matrix = found["confusion_matrix"]
    unlabelled = matrix["other"]
    notes = []
    if unlabelled:
        notes.append(
            f"{unlabelled} of {samples.count} answers have no 0/1 label; they count as wrong "
            "in Bal. Acc and F1"
        )
    disagree = sum(
        1
        for value, target, answer in zip(
            samples.values, samples.target_labels, samples.answer_labels, strict=True
        )
        if answer != OTHER and (value >= 0.5) != (answer == target)
    )
    if disagree:
        notes.append(
            f"for {disagree} samples the answer's 0/1 label and the scorer disagree on "
            "correctness (accuracy follows the scorer)"
        )
    return {
        "balanced_accuracy": found["balanced_accuracy"],
        "balanced_accuracy_ci": metrics.balanced_accuracy_interval(
            samples.target_labels, samples.answer_labels
        ),
        "f1": found["f1"],
        "precision_1": found["precision_1"],
        "recall_1": found["recall_1"],
        "recall_0": found["recall_0"],
        "confusion": Confusion(**matrix),
        "labelled": samples.count - unlabelled,
        "notes": notes,
    }


def score_log(header: LogHeader, samples: LogSamples) -> Metrics:
    """The metrics of one finished log read with its samples."""
    kind = family(header, samples)
    score = main_score(header)
    header_metrics = dict(score.metrics) if score else {}
    base = {
        "family": kind,
        "scorer": scorer_name(header),
        "samples": samples.count,
        "errored": samples.errored,
        "header_accuracy": _header_accuracy(header),
        "header_metrics": header_metrics,
        "class_balance": _class_balance(samples),
    }
    if kind == "regression":
        found = metrics.regression_metrics(samples.target_numbers, samples.answer_numbers)
        regression = Regression(
            samples=found["samples"],
            parsed=found["parsed"],
            parse_rate=found["parse_rate"],
            mae=found["mae"],
            rmse=found["rmse"],
            r2=found["r2"],
            constant_predictions=found["constant_predictions"],
        )
        return Metrics(**base, regression=regression)
    if kind == "other":
        return Metrics(**base, accuracy=_header_accuracy(header))
    accuracy, interval = _accuracy(samples)
    notes = _accuracy_note(header, accuracy)
    if kind == "classification" and _all_binary(samples):
        part = _binary_part(samples)
        notes += part.pop("notes")
        return Metrics(**base, accuracy=accuracy, accuracy_ci=interval, notes=tuple(notes), **part)
    return Metrics(**base, accuracy=accuracy, accuracy_ci=interval, notes=tuple(notes))


def score_log_memo(header: LogHeader, samples: LogSamples, memo: Memo | None) -> Metrics:
    """`score_log`, taken from `memo` when it holds the result for this header and samples."""
    if memo is None:
        return score_log(header, samples)
    key = memo.key("metrics", memo.header_digest(header), memo.samples_digest(samples))
    return memo.get_or_compute(
        key,
        lambda: score_log(header, samples),
        codec.encode,
        lambda data: codec.decode(Metrics, data),
    )
