"""The best evaluation of each task, and how sure that is (pure)."""

from __future__ import annotations

import math

from .model import BestChoice, CellResult, Comparison, Metrics, RunResult

Row = tuple[RunResult, CellResult]


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


def _interval(metrics: Metrics, metric: str) -> tuple[float, float] | None:
    if metric == "balanced accuracy":
        return metrics.balanced_accuracy_ci
    if metric == "accuracy":
        return metrics.accuracy_ci
    return None


def compare(a: Row, b: Row, metric: str, higher: bool) -> Comparison:
    """a minus b on `metric`, with whether their 95% intervals overlap."""
    a_metrics, b_metrics = a[1].metrics, b[1].metrics
    assert a_metrics is not None and b_metrics is not None
    a_value = main_metric(a_metrics)[1]
    b_value = main_metric(b_metrics)[1]
    a_ci, b_ci = _interval(a_metrics, metric), _interval(b_metrics, metric)
    low = high = None
    if a_ci and b_ci:
        low, high = a_ci[0] - b_ci[1], a_ci[1] - b_ci[0]
    return Comparison(
        a=a[0].name,
        a_epoch=a[1].epoch,
        b=b[0].name,
        b_epoch=b[1].epoch,
        metric=metric,
        difference=a_value - b_value,
        ci_low=low,
        ci_high=high,
        p_value=None,
        n=min(a_metrics.samples, b_metrics.samples),
        paired=False,
        method="95% intervals of each",
        a_variant=a[1].variant,
        b_variant=b[1].variant,
    )


def best_choices(runs: tuple[RunResult, ...], tasks: tuple[str, ...]) -> tuple[BestChoice, ...]:
    """The best evaluation per task, by its main metric."""
    rows: list[Row] = [
        (run, cell)
        for run in runs
        for cell in run.cells
        if cell.status == "COMPLETED" and cell.metrics is not None
    ]
    order = list(dict.fromkeys([*tasks, *(cell.task for _, cell in rows if cell.task)]))
    choices = []
    for task in order:
        scored = [(row, main_metric(row[1].metrics)) for row in rows if row[1].task == task]
        scored = [(row, s) for row, s in scored if s is not None and not math.isnan(s[1])]
        if not scored:
            continue
        metric, _, higher = scored[0][1]
        scored = [(row, s) for row, s in scored if s[0] == metric]
        ranked = sorted(scored, key=lambda item: item[1][1], reverse=higher)
        (top, (_, value, _)) = ranked[0]
        runner_up = compare(top, ranked[1][0], metric, higher) if len(ranked) > 1 else None
        choices.append(
            BestChoice(
                task=task,
                run=top[0].name,
                epoch=top[1].epoch,
                metric=metric,
                value=value,
                higher_is_better=higher,
                variant=top[1].variant,
                runner_up=runner_up,
                n=top[1].metrics.samples,
            )
        )
    return tuple(choices)
