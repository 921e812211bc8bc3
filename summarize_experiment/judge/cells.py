"""A run's evaluation cells: each log and job placed in its (task, epoch) cell from the
evidence, each cell's status decided once (pure).

Task, strongest first: the cell's `eval.yaml` `task_name`; the log's task with its
`_{vis_label}` suffix removed (`task_args.vis_label`, else the matrix row's label or the run
name); the design's task the log's task names; the SLURM job name; the run log's
`SUBMIT_EVAL` subject; inspect's log file name. Never a folder name. Epoch: see `epochs`.
A run with exactly one expected cell left empty and exactly one log (or job) that could not be
placed gets it there, "placed by elimination".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..evidence.design import RunDesign
from ..evidence.model import CellConfig, Evidence, JobStdoutFile, LogFile, LogHeader, LogRead
from ..evidence.slurm import SlurmJob
from ..vocabulary import COMPLETED, MISSING
from . import epochs as epoch_map
from .jobs import Submission, job_key, slurm_job
from .memo import Memo
from .model import CellResult, Metrics, Note, UnplacedJob
from .scoring import family, score_log_memo, scorer_name
from .status import CellFacts, cell_status, state_from_failure_line

Key = tuple[str | None, int | None, str | None]
"""A cell: (task, epoch, variant); the variant is the cell folder when a task has several at
one epoch (`{task}_with_cue_epoch0`, `{task}_no_cue_epoch0`)."""


@dataclass
class _Cell:
    """A cell while logs and jobs are placed in it."""

    key: Key
    in_design: bool
    logs: list[str] = field(default_factory=list)
    epoch_source: str | None = None
    task_source: str | None = None
    placement: str | None = None
    jobs: list[tuple[str | None, SlurmJob | None, str]] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    folder: CellConfig | None = None


@dataclass
class _Context:
    """What placing needs about one run."""

    evidence: Evidence
    run: RunDesign
    tasks: list[str]
    configs: dict[str, CellConfig]
    variants: dict[tuple[str | None, int | None], list[str]]
    links: dict[str, JobStdoutFile]
    submissions: dict[str, Submission]
    notes: list[Note]
    memo: Memo | None = None


def strip_vis_label(task: str, labels: list[str]) -> str | None:
    """`{task}_{vis_label}` → task, for the first label the log's task ends with."""
    for label in labels:
        suffix = f"_{label}"
        if label and task.endswith(suffix) and len(task) > len(suffix):
            return task[: -len(suffix)]
    return None


def task_from_log_name(name: str, tasks: list[str]) -> str | None:
    """The design task an inspect-ai log file name carries: inspect names logs
    `{created}_{task}_{id}.eval`, with the task's `_` written as `-`."""
    parts = Path(name).stem.split("_")
    if len(parts) < 3:
        return None
    middle = "_".join(parts[1:-1])
    for task in sorted(tasks, key=len, reverse=True):
        spelled = task.replace("_", "-")
        if middle in (task, spelled) or middle.startswith((f"{task}-", f"{spelled}-")):
            return task
    return None


def _labels(ctx: _Context, header: LogHeader) -> list[str]:
    row = ctx.evidence.design.matrix_row(ctx.run.name)
    labels = [str(header.task_args.get("vis_label") or "")]
    labels += [row.vis_label] if row and row.vis_label else []
    labels.append(ctx.run.name)
    return [label for label in dict.fromkeys(labels) if label]


def _header_task(ctx: _Context, header: LogHeader) -> str:
    """The design task a log's task names, its `_{vis_label}` suffix removed."""
    stripped = strip_vis_label(header.task, _labels(ctx, header))
    if stripped is not None and (stripped in ctx.tasks or not ctx.tasks):
        return stripped
    if header.task in ctx.tasks or not ctx.tasks:
        return header.task
    prefixed = [t for t in ctx.tasks if header.task.startswith(f"{t}_")]
    return max(prefixed, key=len) if prefixed else (stripped or header.task)


def _job_name(ctx: _Context, job: SlurmJob | None) -> epoch_map.JobName | None:
    if job is None or not job.name:
        return None
    runs = [r.name for r in ctx.evidence.design.runs]
    parsed = epoch_map.parse_eval_job_name(job.name, ctx.tasks, runs)
    if parsed is None or (parsed.run is not None and parsed.run != ctx.run.name):
        return None
    return parsed


def _decide_task(
    ctx: _Context,
    log: LogFile,
    header: LogHeader | None,
    config: CellConfig | None,
    named: epoch_map.JobName | None,
    submission: Submission | None,
) -> tuple[str | None, str | None]:
    from_log = _header_task(ctx, header) if header is not None else None
    if config is not None and config.task_name:
        if from_log and from_log != config.task_name:
            ctx.notes.append(
                Note(
                    "WARNING",
                    log.path,
                    f"{log.path}: the log says task {from_log!r} but its cell's eval.yaml says "
                    f"{config.task_name!r}; using eval.yaml",
                )
            )
        return config.task_name, "eval.yaml"
    if from_log:
        return from_log, "log"
    if named is not None:
        return named.task, "sacct"
    if submission is not None and submission.cell is not None:
        return submission.cell.task, "run_log"
    found = task_from_log_name(Path(log.path).name, ctx.tasks)
    return (found, "file name") if found else (None, None)


def _epoch_evidence(
    ctx: _Context,
    header: LogHeader | None,
    config: CellConfig | None,
    named: epoch_map.JobName | None,
    submission: Submission | None,
    link: JobStdoutFile | None,
) -> dict[str, int | None]:
    found: dict[str, int | None] = {
        "sacct": named.epoch if named else None,
        "run_log": submission.cell.epoch if submission and submission.cell else None,
        "eval_yaml": config.epoch if config else None,
    }
    if header is not None:
        found["metadata"] = epoch_map.epoch_from_metadata(header.metadata)
        found["task_args"] = epoch_map.epoch_from_task_args(header.task_args)
        found["model_path"] = epoch_map.epoch_from_model_path(header.model_path)
        found["model_name"] = epoch_map.epoch_from_model_name(header.model, ctx.run.name)
    elif link is not None:
        read = ctx.evidence.stdouts.get(link.path)
        printed = read.inspect.model_names if read is not None and read.inspect else ()
        epochs = [epoch_map.epoch_from_model_name(m, ctx.run.name) for m in printed]
        found["model_name"] = next((e for e in epochs if e is not None), None)
    return found


def _key(ctx: _Context, task: str | None, epoch: int | None, config: CellConfig | None) -> Key:
    variant = None
    if config is not None and len(ctx.variants.get((task, epoch), ())) > 1:
        variant = config.folder
    return (task, epoch, variant)


def _place_log(ctx: _Context, log: LogFile) -> tuple[Key | None, _Cell]:
    """The cell a log belongs to (None when its task or epoch cannot be told)."""
    read = ctx.evidence.logs.get(log.path)
    header = read.header if read is not None else None
    config = ctx.configs.get(log.cell_folder) if log.cell_folder else None
    link = ctx.links.get(Path(log.path).name)
    job = slurm_job(ctx.evidence, link.job_id) if link else None
    named = _job_name(ctx, job)
    submission = ctx.submissions.get(link.job_id) if link and link.job_id else None
    task, task_source = _decide_task(ctx, log, header, config, named, submission)
    epoch, epoch_source = None, None
    if ctx.run.trains:
        decision = epoch_map.decide_epoch(
            _epoch_evidence(ctx, header, config, named, submission, link)
        )
        epoch, epoch_source = decision.epoch, decision.source
        if decision.conflict:
            ctx.notes.append(Note("WARNING", log.path, f"{log.path}: {decision.conflict}"))
    cell = _Cell((task, epoch, None), False, epoch_source=epoch_source, task_source=task_source)
    if task is None or (ctx.run.trains and epoch is None):
        return None, cell
    key = _key(ctx, task, epoch, config)
    return key, replace(cell, key=key, folder=config)


def _expected(ctx: _Context) -> dict[Key, _Cell]:
    row = ctx.evidence.design.matrix_row(ctx.run.name)
    cells: dict[Key, _Cell] = {}
    if row is None:
        return cells
    epochs = [None] if ctx.run.is_control else list(row.epochs or ())
    for task in row.tasks:
        for epoch in epochs:
            folders = ctx.variants.get((task, epoch), [])
            if len(folders) > 1:
                for folder in folders:
                    cells[(task, epoch, folder)] = _Cell((task, epoch, folder), True)
            else:
                cells[(task, epoch, None)] = _Cell((task, epoch, None), True)
    return cells


def _created(read: LogRead | None) -> str:
    return (read.header.created or "") if read is not None and read.header else ""


def _finished(read: LogRead | None) -> bool:
    return bool(read and read.header and read.header.finished and read.error is None)


def _choose(ctx: _Context, paths: list[str], mtimes: dict[str, int]) -> str:
    """The latest successful log of a cell (by the log's own creation time), else the latest."""
    reads = ctx.evidence.logs
    return max(
        paths,
        key=lambda p: (_finished(reads.get(p)), _created(reads.get(p)), mtimes.get(p, 0), p),
    )


def _epoch_text(epoch: int | None) -> str:
    return "-" if epoch is None else str(epoch)


def _where(run: str, key: Key) -> str:
    task, epoch, variant = key
    epoch_text = "(no epoch)" if epoch is None else f"epoch {epoch}"
    label = f"{task or '?'}" + (f" [{variant}]" if variant else "")
    return f"{run} {label} {epoch_text}"


def _header_metrics(header: LogHeader) -> Metrics:
    """What a header alone says (step 1 reads no samples)."""
    from ..evidence.eval_logs import main_score

    score = main_score(header)
    accuracy = score.metrics.get("accuracy") if score else None
    return Metrics(
        family=family(header, None),
        scorer=scorer_name(header),
        samples=header.samples or 0,
        errored=0,
        accuracy=accuracy,
        header_accuracy=accuracy,
        header_metrics=dict(score.metrics) if score else {},
    )


def _job_cell(
    ctx: _Context,
    out: JobStdoutFile,
    job: SlurmJob | None,
    cells: dict[Key, _Cell],
    log_cells: dict[str, Key],
) -> Key | None:
    """The cell an evaluation job belongs to, from the logs it printed, its SLURM name, the
    run log, or the cell folder it lies in."""
    read = ctx.evidence.stdouts.get(out.path)
    printed = read.inspect.log_names if read is not None and read.inspect else ()
    for name in printed:
        if name in log_cells:
            return log_cells[name]
    named = _job_name(ctx, job)
    submission = ctx.submissions.get(out.job_id) if out.job_id else None
    task = epoch = None
    if named is not None:
        task, epoch = named.task, named.epoch
    elif submission is not None and submission.cell is not None:
        task, epoch = submission.cell.task, submission.cell.epoch
    elif out.cell_folder and out.cell_folder in ctx.configs:
        config = ctx.configs[out.cell_folder]
        task, epoch = config.task_name, config.epoch
    if task is None:
        return None
    epoch = None if ctx.run.is_control else epoch
    config = ctx.configs.get(out.cell_folder) if out.cell_folder else None
    if config is None and named is not None and job is not None:
        config = next((c for c in ctx.configs.values() if c.job_name == job.name), None)
    key = _key(ctx, task, epoch, config)
    return key if key in cells else None


def assess_cells(
    evidence: Evidence,
    run: RunDesign,
    logs: tuple[LogFile, ...],
    eval_stdouts: list[JobStdoutFile],
    submissions: list[Submission],
    finetune_status: str,
    unreadable: tuple[str, ...],
    notes: list[Note],
    memo: Memo | None = None,
) -> tuple[tuple[CellResult, ...], tuple[UnplacedJob, ...]]:
    """Every cell of a run (expected by the design, or found on disk), with its status
    (`memo`: metrics computed before for the same samples)."""
    design = evidence.design
    files = evidence.files(run.name)
    configs = {c.folder: c for c in (files.cells if files else ())}
    variants: dict[tuple[str | None, int | None], list[str]] = {}
    for config in configs.values():
        if config.task_name:
            epoch = None if run.is_control else config.epoch
            variants.setdefault((config.task_name, epoch), []).append(config.folder)
    tasks = list(design.tasks) or sorted({c.task_name for c in configs.values() if c.task_name})
    links: dict[str, JobStdoutFile] = {}
    for out in eval_stdouts:
        read = evidence.stdouts.get(out.path)
        for name in read.inspect.log_names if read is not None and read.inspect else ():
            links.setdefault(name, out)
    ctx = _Context(
        evidence,
        run,
        tasks,
        configs,
        variants,
        links,
        {s.job_id: s for s in submissions if s.kind == "evaluation"},
        notes,
        memo,
    )
    cells = _expected(ctx)
    unplaced_logs: list[tuple[LogFile, _Cell]] = []
    for log in logs:
        key, found = _place_log(ctx, log)
        if key is None:
            unplaced_logs.append((log, found))
            continue
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = replace(found, logs=[])
        cell.logs.append(log.path)
        cell.epoch_source = cell.epoch_source or found.epoch_source
        cell.task_source = cell.task_source or found.task_source
        cell.folder = cell.folder or found.folder
    _eliminate_logs(ctx, cells, unplaced_logs)
    log_cells = {Path(p).name: key for key, cell in cells.items() for p in cell.logs}
    unplaced_jobs = _place_jobs(ctx, cells, eval_stdouts, log_cells)
    _place_submissions(ctx, cells)
    mtimes = {log.path: log.mtime_ns for log in logs}
    return _decide(ctx, cells, unplaced_jobs, finetune_status, unreadable, mtimes)


def _eliminate_logs(
    ctx: _Context, cells: dict[Key, _Cell], unplaced: list[tuple[LogFile, _Cell]]
) -> None:
    """Place the one log that could not be placed in the one expected cell left without a
    log; every other such log gets a cell of its own, outside the design."""
    empty = [key for key, cell in cells.items() if cell.in_design and not cell.logs]
    if len(unplaced) == 1 and len(empty) == 1:
        log, _ = unplaced[0]
        cell = cells[empty[0]]
        cell.logs.append(log.path)
        cell.placement = "elimination"
        ctx.notes.append(
            Note(
                "WARNING",
                log.path,
                f"{log.path}: placed by elimination in {_where(ctx.run.name, empty[0])}: the "
                "only log that could not be placed, and the only cell without one",
            )
        )
        return
    for log, found in unplaced:
        task = found.key[0]
        key: Key = (task, None, log.path)
        cells[key] = _Cell(key, False, [log.path], task_source=found.task_source)
        read = ctx.evidence.logs.get(log.path)
        if ctx.run.trains and read is not None and read.header is not None:
            ctx.notes.append(
                Note(
                    "WARNING",
                    log.path,
                    f"{log.path}: cannot tell which epoch this evaluated (no epoch in the "
                    "log's metadata, no SLURM job name, no task_args.epoch, no model path or "
                    "model name with an epoch); not counted in any epoch.",
                )
            )


def _place_jobs(
    ctx: _Context,
    cells: dict[Key, _Cell],
    eval_stdouts: list[JobStdoutFile],
    log_cells: dict[str, Key],
) -> list[tuple[JobStdoutFile, SlurmJob | None]]:
    """Give each evaluation job to its cell; return the jobs no cell could be found for."""
    unplaced: list[tuple[JobStdoutFile, SlurmJob | None]] = []
    for out in eval_stdouts:
        job = slurm_job(ctx.evidence, out.job_id)
        key = _job_cell(ctx, out, job, cells, log_cells)
        if key is None:
            unplaced.append((out, job))
            continue
        cells[key].jobs.append((out.job_id, job, out.path))
    without_log = [k for k, c in cells.items() if c.in_design and not c.logs and not c.jobs]
    without_job = [k for k, c in cells.items() if c.in_design and not c.jobs]
    empty = without_log if len(without_log) == 1 else without_job
    if len(unplaced) == 1 and len(empty) == 1:
        out, job = unplaced.pop()
        cell = cells[empty[0]]
        cell.jobs.append((out.job_id, job, out.path))
        cell.placement = "elimination"
        ctx.notes.append(
            Note(
                "WARNING",
                out.path,
                f"{out.path}: placed by elimination in {_where(ctx.run.name, empty[0])}: the "
                "only evaluation job that could not be placed, and the only cell without one",
            )
        )
    return unplaced


def _place_submissions(ctx: _Context, cells: dict[Key, _Cell]) -> None:
    """Jobs the run log names that left no stdout: their cell knows it was submitted."""
    found = {job_id for cell in cells.values() for job_id, _, _ in cell.jobs}
    for submission in ctx.submissions.values():
        if submission.job_id in found or submission.cell is None:
            continue
        epoch = None if ctx.run.is_control else submission.cell.epoch
        candidates = [k for k in cells if k[0] == submission.cell.task and k[1] == epoch]
        if len(candidates) == 1:
            cells[candidates[0]].submitted.append(submission.job_id)


def _latest_job(cell: _Cell) -> tuple[str | None, SlurmJob | None, str | None]:
    if not cell.jobs:
        return None, None, None
    return max(cell.jobs, key=lambda item: job_key(item[0]))


def _decide(
    ctx: _Context,
    cells: dict[Key, _Cell],
    unplaced_jobs: list[tuple[JobStdoutFile, SlurmJob | None]],
    finetune_status: str,
    unreadable: tuple[str, ...],
    mtimes: dict[str, int],
) -> tuple[tuple[CellResult, ...], tuple[UnplacedJob, ...]]:
    evidence, run = ctx.evidence, ctx.run
    unplaced: list[UnplacedJob] = []
    for out, job in unplaced_jobs:
        read = evidence.stdouts.get(out.path)
        failure = read.scan.failure_line if read is not None and read.scan else None
        status = (
            job.state
            if job is not None
            else state_from_failure_line(failure)
            if failure
            else "NO_LOG"
        )
        unplaced.append(UnplacedJob(out.path, out.job_id, status, failure))
    results: list[CellResult] = []
    for key, cell in cells.items():
        chosen = _choose(ctx, cell.logs, mtimes) if cell.logs else None
        others = tuple(p for p in cell.logs if p != chosen)
        read = evidence.logs.get(chosen) if chosen else None
        if chosen and read is None:
            read = LogRead(chosen, error=f"{chosen}: was not read")
        _job_id, job, stdout = _latest_job(cell)
        if job is None and cell.submitted:
            job = slurm_job(evidence, max(cell.submitted, key=job_key))
        stdout_read = evidence.stdouts.get(stdout) if stdout else None
        failure = stdout_read.scan.failure_line if stdout_read and stdout_read.scan else None
        status, cell_notes = cell_status(
            CellFacts(read, job, stdout is not None, failure, bool(cell.submitted), finetune_status)
        )
        if status == MISSING:
            if unreadable:
                cell_notes = list(unreadable)
            elif unplaced or any(not c.in_design and c.logs for c in cells.values()):
                cell_notes = [
                    "no evaluation log for this cell; some of this run's logs or jobs could not "
                    "be tied to a cell (see Notes and the rows below)"
                ]
            else:
                cell_notes = ["no evaluation log and no evaluation job found"]
        metrics = None
        if status == COMPLETED and read is not None and read.header is not None:
            metrics = (
                score_log_memo(read.header, read.samples, ctx.memo)
                if read.samples is not None
                else _header_metrics(read.header)
            )
            if read.samples is not None and read.samples.errored:
                total = read.samples.errored + read.samples.count
                notes_text = (
                    f"{chosen}: {read.samples.errored} of {total} samples errored; they are not "
                    "counted in the metrics (as in inspect's own accuracy)"
                )
                ctx.notes.append(Note("WARNING", chosen, notes_text))
        if others:
            ctx.notes.append(
                Note(
                    "WARNING",
                    chosen or "",
                    f"{chosen}: the latest successful log of {run.name} {key[0]} epoch "
                    f"{_epoch_text(key[1])}; {len(others)} other log(s) for this evaluation "
                    "ignored: " + ", ".join(Path(p).name for p in others),
                )
            )
        if chosen and not cell.in_design and (run.is_control or key[1] is not None):
            ctx.notes.append(
                Note(
                    "WARNING",
                    chosen,
                    f"{chosen}: the evaluation of {_where(run.name, key)} is not in the "
                    "design's evaluation.matrix; reported anyway.",
                )
            )
        check = None
        if status != COMPLETED:
            unfinished = read is not None and read.header is not None and not read.header.finished
            log_decided = chosen and not (unfinished and read.header.status == "started")
            check = chosen if log_decided else stdout or chosen
        dataset = cell.folder.data_path if cell.folder else None
        if dataset is None and key[0]:
            task_design = evidence.design.task_design(key[0])
            dataset = task_design.dataset if task_design else None
        results.append(
            CellResult(
                task=key[0],
                epoch=key[1],
                in_design=cell.in_design,
                status=status,
                variant=key[2] if cell.in_design or key[2] not in cell.logs else None,
                log=chosen,
                other_logs=others,
                epoch_source=cell.epoch_source,
                task_source=cell.task_source,
                placement=cell.placement,
                notes=tuple(n for n in cell_notes if n),
                job=job,
                stdout=stdout,
                check=check,
                metrics=metrics,
                dataset=dataset,
                model=read.header.model if read is not None and read.header else None,
            )
        )
    results.sort(
        key=lambda c: (c.task or "\uffff", -1 if c.epoch is None else c.epoch, c.variant or "")
    )
    return tuple(results), tuple(unplaced)
