"""What the figures show, from the judged results: one loss curve per fine-tuned run, and per
task its main metric by epoch (pure; `figures` draws them)."""

from __future__ import annotations

import math

from ..judge.best import interval_of, main_metric
from ..judge.model import Results, RunResult
from ..vocabulary import COMPLETED
from .figures import ControlBand, LossCurve, MetricPoint, MetricSeries, TaskFigure
from .tables import variant_label


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def loss_curves(results: Results) -> list[LossCurve]:
    """Each fine-tuned run's decimated loss curve, with its epoch ends, and whether it
    diverged or stopped before the end."""
    curves = []
    for run in results.runs:
        training = run.finetune.training
        if training is None or not training.curve:
            continue
        last = training.curve[-1]
        unfinished = None if training.finished else f"{run.finetune.status} at step {last.step}"
        curves.append(
            LossCurve(
                run=run.name,
                steps=[point.step for point in training.curve],
                losses=[_finite_or_none(point.loss) for point in training.curve],
                epoch_ends=_epoch_ends(training.epoch_ends, training.finished),
                diverged=training.diverged,
                unfinished=unfinished,
            )
        )
    return curves


def _epoch_ends(ends: dict[int, int], finished: bool) -> list[int]:
    """The steps where epochs ended: every epoch but the last one reached, and that one too
    when the training finished (a run stopped mid-epoch did not end it)."""
    epochs = sorted(ends)
    if epochs and not finished:
        epochs = epochs[:-1]
    return [ends[epoch] for epoch in epochs]


def _label(run: RunResult, task: str, variant: str | None) -> str:
    shown = variant_label(task, variant)
    return f"{run.name} ({shown})" if shown else run.name


def task_figures(results: Results) -> list[TaskFigure]:
    """Per task, its main metric (the one the best run was chosen by) by epoch: one line per
    fine-tuned run (and variant), a band per run without epochs (control, eval-only)."""
    best = {choice.task: choice for choice in results.best}
    figures = []
    for task, choice in best.items():
        series: dict[str, list[MetricPoint]] = {}
        bands: list[ControlBand] = []
        best_label = None
        for run in results.runs:
            for cell in run.cells:
                if cell.task != task or cell.status != COMPLETED or cell.metrics is None:
                    continue
                found = main_metric(cell.metrics)
                if found is None or found[0] != choice.metric:
                    continue
                low, high = interval_of(cell.metrics, choice.metric) or (None, None)
                label = _label(run, task, cell.variant)
                if run.name == choice.run and cell.variant == choice.variant:
                    best_label = label
                if not run.trains:
                    bands.append(ControlBand(label, found[1], low, high))
                elif cell.epoch is not None:
                    series.setdefault(label, []).append(
                        MetricPoint(cell.epoch, found[1], low, high)
                    )
        figures.append(
            TaskFigure(
                task=task,
                metric=choice.metric,
                higher_is_better=choice.higher_is_better,
                series=[
                    MetricSeries(label, sorted(points, key=lambda p: p.epoch), label == best_label)
                    for label, points in series.items()
                ],
                controls=bands,
            )
        )
    return figures
