"""Gather the evidence of one experiment: read everything once, decide nothing.

`gather` is what the one-command path and every step script run; `rebuild_evidence` reads the
evidence back from the step scripts' JSON (see `report.contracts`), so that `render_summary.py`
judges exactly what the steps read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from . import slurm
from .cache import ReadCache
from .design import ExperimentDesign, load_design
from .layout import detect_layout, find_run_files
from .model import DatasetFile, Evidence, LogRead, RunFiles, RunLogEntry, SlurmEvidence
from .readers import read_all
from .run_logs import read_run_logs
from .safe_io import read_regular_bytes

SIDECAR_SUFFIX = ".meta.json"
SIDECAR_READ_LIMIT = 1 << 20
"""A generation sidecar is a small JSON config; 1 MiB bounds a runaway file."""


def job_ids(runs: tuple[RunFiles, ...], run_logs: tuple[RunLogEntry, ...]) -> list[str]:
    """Every job id the experiment names: from `slurm-{id}.out` file names and from the run
    logs' submissions and retries, in that order, once each."""
    ids = [out.job_id for run in runs for out in run.job_stdouts if out.job_id]
    ids += [entry.job_id for entry in run_logs if entry.job_id]
    return list(dict.fromkeys(ids))


def ask_slurm(ids: list[str], *, use_sacct: bool, timeout_s: float | None) -> SlurmEvidence:
    """One SLURM lookup for every id (or why there was none)."""
    if not use_sacct:
        return SlurmEvidence(tuple(ids), used=False, error="sacct not used (--no-sacct)")
    if not ids:
        return SlurmEvidence((), used=False, error="no SLURM job id found in the experiment")
    kwargs = {"timeout_s": timeout_s} if timeout_s else {}
    try:
        lookup = slurm.lookup_jobs(ids, **kwargs)
    except Exception as exc:  # SLURM's answer is one input: its failure is a note
        error = f"the SLURM lookup failed ({type(exc).__name__}: {exc})"
        return SlurmEvidence(tuple(ids), used=True, error=error)
    return SlurmEvidence(
        asked=tuple(ids),
        used=True,
        available=lookup.available,
        source=lookup.source,
        error=lookup.error,
        jobs=dict(lookup.jobs),
        not_found=tuple(lookup.not_found),
    )


def dataset_paths(evidence_runs: tuple[RunFiles, ...], design_paths: list[str]) -> list[str]:
    """Every dataset file the experiment names: training sets, evaluation sets."""
    paths = [run.setup.dataset for run in evidence_runs if run.setup and run.setup.dataset]
    paths += [cell.data_path for run in evidence_runs for cell in run.cells if cell.data_path]
    paths += design_paths
    return list(dict.fromkeys(paths))


def read_dataset(path: str, experiment_dir: Path) -> DatasetFile:
    """Whether a dataset file exists, and its generation sidecar's `config_hash_short` (a
    relative path is the experiment's, as the design and eval.yaml record it)."""
    file = experiment_dir / path
    try:
        exists = file.is_file()
    except OSError:
        exists = False
    # ARTIFACTS.md: `{file}.meta.json`; the toolkit writes `{stem}.meta.json` beside the file
    spellings = (Path(f"{file}{SIDECAR_SUFFIX}"), file.with_name(file.stem + SIDECAR_SUFFIX))
    sidecar = None
    try:
        sidecar = next((s for s in spellings if s.is_file()), None)
        if sidecar is None:
            return DatasetFile(path, exists)
        data = json.loads(bytes(read_regular_bytes(sidecar, SIDECAR_READ_LIMIT)))
    except Exception as exc:  # unreadable, a FIFO, not JSON, nested too deep: this file's problem
        where = sidecar or f"{path}{SIDECAR_SUFFIX}"
        return DatasetFile(path, exists, problem=f"{where}: cannot be used ({exc})")
    found = data.get("config_hash_short") if isinstance(data, dict) else None
    return DatasetFile(path, exists, str(found) if found else None)


def _run_files(design: ExperimentDesign, run: str, layout: str) -> RunFiles:
    """find_run_files; whatever goes wrong listing one run is that run's note, never the end of
    the summary."""
    try:
        return find_run_files(design, run, layout)
    except Exception as exc:
        run_dir = design.directory / run
        note = f"{run_dir}: its files could not be listed ({type(exc).__name__}: {exc})"
        return RunFiles(run=run, run_dir=str(run_dir), checkpoint_root=None, notes=(note,))


def gather(
    experiment_dir: Path,
    *,
    with_samples: bool = True,
    read_logs: bool = True,
    cache: ReadCache | None = None,
    jobs: int = 1,
    use_sacct: bool = True,
    sacct_timeout_s: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    while_reading: Callable[[], None] | None = None,
) -> Evidence:
    """All the evidence of an experiment; raises DesignError without a usable design.

    `with_samples`: read each finished log's samples (else its header only); `read_logs`:
    read the logs at all (step 2 needs only the job stdouts); `cache`: what an earlier run
    read (`load_cache`), taken for each file unchanged since; `while_reading`: called while a
    few logs are read (see `readers.read_all`)."""
    design = load_design(experiment_dir)
    layout = detect_layout(design)
    runs = tuple(_run_files(design, run.name, layout) for run in design.runs)
    run_logs, notes = read_run_logs(design.directory)
    entries = tuple(run_logs)
    found = ask_slurm(job_ids(runs, entries), use_sacct=use_sacct, timeout_s=sacct_timeout_s)
    cache = cache if cache is not None else ReadCache()
    notes += [cache.note] if cache.note else []
    log_files = [log for run in runs for log in run.logs] if read_logs else []
    out_files = [out for run in runs for out in run.job_stdouts]
    known_logs = {f.path: read for f in log_files if (read := cache.log(f, with_samples))}
    known_outs = {f.path: read for f in out_files if (read := cache.stdout(f))}
    fresh_logs, fresh_outs = read_all(
        [f.path for f in log_files if f.path not in known_logs],
        [f.path for f in out_files if f.path not in known_outs],
        with_samples=with_samples,
        jobs=jobs,
        on_progress=on_progress,
        while_reading=while_reading,
    )
    logs = {f.path: known_logs.get(f.path) or fresh_logs[f.path] for f in log_files}
    stdouts = {f.path: known_outs.get(f.path) or fresh_outs[f.path] for f in out_files}
    design_paths = [t.dataset for t in design.task_designs if t.dataset]
    design_paths += [design.training_data] if design.training_data else []
    datasets = {
        path: read_dataset(path, design.directory) for path in dataset_paths(runs, design_paths)
    }
    return Evidence(
        design=design,
        layout=layout,
        runs=runs,
        run_logs=entries,
        slurm=found,
        stdouts=stdouts,
        logs=logs,
        datasets=datasets,
        samples_read=with_samples and read_logs,
        notes=tuple(notes),
    )


def with_log_reads(evidence: Evidence, reads: dict[str, LogRead]) -> Evidence:
    """The evidence with its log reads replaced by `reads` (step 3's, with the samples)."""
    return replace(evidence, logs={**evidence.logs, **reads}, samples_read=True)


def log_paths(experiment_dir: Path) -> list[str]:
    """Every evaluation log of the experiment (what step 3 reads)."""
    design = load_design(experiment_dir)
    layout = detect_layout(design)
    return [log.path for run in design.runs for log in _run_files(design, run.name, layout).logs]
