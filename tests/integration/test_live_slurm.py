"""lookup_jobs, submit_dependent_job and scripts/slurm_jobs.py against a real SLURM 22.05 cluster.

All jobs are submitted at once by the module fixture so their waits overlap; the TIMEOUT test,
the slowest (up to 30 s), runs last.

A real TIMEOUT, fast: SLURM's smallest time limit is one minute (`--time=0:10` and
`--time=00:00:10` are accepted but rounded up to 00:01:00), and slurmctld checks time limits
every 30 s, so `--time=1` ends as TIMEOUT 60-90 s after the start (78 s measured). Instead the
job gets `--time=5` and, once running, `scontrol update JobId=N EndTime=<now + 5 s>`:
slurmctld's own time-limit check then kills it at its next pass (within 30 s) and records
TIMEOUT, with the batch step CANCELLED (0:15), as for a job that used up its time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from summarize_experiment.evidence.slurm import SlurmLookup, lookup_jobs, submit_dependent_job

from .live import COMMAND_TIMEOUT_S, ENDED, end_at_time_limit, run, squeue_field, wait_for

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "scripts" / "slurm_jobs.py"
SHORT_NAME = "eval-capitalization-rank4_lr1e-5-ep0"
LONG_NAME = "eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix-ep3"
# slurmctld checks time limits every 30 s; the job is then killed within KillWait (2 s).
TIMEOUT_WAIT_S = 45


def ended_in_sacct(job_ids: list[str]) -> Callable[[], SlurmLookup | None]:
    """A probe: the lookup once sacct reports every job as ended."""

    def probe() -> SlurmLookup | None:
        lookup = lookup_jobs(job_ids)
        jobs = [lookup.jobs.get(job_id) for job_id in job_ids]
        if all(job and job.source == "sacct" and job.state in ENDED for job in jobs):
            return lookup
        return None

    return probe


@dataclass(frozen=True)
class Jobs:
    """The ids of the jobs submitted for the module."""

    completed: str
    long_name: str
    failed: str
    cancelled: str
    timeout: str
    sleeper: str
    folder: Path


@pytest.fixture(scope="module")
def jobs(live_slurm, tmp_path_factory: pytest.TempPathFactory) -> Jobs:
    folder = tmp_path_factory.mktemp("slurm-jobs")

    def sbatch(name: str, command: str, *extra: str) -> str:
        return run(
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--chdir={folder}",
            f"--output={folder}/slurm-%j.out",
            *extra,
            "--wrap",
            command,
        ).strip()

    submitted = Jobs(
        completed=sbatch(SHORT_NAME, "sleep 3"),
        long_name=sbatch(LONG_NAME, "echo done"),
        failed=sbatch("eval-fail.exit3", "exit 3"),
        cancelled=sbatch("eval-cancelled", "sleep 120"),
        timeout=sbatch("eval-timeout", "sleep 300", "--time=5"),
        sleeper=sbatch("eval-still-running", "sleep 90"),
        folder=folder,
    )
    wait_for(
        "cancel/timeout jobs running",
        lambda: all(
            squeue_field(j, "%T") == "RUNNING" for j in (submitted.cancelled, submitted.timeout)
        ),
    )
    run("scancel", submitted.cancelled)
    end_at_time_limit(submitted.timeout)
    return submitted


def test_completed_failed_and_long_names(jobs: Jobs) -> None:
    ids = [jobs.completed, jobs.long_name, jobs.failed]
    lookup = wait_for("sacct knows the finished jobs", ended_in_sacct(ids))
    assert lookup.available and lookup.error is None and lookup.source == "sacct"
    completed = lookup.jobs[jobs.completed]
    assert (completed.name, completed.state) == (SHORT_NAME, "COMPLETED")
    assert completed.exit_code == "0:0"
    assert 3 <= completed.elapsed_seconds < 30
    assert completed.start and completed.end
    long_job = lookup.jobs[jobs.long_name]
    assert long_job.name == LONG_NAME  # uncut
    assert long_job.state == "COMPLETED"
    failed = lookup.jobs[jobs.failed]
    assert (failed.name, failed.state, failed.exit_code) == ("eval-fail.exit3", "FAILED", "3:0")
    assert lookup.not_found == []


def test_cancelled(jobs: Jobs) -> None:
    lookup = wait_for("sacct knows the cancelled job", ended_in_sacct([jobs.cancelled]))
    job = lookup.jobs[jobs.cancelled]
    assert job.state == "CANCELLED"
    assert job.state_detail == "CANCELLED by 0"  # cancelled by root
    assert job.name == "eval-cancelled"
    assert job.elapsed_seconds is not None and job.elapsed_seconds < 120


def test_running_job_is_taken_from_slurmctld(jobs: Jobs) -> None:
    """Accounting knows the sleeper, but a running job's record may lag: squeue's is taken."""
    lookup = wait_for(
        "the sleeper RUNNING",
        lambda: (
            lambda lk: (
                lk if jobs.sleeper in lk.jobs and lk.jobs[jobs.sleeper].state == "RUNNING" else None
            )
        )(lookup_jobs([jobs.sleeper])),
    )
    job = lookup.jobs[jobs.sleeper]
    assert lookup.source == "sacct, squeue" and lookup.error is None
    assert (job.source, job.name) == ("squeue", "eval-still-running")
    assert job.end is None and job.start is not None


def test_accounting_disabled_uses_sacct_c_and_squeue(jobs: Jobs, tmp_path: Path) -> None:
    """sacct that says accounting is disabled, but real `sacct -c` and squeue behind it."""
    real_sacct = run("sh", "-c", "command -v sacct").strip()
    wrapper = tmp_path / "sacct"
    wrapper.write_text(
        "#!/bin/bash\n"
        f'if [ "$1" = "-c" ]; then exec {real_sacct} "$@"; fi\n'
        "echo 'Slurm accounting storage is disabled' >&2\nexit 1\n"
    )
    wrapper.chmod(0o755)
    wait_for("sacct knows the completed job", ended_in_sacct([jobs.completed, jobs.failed]))
    lookup = lookup_jobs([jobs.completed, jobs.failed, jobs.sleeper], sacct=str(wrapper))
    assert lookup.available
    assert lookup.source == "sacct -c, squeue"
    assert "Slurm accounting storage is disabled" in lookup.error
    completed = lookup.jobs[jobs.completed]
    assert (completed.source, completed.name, completed.state) == (
        "sacct -c",
        SHORT_NAME,
        "COMPLETED",
    )
    assert completed.elapsed_seconds >= 3
    assert lookup.jobs[jobs.failed].exit_code == "3:0"
    sleeper = lookup.jobs[jobs.sleeper]  # still running: not in the completion file
    assert (sleeper.source, sleeper.state, sleeper.name) == (
        "squeue",
        "RUNNING",
        "eval-still-running",
    )
    assert sleeper.exit_code is None
    assert lookup.unparsed_lines == []


def test_unknown_job_id(live_slurm) -> None:
    lookup = lookup_jobs(["987654321"])
    assert lookup.available
    assert lookup.jobs == {}
    assert lookup.not_found == ["987654321"]
    assert lookup.source == "sacct, squeue"


def test_cli_live(jobs: Jobs) -> None:
    wait_for("sacct knows the failed job", ended_in_sacct([jobs.failed]))
    result = subprocess.run(
        [sys.executable, str(CLI), jobs.failed, jobs.long_name],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "success"
    assert document["jobs"][jobs.failed]["state"] == "FAILED"
    assert document["jobs"][jobs.long_name]["name"] == LONG_NAME


def test_dependent_job_waits(live_slurm, tmp_path: Path) -> None:
    first = run(
        "sbatch",
        "--parsable",
        "--job-name=eval-first",
        f"--chdir={tmp_path}",
        f"--output={tmp_path}/slurm-%j.out",
        "--wrap",
        "sleep 6",
    ).strip()
    script = tmp_path / "summarize.sbatch"
    script.write_text("#!/bin/bash\necho summarized\n")
    output = tmp_path / "summarize-%j.out"
    dependent = submit_dependent_job(
        script, [first], job_name="summarize-after-evals", output=output
    )
    assert dependent.isdigit()

    def pending_while_first_runs() -> SlurmLookup | None:
        lookup = lookup_jobs([first, dependent], sacct="/nonexistent/sacct")  # squeue's view
        first_job, job = lookup.jobs.get(first), lookup.jobs.get(dependent)
        if first_job and first_job.state == "RUNNING" and job and job.reason == "Dependency":
            return lookup
        return None

    lookup = wait_for(
        "the dependent job pending on Dependency while the first runs", pending_while_first_runs
    )
    job = lookup.jobs[dependent]
    assert (job.state, job.name, job.source) == ("PENDING", "summarize-after-evals", "squeue")
    assert job.start is None

    done = wait_for("both jobs ended", ended_in_sacct([first, dependent]))
    first_job, dependent_job = done.jobs[first], done.jobs[dependent]
    assert dependent_job.state == "COMPLETED"
    assert first_job.elapsed_seconds >= 6
    assert dependent_job.start >= first_job.end  # ISO timestamps compare in time order
    assert (tmp_path / f"summarize-{dependent}.out").read_text() == "summarized\n"


def test_timeout(jobs: Jobs) -> None:
    lookup = wait_for("sacct reports TIMEOUT", ended_in_sacct([jobs.timeout]), TIMEOUT_WAIT_S)
    job = lookup.jobs[jobs.timeout]
    assert (job.state, job.state_detail, job.name) == ("TIMEOUT", "TIMEOUT", "eval-timeout")
    assert job.exit_code == "0:0"
    assert job.elapsed_seconds is not None and job.elapsed_seconds < 300
    steps = run(
        "sacct", "-j", jobs.timeout, "--format=JobID,State,ExitCode", "--parsable2", "--noheader"
    )
    assert f"{jobs.timeout}.batch|CANCELLED|0:15" in steps.splitlines()
