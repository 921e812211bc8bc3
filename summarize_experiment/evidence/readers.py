"""Read many artifacts at once: ``jobs`` processes, the parent being one of them.

With ``jobs`` = N > 1 the parent forks N - 1 workers and reads too, so N processes share the
work (not N workers beside an idle parent: one process fewer holding inspect-ai in memory).
Before reading, the parent imports inspect-ai's log API and freezes the imported heap out of
the garbage collector (``_frozen_heap``), so collections while reading stay cheap and forked
workers start warm and share the parent's pages instead of copying them. Reading a log yields
its compact samples (``eval_logs.read_samples``); the metrics are computed in the parent once
the workers are gone (``eval_logs.evaluate``), so scikit-learn and scipy (~80 MB) are loaded
in one process only and never while the workers live. Work goes out largest file first
(longest-processing-time order: the big training stdouts and logs start first, the small job
stdouts fill the end), a few items ahead per worker, and each result is recorded (and the
progress callback called) as soon as it is done. Every log is opened by one process only, once.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import eval_logs, training_log

LOG_NAME = re.compile(rb"([\w.+:=-]+\.(?:eval|json))\b")
# inspect prints `Log: logs/<file>.eval` at the end of an evaluation; the name may hold spaces
LOG_LINE = re.compile(rb"^\s*Log:\s*([^\r\n]+?\.(?:eval|json))\s*$", re.MULTILINE)
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
    found = LOG_LINE.findall(data) + LOG_NAME.findall(data)
    names = list(dict.fromkeys(m.decode("utf-8", "replace") for m in found))
    models = list(dict.fromkeys(m.decode("utf-8", "replace") for m in MODEL_NAME.findall(data)))
    failure = training_log.scan_training_chunks([data]).failure_line
    return EvalJobStdout(str(path), job_id, [n.rsplit("/", 1)[-1] for n in names], models, failure)


def _read_one(item: tuple[str, str, bool]) -> tuple[str, str, Any]:
    kind, path, flag = item
    if kind == "eval":
        if flag:
            return kind, path, eval_logs.read_samples(Path(path))
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


AHEAD_PER_WORKER = 4
"""Items queued per worker beyond the one it is reading, so it never waits for the parent."""


def _warm_imports(items: list[tuple[str, str, bool]]) -> None:
    """Import, before freezing and forking, what reading will need (inspect-ai's log API)."""
    if any(kind == "eval" for kind, _, _ in items):
        import inspect_ai.log  # noqa: F401


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now (the imported modules: inspect-ai, pydantic, numpy,
    ~140,000 objects) out of the garbage collector while the logs are read.

    Reading a log makes thousands of objects, which triggers collections; each full one would
    walk the whole imported heap again (~0.1 s). Frozen, they are skipped: a quarter less CPU
    for a sequential read, and forked workers no longer copy the parent's pages by touching
    them. Objects made while reading are collected as usual; everything is unfrozen after."""
    already = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already:
            gc.unfreeze()


def _fork_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context(
        "fork" if "fork" in methods and sys.platform != "win32" else None
    )


def read_artifacts(
    eval_paths: Iterable[Path],
    training_paths: Iterable[Path],
    stdout_paths: Iterable[Path],
    *,
    full_eval: bool,
    jobs: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Read every artifact; returns {'eval': {path: ...}, 'train': {...}, 'stdout': {...}}.

    ``jobs`` processes read (the parent and ``jobs - 1`` forked workers); ``on_progress(done,
    total)`` is called in the parent after each artifact. A log read in full comes back as an
    ``EvalRead`` with its metrics, computed in the parent after the reading. The result does not
    depend on ``jobs``.
    """
    given = [("eval", str(p), full_eval) for p in eval_paths]
    given += [("train", str(p), False) for p in training_paths]
    given += [("stdout", str(p), False) for p in stdout_paths]
    items = sorted(dict.fromkeys(given), key=lambda item: _size(item[1]), reverse=True)
    values: dict[tuple[str, str], Any] = {}
    total = len(items)

    def record(result: tuple[str, str, Any]) -> None:
        kind, path, value = result
        values[kind, path] = value
        if on_progress:
            on_progress(len(values), total)

    workers = min(jobs, total) - 1
    _warm_imports(items)
    with _frozen_heap():
        if workers < 1:
            for item in items:
                record(_read_one(item))
        else:
            _read_in_pool(items, workers, record)
    out: dict[str, dict[str, Any]] = {"eval": {}, "train": {}, "stdout": {}}
    for kind, path, _ in given:  # in the order given, whatever the order of completion
        value = values[kind, path]
        if isinstance(value, eval_logs.EvalSamples):
            value = eval_logs.evaluate(value)
        out[kind][path] = value
    return out


def _read_in_pool(
    items: list[tuple[str, str, bool]],
    workers: int,
    record: Callable[[tuple[str, str, Any]], None],
) -> None:
    """Read ``items`` (in that order) in the parent and ``workers`` forked processes (forked
    with the imports done and the heap frozen, so they start warm and share its pages)."""
    pending = deque(items)
    in_flight: set[Future] = set()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_fork_context())
    try:

        def top_up() -> None:
            while pending and len(in_flight) < workers * (1 + AHEAD_PER_WORKER):
                in_flight.add(pool.submit(_read_one, pending.popleft()))

        top_up()  # the workers are forked here, before the parent reads anything
        while pending or in_flight:
            finished = [future for future in in_flight if future.done()]
            for future in finished:
                in_flight.discard(future)
                record(future.result())
            top_up()
            if pending:
                record(_read_one(pending.popleft()))
            elif in_flight:
                wait(in_flight, return_when=FIRST_COMPLETED)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
