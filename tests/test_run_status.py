"""The judge's status decisions for jobs SLURM still holds, and the Run Status column that sums a
run's cells (pure functions: no files, no SLURM)."""

from __future__ import annotations

import pytest

from summarize_experiment.evidence.model import LogHeader, LogRead
from summarize_experiment.evidence.slurm import SlurmJob
from summarize_experiment.judge.status import (
    CellFacts,
    FinetuneFacts,
    cell_status,
    evaluation_summary,
    finetune_status,
)


def job(state: str, reason: str | None = None, job_id: str = "4242") -> SlurmJob:
    return SlurmJob(
        job_id=job_id,
        name="eval-capitalization-rank8_lr1e-5-ep1",
        state=state,
        state_detail=state,
        elapsed_seconds=0,
        exit_code=None,
        start=None,
        end=None,
        source="squeue" if reason else "sacct",
        reason=reason,
    )


def cell(job_: SlurmJob | None, read: LogRead | None = None) -> CellFacts:
    return CellFacts(
        read=read,
        job=job_,
        stdout_found=False,
        failure_line=None,
        submitted=True,
        finetune="COMPLETED",
    )


def test_a_held_job_says_who_holds_it_and_how_to_release_it() -> None:
    status, notes = cell_status(cell(job("PENDING", "JobHeldUser")))
    assert status == "PENDING"
    assert notes == [
        "job 4242 is PENDING (JobHeldUser: held by its owner; scontrol release 4242 lets it run)"
    ]


@pytest.mark.parametrize(
    ("reason", "note"),
    [
        ("Dependency", "job 4242 is PENDING (Dependency: waiting for the jobs it depends on)"),
        ("ReqNodeNotAvail", "job 4242 is PENDING (ReqNodeNotAvail)"),
        (None, "job 4242 is PENDING"),
        ("None", "job 4242 is PENDING"),
    ],
)
def test_a_pending_job_gives_squeues_reason_as_is_when_it_has_no_plain_wording(
    reason: str | None, note: str
) -> None:
    assert cell_status(cell(job("PENDING", reason))) == ("PENDING", [note])


def test_a_running_evaluation_with_its_log_still_open_is_not_called_a_failure() -> None:
    header = LogHeader(
        path="rank8/eval/capitalization_epoch1/logs/a.eval",
        status="started",
        task="capitalization",
        model="hf/rank8_lr1e-5_epoch_1",
        model_path=None,
        task_args={},
        metadata={},
        scores=(),
        samples=None,
        created=None,
        error=None,
    )
    read = LogRead(path=header.path, header=header)
    status, notes = cell_status(cell(job("RUNNING"), read))
    assert status == "RUNNING"
    assert notes == [f"job 4242 is RUNNING; {header.path} is still being written"]
    # the same log left behind by a job that ended is not a result
    status, notes = cell_status(cell(job("TIMEOUT"), read))
    assert status == "TIMEOUT"
    assert "is not a result" in notes[0]


def test_a_queued_training_job_is_explained() -> None:
    facts = FinetuneFacts(
        trains=True,
        checkpoints=(),
        expected_epochs=2,
        stdout_found=False,
        stdout_in_failed_place=False,
        job=job("PENDING", "Priority", job_id="77"),
        failure_line=None,
        has_updates=False,
        submitted=True,
    )
    assert finetune_status(facts) == (
        "PENDING",
        ["job 77 is PENDING (Priority: waiting for higher-priority jobs)"],
    )


@pytest.mark.parametrize(
    ("statuses", "column"),
    [
        (["COMPLETED", "COMPLETED"], "COMPLETED"),
        (["COMPLETED", "FAILED"], "PARTIAL (1/2)"),
        (["PENDING", "PENDING"], "PENDING"),
        (["RUNNING", "PENDING"], "RUNNING"),
        (["PENDING", "MISSING"], "PENDING"),
        (["PENDING", "SUBMITTED"], "PENDING"),
        # a cell that ended badly is not hidden behind the one still queued
        (["PENDING", "FAILED"], "PENDING (1/2), 1 FAILED"),
        (["RUNNING", "TIMEOUT", "FAILED", "FAILED"], "RUNNING (1/4), 2 FAILED, 1 TIMEOUT"),
        (["TIMEOUT", "TIMEOUT"], "TIMEOUT"),
        (["TIMEOUT", "FAILED"], "FAILED"),
        (["NOT_STARTED", "NOT_STARTED"], "NOT_STARTED"),
    ],
)
def test_the_run_status_column_sums_the_cells(statuses: list[str], column: str) -> None:
    assert evaluation_summary([(status, True) for status in statuses], 0) == column


def test_cells_outside_the_design_do_not_count_toward_the_column() -> None:
    assert evaluation_summary([("COMPLETED", True), ("FAILED", False)], 0) == "COMPLETED"
    assert evaluation_summary([], 2) == "N/A (2 outside the design)"
    assert evaluation_summary([("COMPLETED", True), ("PENDING", True)], 1) == (
        "PARTIAL (1/2, 1 unmapped)"
    )
