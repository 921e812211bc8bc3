"""The whole summarizer in one process: gather the evidence, judge it, write the summary.

`summarize` is the one-command path; `publish` is the part both paths share (the step-by-step
path's `render_summary.py` rebuilds the evidence from the steps' JSON and calls `publish` too),
so the two give the same summary.md, summary.json and log apart from timestamps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import write_all_atomically, write_atomically
from .evidence.cache import CACHE_FILE, cache_document
from .evidence.design import DesignError
from .evidence.gather import gather
from .evidence.model import Evidence
from .jsonio import dumps
from .judge.assess import assess
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


def append_log(experiment_dir: Path, log: ProcessLog) -> Path:
    """Append this run's entries to the experiment's process log in one write."""
    path = experiment_dir / LOG_RELATIVE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    data = log.text().encode("utf-8")
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
    return path


def _append_log_safely(log: ProcessLog, experiment_dir: Path) -> tuple[Path | None, str | None]:
    try:
        return append_log(experiment_dir, log), None
    except OSError as exc:
        message = f"{experiment_dir / LOG_RELATIVE_PATH}: cannot be written ({exc})"
        print(f"summarize-experiment: {message}", file=sys.stderr)
        return None, message


def save_cache(evidence: Evidence) -> None:
    """Keep what was read for the next run (in `logs/`); a cache that cannot be written only
    costs the next run its speed, so that is said on stderr and nothing more."""
    experiment_dir = evidence.design.directory
    logs = [
        (f, evidence.logs[f.path]) for r in evidence.runs for f in r.logs if f.path in evidence.logs
    ]
    stdouts = [
        (f, evidence.stdouts[f.path])
        for r in evidence.runs
        for f in r.job_stdouts
        if f.path in evidence.stdouts
    ]
    document = cache_document(logs, stdouts, evidence.samples_read)
    try:
        write_atomically(experiment_dir / CACHE_FILE, dumps(document) + "\n")
    except OSError as exc:
        print(f"summarize-experiment: the read cache cannot be written ({exc})", file=sys.stderr)


def draw_figures(results: Results, experiment_dir: Path) -> list[dict[str, Any]]:
    """Write the figures (SVG, byte-stable) into `summary-figures/`; their entries for the
    report, with the markdown that embeds each with a link relative to summary.md."""
    from .report.charts import loss_curves, task_figures
    from .report.figures import figure_markdown, write_figures

    figures = write_figures(
        experiment_dir / FIGURES_FOLDER, loss_curves(results), task_figures(results)
    )
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


def publish(evidence: Evidence, *, figures: bool = True) -> tuple[int, dict[str, Any]]:
    """Judge the evidence, draw the figures (unless `figures` is False), write summary.md and
    summary.json, append the log; return (exit code, the JSON result)."""
    experiment_dir = evidence.design.directory
    results = assess(evidence)
    log = log_results(results)
    report = build_report(results, generated_at())
    if figures:
        report["figures"] = draw_figures(results, experiment_dir)
    summary_md, summary_json = write_all_atomically(
        {
            experiment_dir / SUMMARY_MD: render_markdown(report),
            experiment_dir / SUMMARY_JSON: dumps(report, indent=2) + "\n",
        }
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
    log.add(
        "COMPLETE",
        results.experiment.name,
        ", ".join(f"{key} {value}" for key, value in counts.items()),
        f"{results.complete_runs}/{len(results.runs)} runs complete, {len(warnings)} warnings",
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
    }
    if log_error:
        result["log_error"] = log_error
    return EXIT_OK, result


def failure(experiment_dir: Path, message: str, *, design_error: bool) -> dict[str, Any]:
    """The JSON result when no summary could be made; the log says so too."""
    log = ProcessLog()
    design = str(experiment_dir / "experiment_summary.yaml")
    if design_error:
        log.add("DISCOVER_EXPERIMENT", str(experiment_dir), design, message, "ERROR")
    else:
        log.add("DISCOVER_EXPERIMENT", str(experiment_dir), design, "design read")
    log.add("COMPLETE", str(experiment_dir), "no summary written", message, "ERROR")
    log_path = None
    if (experiment_dir / "experiment_summary.yaml").is_file():
        log_path, _ = _append_log_safely(log, experiment_dir)
    return {
        "status": "error",
        "message": message,
        "summary": None,
        "log": str(log_path) if log_path else None,
    }


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
    experiment_dir = experiment_dir.resolve()
    try:
        evidence = gather(
            experiment_dir,
            jobs=jobs,
            use_sacct=use_sacct,
            sacct_timeout_s=sacct_timeout_s,
            on_progress=on_progress,
            use_cache=use_cache,
        )
        save_cache(evidence)
        return publish(evidence, figures=figures)
    except DesignError as exc:
        return EXIT_USAGE, failure(experiment_dir, str(exc), design_error=True)
    except Exception as exc:
        message = (
            f"{experiment_dir}: the summary could not be made ({type(exc).__name__}: {exc}); "
            "the previous summary.md, if any, is unchanged. Please report this with the log."
        )
        return EXIT_USAGE, failure(experiment_dir, message, design_error=False)
