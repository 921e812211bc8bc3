"""Where an experiment's artifacts live on disk, in layout A (original) and layout B (newer).

Layout A: training stdout in `{output_base}/ck-out-{run}/slurm-*.out` (or `{run}/slurm-*.out`
when training failed), checkpoints `{output_base}/ck-out-{run}/epoch_N/`, evaluation job stdout
`{run}/eval/slurm-*.out` and logs `{run}/eval/logs/*.eval`.
Layout B: training stdout and checkpoints under `{run}/artifacts/`, one folder per evaluation
cell `{run}/eval/{task}_epoch{N}/` (control: `{run}/eval/{task}/`) holding `slurm-*.out` and
`logs/*.eval`.

Only fixed-depth globs are used, so symlink loops under the experiment cannot trap the scan.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .design import ExperimentDesign

EVAL_LOG_SUFFIXES = (".eval", ".json")
CHECKPOINT_DIR = re.compile(r"^epoch_(\d+)$")
CELL_FOLDER = re.compile(r"^(?P<task>.+?)(?:_epoch(?P<epoch>\d+))?$")


@dataclass(frozen=True)
class CellFolder:
    """What a layout-B evaluation folder's name says: its task and epoch."""

    task: str
    epoch: int | None


def detect_layout(design: ExperimentDesign) -> str:
    """'B' when the design says `experiment.dir` or runs keep `artifacts/`; else 'A'."""
    if design.layout_hint == "B":
        return "B"
    for run in design.runs:
        if (design.directory / run.name / "artifacts").is_dir():
            return "B"
    return "A"


def _files(folder: Path, pattern: str) -> list[Path]:
    try:
        return sorted(p for p in folder.glob(pattern) if p.is_file())
    except OSError:
        return []


def run_dir(design: ExperimentDesign, run: str) -> Path:
    return design.directory / run


def checkpoint_root(design: ExperimentDesign, run: str, layout: str) -> Path | None:
    """The folder holding `epoch_N/` checkpoints of a run."""
    if layout == "B":
        return run_dir(design, run) / "artifacts"
    if design.output_base is None:
        return None
    return design.output_base / f"ck-out-{run}"


def checkpoint_epochs(design: ExperimentDesign, run: str, layout: str) -> list[int]:
    """0-indexed epochs that have a checkpoint folder on disk."""
    root = checkpoint_root(design, run, layout)
    if root is None or not root.is_dir():
        return []
    epochs = []
    try:
        for child in root.iterdir():
            match = CHECKPOINT_DIR.match(child.name)
            if match and child.is_dir():
                epochs.append(int(match.group(1)))
    except OSError:
        return []
    return sorted(epochs)


def training_stdout_files(design: ExperimentDesign, run: str, layout: str) -> list[Path]:
    """Every training `slurm-*.out` of a run, wherever the layout keeps them."""
    folders = [run_dir(design, run) / "artifacts"] if layout == "B" else [run_dir(design, run)]
    root = checkpoint_root(design, run, layout)
    if layout == "A" and root is not None:
        folders.insert(0, root)
    files: list[Path] = []
    for folder in folders:
        files.extend(_files(folder, "slurm-*.out"))
    return files


def eval_folders(design: ExperimentDesign, run: str, layout: str) -> list[Path]:
    """The folders that hold one run's evaluation job stdout and `logs/`."""
    eval_root = run_dir(design, run) / "eval"
    if layout == "A":
        return [eval_root]
    try:
        return sorted(p for p in eval_root.iterdir() if p.is_dir() and p.name != "logs")
    except OSError:
        return []


def eval_log_files(folder: Path) -> list[Path]:
    """inspect-ai logs (`.eval`, or older `.json`) in `folder/logs/`."""
    return [p for p in _files(folder / "logs", "*") if p.suffix in EVAL_LOG_SUFFIXES]


def eval_stdout_files(folder: Path) -> list[Path]:
    return _files(folder, "slurm-*.out")


def cell_folder(folder: Path, tasks: list[str]) -> CellFolder | None:
    """Layout B: the task and epoch a cell folder's name stands for, when the task is known."""
    match = CELL_FOLDER.match(folder.name)
    if not match:
        return None
    task = match.group("task")
    if tasks and task not in tasks:
        return None
    epoch = match.group("epoch")
    return CellFolder(task, int(epoch) if epoch is not None else None)


SBATCH_JOB_NAME = re.compile(r"^#SBATCH\s+(?:--job-name[=\s]|-J\s*)\s*(\S+)", re.MULTILINE)
SCRIPT_READ_LIMIT = 64 << 10  # sbatch scripts are small; the directives sit at the top


def slurm_scripts(design: ExperimentDesign, run: str, layout: str) -> list[Path]:
    """The run's `.slurm` batch scripts: fine-tuning and every evaluation cell."""
    scripts = _files(run_dir(design, run), "*.slurm")
    for folder in eval_folders(design, run, layout):
        scripts += _files(folder, "*.slurm")
    return scripts


def sbatch_job_name(script: Path) -> str | None:
    """The `#SBATCH --job-name` of a batch script, if it sets one."""
    try:
        with script.open("r", encoding="utf-8", errors="replace") as handle:
            text = handle.read(SCRIPT_READ_LIMIT)
    except OSError:
        return None
    match = SBATCH_JOB_NAME.search(text)
    return match.group(1).strip("'\"") if match else None


def training_dataset(design: ExperimentDesign, run: str) -> str | None:
    """The run's training data: `setup_finetune.yaml`'s input_dir_base + dataset_label +
    dataset_ext, else the design's `data.training.path`."""
    setup = run_dir(design, run) / "setup_finetune.yaml"
    try:
        with setup.open("r", encoding="utf-8", errors="replace") as handle:
            data = yaml.safe_load(handle.read(SCRIPT_READ_LIMIT))
    except (OSError, yaml.YAMLError):
        data = None
    if isinstance(data, dict) and data.get("dataset_label"):
        base = str(data.get("input_dir_base") or "")
        label = str(data["dataset_label"])
        ext = str(data.get("dataset_ext") or "")
        joined = f"{base.rstrip('/')}/{label}" if base else label
        return joined + (ext if not ext or ext.startswith(".") else f".{ext}")
    return design.training_data


def task_from_log_name(name: str, tasks: list[str]) -> str | None:
    """The design task an inspect-ai log file name carries: inspect names logs
    `{created}_{task}_{id}.eval`, with the task's `_` written as `-`."""
    stem = Path(name).stem
    parts = stem.split("_")
    if len(parts) < 3:
        return None
    middle = "_".join(parts[1:-1])
    for task in tasks:
        if middle in (task, task.replace("_", "-")):
            return task
    return None


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


def run_from_stdout_path(path: Path) -> str:
    """The run a training stdout belongs to, from where it lies: `ck-out-{run}/` (layout A),
    `{run}/artifacts/` (layout B), or `{run}/` (layout A, failed training)."""
    parent = path.resolve().parent
    if parent.name.startswith("ck-out-"):
        return parent.name[len("ck-out-") :]
    if parent.name == "artifacts":
        return parent.parent.name
    return parent.name
