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
import stat
from pathlib import Path
from typing import Any

import yaml

from .design import ExperimentDesign
from .model import BatchScript, CellConfig, FinetuneSetup, JobStdoutFile, LogFile, RunFiles
from .safe_io import InputRefused, kind_of, load_yaml_bounded, read_regular_bytes, resolve_inside
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
        if _is_dir_path(design.directory / run.name / "artifacts"):
            return "B"
    return "A"


def _is_dir_path(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a folder that cannot be searched
        return False


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []


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


def read_roots(design: ExperimentDesign) -> list[Path]:
    """The folders the experiment's inputs may lie in without a note: the experiment folder
    and its declared output root (layout A's checkpoints and training stdouts)."""
    roots = [design.directory]
    if design.output_base is not None:
        roots.append(design.output_base)
    return [Path(os.path.realpath(root)) for root in roots]


class _Scan:
    """The listing of one run's folders, with a note for each input that is not read as it is.

    Folders are walked from the experiment (or the output root) down; each step is an lstat,
    so a folder reached through a symbolic link is known without resolving every path. A link
    leading out of the experiment is followed with one note naming it (files below it need no
    note of their own); a link loop, a link to nothing or a FIFO or device named like an input
    is noted and skipped, never silently."""

    def __init__(self, roots: list[Path], lexical: tuple[Path, ...] = ()) -> None:
        self.roots = roots
        self.notes: list[str] = []
        # folder -> whether it lies outside the roots; the roots as resolved and as written
        self._outside: dict[str, bool] = {str(p): False for p in [*roots, *lexical]}

    def _note(self, note: str | None) -> None:
        if note and note not in self.notes:
            self.notes.append(note)

    def outside(self, folder: Path) -> bool:
        """Whether ``folder`` lies outside the roots; noted once, at the link leading out."""
        key = str(folder)
        if key in self._outside:
            return self._outside[key]
        parent = folder.parent
        verdict = False if parent == folder else self.outside(parent)
        if not verdict:
            try:
                linked = stat.S_ISLNK(os.lstat(folder).st_mode)
            except OSError:
                linked = False
            if linked:
                try:
                    resolved, note = resolve_inside(folder, self.roots)
                except OSError:
                    resolved, note = None, None
                self._note(note)
                verdict = resolved is not None and note is not None
        self._outside[key] = verdict
        return verdict

    def entries(self, folder: Path) -> list[os.DirEntry]:
        self.outside(folder)
        return _entries(folder)

    def regular(self, entry: os.DirEntry | Path, outside: bool = False) -> bool:
        """Whether an entry named like an input is a regular file to read (following links);
        a note for what it is otherwise. A folder is no input and no note."""
        path = Path(entry.path) if isinstance(entry, os.DirEntry) else entry
        try:
            linked = (
                entry.is_symlink()
                if isinstance(entry, os.DirEntry)
                else stat.S_ISLNK(os.lstat(path).st_mode)
            )
            if linked and not outside:
                resolved, note = resolve_inside(path, self.roots)
                self._note(note)
                if resolved is None:
                    return False
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._note(f"{path}: cannot be read ({exc.strerror or exc}); skipped")
            return False
        if stat.S_ISREG(mode):
            return True
        if not stat.S_ISDIR(mode):
            self._note(f"{path}: is {kind_of(mode)}, not a regular file; not read")
        return False


def _stdouts(scan: _Scan, folder: Path, place: str, **where: Any) -> list[JobStdoutFile]:
    found = []
    outside = scan.outside(folder)
    for entry in _entries(folder):
        if STDOUT_NAME.match(entry.name) and scan.regular(entry, outside):
            mtime, size, inode = _stat(entry)
            job_id = job_id_from_stdout_name(entry.name)
            found.append(
                JobStdoutFile(entry.path, job_id, place, mtime, size, inode=inode, **where)
            )
    return found


def _logs(scan: _Scan, folder: Path, cell: str | None) -> list[LogFile]:
    found = []
    logs = folder / "logs"
    outside = scan.outside(logs)
    for entry in _entries(logs):
        if Path(entry.name).suffix in EVAL_LOG_SUFFIXES and scan.regular(entry, outside):
            mtime, size, inode = _stat(entry)
            found.append(LogFile(entry.path, cell, mtime, size, inode))
    return found


def _scripts(scan: _Scan, folder: Path) -> list[BatchScript]:
    outside = scan.outside(folder)
    return [
        read_batch_script(Path(entry.path))
        for entry in _entries(folder)
        if entry.name.endswith(".slurm") and scan.regular(entry, outside)
    ]


def read_small(path: Path) -> str:
    """The start of a small text file (at most SCRIPT_READ_LIMIT bytes; a regular file only:
    InputRefused for a FIFO or device)."""
    return bytes(read_regular_bytes(path, SCRIPT_READ_LIMIT)).decode("utf-8", errors="replace")


def read_batch_script(path: Path) -> BatchScript:
    """A batch script's `#SBATCH --job-name` and `--output`."""
    try:
        text = read_small(path)
    except (OSError, InputRefused):
        return BatchScript(str(path), None, None)
    name = SBATCH_JOB_NAME.search(text)
    output = SBATCH_OUTPUT.search(text)
    return BatchScript(
        str(path),
        name.group(1).strip("'\"") if name else None,
        output.group(1).strip("'\"") if output else None,
    )


def _yaml_mapping(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A small YAML file as a mapping, or why it cannot be used (the file named): read within
    bounds (`safe_io.load_yaml_bounded`: regular files only, at most SCRIPT_READ_LIMIT bytes,
    no alias bomb or runaway nesting), so one bad file is that file's problem only."""
    try:
        data = load_yaml_bounded(path, max_bytes=SCRIPT_READ_LIMIT)
    except InputRefused as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"
    except yaml.YAMLError as exc:
        return None, f"{path}: not valid YAML ({str(exc).splitlines()[0]})"
    except Exception as exc:  # anything else is still this file's problem only
        return None, f"{path}: cannot be read ({type(exc).__name__}: {exc})"
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


def _present(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return True  # reading it says why it cannot be used


def read_cell(folder: Path, scan: _Scan | None = None) -> CellConfig:
    """A layout-B cell folder: its `eval.yaml` and `cell.slurm`."""
    scan = scan or _Scan([folder])
    outside = scan.outside(folder)
    slurm_file = folder / "cell.slurm"
    script = (
        read_batch_script(slurm_file)
        if _present(slurm_file) and scan.regular(slurm_file, outside)
        else BatchScript(str(slurm_file), None, None)
    )
    config = folder / "eval.yaml"
    if not _present(config) or not scan.regular(config, outside):
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


def read_setup(path: Path, scan: _Scan | None = None) -> FinetuneSetup | None:
    """`setup_finetune.yaml`: the training dataset (`input_dir_base` + `dataset_label` +
    `dataset_ext`) and the batch size."""
    scan = scan or _Scan([path.parent])
    if not _present(path) or not scan.regular(path, scan.outside(path.parent)):
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
    """Everything on disk that may belong to `run`, and a note for each input that is not read
    as it is (see `_Scan`)."""
    lexical = (design.directory, *((design.output_base,) if design.output_base else ()))
    scan = _Scan(read_roots(design), lexical)
    run_dir = design.directory / run
    artifacts = run_dir / "artifacts"
    eval_dir = run_dir / "eval"
    root = checkpoint_root(design, run, layout)
    checkpoints: list[int] = []
    epoch_dirs: list[tuple[int, Path]] = []
    for folder in dict.fromkeys(p for p in (root, artifacts) if p is not None):
        for entry in scan.entries(folder):
            match = CHECKPOINT_DIR.match(entry.name)
            if match and _is_dir(entry):
                epoch_dirs.append((int(match.group(1)), Path(entry.path)))
                if folder == root:
                    checkpoints.append(int(match.group(1)))
    stdouts = _stdouts(scan, run_dir, "run")
    if root is not None and root != artifacts:
        stdouts += _stdouts(scan, root, "output")
    stdouts += _stdouts(scan, artifacts, "artifacts")
    for epoch, folder in epoch_dirs:
        stdouts += _stdouts(scan, folder, "artifacts_epoch", epoch_folder=epoch)
    stdouts += _stdouts(scan, eval_dir, "eval")
    logs = _logs(scan, eval_dir, None)
    cells: list[CellConfig] = []
    scripts = _scripts(scan, run_dir) + _scripts(scan, eval_dir)
    eval_outside = scan.outside(eval_dir)
    for entry in _entries(eval_dir):
        if entry.name == "logs":
            continue
        if not _is_dir(entry):
            if entry.is_symlink() and not eval_outside:
                scan.regular(entry)  # a link loop or a link to nothing is noted
            continue
        folder = Path(entry.path)
        stdouts += _stdouts(scan, folder, "cell", cell_folder=entry.name)
        logs += _logs(scan, folder, entry.name)
        cells.append(read_cell(folder, scan))
        scripts += _scripts(scan, folder)
    checked = [run_dir, eval_dir, artifacts, eval_dir / "logs"]
    checked += [p for p in (root,) if p is not None]
    checked += [Path(c.path) for c in cells] + [Path(c.path) / "logs" for c in cells]
    problems = [p for p in map(listing_problem, dict.fromkeys(checked)) if p]
    setup = read_setup(run_dir / "setup_finetune.yaml", scan)
    notes = list(scan.notes)
    notes += [c.problem for c in cells if c.problem]
    notes += [setup.problem] if setup is not None and setup.problem else []
    return RunFiles(
        run=run,
        run_dir=str(run_dir),
        checkpoint_root=str(root) if root is not None else None,
        checkpoints=tuple(sorted(set(checkpoints))),
        job_stdouts=tuple(dict.fromkeys(stdouts)),
        logs=tuple(logs),
        cells=tuple(cells),
        scripts=tuple(scripts),
        setup=setup,
        problems=tuple(problems),
        notes=tuple(notes),
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
