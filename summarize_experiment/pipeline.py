"""The whole summarizer in one process: collect, build the report, write summary.md and the log."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import write_all_atomically
from .collect import collect
from .evidence.design import DesignError
from .jsonio import dumps
from .report.process_log import ProcessLog, timestamp
from .report.render import render_markdown
from .report.tables import build_report

SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"


def _value(value: Any) -> str:
    """A number for the log: as computed, or `n/a` where the metric does not apply."""
    return "n/a" if value is None else str(value)


def log_collected(log: ProcessLog, collected: dict[str, Any]) -> list[str]:
    """Write the PARSE_STATUS, EXTRACT_LOSS and EXTRACT_ACCURACY entries; return the warnings."""
    warnings: list[str] = []
    experiment = collected["experiment"]
    slurm = collected["slurm"]
    log.add(
        "DISCOVER_EXPERIMENT",
        experiment["name"],
        f"design {experiment['design_file']}; layout {experiment['layout']}; output base "
        f"{experiment['output_base']}",
        f"{len(collected['runs'])} runs, tasks: {', '.join(experiment['tasks']) or 'none'}",
    )
    for problem in collected["design_problems"]:
        log.add(
            "DISCOVER_EXPERIMENT", "design problem", experiment["design_file"], problem, "WARNING"
        )
        warnings.append(problem)
    log.add(
        "PARSE_STATUS",
        "SLURM accounting",
        f"{slurm['jobs_asked']} job ids from slurm-*.out file names",
        (
            f"source {slurm['source']}, {slurm['jobs_found']} jobs known"
            + (f"; {slurm['error']}" if slurm["error"] else "")
        )
        if slurm["available"]
        else f"not available: {slurm['error']}",
        "WARNING" if slurm["jobs_asked"] and slurm["error"] else "INFO",
    )
    for run in collected["runs"]:
        finetune = run["finetune"]
        log.add(
            "PARSE_STATUS",
            run["name"],
            f"type {run['type']}; checkpoints {finetune['checkpoints']}; stdout "
            f"{finetune['stdout_files'] or 'none'}",
            f"fine-tuning {finetune['status']}; evaluation {run['evaluation_status']}"
            + (f"; {'; '.join(finetune['notes'])}" if finetune["notes"] else ""),
        )
        training = run.get("training")
        if training is not None:
            if training.get("warning"):
                log.add(
                    "EXTRACT_LOSS",
                    run["name"],
                    training.get("stdout") or "no stdout file",
                    f"N/A: {training['warning']}",
                    "WARNING",
                )
                warnings.append(f"{run['name']}: {training['warning']}")
            else:
                final = training.get("final") or {}
                level = "WARNING" if training.get("diverged") else "INFO"
                log.add(
                    "EXTRACT_LOSS",
                    run["name"],
                    training["stdout"],
                    f"final loss {final.get('loss_repr')} at epoch "
                    f"{final.get('epoch')} step {final.get('step')}"
                    + (" (diverged: loss is not finite)" if training.get("diverged") else ""),
                    level,
                )
        for cell in run["cells"]:
            epoch = "(no epoch)" if cell["epoch"] is None else f"epoch {cell['epoch']}"
            where = f"{run['name']} {cell['task']} {epoch}"
            if cell["status"] == "COMPLETED":
                result = cell["result"] or {}
                log.add(
                    "EXTRACT_ACCURACY",
                    where,
                    f"{cell['log']} (epoch from {cell['epoch_source'] or 'n/a'})",
                    f"accuracy {_value(result.get('accuracy'))}, balanced accuracy "
                    f"{_value(result.get('balanced_accuracy'))}, f1 {_value(result.get('f1'))}, "
                    f"samples {_value(result.get('samples'))}",
                )
            elif cell["log"] or cell["notes"]:
                message = "; ".join(cell["notes"]) or cell["status"]
                log.add(
                    "EXTRACT_ACCURACY",
                    where,
                    cell["log"] or cell.get("check") or "no log",
                    f"{cell['status']}: {message}",
                    "ERROR" if cell["log"] else "WARNING",
                )
                warnings.append(f"{where}: {cell['status']}: {message}")
            elif cell["in_design"]:
                reason = (
                    f"fine-tuning {run['finetune']['status']}"
                    if cell["status"] == "NOT_STARTED"
                    else "no evaluation log and no evaluation job found"
                )
                log.add(
                    "EXTRACT_ACCURACY",
                    where,
                    "evaluation logs of the run",
                    f"{cell['status']}: {reason}",
                    "WARNING",
                )
                warnings.append(f"{where}: {cell['status']}: {reason}")
    for note in collected["notes"]:
        log.add("EXTRACT_ACCURACY", "evaluation logs", "evaluation logs", note, "WARNING")
        warnings.append(note)
    return warnings


def summarize(
    experiment_dir: Path,
    *,
    jobs: int = 1,
    use_sacct: bool = True,
    sacct_timeout_s: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run the pipeline; returns (exit code, the JSON result printed by scripts/summarize.py).

    Exit 2 when no summary could be made (no usable design, or an unexpected failure); the
    previous summary.md and summary.json are then left exactly as they were."""
    started = timestamp()
    log = ProcessLog()
    experiment_dir = experiment_dir.resolve()
    try:
        return _summarize(
            experiment_dir, log, started, jobs, use_sacct, sacct_timeout_s, on_progress
        )
    except DesignError as exc:
        log.add(
            "DISCOVER_EXPERIMENT", str(experiment_dir), "experiment_summary.yaml", str(exc), "ERROR"
        )
        message = str(exc)
    except Exception as exc:
        message = (
            f"{experiment_dir}: the summary could not be made ({type(exc).__name__}: {exc}); "
            "the previous summary.md, if any, is unchanged. Please report this with the log."
        )
    log.add("COMPLETE", str(experiment_dir), "no summary written", message, "ERROR")
    log_path = _append_log_safely(log, experiment_dir, started)
    return 2, {
        "status": "error",
        "message": message,
        "summary": None,
        "log": str(log_path) if log_path else None,
    }


def _summarize(
    experiment_dir: Path,
    log: ProcessLog,
    started: str,
    jobs: int,
    use_sacct: bool,
    sacct_timeout_s: float | None,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[int, dict[str, Any]]:
    collected = collect(
        experiment_dir,
        jobs=jobs,
        use_sacct=use_sacct,
        sacct_timeout_s=sacct_timeout_s,
        on_progress=on_progress,
    )
    warnings = log_collected(log, collected)
    report = build_report(collected, started)
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
        "evaluations": sum(1 for r in report["evaluations"] if r["status"] == "COMPLETED"),
        "errors": sum(1 for r in report["evaluations"] if r["status"] != "COMPLETED"),
        "incomplete": len(report["incomplete"]),
    }
    log.add(
        "COMPLETE",
        collected["experiment"]["name"],
        ", ".join(f"{key} {value}" for key, value in counts.items()),
        f"{report['complete_runs']}/{report['total_runs']} runs complete, {len(warnings)} warnings",
    )
    log_path = _append_log_safely(log, experiment_dir, started)
    return 0, {
        "status": "success" if not warnings else "partial",
        "experiment": collected["experiment"]["name"],
        "summary": str(summary_md),
        "summary_json": str(summary_json),
        "log": str(log_path) if log_path else None,
        "counts": counts,
        "best": report["best"],
        "warnings": warnings,
    }


def _append_log_safely(log: ProcessLog, experiment_dir: Path, started: str) -> Path | None:
    try:
        return log.append_to(experiment_dir, started)
    except OSError as exc:
        print(f"summarize-experiment: cannot write the log: {exc}", file=sys.stderr)
        return None
