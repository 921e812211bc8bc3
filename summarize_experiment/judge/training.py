"""A run's fine-tuning: which stdout counts, its status (decided once), the loss (pure)."""

from __future__ import annotations

from ..evidence.design import ExperimentDesign, RunDesign
from ..evidence.model import Evidence, JobStdoutFile, JobStdoutRead, RunFiles
from ..evidence.slurm import SlurmJob
from ..vocabulary import COMPLETED, NOT_APPLICABLE
from .jobs import Submission, latest_stdout, slurm_job
from .model import Attempt, FinetuneResult, TrainingResult
from .status import FinetuneFacts, finetune_status, state_from_failure_line


def expected_epochs(design: ExperimentDesign, run: RunDesign) -> int | None:
    """How many epochs the run trains: `controls.epochs`, else the matrix's last epoch + 1."""
    if design.epochs is not None:
        return design.epochs
    row = design.matrix_row(run.name)
    if row and row.epochs:
        return max(row.epochs) + 1
    return None


def _chosen_stdout(
    stdouts: list[JobStdoutFile], submissions: list[Submission]
) -> JobStdoutFile | None:
    """The stdout that counts: the last submission's (an OOM retry's) when the run log names
    the submissions, else the most recent."""
    by_id = {out.job_id: out for out in stdouts if out.job_id}
    for submission in reversed(submissions):
        if submission.job_id in by_id:
            return by_id[submission.job_id]
    return latest_stdout(stdouts)


def _attempt_status(evidence: Evidence, job_id: str | None, stdout: str | None) -> str | None:
    job = slurm_job(evidence, job_id)
    if job is not None:
        return job.state
    read = evidence.stdouts.get(stdout) if stdout else None
    if read is not None and read.scan is not None and read.scan.failure_line:
        return state_from_failure_line(read.scan.failure_line)
    return None


def _attempts(
    evidence: Evidence,
    stdouts: list[JobStdoutFile],
    submissions: list[Submission],
    final_status: str,
) -> tuple[Attempt, ...]:
    """Every training submission in order, when the run log records several (OOM retries)."""
    paths = {out.job_id: out.path for out in stdouts if out.job_id}
    if len(submissions) > 1:
        attempts = []
        for index, submission in enumerate(submissions):
            later = submissions[index + 1] if index + 1 < len(submissions) else None
            batch = submission.batch_after
            if batch is None and later is not None:
                batch = later.batch_before
            stdout = paths.get(submission.job_id)
            status = _attempt_status(evidence, submission.job_id, stdout)
            if later is None:
                status = final_status
            elif later.entry.action == "OOM_RETRY" and status != "OUT_OF_MEMORY":
                # the run log says it ran out of GPU memory (SLURM may say FAILED: a CUDA OOM
                # is an exception, not a SLURM out-of-memory kill)
                status = "OUT_OF_MEMORY"
            attempts.append(
                Attempt(
                    submission.job_id,
                    status,
                    batch,
                    stdout,
                    retry=submission.attempt,
                    retries_allowed=submission.attempts_allowed,
                )
            )
        return tuple(attempts)
    return ()


def training_result(
    stdout: JobStdoutFile | None,
    read: JobStdoutRead | None,
    job: SlurmJob | None,
    stdouts: list[JobStdoutFile],
    status: str,
) -> TrainingResult:
    """What the training stdout that counts says, and how long the job took."""
    scan = read.scan if read is not None else None
    warning = None
    if stdout is None:
        warning = "no training stdout (slurm-*.out) found; loss is N/A"
    elif read is not None and read.error:
        warning = f"{read.error}; loss is N/A"
    elif scan is not None and scan.final is None:
        warning = f"{stdout.path}: no `epoch|step|Loss: value` line found; loss is N/A"
    if job is not None and job.elapsed_seconds is not None:
        duration, source = float(job.elapsed_seconds), "sacct"
    elif scan is not None and scan.elapsed_seconds is not None:
        duration, source = scan.elapsed_seconds, "tqdm"
    else:
        duration, source = None, None
    return TrainingResult(
        stdout=stdout.path if stdout else None,
        stdout_files=tuple(out.path for out in stdouts),
        final=scan.final if scan else None,
        min_finite=scan.min_finite if scan else None,
        diverged=bool(scan and scan.diverged),
        curve=tuple(scan.curve) if scan else (),
        updates=scan.updates if scan else 0,
        failure_line=scan.failure_line if scan else None,
        duration_seconds=duration,
        duration_source=source,
        finished=status == COMPLETED,
        warning=warning,
        epoch_ends=dict(scan.epoch_ends) if scan else {},
        first_non_finite=scan.first_non_finite if scan else None,
    )


def assess_finetune(
    evidence: Evidence,
    run: RunDesign,
    files: RunFiles,
    training_stdouts: list[JobStdoutFile],
    submissions: list[Submission],
) -> FinetuneResult:
    """A run's fine-tuning result, its status decided here once."""
    trained = [s for s in submissions if s.kind == "training"]
    if not run.trains:
        return FinetuneResult(NOT_APPLICABLE, (), (), None, None, (), None)
    stdout = _chosen_stdout(training_stdouts, trained)
    job_id = stdout.job_id if stdout else (trained[-1].job_id if trained else None)
    job = slurm_job(evidence, job_id)
    read = evidence.stdouts.get(stdout.path) if stdout else None
    scan = read.scan if read is not None else None
    expected = expected_epochs(evidence.design, run)
    status, notes = finetune_status(
        FinetuneFacts(
            trains=True,
            checkpoints=files.checkpoints,
            expected_epochs=expected,
            stdout_found=stdout is not None,
            stdout_in_failed_place=bool(
                stdout and evidence.layout == "A" and stdout.place == "run"
            ),
            job=job,
            failure_line=scan.failure_line if scan else None,
            has_updates=bool(scan and scan.updates),
            submitted=bool(trained),
        )
    )
    attempts = _attempts(evidence, training_stdouts, trained, status)
    return FinetuneResult(
        status=status,
        notes=tuple(notes),
        checkpoints=files.checkpoints,
        expected_epochs=expected,
        job=job,
        attempts=attempts,
        training=training_result(stdout, read, job, training_stdouts, status),
    )
