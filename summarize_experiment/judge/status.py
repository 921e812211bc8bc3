"""Decide each run's fine-tuning status and each evaluation cell's status from the evidence.

Evidence: the design, files on disk (checkpoints, stdout, logs), SLURM accounting when it
answered, and what was read from the logs. Everything here is pure: no file or process I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..evidence.design import ExperimentDesign, RunDesign
from ..evidence.eval_logs import EvalHeader, EvalRead
from ..evidence.readers import EvalJobStdout
from . import epochs as epoch_map

FINISHED_STATES = {
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "CANCELLED",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
}
ACTIVE_STATES = {
    "RUNNING",
    "PENDING",
    "REQUEUED",
    "RESIZING",
    "SUSPENDED",
    "CONFIGURING",
    "COMPLETING",
}


@dataclass
class RunEvidence:
    """Files found on disk for one run."""

    checkpoints: list[int]
    training_stdout: list[Path]
    eval_logs: list[tuple[Path, Path]]  # (log, the eval folder it sits in)
    eval_stdout: list[tuple[Path, Path]]
    unreadable: list[str] = field(default_factory=list)


@dataclass
class Cell:
    """One (task, epoch) evaluation of a run, with the log chosen for it."""

    task: str | None
    epoch: int | None
    in_design: bool
    status: str = "MISSING"
    log: str | None = None
    other_logs: list[str] = field(default_factory=list)
    epoch_source: str | None = None
    notes: list[str] = field(default_factory=list)
    job: dict[str, Any] | None = None
    check: str | None = None

    def key(self) -> tuple[str | None, int | None]:
        return (self.task, self.epoch)


def job_state(job: Any | None) -> str | None:
    return getattr(job, "state", None) if job is not None else None


def finetune_status(
    run: RunDesign,
    expected_epochs: int | None,
    evidence: RunEvidence,
    failed_stdout_location: bool,
    job: Any | None,
) -> tuple[str, list[str]]:
    """Fine-tuning status of a run from SLURM and the files on disk, and the notes that explain
    it. What the training stdout says is applied afterwards by `refine_with_training`."""
    if run.is_control:
        return "N/A", []
    notes: list[str] = []
    have = evidence.checkpoints
    all_there = bool(have) and (expected_epochs is None or len(have) >= expected_epochs)
    state = job_state(job)
    if state in ACTIVE_STATES:
        return state, notes
    if state:
        if state == "COMPLETED" and not all_there:
            missing = (
                f"{len(have)} of {expected_epochs} checkpoints"
                if expected_epochs
                else "no checkpoint"
            )
            notes.append(f"sacct says COMPLETED but {missing} found on disk")
        if state != "COMPLETED" and all_there:
            notes.append(f"sacct says {state} but all {len(have)} checkpoints are on disk")
        return state, notes
    if all_there:
        return "COMPLETED", notes
    if not have and not evidence.training_stdout:
        return "NOT_STARTED", notes
    if have and expected_epochs:
        notes.append(f"{len(have)} of {expected_epochs} epochs checkpointed")
    if failed_stdout_location or have:
        return "FAILED", notes
    return "UNKNOWN", notes


def refine_with_training(finetune: dict[str, Any], training: dict[str, Any] | None) -> None:
    """Apply what the training stdout says (see extract_loss.py) to a run's fine-tuning entry,
    in place: the diverged flag, the state its failure line implies when SLURM could not say,
    and the failure line itself as a note."""
    if not training:
        return
    notes = finetune["notes"]
    failure = training.get("failure_line")
    finetune["diverged"] = bool(training.get("diverged"))
    if not finetune.get("job"):
        status = finetune["status"]
        if status == "COMPLETED" and failure:
            notes.append("all checkpoints are on disk but the stdout ends in an error")
        elif status in ("FAILED", "UNKNOWN") and failure:
            finetune["status"] = state_from_failure_line(failure)
        elif status == "FAILED" and "updates" in training:
            notes.append(
                "no error in the stdout: the job was killed without a message, or is still "
                "running (no SLURM accounting to tell)"
            )
    if failure and finetune["status"] not in ("COMPLETED", "RUNNING", "PENDING"):
        notes.append(failure)


def state_from_failure_line(line: str) -> str:
    """The SLURM state a job's last telling line implies, when sacct cannot say."""
    if "DUE TO TIME LIMIT" in line:
        return "TIMEOUT"
    if "DUE TO PREEMPTION" in line:
        return "PREEMPTED"
    if "oom_kill" in line or "oom-kill" in line:
        return "OUT_OF_MEMORY"
    if "CANCELLED AT" in line:
        return "CANCELLED"
    return "FAILED"


def cell_evidence(
    header: EvalHeader | None,
    run: RunDesign,
    folder_epoch: int | None,
    sacct_epoch: int | None,
) -> dict[str, int | None]:
    """Every epoch source available for one log."""
    evidence: dict[str, int | None] = {"sacct": sacct_epoch, "folder": folder_epoch}
    if header is not None:
        evidence["task_args"] = epoch_map.epoch_from_task_args(header.task_args)
        evidence["model_path"] = epoch_map.epoch_from_model_path(header.model_path)
        evidence["model_name"] = epoch_map.epoch_from_model_name(header.model, run.name)
    return evidence


def _created(read: EvalRead | EvalHeader | Exception | None) -> str:
    header = read.header if isinstance(read, EvalRead) else read
    return (getattr(header, "created", None) or "") if header is not None else ""


def is_result(read: Any) -> bool:
    if isinstance(read, EvalRead):
        return read.ok
    return isinstance(read, EvalHeader) and read.log_status == "success"


def header_of(read: Any) -> EvalHeader | None:
    if isinstance(read, EvalRead):
        return read.header
    return read if isinstance(read, EvalHeader) else None


def choose_log(paths: list[str], reads: dict[str, Any], mtimes: dict[str, float]) -> str:
    """The latest successful log of a cell (by the log's own creation time), else the latest."""
    ranked = sorted(
        paths,
        key=lambda p: (is_result(reads.get(p)), _created(reads.get(p)), mtimes.get(p, 0.0), p),
    )
    return ranked[-1]


def expected_cells(design: ExperimentDesign, run: RunDesign) -> list[Cell]:
    row = design.matrix_row(run.name)
    if row is None:
        return []
    if run.is_control:
        return [Cell(task, None, True) for task in row.tasks]
    return [Cell(task, epoch, True) for task in row.tasks for epoch in (row.epochs or ())]


def sacct_cell(
    job: Any | None,
    design: ExperimentDesign,
    run: str,
    folder_task: str | None,
) -> epoch_map.JobName | None:
    """The (task, epoch) a job's SLURM name points to, if it belongs to this run."""
    name = getattr(job, "name", None)
    if not name:
        return None
    parsed = epoch_map.parse_eval_job_name(
        name, design.tasks or [folder_task or ""], [r.name for r in design.runs]
    )
    if parsed is None or (parsed.run is not None and parsed.run != run):
        return None
    return parsed


def stdout_links(stdouts: list[EvalJobStdout]) -> dict[str, EvalJobStdout]:
    """log file name → the job stdout that printed it."""
    links: dict[str, EvalJobStdout] = {}
    for scan in stdouts:
        for name in scan.log_names:
            links.setdefault(name, scan)
    return links


def evaluation_summary(cells: list[Cell], finetune: str) -> str:
    """The Run Status table's Evaluation column for one run."""
    expected = [c for c in cells if c.in_design]
    unmapped = sum(1 for c in cells if not c.in_design and c.status == "COMPLETED")
    if not expected:
        return f"N/A ({unmapped} outside the design)" if unmapped else "N/A"
    done = sum(1 for c in expected if c.status == "COMPLETED")
    if done == len(expected):
        return "COMPLETED"
    if unmapped:
        return f"PARTIAL ({done}/{len(expected)}, {unmapped} unmapped)"
    active = [c.status for c in expected if c.status in ACTIVE_STATES]
    if active and done == 0:
        return "RUNNING" if "RUNNING" in active else "PENDING"
    if done == 0:
        failed = [c.status for c in expected if c.status not in ("MISSING", "NOT_STARTED")]
        if failed:
            return failed[0] if len(set(failed)) == 1 and len(failed) == len(expected) else "FAILED"
        return "NOT_STARTED"
    return f"PARTIAL ({done}/{len(expected)})"
