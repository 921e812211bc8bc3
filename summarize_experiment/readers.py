"""Read many artifacts at once, in a process pool sized to the cores (or in-process for one job).

The heavy imports (inspect-ai, scikit-learn) happen once in the parent before the pool forks,
so workers start warm.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import eval_logs, training_log

LOG_NAME = re.compile(rb"([\w.+:=-]+\.(?:eval|json))\b")
MODEL_NAME = re.compile(rb"hf/([\w.+-]+)")
EVAL_STDOUT_READ_LIMIT = 8 << 20  # eval job stdout is a few KB; 8 MiB bounds a runaway file


@dataclass
class EvalJobStdout:
    """What an evaluation job's stdout says: the logs it wrote, the models, how it failed."""

    path: str
    job_id: str | None
    log_names: list[str]
    model_names: list[str]
    failure_line: str | None
    error: str | None = None


def scan_eval_stdout(path: Path) -> EvalJobStdout:
    """Find the log files and model names an evaluation job printed, and its failure line."""
    job_id = training_log.job_id_from_stdout_name(path.name)
    try:
        with path.open("rb") as handle:
            data = handle.read(EVAL_STDOUT_READ_LIMIT)
    except OSError as exc:
        return EvalJobStdout(str(path), job_id, [], [], None, f"{path}: cannot be read ({exc})")
    names = list(dict.fromkeys(m.decode("utf-8", "replace") for m in LOG_NAME.findall(data)))
    models = list(dict.fromkeys(m.decode("utf-8", "replace") for m in MODEL_NAME.findall(data)))
    failure = training_log.scan_training_chunks([data]).failure_line
    return EvalJobStdout(str(path), job_id, [n.rsplit("/", 1)[-1] for n in names], models, failure)


def _read_one(item: tuple[str, str, bool]) -> tuple[str, str, Any]:
    kind, path, flag = item
    if kind == "eval":
        if flag:
            return kind, path, eval_logs.read_eval(Path(path))
        try:
            return kind, path, eval_logs.read_header(Path(path))
        except eval_logs.EvalLogError as exc:
            return kind, path, exc
    if kind == "train":
        try:
            return kind, path, training_log.scan_training_log(Path(path))
        except OSError as exc:
            return kind, path, exc
    return kind, path, scan_eval_stdout(Path(path))


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def read_artifacts(
    eval_paths: Iterable[Path],
    training_paths: Iterable[Path],
    stdout_paths: Iterable[Path],
    *,
    full_eval: bool,
    jobs: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Read every artifact; returns {'eval': {path: ...}, 'train': {...}, 'stdout': {...}}."""
    items = [("eval", str(p), full_eval) for p in eval_paths]
    items += [("train", str(p), False) for p in training_paths]
    items += [("stdout", str(p), False) for p in stdout_paths]
    items.sort(key=lambda item: _size(item[1]), reverse=True)
    out: dict[str, dict[str, Any]] = {"eval": {}, "train": {}, "stdout": {}}
    total = len(items)
    if jobs <= 1 or total <= 1:
        results: Iterable[tuple[str, str, Any]] = map(_read_one, items)
        for done, (kind, path, value) in enumerate(results, 1):
            out[kind][path] = value
            if on_progress:
                on_progress(done, total)
        return out
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=context) as pool:
        for done, (kind, path, value) in enumerate(pool.map(_read_one, items, chunksize=1), 1):
            out[kind][path] = value
            if on_progress:
                on_progress(done, total)
    return out
