"""Typed evidence: what is on disk and in SLURM, read once, deciding nothing.

Everything the judge needs is here, and nothing else: the design, the files found per run, the
toolkit's run logs, SLURM records, job stdout scans and evaluation log reads. Each type is a
frozen dataclass that `codec` turns into JSON and back (the step scripts write evidence as
JSON, and `render_summary.py` and the cache read it back), so the judge sees the same evidence
whether it was read in this process or in an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .codec import Ids, Labels, Numbers
from .design import ExperimentDesign
from .slurm import SlurmJob
from .training_log import TrainingLogScan

# --- files found ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobStdoutFile:
    """A SLURM job stdout (`slurm-{jobid}.out`) found under a run, and where it lies.

    `place` names the folder: `run` ({run}/), `output` (layout A's ck-out-{run}/), `artifacts`
    ({run}/artifacts/), `artifacts_epoch` ({run}/artifacts/epoch_N/, with `epoch_folder` N),
    `eval` ({run}/eval/), `cell` (a layout-B cell folder, `cell_folder`)."""

    path: str
    job_id: str | None
    place: str
    mtime_ns: int
    size: int
    epoch_folder: int | None = None
    cell_folder: str | None = None
    inode: int = 0


@dataclass(frozen=True)
class LogFile:
    """An inspect-ai log (`.eval`, older `.json`) and the cell folder holding its `logs/`."""

    path: str
    cell_folder: str | None
    mtime_ns: int
    size: int
    inode: int = 0


@dataclass(frozen=True)
class BatchScript:
    """A `.slurm` batch script: its `#SBATCH --job-name` and `--output`."""

    path: str
    job_name: str | None
    output: str | None


@dataclass(frozen=True)
class CellConfig:
    """A layout-B cell folder `{run}/eval/{cell}/`: its `eval.yaml` and `cell.slurm`."""

    folder: str
    path: str
    task_name: str | None = None
    epoch: int | None = None
    vis_label: str | None = None
    data_path: str | None = None
    model_path: str | None = None
    model_hf_name: str | None = None
    scorers: tuple[str, ...] = ()
    is_finetuned: bool | None = None
    job_name: str | None = None
    output: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class FinetuneSetup:
    """`{run}/setup_finetune.yaml`: the training data torchtune loaded, and the batch size."""

    path: str
    dataset: str | None = None
    batch_size: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class DatasetFile:
    """A dataset file a run used, and its generation sidecar (`{file}.meta.json`) if any."""

    path: str
    exists: bool
    config_hash_short: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class RunFiles:
    """Everything found on disk for one run of the design."""

    run: str
    run_dir: str
    checkpoint_root: str | None
    checkpoints: tuple[int, ...] = ()
    job_stdouts: tuple[JobStdoutFile, ...] = ()
    logs: tuple[LogFile, ...] = ()
    cells: tuple[CellConfig, ...] = ()
    scripts: tuple[BatchScript, ...] = ()
    setup: FinetuneSetup | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What was not read as it is, file by file: a symbolic link leading out of the experiment
    (read, with this note), a link loop or a link to nothing, a FIFO or device named like an
    input, a YAML file refused (`problems` are folders that cannot be listed)."""


# --- the toolkit's run logs ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunLogEntry:
    """One entry of `logs/run-torchtune.log` or `logs/run-inspect.log`:
    `[YYYY-MM-DD HH:MM:SS] ACTION: subject`, then `Details:` and `Result:` lines."""

    file: str
    line: int
    timestamp: str
    action: str
    subject: str
    details: str = ""
    result: str = ""
    job_id: str | None = None


# --- SLURM ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlurmEvidence:
    """What SLURM said about every job id found (one lookup), or why it could not be asked."""

    asked: tuple[str, ...] = ()
    used: bool = True
    available: bool = False
    source: str | None = None
    error: str | None = None
    jobs: dict[str, SlurmJob] = field(default_factory=dict)
    not_found: tuple[str, ...] = ()


# --- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectMarkers:
    """What inspect printed in a job stdout: the logs it wrote, the models, its footer."""

    log_names: tuple[str, ...] = ()
    model_names: tuple[str, ...] = ()
    finished: bool = False


@dataclass(frozen=True)
class JobStdoutRead:
    """One job stdout read: the training scan (loss updates, failure line) and inspect's
    markers, or why it could not be read."""

    path: str
    scan: TrainingLogScan | None = None
    inspect: InspectMarkers | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()
    """What the reader must know about the read (only the end of a huge file was scanned)."""


@dataclass(frozen=True)
class ScoreHeader:
    """One scorer's results in a log header (`results.scores[]`)."""

    name: str
    scorer: str | None
    metrics: dict[str, float]
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class LogHeader:
    """What an evaluation log's header says."""

    path: str
    status: str
    task: str
    model: str
    model_path: str | None
    task_args: dict[str, object]
    metadata: dict[str, object]
    scores: tuple[ScoreHeader, ...]
    samples: int | None
    created: str | None
    error: str | None
    dataset_name: str | None = None
    dataset_location: str | None = None

    @property
    def finished(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True)
class LogSamples:
    """The scored samples of one log, compact: per sample its id, the scorer's value as a
    number (C=1, I=0, as `inspect_ai.scorer.value_to_float` reads it; NaN when it is not one),
    the target and the answer as 0/1 labels (`labels.OTHER` when not one) and as numbers (NaN
    when not one; the answer's number is the score's `prediction` metadata when the scorer
    recorded one). `errored` samples (no score) are left out, as inspect's metrics do."""

    score: str | None
    ids: Ids
    values: Numbers
    target_labels: Labels
    answer_labels: Labels
    target_numbers: Numbers
    answer_numbers: Numbers
    errored: int = 0

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class LogRead:
    """One evaluation log read: its header and (unless only the header was read) its samples,
    or why it could not be read."""

    path: str
    header: LogHeader | None = None
    samples: LogSamples | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()
    """What the reader must know about the read (a header claim that was not believed)."""


# --- all of it -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """Everything read for one summary."""

    design: ExperimentDesign
    layout: str
    runs: tuple[RunFiles, ...]
    run_logs: tuple[RunLogEntry, ...] = ()
    slurm: SlurmEvidence = field(default_factory=SlurmEvidence)
    stdouts: dict[str, JobStdoutRead] = field(default_factory=dict)
    logs: dict[str, LogRead] = field(default_factory=dict)
    datasets: dict[str, DatasetFile] = field(default_factory=dict)
    samples_read: bool = True
    notes: tuple[str, ...] = ()

    def files(self, run: str) -> RunFiles | None:
        return next((r for r in self.runs if r.run == run), None)
