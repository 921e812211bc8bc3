"""Each status, decided once, from everything known about it (pure functions).

A run's fine-tuning status comes from SLURM when it knows the training job, else from the disk
(checkpoints) and the training stdout (its failure line); a cell's status from its log, else
its evaluation job (SLURM, its stdout), else the run log, else why nothing is there.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..evidence.model import LogRead
from ..evidence.slurm import SlurmJob
from ..vocabulary import (
    ACTIVE_STATES,
    COMPLETED,
    ERROR,
    MISSING,
    NO_LOG,
    NOT_APPLICABLE,
    NOT_STARTED,
    SUBMITTED,
    UNFINISHED,
    UNKNOWN,
)

LOG_STATUSES = {"cancelled": "CANCELLED", "error": "FAILED", "started": UNFINISHED}
"""A log's own status (other than success) as the cell's status."""


def state_from_failure_line(line: str) -> str:
    """The SLURM state a job's last telling line implies, when SLURM cannot say."""
    if "DUE TO TIME LIMIT" in line:
        return "TIMEOUT"
    if "DUE TO PREEMPTION" in line:
        return "PREEMPTED"
    if "oom_kill" in line or "oom-kill" in line:
        return "OUT_OF_MEMORY"
    if "CANCELLED AT" in line:
        return "CANCELLED"
    return "FAILED"


PENDING_REASONS = {
    "JobHeldUser": "held by its owner; scontrol release {job} lets it run",
    "JobHeldAdmin": "held by an administrator",
    "Dependency": "waiting for the jobs it depends on",
    "DependencyNeverSatisfied": "its dependency can never be satisfied; cancel and resubmit it",
    "Resources": "waiting for resources",
    "Priority": "waiting for higher-priority jobs",
    "QOSMaxJobsPerUserLimit": "waiting: the QOS's per-user job limit is reached",
}
"""squeue's commonest pending reasons, said plainly; others are shown as squeue gives them."""


def active_job_note(job: SlurmJob) -> str:
    """What an active job is doing, from SLURM: its id, state and squeue's reason."""
    note = f"job {job.job_id} is {job.state}"
    reason = job.reason if job.reason not in (None, "", "None") else None
    if reason is not None:
        plain = PENDING_REASONS.get(reason)
        note += f" ({reason}: {plain.format(job=job.job_id)})" if plain else f" ({reason})"
    return note


@dataclass(frozen=True)
class FinetuneFacts:
    """What is known about one run's training, for `finetune_status`."""

    trains: bool
    checkpoints: tuple[int, ...]
    expected_epochs: int | None
    stdout_found: bool
    stdout_in_failed_place: bool
    job: SlurmJob | None
    failure_line: str | None
    has_updates: bool
    submitted: bool


def finetune_status(facts: FinetuneFacts) -> tuple[str, list[str]]:
    """A run's fine-tuning status and the notes that explain it."""
    if not facts.trains:
        return NOT_APPLICABLE, []
    notes: list[str] = []
    have = facts.checkpoints
    expected = facts.expected_epochs
    all_there = bool(have) and (expected is None or len(have) >= expected)
    state = facts.job.state if facts.job is not None else None
    failure = facts.failure_line
    if facts.job is not None and state in ACTIVE_STATES:
        return state, [active_job_note(facts.job)]
    if state:
        if state == COMPLETED and not all_there:
            missing = f"{len(have)} of {expected} checkpoints" if expected else "no checkpoint"
            notes.append(f"sacct says COMPLETED but {missing} found on disk")
        if state != COMPLETED and all_there:
            notes.append(f"sacct says {state} but all {len(have)} checkpoints are on disk")
        if failure and state != COMPLETED:
            notes.append(failure)
        return state, notes
    if all_there:
        if failure:
            notes.append("all checkpoints are on disk but the stdout ends in an error")
        return COMPLETED, notes
    if not have and not facts.stdout_found:
        return (SUBMITTED if facts.submitted else NOT_STARTED), notes
    if have and expected:
        notes.append(f"{len(have)} of {expected} epochs checkpointed")
    if failure:
        notes.append(failure)
        return state_from_failure_line(failure), notes
    if facts.stdout_in_failed_place or have:
        if facts.has_updates:
            notes.append(
                "no error in the stdout: the job was killed without a message, or is still "
                "running (no SLURM accounting to tell)"
            )
        return "FAILED", notes
    return UNKNOWN, notes


@dataclass(frozen=True)
class CellFacts:
    """What is known about one evaluation cell, for `cell_status`."""

    read: LogRead | None
    job: SlurmJob | None
    stdout_found: bool
    failure_line: str | None
    submitted: bool
    finetune: str


def cell_status(facts: CellFacts) -> tuple[str, list[str]]:
    """A cell's status and the notes that explain it."""
    read = facts.read
    state = facts.job.state if facts.job is not None else None
    failure = facts.failure_line
    notes: list[str] = []
    if read is not None and read.header is None:
        notes = [read.error or f"{read.path}: cannot be read"]
        if state and state != COMPLETED:
            notes.append(f"its job ended {state}")
        return ERROR, notes + ([failure] if failure else [])
    if read is not None and read.header is not None:
        header = read.header
        if header.finished and read.error is None:
            return COMPLETED, notes
        if header.finished:
            return ERROR, [read.error or ""]
        if facts.job is not None and state in ACTIVE_STATES and header.status == "started":
            return state, [f"{active_job_note(facts.job)}; {read.path} is still being written"]
        reason = f": {header.error.strip().splitlines()[0][:200]}" if header.error else ""
        notes.append(
            f"{read.path}: the evaluation ended with status '{header.status}'{reason}; it "
            "is not a result. Re-run the evaluation."
        )
        status = LOG_STATUSES.get(header.status, "FAILED")
        if status != UNFINISHED:
            return status, notes
        if state and state != COMPLETED:
            status = state
        elif failure:
            status = state_from_failure_line(failure)
        if failure:
            notes.append(failure)
        return status, notes
    if facts.job is not None and state in ACTIVE_STATES:
        return state, [active_job_note(facts.job)]
    if state:
        if state == COMPLETED:
            return NO_LOG, ["the job COMPLETED but wrote no log in logs/"]
        return state, [failure] if failure else []
    if facts.stdout_found:
        if failure:
            return state_from_failure_line(failure), [failure]
        return NO_LOG, []
    if facts.submitted:
        return SUBMITTED, [
            "the run log says this evaluation was submitted; no job stdout and no SLURM "
            "record of it since"
        ]
    if facts.finetune not in (COMPLETED, NOT_APPLICABLE):
        return NOT_STARTED, []
    return MISSING, []


def evaluation_summary(statuses: list[tuple[str, bool]], unplaced_results: int) -> str:
    """The Run Status table's Evaluation column: `statuses` are (status, in_design) of every
    cell of the run; `unplaced_results` counts finished logs outside the design's cells."""
    expected = [status for status, in_design in statuses if in_design]
    if not expected:
        return f"N/A ({unplaced_results} outside the design)" if unplaced_results else "N/A"
    done = sum(1 for status in expected if status == COMPLETED)
    if done == len(expected):
        return COMPLETED
    if unplaced_results:
        return f"PARTIAL ({done}/{len(expected)}, {unplaced_results} unmapped)"
    active = [status for status in expected if status in ACTIVE_STATES]
    waiting = (MISSING, NOT_STARTED, SUBMITTED)
    ended = [s for s in expected if s not in ACTIVE_STATES and s not in waiting]
    if active and done == 0:
        state = "RUNNING" if "RUNNING" in active else "PENDING"
        if not ended:
            return state
        counts = Counter(ended)
        ended_text = ", ".join(f"{counts[status]} {status}" for status in sorted(counts))
        return f"{state} ({len(active)}/{len(expected)}), {ended_text}"
    if done == 0:
        failed = [status for status in expected if status not in (MISSING, NOT_STARTED)]
        if failed:
            return failed[0] if len(set(failed)) == 1 and len(failed) == len(expected) else "FAILED"
        return NOT_STARTED
    return f"PARTIAL ({done}/{len(expected)})"
