"""Datasets Used: the file behind each training run and each evaluation (pure).

Training, per run: `setup_finetune.yaml` (`input_dir_base` + `dataset_label` + `dataset_ext`,
what torchtune loaded), else the design's `data.training.path`. Evaluation, per cell: its
`eval.yaml` `data_path`, else the design task's `dataset`, else what the log's header names.
A generated file's `{file}.meta.json` sidecar gives its `config_hash_short`; the class balance
is shown once per distinct evaluation file.
"""

from __future__ import annotations

from ..evidence.model import Evidence
from .model import ClassBalance, DatasetUse, RunResult


def datasets_used(evidence: Evidence, runs: tuple[RunResult, ...]) -> tuple[DatasetUse, ...]:
    """Every dataset file, training first, then evaluation, each once."""
    training: dict[str, list[str]] = {}
    for run in runs:
        if run.training_dataset:
            training.setdefault(run.training_dataset, []).append(run.name)
    evaluation: dict[str, dict] = {}
    for run in runs:
        for cell in run.cells:
            path = cell.dataset
            if path is None and cell.log:
                read = evidence.logs.get(cell.log)
                header = read.header if read is not None else None
                path = header.dataset_location if header is not None else None
            if not path:
                continue
            entry = evaluation.setdefault(
                path, {"runs": [], "tasks": [], "balance": None, "samples": None}
            )
            entry["runs"] = list(dict.fromkeys([*entry["runs"], run.name]))
            if cell.task:
                entry["tasks"] = list(dict.fromkeys([*entry["tasks"], cell.task]))
            metrics = cell.metrics
            if metrics is not None and entry["balance"] is None and metrics.class_balance:
                entry["balance"] = metrics.class_balance
                entry["samples"] = metrics.samples
            elif metrics is not None and entry["samples"] is None:
                entry["samples"] = metrics.samples
    uses = [
        _use(evidence, path, "training", names, (), None, None) for path, names in training.items()
    ]
    uses += [
        _use(evidence, path, "evaluation", e["runs"], e["tasks"], e["balance"], e["samples"])
        for path, e in evaluation.items()
    ]
    return tuple(uses)


def _use(
    evidence: Evidence,
    path: str,
    role: str,
    runs: list[str],
    tasks: tuple[str, ...] | list[str],
    balance: ClassBalance | None,
    samples: int | None,
) -> DatasetUse:
    file = evidence.datasets.get(path)
    return DatasetUse(
        path=path,
        role=role,
        runs=tuple(runs),
        tasks=tuple(tasks),
        config_hash_short=file.config_hash_short if file else None,
        class_balance=balance,
        samples=samples,
        exists=file.exists if file else None,
    )


def training_dataset(evidence: Evidence, run: str, trains: bool) -> str | None:
    """The training data a run loaded."""
    if not trains:
        return None
    files = evidence.files(run)
    if files is not None and files.setup is not None and files.setup.dataset:
        return files.setup.dataset
    return evidence.design.training_data
