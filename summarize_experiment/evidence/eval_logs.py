"""Read inspect-ai evaluation logs through `inspect_ai.log`: the header and per-sample summaries.

Only `header.json` and `summaries.json` are read (never the full transcripts), which is what the
accuracy, binary and regression metrics need. Reading (`read_samples`) and computing the metrics
(`evaluate`) are two steps, so that the processes forked to read logs in parallel never import
scikit-learn (see `readers`); `read_eval` does both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import labels

FINISHED = "success"


@dataclass
class EvalHeader:
    """What an evaluation log's header says about the evaluation."""

    path: str
    log_status: str
    task: str
    model: str
    model_path: str | None
    task_args: dict[str, Any]
    scorer: str | None
    accuracy: float | None
    metrics: dict[str, float]
    samples: int | None
    created: str | None
    log_error: str | None
    dataset: dict[str, Any] | None = None


@dataclass
class EvalRead:
    """One log read: its header, and the metrics computed from its sample summaries."""

    path: str
    ok: bool
    message: str | None = None
    header: EvalHeader | None = None
    kind: str | None = None
    binary: dict[str, Any] | None = None
    regression: dict[str, Any] | None = None
    intervals: dict[str, Any] = field(default_factory=dict)
    label_counts: dict[str, int] | None = None
    scored_samples: int | None = None
    errored_samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalSamples:
    """One log read, before its metrics: the header and each scored sample's target and answer,
    kept compact (`labels.label_array` for a binary task: 0, 1 or `OTHER`; `labels.number_array`
    for a numeric one: a float or NaN; nothing for any other task, whose accuracy comes from the
    header), or why the log is not a result. The metrics functions read these as they read the
    raw values."""

    path: str
    ok: bool
    message: str | None = None
    header: EvalHeader | None = None
    kind: str | None = None
    targets: Sequence[Any] = ()
    answers: Sequence[Any] = ()
    scored_samples: int | None = None
    errored_samples: int = 0


class EvalLogError(Exception):
    """The file is not a usable inspect-ai log; the message names the file and the problem."""


def _import_log_api() -> Any:
    import inspect_ai.log as log_api

    return log_api


def _import_metrics() -> Any:
    """`metrics` (scikit-learn, scipy: ~80 MB), imported on first use rather than with this
    module, so that a process that only reads logs never holds it."""
    from ..judge import metrics

    return metrics


def _explain(path: Path, exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return f"{path}: cannot be read (permission denied); check the file's permissions."
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file."
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if size == 0:
        return (
            f"{path}: is empty (0 bytes); the evaluation job probably died before writing it. "
            "Re-run the evaluation or remove the file."
        )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"{path}: not a readable inspect-ai log ({type(exc).__name__}: {detail[:200]}); "
        "it may be truncated or not an inspect log. Re-run the evaluation or remove the file."
    )


def _target_text(target: Any) -> str:
    if isinstance(target, list):
        return target[0] if len(target) == 1 else ",".join(str(t) for t in target)
    return "" if target is None else str(target)


def _main_score(log: Any) -> tuple[str | None, str | None, float | None, dict[str, float]]:
    """(score name, scorer, accuracy, all metrics as 'score/metric') from the header results."""
    results = getattr(log, "results", None)
    scores = list(getattr(results, "scores", None) or [])
    flat: dict[str, float] = {}
    for score in scores:
        for metric_name, metric in (score.metrics or {}).items():
            if isinstance(metric.value, int | float):
                flat[f"{score.name}/{metric_name}"] = float(metric.value)
    chosen = next(
        (s for s in scores if "accuracy" in (s.metrics or {})), scores[0] if scores else None
    )
    if chosen is None:
        return None, None, None, flat
    accuracy = chosen.metrics.get("accuracy") if chosen.metrics else None
    value = float(accuracy.value) if accuracy is not None else None
    return chosen.name, chosen.scorer, value, flat


def _dataset(spec: Any) -> dict[str, Any] | None:
    dataset = getattr(spec, "dataset", None)
    if dataset is None:
        return None
    return {"name": dataset.name, "location": dataset.location, "samples": dataset.samples}


def read_header(path: Path) -> EvalHeader:
    """The header of an inspect-ai log (`.eval` or `.json`); raises EvalLogError when unusable."""
    log_api = _import_log_api()
    try:
        log = log_api.read_eval_log(str(path), header_only=True)
    except Exception as exc:
        raise EvalLogError(_explain(path, exc)) from exc
    spec = log.eval
    score_name, scorer, accuracy, flat = _main_score(log)
    results = log.results
    samples = getattr(results, "total_samples", None) if results else None
    model_args = spec.model_args if isinstance(spec.model_args, dict) else {}
    model_path = model_args.get("model_path")
    error = log.error.message if getattr(log, "error", None) else None
    return EvalHeader(
        path=str(path),
        log_status=str(log.status),
        task=str(spec.task).rsplit("/", 1)[-1],
        model=str(spec.model),
        model_path=str(model_path) if model_path else None,
        task_args=dict(spec.task_args or {}),
        scorer=score_name or scorer,
        accuracy=accuracy,
        metrics=flat,
        samples=samples,
        created=str(spec.created) if spec.created else None,
        log_error=error,
        dataset=_dataset(spec),
    )


def read_targets_and_answers(
    path: Path, score_name: str | None
) -> tuple[list[str], list[Any], int]:
    """Each scored sample's target and the answer its scorer extracted, from `summaries.json`,
    and the number of samples that errored (no score: inspect leaves them out of its metrics,
    and so do we)."""
    log_api = _import_log_api()
    try:
        summaries = log_api.read_eval_log_sample_summaries(str(path))
    except Exception as exc:
        raise EvalLogError(_explain(path, exc)) from exc
    targets: list[str] = []
    answers: list[Any] = []
    errored = 0
    for summary in summaries:
        scores = summary.scores or {}
        score = scores.get(score_name) if score_name else None
        if score is None and scores:
            score = next(iter(scores.values()))
        if score is None or getattr(summary, "error", None):
            errored += 1
            continue
        targets.append(_target_text(summary.target))
        answers.append(score.answer)
    return targets, answers, errored


def finished_message(header: EvalHeader) -> str | None:
    """Why a log is not a result (its evaluation errored, was cancelled or is still running)."""
    if header.log_status == FINISHED:
        return None
    reason = f": {header.log_error.strip().splitlines()[0][:200]}" if header.log_error else ""
    return (
        f"{header.path}: the evaluation ended with status '{header.log_status}'{reason}; "
        "it is not a result. Re-run the evaluation."
    )


def classify_task(targets: list[str]) -> str:
    """'binary' (all targets 0/1), 'numeric' (numbers) or 'other'."""
    if labels.is_binary_task(targets):
        return "binary"
    if labels.is_numeric_task(targets):
        return "numeric"
    return "other"


def label_counts(targets: Sequence[Any]) -> dict[str, int]:
    counts = {"0": 0, "1": 0}
    for target in targets:
        label = labels.normalize_label(target)
        if label is not None:
            counts[str(label)] += 1
    return counts


def read_samples(path: Path) -> EvalSamples:
    """Read one log as far as the summary needs: its header, and unless the evaluation did not
    finish, its task kind and compact scored samples (see `EvalSamples`)."""
    try:
        header = read_header(path)
    except EvalLogError as exc:
        return EvalSamples(path=str(path), ok=False, message=str(exc))
    not_finished = finished_message(header)
    if not_finished:
        return EvalSamples(path=str(path), ok=False, message=not_finished, header=header)
    try:
        targets, answers, errored = read_targets_and_answers(path, header.scorer)
    except EvalLogError as exc:
        return EvalSamples(path=str(path), ok=False, message=str(exc), header=header)
    kind = classify_task(targets)
    compact = {"binary": labels.label_array, "numeric": labels.number_array}.get(kind)
    return EvalSamples(
        path=str(path),
        ok=True,
        header=header,
        kind=kind,
        targets=compact(targets) if compact else (),
        answers=compact(answers) if compact else (),
        scored_samples=len(targets),
        errored_samples=errored,
    )


def evaluate(samples: EvalSamples) -> EvalRead:
    """The metrics and intervals of a log read by `read_samples` (pure: no file is read)."""
    if not samples.ok:
        return EvalRead(path=samples.path, ok=False, message=samples.message, header=samples.header)
    metrics = _import_metrics()
    read = EvalRead(
        path=samples.path,
        ok=True,
        header=samples.header,
        kind=samples.kind,
        scored_samples=samples.scored_samples,
        errored_samples=samples.errored_samples,
    )
    targets, answers = samples.targets, samples.answers
    if read.kind == "binary":
        read.binary = metrics.binary_metrics(targets, answers)
        read.label_counts = label_counts(targets)
    elif read.kind == "numeric":
        read.regression = metrics.regression_metrics(targets, answers)
    read.intervals = _intervals(read, targets, answers, metrics)
    return read


def read_eval(path: Path) -> EvalRead:
    """Read one log and compute its metrics: `evaluate(read_samples(path))`."""
    return evaluate(read_samples(path))


def _intervals(
    read: EvalRead, targets: Sequence[Any], answers: Sequence[Any], metrics: Any
) -> dict[str, Any]:
    header = read.header
    intervals: dict[str, Any] = {}
    if read.binary:
        matrix = read.binary["confusion_matrix"]
        intervals["accuracy"] = metrics.wilson_interval(
            matrix["tp"] + matrix["tn"], read.binary["samples"]
        )
        intervals["balanced_accuracy"] = metrics.balanced_accuracy_interval(targets, answers)
    elif header and header.accuracy is not None and read.scored_samples:
        correct = round(header.accuracy * read.scored_samples)
        intervals["accuracy"] = metrics.wilson_interval(correct, read.scored_samples)
    return {k: (list(v) if v else None) for k, v in intervals.items()}


def eval_log_output(read: EvalRead) -> dict[str, Any]:
    """The JSON contract of `tools/inspect/parse_eval_log.py` (the seed's, extended)."""
    header = read.header
    out: dict[str, Any] = {"status": "success" if read.ok else "error", "path": read.path}
    if not read.ok:
        out["message"] = read.message
    if header is not None:
        out.update(
            {
                "task": header.task,
                "accuracy": header.accuracy,
                "samples": header.samples,
                "scorer": header.scorer,
                "model": header.model,
                "metrics": header.metrics,
                "log_status": header.log_status,
                "log_error": header.log_error,
                "model_path": header.model_path,
                "task_args": header.task_args,
                "created": header.created,
                "dataset": header.dataset,
            }
        )
    if read.ok:
        out["samples"] = read.scored_samples
        out["errored_samples"] = read.errored_samples
        out["kind"] = read.kind
        out["accuracy_ci"] = read.intervals.get("accuracy")
        out["regression"] = read.regression
    return out


def binary_output(read: EvalRead) -> dict[str, Any]:
    """The JSON contract of `tools/inspect/summary_binary.py --json` (the seed's, extended)."""
    if not read.ok:
        return {"status": "error", "path": read.path, "message": read.message}
    if read.binary is None:
        return {
            "status": "not_binary",
            "path": read.path,
            "samples": read.header.samples if read.header else None,
            "kind": read.kind,
            "message": f"{read.path}: targets are not all 0/1 (task kind: {read.kind}); "
            "balanced accuracy and F1 do not apply.",
        }
    return {
        "status": "success",
        "path": read.path,
        **read.binary,
        "balanced_accuracy_ci": read.intervals.get("balanced_accuracy"),
        "accuracy_ci": read.intervals.get("accuracy"),
        "label_counts": read.label_counts,
    }


def cell_result(eval_doc: dict[str, Any], binary_doc: dict[str, Any] | None) -> dict[str, Any]:
    """A cell's numbers for the summary, from the two scripts' outputs for its log."""
    binary = binary_doc if binary_doc and binary_doc.get("status") == "success" else None
    return {
        "accuracy": eval_doc.get("accuracy"),
        "accuracy_ci": eval_doc.get("accuracy_ci"),
        "balanced_accuracy": binary.get("balanced_accuracy") if binary else None,
        "balanced_accuracy_ci": binary.get("balanced_accuracy_ci") if binary else None,
        "f1": binary.get("f1") if binary else None,
        "samples": eval_doc.get("samples"),
        "errored_samples": eval_doc.get("errored_samples") or 0,
        "scorer": eval_doc.get("scorer"),
        "model": eval_doc.get("model"),
        "kind": eval_doc.get("kind"),
        "regression": eval_doc.get("regression"),
        "binary": binary,
        "label_counts": binary.get("label_counts") if binary else None,
        "dataset": eval_doc.get("dataset"),
    }


def modified_time(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
