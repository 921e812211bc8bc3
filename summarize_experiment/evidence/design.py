"""Read and validate `experiment_summary.yaml`, the experiment's design file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..text import invisible_key, visible
from ..vocabulary import RUN_TYPES, TRAINED_TYPES
from .safe_io import (
    YAML_MAX_BYTES,
    InputRefused,
    load_yaml_bounded,
    read_regular_bytes,
    resolve_inside,
    yaml_text,
)

DESIGN_FILE = "experiment_summary.yaml"


class DesignError(Exception):
    """The design file cannot be used at all (missing, unreadable, malformed, no runs)."""


@dataclass(frozen=True)
class RunDesign:
    """One run of the design: fine-tuned here, a control (the base model) or eval-only (a
    checkpoint trained elsewhere, `parameters.checkpoint_path`)."""

    name: str
    type: str
    model: str
    parameters: dict[str, Any]

    @property
    def trains(self) -> bool:
        """True when the run fine-tunes in this experiment (so it has epochs)."""
        return self.type in TRAINED_TYPES

    @property
    def is_control(self) -> bool:
        """True for a run without training here (control or eval-only): its cells have no
        epoch."""
        return not self.trains

    @property
    def checkpoint_path(self) -> str | None:
        """The checkpoint an eval-only run evaluates."""
        value = self.parameters.get("checkpoint_path")
        return str(value) if value else None


@dataclass(frozen=True)
class MatrixRow:
    """Which tasks a run is evaluated on, at which epochs (None for control runs), and the
    label its evaluations pass as `-T vis_label=` (default: the run name)."""

    run: str
    tasks: tuple[str, ...]
    epochs: tuple[int, ...] | None
    vis_label: str | None = None


@dataclass(frozen=True)
class TaskDesign:
    """One evaluation task of the design: its name and, when the design names one, the
    evaluation dataset (`dataset:`) and the scorer."""

    name: str
    dataset: str | None = None


@dataclass(frozen=True)
class ExperimentDesign:
    """The parts of the design file the summarizer needs, validated."""

    name: str
    directory: Path
    design_file: Path
    recorded_directory: str | None
    layout_hint: str | None
    output_base: Path | None
    epochs: int | None
    runs: tuple[RunDesign, ...]
    tasks: tuple[str, ...]
    matrix: tuple[MatrixRow, ...]
    training_data: str | None
    task_designs: tuple[TaskDesign, ...] = ()
    scorers: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    rejected_runs: dict[str, str] = field(default_factory=dict)

    def run(self, name: str) -> RunDesign | None:
        return next((r for r in self.runs if r.name == name), None)

    def matrix_row(self, run: str) -> MatrixRow | None:
        return next((m for m in self.matrix if m.run == run), None)

    def task_design(self, task: str) -> TaskDesign | None:
        return next((t for t in self.task_designs if t.name == task), None)


NAME_MAX_BYTES = 255
"""The longest file name (in bytes) Linux file systems allow (NAME_MAX): a run whose name is
longer, or whose layout-A checkpoint folder `ck-out-{run}` would be, has no folder; refused."""
CHECKPOINT_PREFIX = "ck-out-"


def unsafe_name_reason(name: str) -> str | None:
    """Why a run or task name cannot be used as a folder name inside the experiment, or None."""
    if not name or not name.strip():
        return "it is empty"
    if name.startswith(("/", "\\", "~")) or (len(name) > 1 and name[1] == ":"):
        return "it is an absolute path"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if name in (".", ".."):
        return "it names the experiment folder or its parent"
    if "\x00" in name:
        return "it contains a NUL byte"
    size = len(name.encode("utf-8", "surrogateescape"))
    if size + len(CHECKPOINT_PREFIX) > NAME_MAX_BYTES:
        return (
            f"it is {size:,} bytes long, so its folder (or its checkpoint folder "
            f"{CHECKPOINT_PREFIX}...) would pass the {NAME_MAX_BYTES} bytes a file name may have"
        )
    return None


def _exists(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return True  # it may be there: reading it says why it cannot be used


_OUTSIDE_REASONS = (
    "it is an absolute path",
    "it contains a path separator",
    "it names the experiment folder or its parent",
)


def _quoted(name: str) -> str:
    """A name in quotes, every character visible (`'r1\\u200b'`)."""
    return f"'{visible(name)}'"


def load_design(experiment_dir: Path) -> ExperimentDesign:
    """Read `experiment_summary.yaml` in `experiment_dir` and validate it.

    The file is read within bounds (`safe_io.load_yaml_bounded`): a FIFO or device, a file
    over YAML_MAX_BYTES, an alias bomb or runaway nesting is a DesignError naming the file and
    the limit. A design that is a symbolic link leading out of the experiment is read, with a
    note naming the link."""
    source = experiment_dir / DESIGN_FILE
    if not _exists(source):
        raise DesignError(
            f"{source}: not found. Run from an experiment folder (one holding {DESIGN_FILE}) "
            "or pass its path."
        )
    try:
        resolved, link_note = resolve_inside(source, experiment_dir)
    except OSError:
        resolved, link_note = source, None
    if resolved is None:  # a loop, or a link to nothing
        raise DesignError(f"{link_note}. Run from an experiment folder or pass its path.")
    try:
        data = load_yaml_bounded(source)
    except InputRefused as exc:
        raise DesignError(f"{exc}. Fix the file and run again.") from exc
    except OSError as exc:
        raise DesignError(f"{source}: cannot be read ({exc.strerror or exc}).") from exc
    except yaml.YAMLError as exc:
        where = _yaml_error_location(exc, _text_for_location(source))
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DesignError(
            f"{source}: not valid YAML{where}: {problem}. Fix the file and run again."
        ) from exc
    design = parse_design(data, experiment_dir, source)
    if link_note:
        design = replace(design, problems=(link_note, *design.problems))
    return design


def _text_for_location(source: Path) -> str:
    """The text the YAML error positions count in (what load_yaml_bounded parsed)."""
    try:
        return yaml_text(read_regular_bytes(source, YAML_MAX_BYTES))
    except (OSError, InputRefused):
        return ""


def _yaml_error_location(exc: yaml.YAMLError, text: str) -> str:
    """' at line L, column C' for a YAML error: from its mark, or (a bad byte, which PyYAML
    reports by character position) from the position in the text."""
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        return f" at line {line}, column {column}"
    return ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _output_base(data: dict[str, Any], experiment_dir: Path, recorded: str | None) -> Path | None:
    output = _mapping(data.get("output"))
    raw = (
        output.get("base_directory") or output.get("output_dir_base") or data.get("output_dir_base")
    )
    if not raw or not isinstance(raw, str):
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute():
        return (experiment_dir / path).resolve()
    if not path.exists() and recorded:
        moved = _rebase(path, Path(recorded), experiment_dir)
        if moved is not None and moved.exists():
            return moved
    return path


def _rebase(path: Path, old_root: Path, new_root: Path) -> Path | None:
    """`path` moved along with its experiment from `old_root` to `new_root`, if it was inside it."""
    try:
        return new_root / path.relative_to(old_root)
    except ValueError:
        return None


def _parse_runs(raw: Any, source: Path, problems: list[str]) -> tuple[list[RunDesign], dict]:
    if not isinstance(raw, list) or not raw:
        raise DesignError(
            f"{source}: has no `runs:` list. The design must list its runs "
            "(name, type, model, parameters)."
        )
    runs: list[RunDesign] = []
    rejected: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str | int | float):
            problems.append(f"{source}: runs[{index}] has no name; skipped.")
            continue
        name = str(item["name"])
        reason = unsafe_name_reason(name)
        if reason:
            consequence = (
                ", so it would point outside the experiment folder"
                if reason in _OUTSIDE_REASONS
                else "; it cannot be a folder name, so nothing of this run is read"
            )
            rejected[name] = f"run name {_quoted(name)} refused: {reason}{consequence}"
            problems.append(f"{source}: {rejected[name]}.")
            continue
        twin = next((r.name for r in runs if invisible_key(r.name) == invisible_key(name)), None)
        if twin is not None and twin != name:
            problems.append(
                f"{source}: runs {_quoted(twin)} and {_quoted(name)} differ only by invisible "
                "characters (shown escaped); both are summarized, check that they are two runs."
            )
        if any(r.name == name for r in runs):
            problems.append(f"{source}: run {name!r} is listed twice; the first entry is used.")
            continue
        run_type = str(item.get("type") or "").strip().lower()
        if run_type not in RUN_TYPES:
            parameters = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
            guessed = (
                "eval-only"
                if parameters.get("checkpoint_path")
                else "fine-tuned"
                if parameters
                else "control"
            )
            problems.append(
                f"{source}: run {name!r} has type {item.get('type')!r}, expected one of "
                f"{', '.join(RUN_TYPES)}; treated as {guessed}."
            )
            run_type = guessed
        parameters = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
        if run_type == "eval-only" and not parameters.get("checkpoint_path"):
            problems.append(
                f"{source}: eval-only run {name!r} has no parameters.checkpoint_path; the "
                "checkpoint it evaluated is unknown."
            )
        runs.append(RunDesign(name, run_type, str(item.get("model") or ""), dict(parameters)))
    if not runs and not rejected:
        raise DesignError(f"{source}: `runs:` lists no usable run.")
    return runs, rejected


def _parse_epochs(value: Any, where: str, problems: list[str]) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, list | int):
        problems.append(
            f"{where}: epochs is {value!r} ({type(value).__name__}); expected a list of "
            "0-indexed epoch numbers or null. No epochs expected for this row."
        )
        return ()
    items = value if isinstance(value, list) else [value]
    epochs: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            problems.append(f"{where}: epoch {item!r} is not a non-negative integer; ignored.")
            continue
        if item not in epochs:
            epochs.append(item)
    return tuple(epochs)


def _parse_matrix(
    evaluation: dict[str, Any],
    runs: list[RunDesign],
    tasks: list[str],
    source: Path,
    problems: list[str],
) -> list[MatrixRow]:
    raw = evaluation.get("matrix")
    if not isinstance(raw, list):
        problems.append(
            f"{source}: has no `evaluation.matrix:` list, so no evaluations are expected; "
            "evaluation logs found on disk are still reported."
        )
        return []
    known_runs = {r.name for r in runs}
    rows: list[MatrixRow] = []
    for index, item in enumerate(raw):
        where = f"{source}: evaluation.matrix[{index}]"
        if not isinstance(item, dict) or "run" not in item:
            problems.append(f"{where} has no `run:`; skipped.")
            continue
        run = str(item["run"])
        if run not in known_runs:
            problems.append(f"{where} names run {run!r}, which is not in `runs:`; skipped.")
            continue
        raw_tasks = item.get("tasks")
        if isinstance(raw_tasks, str):
            raw_tasks = [raw_tasks]
        if not isinstance(raw_tasks, list):
            problems.append(f"{where} has no `tasks:` list; skipped.")
            continue
        row_tasks: list[str] = []
        for task in raw_tasks:
            task = str(task)
            if unsafe_name_reason(task):
                problems.append(
                    f"{where}: task name {task!r} refused ({unsafe_name_reason(task)})."
                )
                continue
            if tasks and task not in tasks:
                problems.append(
                    f"{where}: task {task!r} is not in `evaluation.tasks:` "
                    f"({', '.join(tasks)}); kept as written."
                )
            row_tasks.append(task)
        epochs = _parse_epochs(item.get("epochs"), where, problems)
        design_run = next(r for r in runs if r.name == run)
        control = design_run.is_control
        if control and epochs:
            problems.append(
                f"{where}: {design_run.type} run {run!r} lists epochs {list(epochs)}; ignored."
            )
            epochs = None
        if control:
            epochs = None
        if not control and epochs is None:
            problems.append(
                f"{where}: fine-tuned run {run!r} has `epochs: null`; no epochs expected."
            )
            epochs = ()
        if any(m.run == run for m in rows):
            problems.append(f"{where}: run {run!r} has a second matrix row; it is merged.")
            first = next(m for m in rows if m.run == run)
            merged_epochs = (
                None
                if first.epochs is None
                else tuple(dict.fromkeys((*first.epochs, *(epochs or ()))))
            )
            rows[rows.index(first)] = MatrixRow(
                run,
                tuple(dict.fromkeys((*first.tasks, *row_tasks))),
                merged_epochs,
                first.vis_label,
            )
            continue
        label = item.get("vis_label")
        rows.append(
            MatrixRow(run, tuple(row_tasks), epochs, str(label) if label is not None else None)
        )
    return rows


def _within_training(row: MatrixRow, epochs: int, source: Path, problems: list[str]) -> MatrixRow:
    """Drop matrix epochs a training of `epochs` epochs cannot have (they are 0-indexed)."""
    if not row.epochs:
        return row
    beyond = [e for e in row.epochs if e >= epochs]
    if not beyond:
        return row
    problems.append(
        f"{source}: evaluation.matrix row of run {row.run!r} lists epoch(s) "
        f"{', '.join(map(str, beyond))}, but controls.epochs is {epochs} (epochs are 0-indexed: "
        f"0 to {epochs - 1}); ignored."
    )
    return MatrixRow(row.run, row.tasks, tuple(e for e in row.epochs if e < epochs), row.vis_label)


def _training_data(data: dict[str, Any]) -> str | None:
    training = _mapping(_mapping(data.get("data")).get("training"))
    path = training.get("path")
    return str(path) if path else None


def parse_design(data: Any, experiment_dir: Path, source: Path) -> ExperimentDesign:
    """Validate the loaded YAML document; fatal problems raise DesignError, others are listed."""
    if not isinstance(data, dict):
        raise DesignError(
            f"{source}: expected a YAML mapping with `experiment:`, `runs:` and `evaluation:`, "
            f"found {type(data).__name__}."
        )
    problems: list[str] = []
    experiment = _mapping(data.get("experiment"))
    recorded = experiment.get("directory") or experiment.get("dir")
    recorded = str(recorded) if recorded else None
    layout_hint = "B" if "dir" in experiment and "directory" not in experiment else None
    name = str(experiment.get("name") or experiment_dir.resolve().name)
    runs, rejected = _parse_runs(data.get("runs"), source, problems)
    evaluation = _mapping(data.get("evaluation"))
    task_designs = _parse_tasks(evaluation)
    tasks = [t.name for t in task_designs]
    matrix = _parse_matrix(evaluation, runs, tasks, source, problems)
    raw_epochs = _mapping(data.get("controls")).get("epochs")
    epochs = (
        raw_epochs if isinstance(raw_epochs, int) and not isinstance(raw_epochs, bool) else None
    )
    if raw_epochs is not None and epochs is None:
        problems.append(f"{source}: controls.epochs is {raw_epochs!r}, expected an integer.")
    if epochs is not None:
        matrix = [_within_training(row, epochs, source, problems) for row in matrix]
    return ExperimentDesign(
        name=name,
        directory=experiment_dir,
        design_file=source,
        recorded_directory=recorded,
        layout_hint=layout_hint,
        output_base=_output_base(data, experiment_dir, recorded),
        epochs=epochs,
        runs=tuple(runs),
        tasks=tuple(tasks),
        matrix=tuple(matrix),
        training_data=_training_data(data),
        task_designs=tuple(task_designs),
        scorers=_scorer_names(evaluation),
        problems=tuple(problems),
        rejected_runs=rejected,
    )


def _parse_tasks(evaluation: dict[str, Any]) -> list[TaskDesign]:
    """`evaluation.tasks[]`: each task's name and its literal `dataset:` path, if any."""
    found: list[TaskDesign] = []
    raw = evaluation.get("tasks")
    for item in raw if isinstance(raw, list) else []:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name or any(t.name == name for t in found):
            continue
        dataset = item.get("dataset") if isinstance(item, dict) else None
        found.append(TaskDesign(name, str(dataset) if dataset else None))
    return found


def _scorer_names(evaluation: dict[str, Any]) -> tuple[str, ...]:
    """`evaluation.scorers` (a list of `{name: ...}`, or a plain name) as scorer names."""
    raw = evaluation.get("scorers", evaluation.get("scorer"))
    if isinstance(raw, str):
        return (raw,)
    names = []
    for item in raw if isinstance(raw, list) else []:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            names.append(name)
    return tuple(names)
