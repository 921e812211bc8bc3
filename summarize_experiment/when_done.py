"""Summarize when the experiment finishes: submit the summarizer as a SLURM job that starts
after every unfinished training and evaluation job of the experiment (`afterany`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from .atomic import write_atomically
from .evidence import slurm
from .evidence.gather import gather
from .judge.assess import assess
from .vocabulary import ACTIVE_STATES

PACKAGE_PARENT = Path(__file__).resolve().parents[1]
JOB_SCRIPT = Path("logs") / "summarize-when-done.slurm"


def unfinished_jobs(experiment_dir: Path, squeue: str = "squeue") -> list[slurm.SlurmJob]:
    """Jobs of this experiment not yet finished: known by id (stdout files, run logs), or
    queued under a job name one of the experiment's batch scripts gives."""
    evidence = gather(experiment_dir, with_samples=False, read_logs=False)
    results = assess(evidence)
    ids: dict[str, slurm.SlurmJob] = {}
    for run in results.runs:
        jobs = [run.finetune.job] + [cell.job for cell in run.cells]
        for job in jobs:
            if job is not None and job.state in ACTIVE_STATES:
                ids[job.job_id] = job
    names = {s.job_name for run in evidence.runs for s in run.scripts if s.job_name}
    names |= {c.job_name for run in evidence.runs for c in run.cells if c.job_name}
    queue = slurm.queued_jobs(squeue=squeue)
    if not queue.available:
        raise slurm.SlurmError(
            f"cannot submit a summary job: SLURM's queue cannot be read ({queue.error}). "
            "Run scripts/summarize.py without --when-done once the jobs have ended."
        )
    for job in queue.jobs.values():
        if job.name in names and job.state in ACTIVE_STATES:
            ids.setdefault(job.job_id, job)
    return list(ids.values())


def batch_script(experiment_dir: Path) -> str:
    """The summary job: this Python runs this package (`python -m summarize_experiment`), from
    the folder that holds it, whether installed or run from the skill's folder."""
    python = shlex.quote(sys.executable)
    package_parent = shlex.quote(str(PACKAGE_PARENT))
    return (
        "#!/bin/bash\n"
        "# Written by summarize-experiment --when-done: summarize once the experiment's jobs end.\n"
        f"PYTHONPATH={package_parent}${{PYTHONPATH:+:$PYTHONPATH}} "
        f"{python} -m summarize_experiment {shlex.quote(str(experiment_dir))}\n"
    )


def submit_when_done(
    experiment_dir: Path, *, sbatch: str = "sbatch", squeue: str = "squeue"
) -> dict[str, Any]:
    """Submit the summarizer after the unfinished jobs; say so and do nothing if none are left."""
    experiment_dir = experiment_dir.resolve()
    waiting = unfinished_jobs(experiment_dir, squeue=squeue)
    if not waiting:
        return {
            "status": "nothing_to_wait_for",
            "job_id": None,
            "waits_for": [],
            "message": "every job of the experiment has finished; run the summary now",
        }
    script = write_atomically(
        experiment_dir / JOB_SCRIPT, batch_script(experiment_dir), root=experiment_dir
    )
    ids = sorted((job.job_id for job in waiting), key=lambda i: [int(x) for x in i.split("_")])
    job_id = slurm.submit_dependent_job(
        script,
        ids,
        job_name=f"summarize-{experiment_dir.name}",
        output=experiment_dir / "logs" / "summarize-when-done-%j.out",
        sbatch=sbatch,
    )
    return {"status": "submitted", "job_id": job_id, "waits_for": ids, "script": str(script)}
