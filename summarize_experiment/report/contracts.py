"""The step scripts' JSON: each a view of the judged results for one step, plus (steps 1 and
3) the evidence itself, from which `render_summary.py` rebuilds what the steps read.

reference.md documents every shape; tests run the scripts and check them.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from ..evidence import codec
from ..evidence.model import Evidence, LogRead
from ..judge.model import CellResult, Metrics, Results, RunResult, TrainingResult
from ..judge.scoring import score_log
from ..vocabulary import step
from .tables import SATURATED, finetune_text

SCHEMA_VERSION = 2


def _job(run_job: Any) -> dict[str, Any] | None:
    return asdict(run_job) if run_job is not None else None


def _cell(cell: CellResult) -> dict[str, Any]:
    metrics = cell.metrics
    return {
        "task": cell.task,
        "variant": cell.variant,
        "epoch": cell.epoch,
        "in_design": cell.in_design,
        "status": cell.status,
        "log": cell.log,
        "other_logs": list(cell.other_logs),
        "epoch_source": cell.epoch_source,
        "task_source": cell.task_source,
        "placement": cell.placement,
        "notes": list(cell.notes),
        "job": _job(cell.job),
        "stdout": cell.stdout,
        "check": cell.check,
        "dataset": cell.dataset,
        "model": cell.model,
        "accuracy": metrics.accuracy if metrics else None,
        "samples": metrics.samples if metrics else None,
        "scorer": metrics.scorer if metrics else None,
    }


def _run(run: RunResult) -> dict[str, Any]:
    finetune = run.finetune
    training = finetune.training
    return {
        "name": run.name,
        "type": run.type,
        "model": run.model,
        "parameters": dict(run.parameters),
        "finetune": {
            "status": finetune.status,
            "text": finetune_text(run),
            "notes": list(finetune.notes),
            "checkpoints": list(finetune.checkpoints),
            "expected_epochs": finetune.expected_epochs,
            "job": _job(finetune.job),
            "attempts": [asdict(a) for a in finetune.attempts],
            "stdout": training.stdout if training else None,
            "stdout_files": list(training.stdout_files) if training else [],
            "duration_seconds": training.duration_seconds if training else None,
            "duration_source": training.duration_source if training else None,
        },
        "cells": [_cell(c) for c in run.cells],
        "unplaced_jobs": [asdict(j) for j in run.unplaced],
        "evaluation_status": run.evaluation_status,
        "complete": run.complete,
    }


def parse_status_document(evidence: Evidence, results: Results) -> dict[str, Any]:
    """Step 1: every run's and cell's status, what to read next, and the evidence."""
    logs = [cell.log for run in results.runs for cell in run.cells if cell.log]
    return {
        "status": "success",
        "step": step("parse_status").name,
        "schema_version": SCHEMA_VERSION,
        "experiment": asdict(results.experiment) | {"tasks": list(results.experiment.tasks)},
        "slurm": asdict(results.slurm),
        "runs": [_run(run) for run in results.runs],
        "logs_to_read": sorted(evidence.logs),
        "chosen_logs": logs,
        "design_problems": list(results.design_problems),
        "notes": [note.text for note in results.notes],
        "evidence": codec.encode(evidence),
    }


def training_document(run: RunResult) -> dict[str, Any]:
    """Step 2 for one fine-tuned run: the loss its training stdout shows."""
    training: TrainingResult | None = run.finetune.training
    base = {"step": step("extract_loss").name, "run": run.name, "finetune": run.finetune.status}
    if training is None:
        return {**base, "status": "not_applicable", "message": f"{run.type} run: no training"}
    final = training.final
    status = "success" if final else ("missing" if training.stdout is None else "no_loss")
    return {
        **base,
        "status": status,
        "finetune_text": finetune_text(run),
        **loss_fields(training),
        "attempts": [asdict(a) for a in run.finetune.attempts],
    }


def loss_fields(training: TrainingResult) -> dict[str, Any]:
    """What step 2 says of a training stdout's loss, in both of its forms (a run of the
    experiment, or a stdout file given on its own)."""
    final = training.final
    return {
        "finished": training.finished,
        "stdout": training.stdout,
        "candidates": list(training.stdout_files),
        "final": final.to_dict() if final else None,
        "final_loss": final.to_dict()["loss"] if final else "N/A",
        "total_steps": final.step if final else None,
        "epoch": final.epoch if final else None,
        "diverged": training.diverged,
        "min_finite": training.min_finite.to_dict() if training.min_finite else None,
        "curve": [p.to_dict() for p in training.curve],
        "updates": training.updates,
        "failure_line": training.failure_line,
        "duration_seconds": training.duration_seconds,
        "duration_source": training.duration_source,
        "warning": training.warning,
    }


def _plain_metrics(read: LogRead) -> tuple[dict[str, float], dict[str, float]]:
    """The header's metrics by plain name (`accuracy`), and scorer-qualified
    (`match/accuracy`)."""
    plain: dict[str, float] = {}
    qualified: dict[str, float] = {}
    for score in read.header.scores if read.header else ():
        for name, value in score.metrics.items():
            plain.setdefault(name, value)
            qualified[f"{score.name}/{name}"] = value
    return plain, qualified


def metrics_of(read: LogRead) -> Metrics | None:
    """The metrics of a finished log read with its samples."""
    if read.header is None or read.samples is None or not read.header.finished or read.error:
        return None
    return score_log(read.header, read.samples)


def eval_log_document(read: LogRead, *, with_evidence: bool = True) -> dict[str, Any]:
    """Step 3 for one log: the toolkit's contract (`task`, `accuracy`, `samples`, `scorer`,
    `model`, `metrics` by plain name) and more, plus the log read itself as evidence."""
    header = read.header
    metrics = metrics_of(read)
    ok = metrics is not None
    out: dict[str, Any] = {
        "status": "success" if ok else "error",
        "step": step("parse_eval_log").name,
        "path": read.path,
    }
    if not ok:
        reason = read.error
        if reason is None and header is not None:
            reason = (
                f"{read.path}: the evaluation ended with status '{header.status}'"
                + (f": {header.error.strip().splitlines()[0][:200]}" if header.error else "")
                + "; it is not a result. Re-run the evaluation."
            )
        out["message"] = reason
    if header is not None:
        plain, qualified = _plain_metrics(read)
        out |= {
            "task": header.task,
            "accuracy": metrics.accuracy if metrics else plain.get("accuracy"),
            "samples": metrics.samples if metrics else header.samples,
            "scorer": metrics.scorer if metrics else None,
            "model": header.model,
            "metrics": plain,
            "scorer_metrics": qualified,
            "log_status": header.status,
            "log_error": header.error,
            "model_path": header.model_path,
            "task_args": header.task_args,
            "metadata": header.metadata,
            "created": header.created,
        }
    if metrics is not None:
        out |= {
            "family": metrics.family,
            "accuracy_ci": list(metrics.accuracy_ci) if metrics.accuracy_ci else None,
            "header_accuracy": metrics.header_accuracy,
            "errored_samples": metrics.errored,
            "regression": asdict(metrics.regression) if metrics.regression else None,
            "notes": list(metrics.notes),
        }
    if with_evidence:
        out["evidence"] = codec.encode(read)
    return out


def binary_document(read: LogRead) -> dict[str, Any]:
    """Step 4 for one log: balanced accuracy, F1, the confusion matrix, the class balance."""
    metrics = metrics_of(read)
    base = {"step": step("summary_binary").name, "path": read.path}
    if metrics is None:
        message = eval_log_document(read, with_evidence=False).get("message")
        return {**base, "status": "error", "message": message}
    if not metrics.binary:
        return {
            **base,
            "status": "not_binary",
            "samples": metrics.samples,
            "family": metrics.family,
            "scorer": metrics.scorer,
            "message": f"{read.path}: "
            + (
                "the risk_scorer's correctness is an exact string match; balanced accuracy "
                "and F1 from labels do not apply (take accuracy and samples)"
                if metrics.family == "risk"
                else f"targets are not all 0/1 (scorer family: {metrics.family}); balanced "
                "accuracy and F1 do not apply."
            ),
        }
    balance = metrics.class_balance
    return {
        **base,
        "status": "success",
        "samples": metrics.samples,
        "accuracy": metrics.accuracy,
        "balanced_accuracy": metrics.balanced_accuracy,
        "f1": metrics.f1,
        "precision_1": metrics.precision_1,
        "recall_1": metrics.recall_1,
        "recall_0": metrics.recall_0,
        "confusion_matrix": asdict(metrics.confusion) if metrics.confusion else None,
        "accuracy_ci": list(metrics.accuracy_ci) if metrics.accuracy_ci else None,
        "balanced_accuracy_ci": (
            list(metrics.balanced_accuracy_ci) if metrics.balanced_accuracy_ci else None
        ),
        "labelled": metrics.labelled,
        "class_balance": {
            "frac_1": balance.frac_1,
            "frac_0": balance.frac_0,
            "n_1": balance.n_1,
            "n_0": balance.n_0,
        }
        if balance
        else None,
        "saturated": metrics.accuracy is not None and metrics.accuracy >= SATURATED,
        "notes": list(metrics.notes),
    }


def evidence_from_documents(
    status_doc: dict[str, Any], eval_docs: list[dict[str, Any]]
) -> Evidence:
    """Rebuild the evidence from step 1's document and step 3's documents (their log reads,
    with samples, replace step 1's header-only reads). Raises ValueError naming what is
    missing or malformed."""
    if status_doc.get("step") != step("parse_status").name or "evidence" not in status_doc:
        raise ValueError("not a parse_status.py document (no `step: parse_status` evidence)")
    evidence = codec.decode(Evidence, status_doc["evidence"])
    reads = {}
    for doc in eval_docs:
        if "evidence" not in doc:
            raise ValueError(f"{doc.get('path')}: a parse_eval_log.py document without evidence")
        read = codec.decode(LogRead, doc["evidence"])
        reads[read.path] = read
    missing = sorted(set(evidence.logs) - set(reads))
    if missing:
        raise ValueError(
            f"step 3 (parse_eval_log) has not read {len(missing)} log(s) step 1 found, e.g. "
            f"{missing[0]}; run tools/inspect/parse_eval_log.py --experiment EXP --steps-dir"
        )
    return replace(evidence, logs={**evidence.logs, **reads}, samples_read=True)
