"""Typed results: every run and cell with its status, decided once, and the reasons.

The judge (`assess`) builds these from the evidence and nothing else reads the evidence after
it; the report and the process log read only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..evidence.slurm import SlurmJob
from ..evidence.training_log import LossPoint


@dataclass(frozen=True)
class Note:
    """Something the summary tells the reader: a level (INFO, WARNING, ERROR), what it is
    about, and the text."""

    level: str
    subject: str
    text: str


@dataclass(frozen=True)
class Attempt:
    """One training submission of a run (several when the run was retried after running out
    of GPU memory)."""

    job_id: str | None
    status: str | None
    batch_size: int | None = None
    stdout: str | None = None
    retry: int | None = None
    retries_allowed: int | None = None


@dataclass(frozen=True)
class TrainingResult:
    """What a run's training stdout says: the final loss, the curve, how long it took."""

    stdout: str | None
    stdout_files: tuple[str, ...]
    final: LossPoint | None
    min_finite: LossPoint | None
    diverged: bool
    curve: tuple[LossPoint, ...]
    updates: int
    failure_line: str | None
    duration_seconds: float | None
    duration_source: str | None
    finished: bool
    warning: str | None = None
    epoch_ends: dict[int, int] = field(default_factory=dict)
    first_non_finite: LossPoint | None = None


@dataclass(frozen=True)
class FinetuneResult:
    """A run's fine-tuning: its status, why, and what training left."""

    status: str
    notes: tuple[str, ...]
    checkpoints: tuple[int, ...]
    expected_epochs: int | None
    job: SlurmJob | None
    attempts: tuple[Attempt, ...]
    training: TrainingResult | None

    @property
    def diverged(self) -> bool:
        return self.training is not None and self.training.diverged


@dataclass(frozen=True)
class ClassBalance:
    """The label split of an evaluation set's targets."""

    n_1: int
    n_0: int

    @property
    def frac_1(self) -> float | None:
        total = self.n_1 + self.n_0
        return self.n_1 / total if total else None

    @property
    def frac_0(self) -> float | None:
        total = self.n_1 + self.n_0
        return self.n_0 / total if total else None


@dataclass(frozen=True)
class Confusion:
    """Counts of a binary task: `other` is an answer with no 0/1 label."""

    tp: int
    tn: int
    fp: int
    fn: int
    other: int


@dataclass(frozen=True)
class Regression:
    """Regression metrics over the samples whose answer parsed as a number."""

    samples: int
    parsed: int
    parse_rate: float | None
    mae: float | None
    rmse: float | None
    r2: float | None
    constant_predictions: bool


@dataclass(frozen=True)
class Metrics:
    """The numbers of one evaluation, by the scorer's family.

    `family`: `classification` (match, includes, exact, choice), `risk` (risk_scorer: accuracy
    and its own calibration metrics only), `regression` (continuous_scorer), `other` (the
    metrics the header reports, as they are). `accuracy` and its interval come from the
    scorer's per-sample values; balanced accuracy and F1 from the 0/1 labels of the answers,
    over `labelled` samples."""

    family: str
    scorer: str | None
    samples: int
    errored: int
    accuracy: float | None = None
    accuracy_ci: tuple[float, float] | None = None
    header_accuracy: float | None = None
    balanced_accuracy: float | None = None
    balanced_accuracy_ci: tuple[float, float] | None = None
    f1: float | None = None
    precision_1: float | None = None
    recall_1: float | None = None
    recall_0: float | None = None
    confusion: Confusion | None = None
    labelled: int | None = None
    class_balance: ClassBalance | None = None
    regression: Regression | None = None
    header_metrics: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def binary(self) -> bool:
        return self.balanced_accuracy is not None or self.confusion is not None


@dataclass(frozen=True)
class CellResult:
    """One evaluation of a run: a task at an epoch (None without training), its status."""

    task: str | None
    epoch: int | None
    in_design: bool
    status: str
    variant: str | None = None
    log: str | None = None
    other_logs: tuple[str, ...] = ()
    epoch_source: str | None = None
    task_source: str | None = None
    placement: str | None = None
    notes: tuple[str, ...] = ()
    job: SlurmJob | None = None
    stdout: str | None = None
    check: str | None = None
    metrics: Metrics | None = None
    dataset: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class UnplacedJob:
    """An evaluation job that wrote no log and cannot be tied to a cell."""

    stdout: str | None
    job_id: str | None
    status: str
    failure_line: str | None


@dataclass(frozen=True)
class RunResult:
    """One run: its design, fine-tuning and evaluations, and whether it is complete."""

    name: str
    type: str
    model: str
    parameters: dict[str, object]
    finetune: FinetuneResult
    cells: tuple[CellResult, ...]
    unplaced: tuple[UnplacedJob, ...]
    evaluation_status: str
    complete: bool
    training_dataset: str | None = None

    @property
    def trains(self) -> bool:
        return self.type == "fine-tuned"

    @property
    def checkpoint_path(self) -> str | None:
        value = self.parameters.get("checkpoint_path")
        return str(value) if value else None


@dataclass(frozen=True)
class SlurmSummary:
    """Whether SLURM answered, and what failed."""

    used: bool
    available: bool
    source: str | None
    error: str | None
    jobs_asked: int
    jobs_found: int


@dataclass(frozen=True)
class Comparison:
    """The difference between two evaluations of one task (a minus b), with its interval."""

    a: str
    a_epoch: int | None
    b: str
    b_epoch: int | None
    metric: str
    difference: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    paired: bool
    method: str
    a_variant: str | None = None
    b_variant: str | None = None
    task: str | None = None

    @property
    def clearly_different(self) -> bool:
        return (
            self.ci_low is not None
            and self.ci_high is not None
            and (self.ci_low > 0 or self.ci_high < 0)
        )


@dataclass(frozen=True)
class BestChoice:
    """The best evaluation of a task, by its main metric, and how sure that is."""

    task: str
    run: str
    epoch: int | None
    metric: str
    value: float
    higher_is_better: bool
    variant: str | None = None
    runner_up: Comparison | None = None
    versus_control: Comparison | None = None
    detectable: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class DatasetUse:
    """A dataset file and who used it."""

    path: str
    role: str
    runs: tuple[str, ...]
    tasks: tuple[str, ...] = ()
    config_hash_short: str | None = None
    class_balance: ClassBalance | None = None
    samples: int | None = None
    exists: bool | None = None


@dataclass(frozen=True)
class ExperimentInfo:
    """The experiment as the design names it."""

    name: str
    directory: str
    design_file: str
    layout: str
    output_base: str | None
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class Results:
    """The judged experiment: everything summary.md, summary.json and the log say."""

    experiment: ExperimentInfo
    runs: tuple[RunResult, ...]
    slurm: SlurmSummary
    best: tuple[BestChoice, ...]
    datasets: tuple[DatasetUse, ...]
    design_problems: tuple[str, ...]
    rejected_runs: dict[str, str]
    notes: tuple[Note, ...]
    epoch_trends: tuple[Comparison, ...] = ()

    @property
    def complete_runs(self) -> int:
        return sum(1 for run in self.runs if run.complete)
