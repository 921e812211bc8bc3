"""Which job is which: training or evaluation, and what the run logs say of each (pure).

A job stdout is a training stdout or an evaluation stdout by evidence, strongest first: the
SLURM job name (`eval-...` for an evaluation), the design (a run without training has only
evaluations), the run log (`SUBMIT_EVAL` or `SUBMIT_JOB`/`OOM_RETRY` for its job id), the
file's content (inspect's markers, or torchtune's loss updates); only when nothing else tells,
the folder it lies in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..evidence.design import RunDesign
from ..evidence.model import Evidence, JobStdoutFile, JobStdoutRead, RunLogEntry
from ..evidence.slurm import SlurmJob
from .epochs import SubmittedCell, parse_submit_subject

EVAL_JOB_PREFIX = "eval-"
EVAL_PLACES = frozenset({"cell", "eval", "artifacts_epoch"})
BATCH_CHANGE = re.compile(r"batch_size\s+(\d+)\s*->\s*(\d+)")
ATTEMPT = re.compile(r"attempt\s+(\d+)\s*/\s*(\d+)")


@dataclass(frozen=True)
class Submission:
    """A job the run logs name for a run: a training submission or retry, or an evaluation
    (with the cell its subject names)."""

    job_id: str
    kind: str
    entry: RunLogEntry
    cell: SubmittedCell | None = None
    batch_before: int | None = None
    batch_after: int | None = None
    attempt: int | None = None
    attempts_allowed: int | None = None


def _subject_run(subject: str) -> str:
    return subject.split("/", 1)[0].strip()


def submissions_by_run(entries: tuple[RunLogEntry, ...]) -> dict[str, list[Submission]]:
    """Every submission the run logs record, per run, in log order, once per job id (an
    `OOM_RETRY` entry and the `SUBMIT_JOB` entry of its resubmission name the same job)."""
    found: dict[str, list[Submission]] = {}
    for entry in entries:
        if entry.job_id and any(s.job_id == entry.job_id for subs in found.values() for s in subs):
            continue
        if not entry.job_id:
            continue
        if entry.action == "SUBMIT_EVAL":
            cell = parse_submit_subject(entry.subject)
            run = cell.run if cell else _subject_run(entry.subject)
            found.setdefault(run, []).append(Submission(entry.job_id, "evaluation", entry, cell))
        elif entry.action == "SUBMIT_JOB":
            found.setdefault(_subject_run(entry.subject), []).append(
                Submission(entry.job_id, "training", entry)
            )
        elif entry.action == "OOM_RETRY":
            batch = BATCH_CHANGE.search(entry.details)
            attempt = ATTEMPT.search(entry.details)
            found.setdefault(_subject_run(entry.subject), []).append(
                Submission(
                    entry.job_id,
                    "training",
                    entry,
                    batch_before=int(batch.group(1)) if batch else None,
                    batch_after=int(batch.group(2)) if batch else None,
                    attempt=int(attempt.group(1)) if attempt else None,
                    attempts_allowed=int(attempt.group(2)) if attempt else None,
                )
            )
    return found


def stdout_kind(
    run: RunDesign,
    out: JobStdoutFile,
    read: JobStdoutRead | None,
    job: SlurmJob | None,
    submissions: list[Submission],
) -> tuple[str, str]:
    """(`training` or `evaluation`, the evidence that says so) for one job stdout of a run."""
    if job is not None and job.name and job.name != "allocation":
        if job.name.startswith(EVAL_JOB_PREFIX):
            return "evaluation", f"SLURM job name {job.name}"
        if run.trains:
            return "training", f"SLURM job name {job.name}"
    if not run.trains:
        return "evaluation", f"{run.type} run (no training)"
    named = next((s for s in submissions if s.job_id == out.job_id), None)
    if named is not None:
        return named.kind, f"run log {named.entry.action}"
    markers = read.inspect if read is not None else None
    if markers is not None and (markers.log_names or markers.finished):
        return "evaluation", "inspect's output in the file"
    if read is not None and read.scan is not None and read.scan.updates:
        return "training", "torchtune's loss updates in the file"
    if out.place in EVAL_PLACES:
        return "evaluation", f"its folder ({out.place})"
    return "training", f"its folder ({out.place})"


def job_key(job_id: str | None) -> tuple[int, ...]:
    """Sortable form of a job id (`123`, `123_4`); unknown ids sort first."""
    if not job_id:
        return (-1,)
    return tuple(int(part) for part in job_id.split("_") if part.isdigit())


def latest_stdout(files: list[JobStdoutFile]) -> JobStdoutFile | None:
    """The most recently modified stdout; equal times go to the larger job id."""
    return max(files, key=lambda f: (f.mtime_ns, job_key(f.job_id), f.path), default=None)


def slurm_job(evidence: Evidence, job_id: str | None) -> SlurmJob | None:
    """SLURM's record of a job, if it has one."""
    return evidence.slurm.jobs.get(job_id) if job_id else None
