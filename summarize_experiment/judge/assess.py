"""The judge: evidence in, frozen results out; every status decided once (pure: no I/O)."""

from __future__ import annotations

from ..evidence.design import RunDesign
from ..evidence.model import Evidence, JobStdoutFile
from ..vocabulary import COMPLETED, NOT_APPLICABLE
from .best import best_choices, epoch_trends
from .cells import assess_cells
from .datasets import datasets_used, training_dataset
from .jobs import slurm_job, stdout_kind, submissions_by_run
from .memo import Memo
from .model import ExperimentInfo, Note, Results, RunResult, SlurmSummary
from .status import evaluation_summary
from .training import assess_finetune


def _split_stdouts(
    evidence: Evidence, run: RunDesign, stdouts: tuple[JobStdoutFile, ...], submissions: list
) -> tuple[list[JobStdoutFile], list[JobStdoutFile]]:
    """(training stdouts, evaluation stdouts) of a run, each told by its evidence."""
    training, evaluation = [], []
    for out in stdouts:
        kind, _ = stdout_kind(
            run,
            out,
            evidence.stdouts.get(out.path),
            slurm_job(evidence, out.job_id),
            submissions,
        )
        (training if kind == "training" else evaluation).append(out)
    return training, evaluation


def assess_run(
    evidence: Evidence,
    run: RunDesign,
    submissions: list,
    notes: list[Note],
    memo: Memo | None = None,
) -> RunResult:
    """One run judged: fine-tuning, then its evaluation cells."""
    files = evidence.files(run.name)
    assert files is not None
    for problem in files.problems:
        notes.append(Note("WARNING", run.name, problem))
    for note in files.notes:  # inputs not read as they are: links leading out, FIFOs, ...
        notes.append(Note("WARNING", run.name, note))
    reads = [evidence.stdouts.get(f.path) for f in files.job_stdouts]
    reads += [evidence.logs.get(f.path) for f in files.logs]
    for read in reads:
        for note in read.notes if read is not None else ():
            notes.append(Note("WARNING", read.path, note))
    training, evaluation = _split_stdouts(evidence, run, files.job_stdouts, submissions)
    for out in evaluation:  # a training stdout's read error is its loss's warning already
        read = evidence.stdouts.get(out.path)
        if read is not None and read.error:
            notes.append(Note("WARNING", run.name, read.error))
    finetune = assess_finetune(evidence, run, files, training, submissions)
    cells, unplaced = assess_cells(
        evidence,
        run,
        files.logs,
        evaluation,
        submissions,
        finetune.status,
        files.problems,
        notes,
        memo,
    )
    unmapped = sum(1 for c in cells if not c.in_design and c.status == COMPLETED)
    status = evaluation_summary([(c.status, c.in_design) for c in cells], unmapped)
    complete = finetune.status in (COMPLETED, NOT_APPLICABLE) and all(
        c.status == COMPLETED for c in cells if c.in_design
    )
    return RunResult(
        name=run.name,
        type=run.type,
        model=run.model,
        parameters=dict(run.parameters),
        finetune=finetune,
        cells=cells,
        unplaced=unplaced,
        evaluation_status=status,
        complete=complete,
        training_dataset=training_dataset(evidence, run.name, run.trains),
    )


def _slurm_summary(evidence: Evidence) -> SlurmSummary:
    found = evidence.slurm
    return SlurmSummary(
        used=found.used,
        available=found.available,
        source=found.source,
        error=found.error,
        jobs_asked=len(found.asked),
        jobs_found=len(found.jobs),
    )


def assess(evidence: Evidence, memo: Memo | None = None) -> Results:
    """The judged experiment. `memo`: results of the costly computations (metrics,
    comparisons) kept from an earlier run for the same samples; the results are the same
    without it."""
    design = evidence.design
    notes = [Note("WARNING", "run logs", note) for note in evidence.notes]
    submissions = submissions_by_run(evidence.run_logs)
    runs = tuple(
        assess_run(evidence, run, submissions.get(run.name, []), notes, memo) for run in design.runs
    )
    samples = {path: read.samples for path, read in evidence.logs.items() if read.samples}
    return Results(
        experiment=ExperimentInfo(
            name=design.name,
            directory=str(design.directory),
            design_file=str(design.design_file),
            layout=evidence.layout,
            output_base=str(design.output_base) if design.output_base else None,
            tasks=design.tasks,
        ),
        runs=runs,
        slurm=_slurm_summary(evidence),
        best=best_choices(runs, design.tasks, samples, memo),
        datasets=datasets_used(evidence, runs),
        design_problems=design.problems,
        rejected_runs=dict(design.rejected_runs),
        notes=tuple(notes),
        epoch_trends=epoch_trends(runs, samples, memo),
    )
