"""Map each evaluation to the training epoch it evaluated, from evidence only (never file order).

Sources, in order of authority:
- `metadata`: the log's own `eval.metadata.epoch` (`--metadata epoch=N`, every fine-tuned
  evaluation the toolkit scaffolds today);
- `sacct`: the SLURM job name the scaffolding gave the evaluation job,
  `eval-{task}-{run}-ep{N}` (layout B: `eval-{task}-ep{N}`; control runs: no `-ep{N}`);
- `run_log`: the run log's `SUBMIT_EVAL: {run}/{task}/epoch{N}` entry for the job;
- `task_args`: `-T epoch=N` recorded by newer task scripts;
- `model_path`: `-M model_path=.../epoch_N`;
- `model_name`: the model named `hf/{run}_epoch_{N}` (control: `hf/{run}_base`);
- `eval_yaml`: the `epoch` of the layout-B cell's `eval.yaml` (what the cell was set up for).
When sources disagree, the most authoritative wins and the disagreement is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SOURCE_ORDER = (
    "metadata",
    "sacct",
    "run_log",
    "task_args",
    "model_path",
    "model_name",
    "eval_yaml",
)
RUN_LOG_SUBJECT = re.compile(r"^(?P<run>[^/]+)/(?P<task>[^/]+?)(?:/epoch(?P<epoch>\d+))?$")
MODEL_EPOCH = re.compile(r"_epoch_(\d+)$")
PATH_EPOCH = re.compile(r"(?:^|[/\\])epoch_(\d+)[/\\]*$")
JOB_EPOCH = re.compile(r"-ep(\d+)$")


@dataclass(frozen=True)
class JobName:
    """What an evaluation job's name says."""

    task: str
    run: str | None
    epoch: int | None


@dataclass(frozen=True)
class EpochDecision:
    """The epoch given to one evaluation, where it came from, and any disagreement."""

    epoch: int | None
    source: str | None
    evidence: dict[str, int | None] = field(default_factory=dict)
    conflict: str | None = None


def parse_eval_job_name(name: str, tasks: list[str], runs: list[str]) -> JobName | None:
    """Parse `eval-{task}[-{run}][-ep{N}]` against the design's task and run names.

    Task and run names may contain '-', so they are matched as known strings, longest task
    first (a name that several task/run pairs could spell resolves to the longest task).
    A name cut by a narrow sacct column (ending in '+') is not parsed.
    """
    if not name.startswith("eval-") or name.endswith("+"):
        return None
    body = name[len("eval-") :]
    epoch_match = JOB_EPOCH.search(body)
    epoch = int(epoch_match.group(1)) if epoch_match else None
    stem = body[: epoch_match.start()] if epoch_match else body
    for task in sorted(tasks, key=len, reverse=True):
        if stem == task:
            return JobName(task, None, epoch)
        if stem.startswith(task + "-"):
            run = stem[len(task) + 1 :]
            if run in runs:
                return JobName(task, run, epoch)
    return None


def epoch_from_model_name(model: str, run: str) -> int | None:
    """`hf/{run}_epoch_{N}` → N (only when it names this run)."""
    name = model.rsplit("/", 1)[-1]
    match = MODEL_EPOCH.search(name)
    if not match or name[: match.start()] != run:
        return None
    return int(match.group(1))


def epoch_from_model_path(model_path: str | None) -> int | None:
    if not model_path:
        return None
    match = PATH_EPOCH.search(model_path.strip())
    return int(match.group(1)) if match else None


def epoch_from_metadata(metadata: dict) -> int | None:
    """`eval.metadata.epoch`: set with `--metadata epoch=N` (an int or its text)."""
    return epoch_from_task_args(metadata)


@dataclass(frozen=True)
class SubmittedCell:
    """What a run log's `SUBMIT_EVAL` subject names: `{run}/{task}/epoch{N}` or `{run}/{task}`."""

    run: str
    task: str
    epoch: int | None


def parse_submit_subject(subject: str) -> SubmittedCell | None:
    """`r8_lr1e-5/capitalization/epoch0` → (run, task, 0); `base/capitalization` → epoch None."""
    match = RUN_LOG_SUBJECT.match(subject.strip())
    if not match:
        return None
    epoch = match.group("epoch")
    return SubmittedCell(match.group("run"), match.group("task"), int(epoch) if epoch else None)


def epoch_from_task_args(task_args: dict) -> int | None:
    value = task_args.get("epoch")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def decide_epoch(evidence: dict[str, int | None]) -> EpochDecision:
    """Choose the epoch from the evidence found; report disagreement between sources."""
    found = {src: evidence[src] for src in SOURCE_ORDER if evidence.get(src) is not None}
    if not found:
        return EpochDecision(None, None, evidence)
    source = next(iter(found))
    epoch = found[source]
    conflict = None
    if len(set(found.values())) > 1:
        parts = ", ".join(f"{src} says epoch {value}" for src, value in found.items())
        conflict = f"epoch sources disagree ({parts}); using {source}"
    return EpochDecision(epoch, source, evidence, conflict)
