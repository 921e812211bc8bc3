"""The process log `logs/summarize-experiment.log`, in the toolkit's shared format (logging.md):

    [YYYY-MM-DD HH:MM:SS] ACTION: subject
    Details: what was examined
    Result: what came of it (`WARNING: ...` / `ERROR: ...` when something is wrong)

Entries are made from the judged results only; one summarizer run appends its entries in one
write, so concurrent runs never interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..judge.model import CellResult, Results, RunResult
from ..text import one_line
from ..vocabulary import (
    ACTIVE_STATES,
    COMPLETED,
    LOG_ACTIONS,
    LOG_LEVELS,
    NOT_APPLICABLE,
    NOT_STARTED,
    SUBMITTED,
)
from .tables import cell_label, finetune_text

LOG_RELATIVE_PATH = Path("logs") / "summarize-experiment.log"
SLURM_SUBJECT = "SLURM accounting"


def log_time() -> str:
    """The toolkit's log timestamp: local time, `YYYY-MM-DD HH:MM:SS`."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Entry:
    """One entry of the process log."""

    action: str
    subject: str
    details: str
    result: str
    level: str = "INFO"

    def text(self, when: str) -> str:
        result = self.result if self.level == "INFO" else f"{self.level}: {self.result}"
        return (
            f"[{when}] {self.action}: {one_line(self.subject)}\n"
            f"Details: {one_line(self.details)}\n"
            f"Result: {one_line(result)}\n"
        )


@dataclass
class ProcessLog:
    """The entries of one summarizer run, written in one append at the end."""

    entries: list[Entry] = field(default_factory=list)

    def add(
        self, action: str, subject: str, details: str, result: str, level: str = "INFO"
    ) -> None:
        if action not in LOG_ACTIONS or level not in LOG_LEVELS:
            raise ValueError(f"unknown log action {action!r} or level {level!r}")
        self.entries.append(Entry(action, subject, details, result, level))

    def warnings(self) -> list[str]:
        """Every WARNING and ERROR entry, in order, as `subject: result` (the result alone when
        it names its subject already). SLURM's own problems are in the log and the summary's
        Notes, not here: a summary made without SLURM is still complete."""
        found = []
        for entry in self.entries:
            if entry.level == "INFO" or entry.subject == SLURM_SUBJECT:
                continue
            result = one_line(entry.result)
            subject = one_line(entry.subject)
            found.append(result if result.startswith(subject) else f"{subject}: {result}")
        return found

    def slurm_warned(self) -> bool:
        """Whether SLURM could not be used as asked (its entry is a WARNING)."""
        return any(e.subject == SLURM_SUBJECT and e.level != "INFO" for e in self.entries)

    def text(self, when: str | None = None) -> str:
        stamp = when or log_time()
        return "\n".join(entry.text(stamp) for entry in self.entries) + "\n"


def _value(value: object) -> str:
    """A number for the log: as computed, or `n/a` where the metric does not apply."""
    return "n/a" if value is None else str(value)


def _run_entries(log: ProcessLog, run: RunResult) -> None:
    finetune = run.finetune
    training = finetune.training
    stdouts = ", ".join(training.stdout_files) if training and training.stdout_files else "none"
    notes = f"; {'; '.join(finetune.notes)}" if finetune.notes else ""
    failed = finetune.status not in (COMPLETED, NOT_APPLICABLE, SUBMITTED, *ACTIVE_STATES)
    check = f"; check {training.stdout}" if failed and training and training.stdout else ""
    log.add(
        "PARSE_STATUS",
        run.name,
        f"type {run.type}; checkpoints {list(finetune.checkpoints)}; training stdout {stdouts}",
        f"fine-tuning {finetune_text(run)}; evaluation {run.evaluation_status}{notes}{check}",
        "WARNING" if failed else "INFO",
    )
    if training is not None:
        if training.warning:
            log.add(
                "EXTRACT_LOSS",
                run.name,
                training.stdout or "no stdout file",
                training.warning,
                "WARNING",
            )
        elif training.final is not None:
            final = training.final
            stopped = "" if training.finished else f" (not final: fine-tuning {finetune.status})"
            log.add(
                "EXTRACT_LOSS",
                run.name,
                training.stdout or "",
                f"final loss {final.loss!r} at epoch {final.epoch} step {final.step}{stopped}"
                + (" (diverged: loss is not finite)" if training.diverged else ""),
                "WARNING" if training.diverged else "INFO",
            )
    for cell in run.cells:
        _cell_entry(log, run, cell)
    for job in run.unplaced:
        log.add(
            "EXTRACT_ACCURACY",
            f"{run.name} cell unknown",
            job.stdout or "",
            f"{job.status}: an evaluation job that wrote no log and cannot be tied to a cell",
            "WARNING",
        )


def _cell_entry(log: ProcessLog, run: RunResult, cell: CellResult) -> None:
    where = f"{run.name} {cell_label(cell)}"
    if cell.status == COMPLETED:
        metrics = cell.metrics
        sources = f"epoch from {cell.epoch_source or 'n/a'}, task from {cell.task_source or 'n/a'}"
        placed = f", placed by {cell.placement}" if cell.placement else ""
        numbers = (
            f"accuracy {_value(metrics.accuracy)}, balanced accuracy "
            f"{_value(metrics.balanced_accuracy)}, f1 {_value(metrics.f1)}, samples "
            f"{_value(metrics.samples)}, scorer {_value(metrics.scorer)}"
            if metrics
            else "no metrics"
        )
        log.add("EXTRACT_ACCURACY", where, f"{cell.log} ({sources}{placed})", numbers)
        return
    message = "; ".join(cell.notes) or cell.status
    level = "ERROR" if cell.log else "WARNING"
    if cell.status == NOT_STARTED:  # the fine-tuning's own entry warns, once for the run
        message, level = f"waiting on fine-tuning ({run.finetune.status})", "INFO"
    elif cell.check and cell.check not in message:
        message += f"; check {cell.check}"
    log.add(
        "EXTRACT_ACCURACY",
        where,
        cell.log or cell.check or "evaluation logs of the run",
        f"{cell.status}: {message}",
        level,
    )


def log_results(results: Results) -> ProcessLog:
    """The DISCOVER_EXPERIMENT, PARSE_STATUS, EXTRACT_LOSS and EXTRACT_ACCURACY entries."""
    log = ProcessLog()
    experiment = results.experiment
    kinds = ", ".join(
        f"{sum(1 for r in results.runs if r.type == kind)} {kind}"
        for kind in dict.fromkeys(r.type for r in results.runs)
    )
    log.add(
        "DISCOVER_EXPERIMENT",
        experiment.name,
        f"design {experiment.design_file}; layout {experiment.layout}; "
        + (f"output base {experiment.output_base}" if experiment.output_base else "no output base"),
        f"{len(results.runs)} runs ({kinds}), tasks: {', '.join(experiment.tasks) or 'none'}",
    )
    for problem in results.design_problems:
        log.add("DISCOVER_EXPERIMENT", experiment.design_file, "design problem", problem, "WARNING")
    slurm = results.slurm
    if slurm.available:
        answer = f"source {slurm.source}, {slurm.jobs_found} jobs known" + (
            f"; {slurm.error}" if slurm.error else ""
        )
    else:
        answer = f"not available: {slurm.error}"
    log.add(
        "PARSE_STATUS",
        SLURM_SUBJECT,
        f"{slurm.jobs_asked} job ids from slurm-*.out file names and the run logs",
        answer,
        "WARNING" if slurm.used and slurm.jobs_asked and slurm.error else "INFO",
    )
    for run in results.runs:
        _run_entries(log, run)
    for note in results.notes:
        log.add("EXTRACT_ACCURACY", note.subject, "evaluation logs", note.text, note.level)
    return log
