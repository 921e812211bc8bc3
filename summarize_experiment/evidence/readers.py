"""Read many artifacts at once: ``jobs`` processes, the parent being one of them.

With ``jobs`` = N > 1 the parent forks N - 1 workers and reads too, so N processes share the
work (not N workers beside an idle parent: one process fewer holding inspect-ai in memory).
Before reading, the parent imports inspect-ai's log API and freezes the imported heap out of
the garbage collector (``_frozen_heap``), so collections while reading stay cheap and forked
workers start warm and share the parent's pages instead of copying them. Reading a log yields
its compact samples (``eval_logs.read_log``); nothing here computes a metric, so scikit-learn
and scipy (~80 MB) are loaded by the judge in the parent only, once the workers are gone.
Work goes out largest file first
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
from pathlib import Path
from typing import Any, BinaryIO

from . import eval_logs, training_log
from .model import InspectMarkers, JobStdoutRead, LogRead
from .safe_io import InputRefused, open_regular

LOG_NAME = re.compile(rb"([\w.+:=-]+\.(?:eval|json))\b")
# inspect prints `Log: logs/<file>.eval` at the end of an evaluation; the name may hold spaces
LOG_LINE = re.compile(rb"^\s*Log:\s*([^\r\n]+?\.(?:eval|json))\s*$", re.MULTILINE)
MODEL_NAME = re.compile(rb"hf/([\w.+-]+)")
# inspect's task summary ends with `total time:`; `/usr/bin/time -p` then prints `real <s>`
FINISHED_LINE = re.compile(rb"^\s*total time:", re.MULTILINE)
MARKER_HEAD = 1 << 20
MARKER_TAIL = 1 << 20
"""An evaluation job's stdout is a few KB; in a bigger file (a training stdout, hundreds of MB)
inspect's markers are looked for in its first and last MiB only."""


def inspect_markers(data: bytes) -> InspectMarkers:
    """The logs an evaluation job printed it wrote, the `hf/` models it named, its footer."""
    found = LOG_LINE.findall(data) + LOG_NAME.findall(data)
    names = dict.fromkeys(m.decode("utf-8", "replace").rsplit("/", 1)[-1] for m in found)
    models = dict.fromkeys(m.decode("utf-8", "replace") for m in MODEL_NAME.findall(data))
    return InspectMarkers(tuple(names), tuple(models), FINISHED_LINE.search(data) is not None)


def _marker_bytes(handle: BinaryIO) -> bytes:
    handle.seek(0)
    head = handle.read(MARKER_HEAD + MARKER_TAIL)
    if len(head) < MARKER_HEAD + MARKER_TAIL:
        return head
    handle.seek(-MARKER_TAIL, os.SEEK_END)
    return head[:MARKER_HEAD] + b"\n" + handle.read(MARKER_TAIL)


def _size_text(size: int) -> str:
    """A byte count for a reader: `256 MiB`, `4 GiB`, `3.2 MiB`, `900 bytes`."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:,} bytes"


def read_job_stdout(path: Path) -> JobStdoutRead:
    """One job stdout: the training scan (its last SCAN_MAX_BYTES at most, with a note when
    that is not all of it) and inspect's markers. A FIFO, device or folder is refused unread."""
    try:
        with open_regular(path) as handle:
            scan, skipped = training_log.scan_training_file(handle)
            markers = inspect_markers(_marker_bytes(handle))
    except InputRefused as exc:
        return JobStdoutRead(str(path), error=str(exc))
    except training_log.ScanTooSlow as exc:
        return JobStdoutRead(
            str(path),
            error=(
                f"{path}: scanning stopped after {exc.seconds:g} s (the limit per training "
                f"stdout), {_size_text(exc.scanned)} of {_size_text(exc.size)} read; this many "
                "updates without line breaks is no torchtune log, so its loss is not reported"
            ),
        )
    except PermissionError:
        return JobStdoutRead(
            str(path),
            error=f"{path}: cannot be read (permission denied); check the file's permissions",
        )
    except OSError as exc:
        return JobStdoutRead(str(path), error=f"{path}: cannot be read ({exc.strerror or exc})")
    notes: tuple[str, ...] = ()
    if skipped:
        size = skipped + scan.bytes_read
        notes = (
            f"{path}: scanned the last {_size_text(scan.bytes_read)} of {_size_text(size)} (at "
            f"most {_size_text(training_log.SCAN_MAX_BYTES)} of a job stdout are scanned); its "
            "final loss and failure line are from that part, and the loss curve and minimum "
            "cover that part only",
        )
    return JobStdoutRead(str(path), scan=scan, inspect=markers, notes=notes)


def _read_one(item: tuple[str, str, bool]) -> tuple[str, str, Any]:
    """Read one input; whatever goes wrong is that input's error, with its file named."""
    kind, path, with_samples = item
    try:
        if kind == "log":
            return kind, path, eval_logs.read_log(Path(path), with_samples=with_samples)
        return kind, path, read_job_stdout(Path(path))
    except Exception as exc:  # one bad input never sinks the summary
        error = f"{path}: could not be read ({type(exc).__name__}: {str(exc)[:300]})"
        read = LogRead(path, error=error) if kind == "log" else JobStdoutRead(path, error=error)
        return kind, path, read


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


AHEAD_PER_WORKER = 4
"""Items queued per worker beyond the one it is reading, so it never waits for the parent."""
FEW_LOGS = 8
"""Up to this many logs to read (a re-run after a few evaluations ended), they are read by one
worker forked before inspect-ai is imported, while the parent runs `while_reading` (importing
what judging them takes): the two imports, a second or more each, overlap."""


def _warm_imports(items: list[tuple[str, str, bool]]) -> None:
    """Import, before freezing and forking, what reading will need (inspect-ai's log API)."""
    if any(kind == "log" for kind, _, _ in items):
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


def read_all(
    log_paths: Iterable[str],
    stdout_paths: Iterable[str],
    *,
    with_samples: bool,
    jobs: int,
    on_progress: Callable[[int, int], None] | None = None,
    while_reading: Callable[[], None] | None = None,
) -> tuple[dict[str, LogRead], dict[str, JobStdoutRead]]:
    """Read every log (`with_samples`: its scored samples too) and every job stdout.

    ``jobs`` processes read (the parent and ``jobs - 1`` forked workers); ``on_progress(done,
    total)`` is called in the parent after each file. With at most `FEW_LOGS` logs to read
    (and ``jobs`` > 1), one forked worker reads everything while the parent calls
    ``while_reading``. The result does not depend on ``jobs``.
    """
    given = [("log", str(p), with_samples) for p in log_paths]
    given += [("stdout", str(p), False) for p in stdout_paths]
    items = sorted(dict.fromkeys(given), key=lambda item: _size(item[1]), reverse=True)
    values: dict[tuple[str, str], Any] = {}
    total = len(items)

    def record(result: tuple[str, str, Any]) -> None:
        kind, path, value = result
        values[kind, path] = value
        if on_progress:
            on_progress(len(values), total)

    logs_to_read = sum(1 for kind, _, _ in items if kind == "log")
    if while_reading is not None and jobs > 1 and 0 < logs_to_read <= FEW_LOGS:
        _read_beside(items, record, while_reading)
        return _by_kind(given, values)
    workers = min(jobs, total) - 1
    _warm_imports(items)
    with _frozen_heap():
        if workers < 1:
            for item in items:
                record(_read_one(item))
        else:
            _read_in_pool(items, workers, record)
    return _by_kind(given, values)


def _by_kind(
    given: list[tuple[str, str, bool]], values: dict[tuple[str, str], Any]
) -> tuple[dict[str, LogRead], dict[str, JobStdoutRead]]:
    logs = {path: values["log", path] for kind, path, _ in given if kind == "log"}
    stdouts = {path: values["stdout", path] for kind, path, _ in given if kind == "stdout"}
    return logs, stdouts


def _read_beside(
    items: list[tuple[str, str, bool]],
    record: Callable[[tuple[str, str, Any]], None],
    while_reading: Callable[[], None],
) -> None:
    """One worker, forked now (it imports inspect-ai itself), reads every item while the
    parent runs `while_reading`."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=_fork_context())
    try:
        futures = [pool.submit(_read_one, item) for item in items]
        while_reading()
        for future in futures:
            record(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
