"""Read inspect-ai evaluation logs through `inspect_ai.log`: the header and the sample summaries.

Only `header.json` and `summaries.json` are read (never the full transcripts). Reading decides
nothing: a log that errored is read like one that succeeded, and `LogRead.error` only says why a
file could not be read at all. Each scored sample is kept compact (see `LogSamples`), so that
forked readers send little back and memory does not grow with the number of samples.
"""

from __future__ import annotations

import contextlib
import math
import os
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import labels
from .codec import as_labels, as_numbers
from .model import LogHeader, LogRead, LogSamples, ScoreHeader
from .safe_io import EVAL_READ_MAX_BYTES, InputRefused, check_eval_archive, open_regular

HEADER_SAMPLES_MAX = 10_000_000
"""The most samples a log header is believed to claim (`results.total_samples`): inspect-ai
keeps ~500 bytes of summary per sample, so ten million would need 5 GB of summaries, ten times
what a log may inflate to (EVAL_READ_MAX_BYTES). A larger claim is noted, not passed on."""

PREDICTION_KEY = "prediction"
"""Score metadata key where a regression scorer (the toolkit's `continuous_scorer`) records the
number it parsed from the reply (None when the reply did not parse)."""


def _log_api() -> Any:
    import inspect_ai.log as log_api

    return log_api


def explain_unreadable(path: Path, exc: BaseException) -> str:
    """Why a file is not a readable inspect-ai log, naming the file and what to do."""
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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _score_headers(log: Any) -> tuple[ScoreHeader, ...]:
    results = getattr(log, "results", None)
    headers = []
    for score in getattr(results, "scores", None) or []:
        metrics = {
            name.rsplit("/", 1)[-1]: number  # `cruijff_kit/brier_score` reads `brier_score`
            for name, metric in (score.metrics or {}).items()
            if (number := _number(metric.value)) is not None
        }
        options = {k: v for k, v in (score.params or {}).items() if _plain(v)}
        headers.append(ScoreHeader(score.name, score.scorer, metrics, options))
    return tuple(headers)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _plain_mapping(mapping: Any) -> dict[str, object]:
    """A header mapping (task_args, metadata) with only JSON-plain values kept as they are."""
    if not isinstance(mapping, dict):
        return {}
    return {str(k): v if _plain(v) else str(v) for k, v in mapping.items()}


def header_from_log(path: Path, log: Any) -> LogHeader:
    """A `LogHeader` from an `EvalLog` read with `header_only=True`."""
    spec = log.eval
    model_args = spec.model_args if isinstance(spec.model_args, dict) else {}
    model_path = model_args.get("model_path")
    dataset = getattr(spec, "dataset", None)
    results = log.results
    return LogHeader(
        path=str(path),
        status=str(log.status),
        task=str(spec.task).rsplit("/", 1)[-1],
        model=str(spec.model),
        model_path=str(model_path) if model_path else None,
        task_args=_plain_mapping(spec.task_args),
        metadata=_plain_mapping(getattr(spec, "metadata", None)),
        scores=_score_headers(log),
        samples=getattr(results, "total_samples", None) if results else None,
        created=str(spec.created) if spec.created else None,
        error=log.error.message if getattr(log, "error", None) else None,
        dataset_name=getattr(dataset, "name", None),
        dataset_location=getattr(dataset, "location", None),
    )


def check_log_file(path: Path) -> None:
    """Refuse, before inspect-ai opens it, a log that would cost more than a log can: a FIFO or
    device, a `.eval` whose members would inflate past the limits (`safe_io.check_eval_archive`),
    a `.json` log larger than EVAL_READ_MAX_BYTES. Raises InputRefused naming the file and
    the limit; a file that is no zip at all is left to inspect-ai's own error."""
    if path.suffix == ".eval":
        with contextlib.suppress(zipfile.BadZipFile):
            check_eval_archive(path)
        return
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
    if size > EVAL_READ_MAX_BYTES:
        limit = f"{EVAL_READ_MAX_BYTES:,}"
        raise InputRefused(path, f"is {size:,} bytes, more than the {limit} a log may be; not read")


def _claimed_samples(path: Path, value: Any) -> tuple[int | None, str | None]:
    """The sample count a header claims, when it is believable; else None and why."""
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None, f"{path}: its header claims {value!r} samples, which is no count; not used"
    if value > HEADER_SAMPLES_MAX:
        return None, (
            f"{path}: its header claims {value:,} samples, more than the {HEADER_SAMPLES_MAX:,} "
            "a log is believed to hold; the count is not used"
        )
    return value, None


def read_header(path: Path) -> LogRead:
    """The header of a log (`.eval` or `.json`), or why the file cannot be read."""
    try:
        check_log_file(path)
    except InputRefused as exc:
        return LogRead(path=str(path), error=f"{exc}. Re-run the evaluation or remove the file.")
    except Exception as exc:
        return LogRead(path=str(path), error=explain_unreadable(path, exc))
    try:
        log = _log_api().read_eval_log(str(path), header_only=True)
    except Exception as exc:
        return LogRead(path=str(path), error=explain_unreadable(path, exc))
    header = header_from_log(path, log)
    samples, note = _claimed_samples(path, header.samples)
    if note is None:
        return LogRead(path=str(path), header=header)
    return LogRead(path=str(path), header=replace(header, samples=samples), notes=(note,))


def main_score(header: LogHeader) -> ScoreHeader | None:
    """The score the summary reports: the first with an `accuracy` metric, else the first."""
    return next((s for s in header.scores if "accuracy" in s.metrics), None) or next(
        iter(header.scores), None
    )


def _target_text(target: Any) -> str:
    if isinstance(target, list):
        return target[0] if len(target) == 1 else ",".join(str(t) for t in target)
    return "" if target is None else str(target)


def _value(value: Any, to_float: Any) -> float:
    """A score value as inspect's metrics read it (C=1, I=0, P=0.5, numbers as they are); NaN
    for a value that is not a scalar (inspect would warn and count it 0)."""
    if isinstance(value, dict | list):
        return math.nan
    try:
        return float(to_float(value))
    except (TypeError, ValueError):
        return math.nan


def read_samples(path: Path, header: LogHeader) -> LogSamples:
    """The scored samples of a finished log's main score, compact (see `LogSamples`).

    Raises the reader's exception when the sample summaries cannot be read."""
    from inspect_ai.scorer import value_to_float

    score = main_score(header)
    name = score.name if score else None
    location = str(score.options.get("location") or "end") if score else "end"
    to_float = value_to_float()
    summaries = _log_api().read_eval_log_sample_summaries(str(path))
    ids: list[str] = []
    values: list[float] = []
    targets: list[str] = []
    answers: list[Any] = []
    predictions: list[float | None] = []
    errored = 0
    for summary in summaries:
        scores = summary.scores or {}
        found = scores.get(name) if name else None
        if found is None and scores:
            found = next(iter(scores.values()))
        if found is None or getattr(summary, "error", None):
            errored += 1
            continue
        ids.append(labels.sample_key(summary.id, summary.epoch))
        values.append(_value(found.value, to_float))
        targets.append(_target_text(summary.target))
        answers.append(found.answer)
        metadata = found.metadata if isinstance(found.metadata, dict) else {}
        predictions.append(
            labels.parse_number(metadata[PREDICTION_KEY])
            if PREDICTION_KEY in metadata
            else labels.answer_number(found.answer, location)
        )
    return LogSamples(
        score=name,
        ids=tuple(ids),
        values=as_numbers(values),
        target_labels=labels.label_array(targets),
        answer_labels=as_labels(labels.answer_label(a, location) for a in answers),
        target_numbers=labels.number_array(targets),
        answer_numbers=as_numbers(predictions),
        errored=errored,
    )


def read_log(path: Path, *, with_samples: bool) -> LogRead:
    """Read one log: its header, and (`with_samples`, for a finished evaluation) its samples."""
    read = read_header(path)
    if not with_samples or read.header is None or not read.header.finished:
        return read
    try:
        samples = read_samples(path, read.header)
    except Exception as exc:
        error = explain_unreadable(path, exc)
        return LogRead(path=str(path), header=read.header, error=error, notes=read.notes)
    return LogRead(path=str(path), header=read.header, samples=samples, notes=read.notes)
