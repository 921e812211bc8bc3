"""The whole summarizer in one process: gather the evidence, judge it, write the summary.

`summarize` is the one-command path; `publish` is the part both paths share (the step-by-step
path's `render_summary.py` rebuilds the evidence from the steps' JSON and calls `publish` too),
so the two give the same summary.md, summary.json and log apart from timestamps.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import (
    MD_DIGEST_KEY,
    ReplaceError,
    check_replaceable,
    content_digest,
    replace_together,
    write_atomically,
)
from .evidence.cache import CACHE_FILE, ReadCache, cache_text, load_cache, reads_text
from .evidence.design import DesignError
from .evidence.gather import gather
from .evidence.model import Evidence
from .evidence.safe_io import IncompleteWrite, UnsafeOutput, append_all, folder_inside
from .jsonio import dumps
from .judge.assess import assess
from .judge.memo import Memo
from .judge.model import Results
from .report.process_log import LOG_RELATIVE_PATH, ProcessLog, log_results
from .report.render import render_markdown
from .report.tables import build_report
from .vocabulary import COMPLETED, EXIT_OK, EXIT_USAGE

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
FIGURES_FOLDER = "summary-figures"


def generated_at() -> str:
    """The summary's `Generated` time: UTC, ISO 8601."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _warn(message: str) -> None:
    print(f"summarize-experiment: {message}", file=sys.stderr)


def write_problem(path: Path, exc: OSError) -> str:
    """What went wrong writing ``path``, naming it once."""
    if isinstance(exc, UnsafeOutput | IncompleteWrite | ReplaceError):
        return str(exc)  # these name the file and say what was (not) written
    return f"{path}: cannot be written ({exc.strerror or exc})"


def append_log(experiment_dir: Path, log: ProcessLog) -> Path:
    """Append this run's entries to the experiment's process log in one write, in full: below
    the experiment only, never through a symbolic link leading out of it (see
    `safe_io.append_all`); raises OSError (UnsafeOutput, IncompleteWrite) otherwise."""
    path = experiment_dir / LOG_RELATIVE_PATH
    append_all(path, log.text().encode("utf-8"), root=experiment_dir)
    return path


def _append_log_safely(log: ProcessLog, experiment_dir: Path) -> tuple[Path | None, str | None]:
    try:
        return append_log(experiment_dir, log), None
    except OSError as exc:
        message = write_problem(experiment_dir / LOG_RELATIVE_PATH, exc)
        _warn(f"the process log was not written: {message}")
        return None, message


FIGURE_MODULES = (
    "matplotlib.backends.backend_svg",
    "matplotlib.figure",
    "matplotlib.lines",
    "matplotlib.patches",
    "matplotlib.textpath",
)
"""What drawing the figures imports (`report.figures`)."""


def import_for_judging(figures: bool) -> None:
    """Import what judging new samples and redrawing figures take (scipy.stats, scikit-learn,
    `FIGURE_MODULES`), called while a worker reads the few new logs of a re-run."""
    import scipy.stats  # noqa: F401
    import sklearn.metrics  # noqa: F401

    for module in FIGURE_MODULES if figures else ():
        importlib.import_module(module)


def import_for_drawing() -> threading.Thread:
    """Import matplotlib's drawing modules in a thread, started while the judge works: much of
    judging is numpy, which lets the thread run, so most of the import's ~0.6 s is hidden
    (measured on the 42-log sweep: the summary 0.4 s sooner). A failed import is left to
    `draw_figures`, which imports the same modules and says what went wrong."""

    def load() -> None:
        with contextlib.suppress(Exception):  # draw_figures imports them again and says why
            for module in FIGURE_MODULES:
                importlib.import_module(module)

    thread = threading.Thread(target=load, name="import-matplotlib")
    thread.start()
    return thread


def cache_reads(evidence: Evidence, cache: ReadCache) -> str | None:
    """The reads part of the cache file to write (`cache.reads_text`), or None when the cache
    already holds exactly these reads."""
    log_files = [f for r in evidence.runs for f in r.logs if f.path in evidence.logs]
    out_files = [f for r in evidence.runs for f in r.job_stdouts if f.path in evidence.stdouts]
    if cache.holds_exactly(log_files, out_files, evidence.samples_read):
        return None
    return reads_text(
        [(f, evidence.logs[f.path]) for f in log_files],
        [(f, evidence.stdouts[f.path]) for f in out_files],
        evidence.samples_read,
    )


def save_cache(evidence: Evidence, cache: ReadCache, reads: str | None, memo: Memo) -> None:
    """Keep what was read (`reads`, from `cache_reads`) and what the judge computed, for the
    next run (in `logs/`); nothing is written when neither changed. A cache that cannot be
    written only costs the next run its speed, so that is said on stderr and nothing more."""
    if reads is None and not memo.changed:
        return
    if reads is None:  # the same reads, other results: the reads are encoded again
        reads = cache_reads(evidence, ReadCache())
        assert reads is not None
    experiment_dir = evidence.design.directory
    path = experiment_dir / CACHE_FILE
    try:
        write_atomically(path, cache_text(reads, memo.entries()), root=experiment_dir)
    except OSError as exc:
        _warn(f"the read cache was not written: {write_problem(path, exc)}")


def draw_figures(results: Results, experiment_dir: Path) -> list[dict[str, Any]]:
    """Write the figures (SVG, byte-stable) into `summary-figures/`; their entries for the
    report, with the markdown that embeds each with a link relative to summary.md."""
    from .report.charts import loss_curves, task_figures
    from .report.figures import figure_markdown, write_figures

    folder = folder_inside(experiment_dir / FIGURES_FOLDER, experiment_dir, create=False)
    figures = write_figures(folder, loss_curves(results), task_figures(results))
    lines = figure_markdown(figures, experiment_dir)
    return [
        {
            "kind": figure.kind,
            "path": figure.path.relative_to(experiment_dir).as_posix(),
            "alt": figure.alt,
            "width_px": figure.width_px,
            "height_px": figure.height_px,
            "markdown": line,
        }
        for figure, line in zip(figures, lines, strict=True)
    ]


def publish(
    evidence: Evidence,
    *,
    figures: bool = True,
    memo: Memo | None = None,
    inputs_changed: bool = True,
) -> tuple[int, dict[str, Any]]:
    """Judge the evidence, draw the figures (unless `figures` is False), replace summary.md and
    summary.json together (summary.json recording the digest of its summary.md), append the
    log; return (exit code, the JSON result). When the pair cannot be replaced, neither is
    (exit 2, the message says what was and was not replaced). `memo`: the judge's costly
    results kept from an earlier run (the same results, sooner); `inputs_changed` False (a
    re-run that read nothing new) leaves matplotlib unimported unless a figure is missing."""
    experiment_dir = evidence.design.directory
    summary_md, summary_json = experiment_dir / SUMMARY_MD, experiment_dir / SUMMARY_JSON
    importing = import_for_drawing() if figures and inputs_changed else None
    results = assess(evidence, memo)
    if importing is not None:
        importing.join()
    log = log_results(results)
    report = build_report(results, generated_at())
    try:
        check_replaceable([summary_md, summary_json])
    except ReplaceError as exc:
        return EXIT_USAGE, failure(
            experiment_dir, f"the summary was not written: {exc}", design_error=False
        )
    drawn = False
    if figures:
        try:
            report["figures"] = draw_figures(results, experiment_dir)
            drawn = True
        except OSError as exc:
            problem = write_problem(experiment_dir / FIGURES_FOLDER, exc)
            _warn(f"no figures: {problem}")
            log.add(
                "GENERATE_SUMMARY",
                str(experiment_dir / FIGURES_FOLDER),
                "figures",
                f"no figures drawn: {problem}",
                "WARNING",
            )
    markdown = render_markdown(report)
    report[MD_DIGEST_KEY] = content_digest(markdown)
    try:
        replace_together({summary_md: markdown, summary_json: dumps(report, indent=2) + "\n"})
    except OSError as exc:
        folder = experiment_dir / FIGURES_FOLDER
        redrawn = f"; the figures in {folder} were redrawn" if drawn else ""
        return EXIT_USAGE, failure(
            experiment_dir,
            f"the summary was not written: {write_problem(summary_md, exc)}{redrawn}",
            design_error=False,
        )
    log.add(
        "GENERATE_SUMMARY",
        str(summary_md),
        f"{len(report['evaluations'])} evaluation rows, {len(report['incomplete'])} incomplete",
        f"wrote {summary_md} and {summary_json}",
    )
    counts = {
        "runs": report["total_runs"],
        "complete_runs": report["complete_runs"],
        "evaluations": sum(1 for r in report["evaluations"] if r["status"] == COMPLETED),
        "errors": sum(1 for r in report["evaluations"] if r["status"] != COMPLETED),
        "incomplete": len(report["incomplete"]),
    }
    warnings = log.warnings()
    without_slurm = (
        "; SLURM accounting not used (see PARSE_STATUS slurm)" if log.slurm_warned() else ""
    )
    log.add(
        "COMPLETE",
        results.experiment.name,
        ", ".join(f"{key} {value}" for key, value in counts.items()),
        f"{results.complete_runs}/{len(results.runs)} runs complete, {len(warnings)} warnings"
        + without_slurm,
    )
    log_path, log_error = _append_log_safely(log, experiment_dir)
    result = {
        "status": "success" if not warnings else "partial",
        "experiment": results.experiment.name,
        "summary": str(summary_md),
        "summary_json": str(summary_json),
        "log": str(log_path) if log_path else None,
        "counts": counts,
        "best": report["best"],
        "warnings": warnings,
        "slurm": {
            "used": results.slurm.used,
            "available": results.slurm.available,
            "source": results.slurm.source,
            "error": results.slurm.error,
        },
    }
    if log_error:
        result["log_error"] = log_error
    return EXIT_OK, result


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a folder on the way that cannot be searched
        return False


def failure(experiment_dir: Path, message: str, *, design_error: bool) -> dict[str, Any]:
    """The JSON result when no summary could be made; the log says so too (when the design
    file is there: without an experiment nothing is written)."""
    log = ProcessLog()
    design = str(experiment_dir / "experiment_summary.yaml")
    if design_error:
        log.add("DISCOVER_EXPERIMENT", str(experiment_dir), design, message, "ERROR")
    else:
        log.add("DISCOVER_EXPERIMENT", str(experiment_dir), design, "design read")
    log.add("COMPLETE", str(experiment_dir), "no summary written", message, "ERROR")
    log_path = log_error = None
    if _is_file(experiment_dir / "experiment_summary.yaml"):
        log_path, log_error = _append_log_safely(log, experiment_dir)
    result = {
        "status": "error",
        "message": message,
        "summary": None,
        "log": str(log_path) if log_path else None,
    }
    if log_error:
        result["log_error"] = log_error
    return result


def _os_error_text(exc: OSError) -> str:
    """An OSError as `file: reason` (both files of a rename), or its own text."""
    if exc.filename is None or exc.strerror is None:
        return str(exc)
    names = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else exc.filename
    return f"{names}: {exc.strerror}"


def unexpected_failure(experiment_dir: Path, exc: Exception) -> dict[str, Any]:
    """The JSON result of a failure nothing foresaw: what failed and where; an error of the
    system (read-only, full disk, permissions) says so, anything else asks for a report with
    the log, when there is a log to send."""
    unchanged = "the previous summary.md and summary.json, if any, are unchanged"
    if isinstance(exc, OSError):
        message = (
            f"{experiment_dir}: the summary could not be made: {_os_error_text(exc)}; {unchanged}."
        )
        return failure(experiment_dir, message, design_error=False)
    message = (
        f"{experiment_dir}: the summary could not be made ({type(exc).__name__}: {exc}); "
        f"{unchanged}."
    )
    result = failure(experiment_dir, message, design_error=False)
    if result["log"]:
        result["message"] += f" Please report this with the log ({result['log']})."
    return result


def summarize(
    experiment_dir: Path,
    *,
    jobs: int = 1,
    use_sacct: bool = True,
    sacct_timeout_s: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    figures: bool = True,
    use_cache: bool = True,
) -> tuple[int, dict[str, Any]]:
    """Gather, judge, write; returns (exit code, the JSON result printed by the CLI).

    Exit 2 when no summary could be made (no usable design, or an unexpected failure); the
    previous summary.md and summary.json are then left exactly as they were."""
    try:
        experiment_dir = experiment_dir.resolve()
    except OSError:  # a folder on the way that cannot be searched: load_design says so
        experiment_dir = experiment_dir.absolute()
    try:
        cache = load_cache(experiment_dir) if use_cache else ReadCache()
        evidence = gather(
            experiment_dir,
            jobs=jobs,
            use_sacct=use_sacct,
            sacct_timeout_s=sacct_timeout_s,
            on_progress=on_progress,
            cache=cache,
            while_reading=lambda: import_for_judging(figures),
        )
        reads = cache_reads(evidence, cache)
        memo = Memo(cache.derived)
        code, result = publish(
            evidence, figures=figures, memo=memo, inputs_changed=reads is not None
        )
        save_cache(evidence, cache, reads, memo)
        return code, result
    except DesignError as exc:
        return EXIT_USAGE, failure(experiment_dir, str(exc), design_error=True)
    except Exception as exc:
        return EXIT_USAGE, unexpected_failure(experiment_dir, exc)
