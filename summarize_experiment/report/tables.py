"""The judged results as the summary's tables, as data (this is summary.json).

Pure: the same results always give the same tables. Nothing here decides a status; it only
words and arranges what the judge decided.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..evidence.slurm import format_duration
from ..evidence.training_log import LossPoint
from ..judge.model import (
    BestChoice,
    CellResult,
    Comparison,
    Metrics,
    Results,
    RunResult,
)
from ..vocabulary import COMPLETED, ERROR, MISSING, NOT_APPLICABLE, NOT_STARTED

SCHEMA_VERSION = 2
SATURATED = 0.95
"""Accuracy at or above which an evaluation is saturated: no headroom left to measure."""


def _point(point: LossPoint | None) -> dict[str, Any] | None:
    return point.to_dict() if point is not None else None


def attempts_text(run: RunResult) -> str | None:
    """`OUT_OF_MEMORY, retried with batch size 8 (retry 1 of 3), COMPLETED` for a run whose
    training was resubmitted (the retry numbers as the run log's OOM_RETRY entries give them);
    None for a single attempt."""
    attempts = run.finetune.attempts
    if len(attempts) < 2:
        return None
    parts = [attempts[0].status or "?"]
    for number, attempt in enumerate(attempts[1:], start=1):
        batch = f" with batch size {attempt.batch_size}" if attempt.batch_size else ""
        retry = attempt.retry or number
        allowed = f" of {attempt.retries_allowed}" if attempt.retries_allowed else ""
        parts.append(f"retried{batch} (retry {retry}{allowed}), {attempt.status or '?'}")
    return ", ".join(parts)


def finetune_text(run: RunResult) -> str:
    """The Fine-tuning column: the status, with the retries when there were several."""
    text = attempts_text(run) or run.finetune.status
    return text + (" (diverged)" if run.finetune.diverged else "")


def _training_row(run: RunResult) -> dict[str, Any]:
    training = run.finetune.training
    assert training is not None
    final = training.final
    seconds = training.duration_seconds
    return {
        "run": run.name,
        "status": run.finetune.status,
        "finished": training.finished,
        "final_loss": _point(final)["loss"] if final else None,
        "final_loss_repr": repr(final.loss) if final else None,
        "diverged": training.diverged,
        "total_steps": final.step if final else None,
        "epochs": final.epoch if final else None,
        "duration_seconds": seconds,
        "duration_source": training.duration_source,
        "duration": format_duration(None if seconds is None else round(seconds)),
        "min_loss": _point(training.min_finite),
        "curve": [{"step": p.step, "loss": _point(p)["loss"]} for p in training.curve],
        "stdout": training.stdout,
        "attempts": [asdict(a) for a in run.finetune.attempts],
        "warning": training.warning,
    }


def _interval(value: tuple[float, float] | None) -> list[float] | None:
    return list(value) if value else None


def _metrics_fields(metrics: Metrics | None) -> dict[str, Any]:
    if metrics is None:
        return {
            "family": None,
            "scorer": None,
            "accuracy": None,
            "accuracy_ci": None,
            "balanced_accuracy": None,
            "balanced_accuracy_ci": None,
            "f1": None,
            "samples": None,
            "errored_samples": 0,
            "labelled": None,
            "saturated": False,
            "regression": None,
            "confusion": None,
            "class_balance": None,
            "header_metrics": {},
            "metric_notes": [],
        }
    balance = metrics.class_balance
    return {
        "family": metrics.family,
        "scorer": metrics.scorer,
        "accuracy": metrics.accuracy,
        "accuracy_ci": _interval(metrics.accuracy_ci),
        "balanced_accuracy": metrics.balanced_accuracy,
        "balanced_accuracy_ci": _interval(metrics.balanced_accuracy_ci),
        "f1": metrics.f1,
        "samples": metrics.samples,
        "errored_samples": metrics.errored,
        "labelled": metrics.labelled,
        "saturated": metrics.accuracy is not None and metrics.accuracy >= SATURATED,
        "regression": asdict(metrics.regression) if metrics.regression else None,
        "confusion": asdict(metrics.confusion) if metrics.confusion else None,
        "class_balance": _balance(balance),
        "header_metrics": dict(metrics.header_metrics),
        "metric_notes": list(metrics.notes),
    }


def _balance(balance: Any) -> dict[str, Any] | None:
    if balance is None:
        return None
    return {
        "frac_1": balance.frac_1,
        "frac_0": balance.frac_0,
        "n_1": balance.n_1,
        "n_0": balance.n_0,
    }


def _eval_row(run: RunResult, cell: CellResult) -> dict[str, Any]:
    return {
        "run": run.name,
        "run_type": run.type,
        "task": cell.task,
        "variant": variant_label(cell.task, cell.variant) if cell.in_design else None,
        "epoch": cell.epoch,
        "in_design": cell.in_design,
        "status": cell.status,
        **_metrics_fields(cell.metrics),
        "log": cell.log,
        "epoch_source": cell.epoch_source,
        "task_source": cell.task_source,
        "placement": cell.placement,
        "notes": list(cell.notes),
    }


def _relative(path: str | None, experiment_dir: Path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).relative_to(experiment_dir))
    except ValueError:
        return path


def variant_label(task: str | None, folder: str | None) -> str | None:
    """What tells a cell from the other cells of its task at its epoch: its folder's name
    without the task and the `_epoch{N}` suffix (`capitalization_with_cue_epoch0` →
    `with_cue`), or the whole folder name when it does not read that way."""
    if not folder:
        return None
    stem = re.sub(r"_epoch\d+$", "", folder)
    if task and stem.startswith(f"{task}_") and len(stem) > len(task) + 1:
        return stem[len(task) + 1 :]
    return stem


def cell_label(cell: CellResult) -> str:
    """`capitalization epoch 0`, `capitalization (with_cue) epoch 0`, `sum_digits`."""
    task = cell.task or "task unknown"
    variant = variant_label(cell.task, cell.variant) if cell.in_design else None
    epoch = "" if cell.epoch is None else f" epoch {cell.epoch}"
    return f"{task}{f' ({variant})' if variant else ''}{epoch}"


def _incomplete_rows(results: Results) -> list[dict[str, Any]]:
    experiment_dir = Path(results.experiment.directory)
    rows: list[dict[str, Any]] = []
    for run in results.runs:
        finetune = run.finetune
        if finetune.status not in (COMPLETED, NOT_APPLICABLE):
            notes = list(finetune.notes)
            stdout = finetune.training.stdout if finetune.training else None
            if stdout:
                notes.append(f"Check {_relative(stdout, experiment_dir)}")
            elif finetune.status == NOT_STARTED:
                notes.append("no checkpoints and no training stdout found")
            rows.append(
                {
                    "run": run.name,
                    "stage": "Fine-tuning",
                    "status": finetune_text(run),
                    "notes": notes,
                }
            )
        waiting = [c for c in run.cells if c.in_design and c.status == NOT_STARTED]
        if waiting:
            rows.append(
                {
                    "run": run.name,
                    "stage": "Evaluation",
                    "status": NOT_STARTED,
                    "notes": [
                        f"{len(waiting)} evaluation(s) waiting on fine-tuning ({finetune.status})"
                    ],
                }
            )
        for cell in run.cells:
            if cell.status in (COMPLETED, NOT_STARTED):
                continue
            notes = list(cell.notes)
            if cell.check:
                notes.append(f"Check {_relative(cell.check, experiment_dir)}")
            rows.append(
                {
                    "run": run.name,
                    "stage": f"Evaluation: {cell_label(cell)}",
                    "status": cell.status,
                    "notes": notes,
                }
            )
        for job in run.unplaced:
            notes = [job.failure_line] if job.failure_line else []
            notes.append("no log and no SLURM job name to tell which evaluation this job ran")
            notes.append(f"Check {_relative(job.stdout, experiment_dir)}")
            rows.append(
                {
                    "run": run.name,
                    "stage": "Evaluation: cell unknown",
                    "status": job.status,
                    "notes": notes,
                }
            )
    return rows


def _comparison(found: Comparison | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {**asdict(found), "clearly_different": found.clearly_different}


def _best(choice: BestChoice) -> dict[str, Any]:
    runner = choice.runner_up
    return {
        "task": choice.task,
        "run": choice.run,
        "epoch": choice.epoch,
        "variant": variant_label(choice.task, choice.variant),
        "metric": choice.metric,
        "value": choice.value,
        "higher_is_better": choice.higher_is_better,
        "n": choice.n,
        "runner_up": _comparison(runner),
        "clearly_better": runner.clearly_different
        if runner and runner.ci_low is not None
        else None,
        "versus_control": _comparison(choice.versus_control),
        "detectable": choice.detectable,
    }


def _datasets(results: Results) -> list[dict[str, Any]]:
    return [
        {
            "path": use.path,
            "role": use.role,
            "runs": list(use.runs),
            "tasks": list(use.tasks),
            "config_hash_short": use.config_hash_short,
            "class_balance": _balance(use.class_balance),
            "samples": use.samples,
            "exists": use.exists,
        }
        for use in results.datasets
    ]


def report_rows(run: RunResult) -> list[CellResult]:
    """The cells of a run shown in Evaluation Results: every one with a result or a log."""
    return [
        cell
        for cell in run.cells
        if cell.status in (COMPLETED, ERROR) or (cell.status != MISSING and cell.log)
    ]


def build_report(results: Results, generated_at: str) -> dict[str, Any]:
    """The summary as data: every table of summary.md."""
    experiment = results.experiment
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": asdict(experiment) | {"tasks": list(experiment.tasks)},
        "generated_at": generated_at,
        "complete_runs": results.complete_runs,
        "total_runs": len(results.runs),
        "run_status": [
            {
                "run": run.name,
                "type": run.type,
                "finetune": run.finetune.status,
                "finetune_text": finetune_text(run),
                "diverged": run.finetune.diverged,
                "evaluation": run.evaluation_status,
                "complete": run.complete,
                "checkpoint_path": run.checkpoint_path,
            }
            for run in results.runs
        ],
        "training": [_training_row(run) for run in results.runs if run.trains],
        "evaluations": [_eval_row(run, cell) for run in results.runs for cell in report_rows(run)],
        "best": [_best(choice) for choice in results.best],
        "incomplete": _incomplete_rows(results),
        "datasets": _datasets(results),
        "slurm": asdict(results.slurm),
        "notes": [*results.design_problems, *(note.text for note in results.notes)],
        "rejected_runs": dict(results.rejected_runs),
        "figures": [],
        "epoch_trends": [_comparison(found) for found in results.epoch_trends],
    }
