"""Summarize when the experiment finishes: submit the summarizer as a SLURM job that starts
after every unfinished training and evaluation job of the experiment (`afterany`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

from .atomic import write_atomically
from .collect import collect
from .evidence import layout, slurm
from .evidence.design import load_design

REPO_ROOT = Path(__file__).resolve().parents[1]
JOB_SCRIPT = Path("logs") / "summarize-when-done.slurm"


def experiment_job_names(experiment_dir: Path) -> set[str]:
    """Job names the experiment's batch scripts give their jobs (`#SBATCH --job-name`)."""
    design = load_design(experiment_dir)
    kind = layout.detect_layout(design)
    names = set()
    for run in design.runs:
        for script in layout.slurm_scripts(design, run.name, kind):
            name = layout.sbatch_job_name(script)
            if name:
                names.add(name)
    return names


def unfinished_jobs(experiment_dir: Path, squeue: str = "squeue") -> list[slurm.SlurmJob]:
    """Jobs of this experiment not yet finished: known from stdout files, or queued by name."""
    collected = collect(experiment_dir, full=False)
    ids: dict[str, slurm.SlurmJob] = {}
    for run in collected["runs"]:
        jobs = [run["finetune"].get("job")] + [c.get("job") for c in run["cells"]]
        for job in jobs:
            if job and job.get("state") in slurm.ACTIVE_STATES:
                ids[job["job_id"]] = slurm.SlurmJob(**job)
    names = experiment_job_names(experiment_dir)
    queue = slurm.queued_jobs(squeue=squeue)
    if not queue.available:
        raise slurm.SlurmError(
            f"cannot submit a summary job: SLURM's queue cannot be read ({queue.error}). "
            "Run scripts/summarize.py without --when-done once the jobs have ended."
        )
    for job in queue.jobs.values():
        if job.name in names and job.state in slurm.ACTIVE_STATES:
            ids.setdefault(job.job_id, job)
    return list(ids.values())


def batch_script(experiment_dir: Path) -> str:
    python = shlex.quote(sys.executable)
    summarize = shlex.quote(str(REPO_ROOT / "scripts" / "summarize.py"))
    return (
        "#!/bin/bash\n"
        "# Written by summarize-experiment --when-done: summarize once the experiment's jobs end.\n"
        f"{python} {summarize} {shlex.quote(str(experiment_dir))}\n"
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
    script = write_atomically(experiment_dir / JOB_SCRIPT, batch_script(experiment_dir))
    ids = sorted((job.job_id for job in waiting), key=lambda i: [int(x) for x in i.split("_")])
    job_id = slurm.submit_dependent_job(
        script,
        ids,
        job_name=f"summarize-{experiment_dir.name}",
        output=experiment_dir / "logs" / "summarize-when-done-%j.out",
        sbatch=sbatch,
    )
    return {"status": "submitted", "job_id": job_id, "waits_for": ids, "script": str(script)}
