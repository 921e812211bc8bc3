"""The best evaluation of each task, and how sure that is (pure).

Each task's evaluations are ranked by its main metric (balanced accuracy for a binary
classification, RMSE for a regression, accuracy otherwise). The best is compared with the
runner-up, and with the control run when there is one. Two evaluations of the same samples
(the same sample ids) are compared paired, sample by sample: McNemar's exact test with Tango's
interval for accuracy, a paired bootstrap over the sample ids for balanced accuracy and RMSE
(`compare`). Evaluations of different samples fall back to unpaired intervals, and say so.
Every fine-tuned run's consecutive epochs are compared too (paired accuracy): a later epoch
clearly worse than the one before is the overfitting signal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..evidence.model import LogSamples
from ..jsonio import json_safe
from .memo import Memo, number
from .model import BestChoice, CellResult, Comparison, Metrics, RunResult

PAIRED_METHODS = {
    "accuracy": "paired: McNemar exact test, Tango score interval",
    "balanced accuracy": "paired bootstrap over the sample ids",
    "RMSE": "paired bootstrap over the sample ids",
}


@dataclass(frozen=True)
class Row:
    """One finished evaluation of a task, with its main metric and its samples."""

    run: RunResult
    cell: CellResult
    metric: str
    value: float
    higher: bool
    samples: LogSamples | None


def main_metric(metrics: Metrics) -> tuple[str, float, bool] | None:
    """(metric name, value, higher is better) a task's evaluations are ranked by: balanced
    accuracy for a binary classification, RMSE for a regression, accuracy otherwise."""
    if metrics.family == "classification" and metrics.balanced_accuracy is not None:
        return "balanced accuracy", metrics.balanced_accuracy, True
    if metrics.family == "regression":
        rmse = metrics.regression.rmse if metrics.regression else None
        return ("RMSE", rmse, False) if rmse is not None else None
    if metrics.accuracy is not None:
        return "accuracy", metrics.accuracy, True
    return None


def interval_of(metrics: Metrics, metric: str) -> tuple[float, float] | None:
    """The 95% interval of one evaluation's metric, where there is one."""
    return {
        "balanced accuracy": metrics.balanced_accuracy_ci,
        "accuracy": metrics.accuracy_ci,
    }.get(metric)


def _aligned(a: LogSamples | None, b: LogSamples | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Indexes putting b's samples in a's order, when both evaluated the same sample ids."""
    if a is None or b is None or a.count == 0 or len(a.ids) != len(b.ids):
        return None
    where = {sample: index for index, sample in enumerate(b.ids)}
    if len(where) != len(b.ids) or set(where) != set(a.ids):
        return None
    return np.arange(a.count), np.array([where[sample] for sample in a.ids])


def _correct(samples: LogSamples, order: np.ndarray) -> np.ndarray:
    """Whether each sample was scored right (C = 1, I = 0; a partial score counts as right from
    0.5 up), in `order`."""
    return np.asarray(samples.values, dtype=np.float64)[order] >= 0.5


def _comparison(a: Row, b: Row, **fields: object) -> Comparison:
    return Comparison(
        task=a.cell.task,
        a=a.run.name,
        a_epoch=a.cell.epoch,
        b=b.run.name,
        b_epoch=b.cell.epoch,
        a_variant=a.cell.variant,
        b_variant=b.cell.variant,
        **fields,  # type: ignore[arg-type]
    )


_RESULT_FIELDS = ("difference", "ci_low", "ci_high", "p_value", "n")


def _decode_result(data: dict[str, object]) -> dict[str, float | int | None]:
    if not data:
        return {}
    decoded: dict[str, float | int | None] = {
        name: number(data[name]) for name in _RESULT_FIELDS if name != "n"
    }
    count = data["n"]
    decoded["n"] = int(count) if isinstance(count, int | float) else None
    return decoded


def _memoized(
    memo: Memo | None, key: tuple[object, ...], compute: Callable[[], dict]
) -> dict[str, float | int | None]:
    """`compute()` (a comparison's numbers, {} when there are none), through `memo`."""
    if memo is None:
        return compute()
    return memo.get_or_compute(memo.key(*key), compute, json_safe, _decode_result)


def _numbers(found: object | None) -> dict[str, float | int | None]:
    if found is None:
        return {}
    return {name: getattr(found, name, None) for name in _RESULT_FIELDS}


def _paired(a: LogSamples, b: LogSamples, order: tuple, metric: str) -> dict:
    """The paired difference a minus b on `metric`, over the samples in `order`."""
    from . import compare

    first, second = order
    if metric == "accuracy":
        return _numbers(compare.paired_accuracy_difference(_correct(a, first), _correct(b, second)))
    if metric == "balanced accuracy":
        statistic = compare.balanced_accuracy
        truth = np.asarray(a.target_labels, dtype=np.int64)[first]
        mine = np.asarray(a.answer_labels, dtype=np.int64)[first]
        theirs = np.asarray(b.answer_labels, dtype=np.int64)[second]
    else:
        statistic = compare.rmse
        truth = np.asarray(a.target_numbers)[first]
        mine = np.asarray(a.answer_numbers)[first]
        theirs = np.asarray(b.answer_numbers)[second]
    return _numbers(compare.paired_bootstrap_difference(statistic, (truth, mine), (truth, theirs)))


def compare_rows(a: Row, b: Row, metric: str | None = None, memo: Memo | None = None) -> Comparison:
    """`a` minus `b` on `metric` (default: a's main metric), paired when they evaluated the
    same samples (`memo`: comparisons computed before for the same samples)."""
    metric = metric or a.metric
    order = _aligned(a.samples, b.samples)
    if order is not None and a.samples is not None and b.samples is not None:
        first, second = a.samples, b.samples
        digests = (memo.samples_digest(first), memo.samples_digest(second)) if memo else ()
        key = ("paired", metric, *digests)
        found = _memoized(memo, key, lambda: _paired(first, second, order, metric))
        if found:
            return _comparison(
                a, b, metric=metric, **found, paired=True, method=PAIRED_METHODS[metric]
            )
    return _unpaired(a, b, metric, memo)


def _unpaired(a: Row, b: Row, metric: str, memo: Memo | None = None) -> Comparison:
    """Runs evaluated on different samples: accuracy by Newcombe's interval and a z-test; other
    metrics only by their two intervals (their difference's range; no p-value)."""
    a_metrics, b_metrics = a.cell.metrics, b.cell.metrics
    assert a_metrics is not None and b_metrics is not None
    value_a, value_b = _value(a_metrics, metric), _value(b_metrics, metric)
    n = min(a_metrics.samples, b_metrics.samples)
    if metric == "accuracy" and value_a is not None and value_b is not None and n:
        counts = (
            round(value_a * a_metrics.samples),
            a_metrics.samples,
            round(value_b * b_metrics.samples),
            b_metrics.samples,
        )

        def unpaired() -> dict:
            from . import compare

            return _numbers(compare.unpaired_difference(*counts))

        found = _memoized(memo, ("unpaired", *counts), unpaired)
        if found:
            return _comparison(
                a,
                b,
                metric=metric,
                **{**found, "n": n},
                paired=False,
                method="unpaired (different samples): z-test, Newcombe interval",
            )
    first, second = interval_of(a_metrics, metric), interval_of(b_metrics, metric)
    low = high = None
    if first and second:
        low, high = first[0] - second[1], first[1] - second[0]
    return _comparison(
        a,
        b,
        metric=metric,
        difference=(value_a or 0.0) - (value_b or 0.0),
        ci_low=low,
        ci_high=high,
        p_value=None,
        n=n,
        paired=False,
        method="unpaired (different samples): the two 95% intervals",
    )


def _value(metrics: Metrics, metric: str) -> float | None:
    if metric == "accuracy":
        return metrics.accuracy
    if metric == "balanced accuracy":
        return metrics.balanced_accuracy
    return metrics.regression.rmse if metrics.regression else None


def _rows(
    runs: tuple[RunResult, ...], samples: Mapping[str, LogSamples]
) -> dict[str | None, list[Row]]:
    rows: dict[str | None, list[Row]] = {}
    for run in runs:
        for cell in run.cells:
            if cell.status != "COMPLETED" or cell.metrics is None:
                continue
            found = main_metric(cell.metrics)
            if found is None or math.isnan(found[1]):
                continue
            metric, value, higher = found
            row = Row(run, cell, metric, value, higher, samples.get(cell.log or ""))
            rows.setdefault(cell.task, []).append(row)
    return rows


def detectable_difference(row: Row, memo: Memo | None = None) -> float | None:
    """The smallest accuracy difference the task's evaluation detects at 80% power (two-sided
    5%), from its number of samples and the best run's accuracy."""
    metrics = row.cell.metrics
    if metrics is None or metrics.accuracy is None or not metrics.samples:
        return None
    n, accuracy = metrics.samples, metrics.accuracy

    def detectable() -> float:
        from . import compare

        return compare.minimum_detectable_difference(n, accuracy)

    if memo is None:
        return detectable()
    return memo.get_or_compute(memo.key("detectable", n, accuracy), detectable, float, float)


def best_choices(
    runs: tuple[RunResult, ...],
    tasks: tuple[str, ...],
    samples: Mapping[str, LogSamples],
    memo: Memo | None = None,
) -> tuple[BestChoice, ...]:
    """The best evaluation per task, compared with the runner-up and with the control run."""
    by_task = _rows(runs, samples)
    order = list(dict.fromkeys([*tasks, *(task for task in by_task if task)]))
    choices = []
    for task in order:
        rows = by_task.get(task) or []
        if not rows:
            continue
        rows = [row for row in rows if row.metric == rows[0].metric]
        ranked = sorted(rows, key=lambda row: row.value, reverse=rows[0].higher)
        top = ranked[0]
        runner_up = compare_rows(top, ranked[1], memo=memo) if len(ranked) > 1 else None
        controls = [row for row in rows if row.run.type == "control" and row.run is not top.run]
        versus_control = compare_rows(top, controls[0], memo=memo) if controls else None
        metrics = top.cell.metrics
        choices.append(
            BestChoice(
                task=task,
                run=top.run.name,
                epoch=top.cell.epoch,
                metric=top.metric,
                value=top.value,
                higher_is_better=top.higher,
                variant=top.cell.variant,
                runner_up=runner_up,
                versus_control=versus_control,
                detectable=detectable_difference(top, memo),
                n=metrics.samples if metrics else None,
            )
        )
    return tuple(choices)


def epoch_trends(
    runs: tuple[RunResult, ...], samples: Mapping[str, LogSamples], memo: Memo | None = None
) -> tuple[Comparison, ...]:
    """Every fine-tuned run's consecutive epochs on each task, the later minus the earlier, by
    accuracy (the scorer's own per-sample correctness), paired when on the same samples."""
    trends = []
    for rows in _rows(runs, samples).values():
        series: dict[tuple[str, str | None], list[Row]] = {}
        for row in rows:
            if row.run.trains and row.cell.epoch is not None and row.cell.in_design:
                series.setdefault((row.run.name, row.cell.variant), []).append(row)
        for found in series.values():
            ordered = sorted(found, key=lambda row: row.cell.epoch or 0)
            for earlier, later in itertools.pairwise(ordered):
                if later.cell.metrics and later.cell.metrics.accuracy is not None:
                    trends.append(compare_rows(later, earlier, "accuracy", memo))
    return tuple(trends)
