"""Find what an experiment left on disk for each run, in layout A or B (ARTIFACTS.md).

Layout A: training stdout in `{output_base}/ck-out-{run}/slurm-*.out` (or `{run}/slurm-*.out`
when training failed), checkpoints `{output_base}/ck-out-{run}/epoch_N/`, evaluation job stdout
`{run}/eval/slurm-*.out`, logs `{run}/eval/logs/*.eval`.
Layout B: everything under the run: `{run}/artifacts/` holds the training stdouts, the
`epoch_N/` checkpoints and the evaluation job stdouts (`artifacts/epoch_N/slurm-*.out` for a
fine-tuned cell, `artifacts/slurm-*.out` for a control or eval-only one); one folder per cell
`{run}/eval/{cell}/` with `eval.yaml`, `cell.slurm` and `logs/*.eval`.

Every place either layout (or an older toolkit) may use is looked at, whatever the layout:
what a file is (training or evaluation stdout, which cell) is the judge's decision, from the
evidence, never from the folder alone. Only fixed-depth listings are made, so symlink loops
under the experiment cannot trap the scan.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .design import ExperimentDesign
from .model import BatchScript, CellConfig, FinetuneSetup, JobStdoutFile, LogFile, RunFiles
from .training_log import job_id_from_stdout_name

EVAL_LOG_SUFFIXES = (".eval", ".json")
CHECKPOINT_DIR = re.compile(r"^epoch_(\d+)$")
STDOUT_NAME = re.compile(r"^slurm-.*\.out$")
SCRIPT_READ_LIMIT = 64 << 10
"""sbatch scripts, eval.yaml and setup_finetune.yaml are small; 64 KiB bounds a runaway file."""
SBATCH_JOB_NAME = re.compile(r"^#SBATCH\s+(?:--job-name[=\s]|-J\s*)\s*(\S+)", re.MULTILINE)
SBATCH_OUTPUT = re.compile(r"^#SBATCH\s+(?:--output[=\s]|-o\s*)\s*(\S+)", re.MULTILINE)


def detect_layout(design: ExperimentDesign) -> str:
    """'B' when the design says `experiment.dir` or runs keep `artifacts/`; else 'A'."""
    if design.layout_hint == "B":
        return "B"
    for run in design.runs:
        if (design.directory / run.name / "artifacts").is_dir():
            return "B"
    return "A"


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _stat(entry: os.DirEntry) -> tuple[int, int, int]:
    """(mtime_ns, size, inode) of what the entry names (a link is followed)."""
    try:
        info = entry.stat()
    except OSError:
        return 0, 0, 0
    return info.st_mtime_ns, info.st_size, info.st_ino


def _stdouts(folder: Path, place: str, **where: Any) -> list[JobStdoutFile]:
    found = []
    for entry in _entries(folder):
        if STDOUT_NAME.match(entry.name) and _is_file(entry):
            mtime, size, inode = _stat(entry)
            job_id = job_id_from_stdout_name(entry.name)
            found.append(
                JobStdoutFile(entry.path, job_id, place, mtime, size, inode=inode, **where)
            )
    return found


def _logs(folder: Path, cell: str | None) -> list[LogFile]:
    found = []
    for entry in _entries(folder / "logs"):
        if Path(entry.name).suffix in EVAL_LOG_SUFFIXES and _is_file(entry):
            mtime, size, inode = _stat(entry)
            found.append(LogFile(entry.path, cell, mtime, size, inode))
    return found


def _scripts(folder: Path) -> list[BatchScript]:
    return [
        read_batch_script(Path(entry.path))
        for entry in _entries(folder)
        if entry.name.endswith(".slurm") and _is_file(entry)
    ]


def read_small(path: Path) -> str:
    """The start of a small text file (at most SCRIPT_READ_LIMIT bytes)."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return handle.read(SCRIPT_READ_LIMIT)


def read_batch_script(path: Path) -> BatchScript:
    """A batch script's `#SBATCH --job-name` and `--output`."""
    try:
        text = read_small(path)
    except OSError:
        return BatchScript(str(path), None, None)
    name = SBATCH_JOB_NAME.search(text)
    output = SBATCH_OUTPUT.search(text)
    return BatchScript(
        str(path),
        name.group(1).strip("'\"") if name else None,
        output.group(1).strip("'\"") if output else None,
    )


def _yaml_mapping(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A small YAML file as a mapping, or why it cannot be used."""
    try:
        data = yaml.safe_load(read_small(path))
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"
    except yaml.YAMLError as exc:
        return None, f"{path}: not valid YAML ({str(exc).splitlines()[0]})"
    if not isinstance(data, dict):
        return None, f"{path}: not a YAML mapping"
    return data, None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _epoch(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def read_cell(folder: Path) -> CellConfig:
    """A layout-B cell folder: its `eval.yaml` and `cell.slurm`."""
    script = read_batch_script(folder / "cell.slurm")
    config = folder / "eval.yaml"
    if not config.exists():
        return CellConfig(folder.name, str(folder), job_name=script.job_name, output=script.output)
    data, problem = _yaml_mapping(config)
    if data is None:
        return CellConfig(
            folder.name,
            str(folder),
            job_name=script.job_name,
            output=script.output,
            problem=problem,
        )
    scorers = data.get("scorers")
    names = tuple(
        str(s.get("name") if isinstance(s, dict) else s)
        for s in (scorers if isinstance(scorers, list) else [scorers] if scorers else [])
    )
    finetuned = data.get("is_finetuned")
    return CellConfig(
        folder=folder.name,
        path=str(folder),
        task_name=_text(data.get("task_name")),
        epoch=_epoch(data.get("epoch")),
        vis_label=_text(data.get("vis_label")),
        data_path=_text(data.get("data_path")),
        model_path=_text(data.get("model_path")),
        model_hf_name=_text(data.get("model_hf_name")),
        scorers=names,
        is_finetuned=finetuned if isinstance(finetuned, bool) else None,
        job_name=script.job_name,
        output=script.output,
    )


def read_setup(path: Path) -> FinetuneSetup | None:
    """`setup_finetune.yaml`: the training dataset (`input_dir_base` + `dataset_label` +
    `dataset_ext`) and the batch size."""
    if not path.exists():
        return None
    data, problem = _yaml_mapping(path)
    if data is None:
        return FinetuneSetup(str(path), problem=problem)
    dataset = None
    if data.get("dataset_label"):
        base = str(data.get("input_dir_base") or "")
        label = str(data["dataset_label"])
        ext = str(data.get("dataset_ext") or "")
        joined = f"{base.rstrip('/')}/{label}" if base else label
        dataset = joined + (ext if not ext or ext.startswith(".") else f".{ext}")
    batch = data.get("batch_size")
    return FinetuneSetup(
        str(path),
        dataset,
        batch if isinstance(batch, int) and not isinstance(batch, bool) else None,
    )


def listing_problem(folder: Path) -> str | None:
    """Why a folder that exists cannot be listed (permissions), or None."""
    try:
        if not folder.is_dir():
            return None
        with os.scandir(folder) as entries:
            next(entries, None)
    except PermissionError:
        return (
            f"{folder}: cannot be listed (permission denied), so what it holds is unknown; "
            "check the folder's permissions"
        )
    except OSError as exc:
        return f"{folder}: cannot be listed ({exc.strerror or exc})"
    return None


def checkpoint_root(design: ExperimentDesign, run: str, layout: str) -> Path | None:
    """The folder holding a run's `epoch_N/` checkpoints."""
    if layout == "B":
        return design.directory / run / "artifacts"
    if design.output_base is None:
        return None
    return design.output_base / f"ck-out-{run}"


def find_run_files(design: ExperimentDesign, run: str, layout: str) -> RunFiles:
    """Everything on disk that may belong to `run`."""
    run_dir = design.directory / run
    artifacts = run_dir / "artifacts"
    eval_dir = run_dir / "eval"
    root = checkpoint_root(design, run, layout)
    checkpoints: list[int] = []
    epoch_dirs: list[tuple[int, Path]] = []
    for folder in dict.fromkeys(p for p in (root, artifacts) if p is not None):
        for entry in _entries(folder):
            match = CHECKPOINT_DIR.match(entry.name)
            if match and _is_dir(entry):
                epoch_dirs.append((int(match.group(1)), Path(entry.path)))
                if folder == root:
                    checkpoints.append(int(match.group(1)))
    stdouts = _stdouts(run_dir, "run")
    if root is not None and root != artifacts:
        stdouts += _stdouts(root, "output")
    stdouts += _stdouts(artifacts, "artifacts")
    for epoch, folder in epoch_dirs:
        stdouts += _stdouts(folder, "artifacts_epoch", epoch_folder=epoch)
    stdouts += _stdouts(eval_dir, "eval")
    logs = _logs(eval_dir, None)
    cells: list[CellConfig] = []
    scripts = _scripts(run_dir) + _scripts(eval_dir)
    for entry in _entries(eval_dir):
        if entry.name == "logs" or not _is_dir(entry):
            continue
        folder = Path(entry.path)
        stdouts += _stdouts(folder, "cell", cell_folder=entry.name)
        logs += _logs(folder, entry.name)
        cells.append(read_cell(folder))
        scripts += _scripts(folder)
    checked = [run_dir, eval_dir, artifacts, eval_dir / "logs"]
    checked += [p for p in (root,) if p is not None]
    checked += [Path(c.path) for c in cells] + [Path(c.path) / "logs" for c in cells]
    problems = [p for p in map(listing_problem, dict.fromkeys(checked)) if p]
    return RunFiles(
        run=run,
        run_dir=str(run_dir),
        checkpoint_root=str(root) if root is not None else None,
        checkpoints=tuple(sorted(set(checkpoints))),
        job_stdouts=tuple(dict.fromkeys(stdouts)),
        logs=tuple(logs),
        cells=tuple(cells),
        scripts=tuple(scripts),
        setup=read_setup(run_dir / "setup_finetune.yaml"),
        problems=tuple(problems),
    )


def run_from_stdout_path(path: Path) -> str:
    """The run a training stdout belongs to, from where it lies: `ck-out-{run}/` (layout A),
    `{run}/artifacts/` (layout B), or `{run}/` (layout A, failed training)."""
    parent = path.resolve().parent
    if parent.name.startswith("ck-out-"):
        return parent.name[len("ck-out-") :]
    if parent.name == "artifacts":
        return parent.parent.name
    return parent.name
