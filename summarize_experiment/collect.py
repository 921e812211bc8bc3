"""Gather everything the summary needs into one JSON-ready document ("the collected document").

`collect(experiment_dir)` is what the orchestrator runs; `scripts/parse_status.py` runs the same
code with `full_eval=False` (headers only, no training-log scan).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .evidence import layout as paths
from .evidence import slurm, training_log
from .evidence.design import ExperimentDesign, RunDesign, load_design
from .evidence.eval_logs import (
    EvalHeader,
    EvalLogError,
    EvalRead,
    binary_output,
    cell_result,
    eval_log_output,
    finished_message,
    modified_time,
)
from .evidence.readers import EvalJobStdout, read_artifacts
from .judge.epochs import EpochDecision, decide_epoch, epoch_from_model_name
from .judge.status import (
    Cell,
    RunEvidence,
    cell_evidence,
    choose_log,
    evaluation_summary,
    expected_cells,
    finetune_status,
    header_of,
    is_result,
    refine_with_training,
    sacct_cell,
    state_from_failure_line,
    stdout_links,
)

SCHEMA_VERSION = 1


def _expected_epochs(design: ExperimentDesign, run: RunDesign) -> int | None:
    if design.epochs is not None:
        return design.epochs
    row = design.matrix_row(run.name)
    if row and row.epochs:
        return max(row.epochs) + 1
    return None


def discover(design: ExperimentDesign, layout: str) -> dict[str, RunEvidence]:
    """Files on disk for every run of the design."""
    found: dict[str, RunEvidence] = {}
    for run in design.runs:
        logs: list[tuple[Path, Path]] = []
        stdouts: list[tuple[Path, Path]] = []
        checked = [paths.run_dir(design, run.name), paths.run_dir(design, run.name) / "eval"]
        if not run.is_control:
            checked.append(paths.checkpoint_root(design, run.name, layout))
        for folder in paths.eval_folders(design, run.name, layout):
            checked += [folder, folder / "logs"]
            logs += [(log, folder) for log in paths.eval_log_files(folder)]
            stdouts += [(out, folder) for out in paths.eval_stdout_files(folder)]
        found[run.name] = RunEvidence(
            checkpoints=[] if run.is_control else paths.checkpoint_epochs(design, run.name, layout),
            training_stdout=[]
            if run.is_control
            else paths.training_stdout_files(design, run.name, layout),
            eval_logs=logs,
            eval_stdout=stdouts,
            unreadable=[p for p in map(paths.listing_problem, filter(None, checked)) if p],
        )
    return found


def _job_ids(evidence: dict[str, RunEvidence]) -> list[str]:
    ids: list[str] = []
    for run in evidence.values():
        files = run.training_stdout + [out for out, _ in run.eval_stdout]
        for path in files:
            job_id = training_log.job_id_from_stdout_name(path.name)
            if job_id and job_id not in ids:
                ids.append(job_id)
    return ids


def _job_dict(job: Any | None) -> dict[str, Any] | None:
    return job.to_dict() if job is not None else None


def training_entry(run: str, stdout: Path | None, scan: Any, job: Any | None) -> dict[str, Any]:
    """A run's training results: the stdout scan, and the duration from sacct or tqdm."""
    entry: dict[str, Any] = {"run": run, "stdout": str(stdout) if stdout else None}
    if stdout is None:
        entry["warning"] = "no training stdout (slurm-*.out) found; loss is N/A"
    elif isinstance(scan, PermissionError):
        entry["warning"] = (
            f"{stdout}: cannot be read (permission denied); check the file's permissions"
        )
    elif isinstance(scan, Exception):
        reason = getattr(scan, "strerror", None) or scan
        entry["warning"] = f"{stdout}: cannot be read ({reason}); loss is N/A"
    elif scan is not None:
        entry.update(scan.to_dict())
        if scan.final is None:
            entry["warning"] = f"{stdout}: no `epoch|step|Loss: value` line found; loss is N/A"
    elapsed = getattr(job, "elapsed_seconds", None)
    tqdm_seconds = getattr(scan, "elapsed_seconds", None) if scan is not None else None
    if elapsed is not None:
        entry["duration_seconds"], entry["duration_source"] = elapsed, "sacct"
    elif tqdm_seconds is not None:
        entry["duration_seconds"], entry["duration_source"] = tqdm_seconds, "tqdm"
    else:
        entry["duration_seconds"], entry["duration_source"] = None, None
    return entry


def _eval_result(read: Any) -> dict[str, Any]:
    """The numbers of a cell's chosen log, for the Evaluation Results table."""
    if isinstance(read, EvalRead):
        return cell_result(eval_log_output(read), binary_output(read))
    if isinstance(read, EvalHeader):
        return cell_result(
            {
                "accuracy": read.accuracy,
                "samples": read.samples,
                "scorer": read.scorer,
                "model": read.model,
            },
            None,
        )
    return {}


def _read_message(read: Any) -> str | None:
    if isinstance(read, EvalRead):
        return read.message
    if isinstance(read, EvalLogError):
        return str(read)
    if isinstance(read, EvalHeader):
        return finished_message(read)
    return None


def _failed_status(read: Any) -> str:
    header = header_of(read)
    if header is None:
        return "ERROR"
    return {"cancelled": "CANCELLED", "started": "UNFINISHED"}.get(header.log_status, "FAILED")


def build_cells(
    design: ExperimentDesign,
    run: RunDesign,
    layout: str,
    evidence: RunEvidence,
    reads: dict[str, Any],
    stdouts: dict[str, EvalJobStdout],
    lookup: Any,
    notes: list[str],
) -> list[Cell]:
    """Assign each log and job to its (task, epoch) cell and decide each cell's status."""
    cells = {c.key(): c for c in expected_cells(design, run)}
    candidates: dict[tuple[Any, ...], list[str]] = {}
    jobs = getattr(lookup, "jobs", {}) or {}
    links = stdout_links([stdouts[str(p)] for p, _ in evidence.eval_stdout if str(p) in stdouts])
    for log, folder in evidence.eval_logs:
        read = reads.get(str(log))
        header = header_of(read)
        linked = links.get(log.name)
        job = jobs.get(linked.job_id) if linked and linked.job_id else None
        folder_cell, from_job = _cell_hints(design, run, layout, folder, job)
        task = header.task if header else None
        task = (
            task
            or (from_job.task if from_job else None)
            or (folder_cell.task if folder_cell else None)
            or paths.task_from_log_name(log.name, design.tasks)
        )
        if run.is_control:
            epoch, source = None, None
        else:
            decision = decide(header, run, folder_cell, from_job, linked)
            epoch, source = decision.epoch, decision.source
            if decision.conflict:
                notes.append(f"{log}: {decision.conflict}")
            if epoch is None and header is not None:
                notes.append(
                    f"{log}: cannot tell which epoch this evaluated (no sacct job name, no "
                    "task_args.epoch, no model path or model name with an epoch); not counted "
                    "in any epoch."
                )
        unmapped = epoch is None and not run.is_control
        key = (task, None, str(log)) if unmapped else (task, epoch)
        candidates.setdefault(key, []).append(str(log))
        cell = cells.setdefault(key, Cell(task, epoch, False))
        cell.epoch_source = cell.epoch_source or source
    mtimes = {p: modified_time(p) for paths_ in candidates.values() for p in paths_}
    for key, logs in candidates.items():
        cell = cells[key]
        chosen = choose_log(logs, reads, mtimes)
        cell.log = chosen
        cell.other_logs = [p for p in logs if p != chosen]
        read = reads.get(chosen)
        if is_result(read):
            cell.status = "COMPLETED"
        else:
            cell.status = _failed_status(read)
            message = _read_message(read)
            if message:
                cell.notes.append(message)
            cell.check = chosen
        if cell.other_logs:
            notes.append(
                f"{chosen}: the latest successful log of {run.name} {cell.task} epoch "
                f"{_epoch_text(cell.epoch)}; {len(cell.other_logs)} other log(s) for this "
                "evaluation ignored: " + ", ".join(Path(p).name for p in cell.other_logs)
            )
        errored = getattr(read, "errored_samples", 0)
        if errored:
            notes.append(
                f"{chosen}: {errored} of {errored + (read.scored_samples or 0)} samples errored; "
                "they are not counted in the metrics (as in inspect's own accuracy)"
            )
        if not cell.in_design and (run.is_control or cell.epoch is not None):
            notes.append(
                f"{chosen}: evaluation of task {cell.task!r} epoch {cell.epoch} is not in the "
                "design's evaluation.matrix; reported anyway."
            )
    mapped_logs = {Path(p).name for paths_ in candidates.values() for p in paths_}
    unassigned = _apply_jobs(design, run, layout, evidence, stdouts, jobs, cells, mapped_logs)
    unmapped = [c for c in cells.values() if not c.in_design and c.status == "COMPLETED"]
    for cell in cells.values():
        if cell.status == "MISSING" and not cell.notes:
            if evidence.unreadable:
                cell.notes.extend(evidence.unreadable)
            elif unassigned or unmapped:
                cell.notes.append(
                    "no evaluation log for this cell; some of this run's logs or jobs could not "
                    "be tied to a cell (see Notes and the rows below)"
                )
            else:
                cell.notes.append("no evaluation log and no evaluation job found")
    return list(cells.values()), unassigned


def _cell_hints(
    design: ExperimentDesign, run: RunDesign, layout: str, folder: Path, job: Any | None
) -> tuple[paths.CellFolder | None, Any]:
    """What the layout-B cell folder and the SLURM job name say about which cell this is."""
    folder_cell = paths.cell_folder(folder, design.tasks) if layout == "B" else None
    parsed = sacct_cell(job, design, run.name, folder_cell.task if folder_cell else None)
    return folder_cell, parsed


def _epoch_text(epoch: int | None) -> str:
    return "-" if epoch is None else str(epoch)


def decide(
    header: EvalHeader | None,
    run: RunDesign,
    folder_cell: Any,
    from_job: Any,
    linked: EvalJobStdout | None,
) -> EpochDecision:
    """The epoch decision for one log of a fine-tuned run. When the log's header cannot be read,
    the model name its job printed (`hf/{run}_epoch_{N}`) stands in for the header's."""
    evidence = cell_evidence(
        header,
        run,
        folder_cell.epoch if folder_cell else None,
        from_job.epoch if from_job else None,
    )
    if header is None and linked is not None:
        printed = [epoch_from_model_name(m, run.name) for m in linked.model_names]
        evidence["model_name"] = next((e for e in printed if e is not None), None)
    return decide_epoch(evidence)


def _apply_jobs(
    design: ExperimentDesign,
    run: RunDesign,
    layout: str,
    evidence: RunEvidence,
    stdouts: dict[str, EvalJobStdout],
    jobs: dict[str, Any],
    cells: dict[tuple[str | None, int | None], Cell],
    mapped_logs: set[str],
) -> list[dict[str, Any]]:
    """Give cells without a usable log the state of their evaluation job, if one is known.

    Returns the jobs that wrote no log and cannot be tied to a cell (no SLURM job name, no cell
    folder): they are reported on their own rather than dropped."""
    unassigned: list[dict[str, Any]] = []
    for out, folder in evidence.eval_stdout:
        scan = stdouts.get(str(out))
        job_id = training_log.job_id_from_stdout_name(out.name)
        job = jobs.get(job_id) if job_id else None
        folder_cell, parsed = _cell_hints(design, run, layout, folder, job)
        if parsed is not None:
            key = (parsed.task, None if run.is_control else parsed.epoch)
        elif folder_cell is not None:
            key = (folder_cell.task, None if run.is_control else folder_cell.epoch)
        else:
            if scan is not None and not set(scan.log_names) & mapped_logs:
                failure = scan.failure_line
                unassigned.append(
                    {
                        "stdout": str(out),
                        "job_id": job_id,
                        "status": state_from_failure_line(failure) if failure else "NO_LOG",
                        "failure_line": failure,
                    }
                )
            continue
        cell = cells.get(key)
        if cell is None:
            continue
        if job is not None and (
            cell.job is None
            or int(job_id.split("_")[0]) >= int(str(cell.job.get("job_id", "0")).split("_")[0])
        ):
            cell.job = job.to_dict()
        if cell.status in ("MISSING", "UNFINISHED"):
            _job_decides(cell, job, scan, out)
    return unassigned


def _job_decides(cell: Cell, job: Any | None, scan: EvalJobStdout | None, out: Path) -> None:
    """A cell with no log, or an unfinished one, takes its evaluation job's end: the SLURM
    state, else the state its stdout's failure line implies."""
    state = getattr(job, "state", None)
    failure = scan.failure_line if scan else None
    if cell.status == "UNFINISHED":
        if state and state != "COMPLETED":
            cell.status = state
        elif failure:
            cell.status = state_from_failure_line(failure)
    elif state and state != "COMPLETED":
        cell.status = state
    elif state == "COMPLETED":
        cell.status = "NO_LOG"
        cell.notes.append("the job COMPLETED but wrote no log in logs/")
    else:
        cell.status = state_from_failure_line(failure) if failure else "NO_LOG"
    if failure:
        cell.notes.append(failure)
    cell.check = str(out)


def run_entry(
    design: ExperimentDesign,
    run: RunDesign,
    layout: str,
    evidence: RunEvidence,
    artifacts: dict[str, dict[str, Any]],
    lookup: Any,
    notes: list[str],
) -> dict[str, Any]:
    """Everything about one run: design, fine-tuning, training results and evaluation cells."""
    notes.extend(evidence.unreadable)
    jobs = getattr(lookup, "jobs", {}) or {}
    stdout = training_log.pick_latest_stdout(evidence.training_stdout)
    job_id = training_log.job_id_from_stdout_name(stdout.name) if stdout else None
    job = jobs.get(job_id) if job_id else None
    scan = artifacts["train"].get(str(stdout)) if stdout else None
    failed_location = bool(
        stdout and layout == "A" and stdout.parent == design.directory / run.name
    )
    expected = _expected_epochs(design, run)
    status, ft_notes = finetune_status(run, expected, evidence, failed_location, job)
    cells, unassigned = build_cells(
        design, run, layout, evidence, artifacts["eval"], artifacts["stdout"], lookup, notes
    )
    if status not in ("COMPLETED", "N/A"):
        for cell in cells:
            if cell.status == "MISSING":
                cell.status = "NOT_STARTED"
                cell.notes = []
    entry: dict[str, Any] = {
        "name": run.name,
        "type": run.type,
        "model": run.model,
        "parameters": run.parameters,
        "training_dataset": paths.training_dataset(design, run.name),
        "finetune": {
            "status": status,
            "diverged": False,
            "checkpoints": evidence.checkpoints,
            "expected_epochs": None if run.is_control else expected,
            "stdout": str(stdout) if stdout else None,
            "stdout_files": [str(p) for p in evidence.training_stdout],
            "job": _job_dict(job),
            "notes": ft_notes,
        },
        "training": None if run.is_control else training_entry(run.name, stdout, scan, job),
        "cells": [_cell_dict(c, artifacts["eval"]) for c in _sorted_cells(cells)],
        "unassigned_jobs": unassigned,
    }
    refine_with_training(entry["finetune"], entry["training"])
    entry["evaluation_status"] = evaluation_summary(cells, status)
    entry["complete"] = status in ("COMPLETED", "N/A") and all(
        c.status == "COMPLETED" for c in cells if c.in_design
    )
    return entry


def _sorted_cells(cells: list[Cell]) -> list[Cell]:
    return sorted(cells, key=lambda c: (c.task or "\uffff", -1 if c.epoch is None else c.epoch))


def _cell_dict(cell: Cell, reads: dict[str, Any]) -> dict[str, Any]:
    data = asdict(cell)
    data["result"] = _eval_result(reads.get(cell.log)) if cell.status == "COMPLETED" else None
    return data


def collect(
    experiment_dir: Path,
    *,
    full: bool = True,
    jobs: int = 1,
    use_sacct: bool = True,
    sacct_timeout_s: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The collected document of an experiment; raises DesignError without a usable design."""
    design = load_design(experiment_dir)
    layout = paths.detect_layout(design)
    evidence = discover(design, layout)
    job_ids = _job_ids(evidence)
    if use_sacct and job_ids:
        kwargs = {"timeout_s": sacct_timeout_s} if sacct_timeout_s else {}
        lookup = slurm.lookup_jobs(job_ids, **kwargs)
    else:
        lookup = None
    training = []
    if full:
        for run in evidence.values():
            latest = training_log.pick_latest_stdout(run.training_stdout)
            if latest:
                training.append(latest)
    artifacts = read_artifacts(
        [log for run in evidence.values() for log, _ in run.eval_logs],
        training,
        [out for run in evidence.values() for out, _ in run.eval_stdout],
        full_eval=full,
        jobs=jobs,
        on_progress=on_progress,
    )
    notes: list[str] = []
    runs = [
        run_entry(design, run, layout, evidence[run.name], artifacts, lookup, notes)
        for run in design.runs
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "experiment": {
            "name": design.name,
            "directory": str(design.directory),
            "design_file": str(design.design_file),
            "layout": layout,
            "output_base": str(design.output_base) if design.output_base else None,
            "tasks": design.tasks,
        },
        "slurm": _slurm_summary(lookup, use_sacct, job_ids),
        "runs": runs,
        "rejected_runs": design.rejected_runs,
        "design_problems": design.problems,
        "notes": notes,
    }


def _slurm_summary(lookup: Any, use_sacct: bool, job_ids: list[str]) -> dict[str, Any]:
    if not use_sacct:
        return {
            "available": False,
            "source": None,
            "error": "sacct not used (--no-sacct)",
            "jobs_asked": len(job_ids),
            "jobs_found": 0,
        }
    if lookup is None:
        return {
            "available": False,
            "source": None,
            "error": "no SLURM job stdout found",
            "jobs_asked": 0,
            "jobs_found": 0,
        }
    return {
        "available": lookup.available,
        "source": lookup.source,
        "error": lookup.error,
        "jobs_asked": len(job_ids),
        "jobs_found": len(lookup.jobs),
    }


def _same_path(a: str | None, b: str | None) -> bool:
    return bool(a and b) and Path(a).resolve() == Path(b).resolve()


def merge_step_outputs(
    status_doc: dict[str, Any],
    loss_docs: list[dict[str, Any]],
    eval_docs: list[dict[str, Any]],
    binary_docs: list[dict[str, Any]],
) -> dict[str, Any]:
    """Fill a parse_status document with the outputs of extract_loss, parse_eval_log and
    summary_binary, giving the same collected document the orchestrator builds in one process."""
    by_run = {doc.get("run"): doc for doc in loss_docs if doc.get("run")}
    for run in status_doc["runs"]:
        loss = by_run.get(run["name"])
        if loss is not None and run.get("training") is not None:
            merged = dict(loss)
            for key in ("duration_seconds", "duration_source"):
                if merged.get(key) is None and run["training"].get(key) is not None:
                    merged[key] = run["training"][key]
            run["training"] = merged
            refine_with_training(run["finetune"], merged)
        for cell in run["cells"]:
            if cell["status"] != "COMPLETED" or not cell.get("log"):
                continue
            eval_doc = next((d for d in eval_docs if _same_path(d.get("path"), cell["log"])), None)
            binary_doc = next(
                (d for d in binary_docs if _same_path(d.get("path"), cell["log"])), None
            )
            if eval_doc is not None:
                cell["result"] = cell_result(eval_doc, binary_doc)
    return status_doc
