"""summarize-experiment: R's `summary()` for a torchtune fine-tuning + inspect-ai evaluation
experiment run on SLURM.

In a notebook::

    import summarize_experiment as se

    results = se.assess_experiment("/scratch/me/cap_4L")   # typed, nothing written
    for run in results.runs:
        print(run.name, run.finetune.status, [c.status for c in run.cells])
    code, result = se.summarize("/scratch/me/cap_4L")      # writes summary.md, summary.json, log

The layers, each importing only those below it: `evidence` (read what is on disk and in SLURM,
deciding nothing), `judge` (pure: every status decided once, metrics by scorer), `report`
(summary.md, summary.json, the process log, the step scripts' JSON).
"""

from __future__ import annotations

from pathlib import Path

from .evidence.design import DesignError
from .evidence.gather import gather
from .evidence.model import Evidence
from .judge.assess import assess
from .judge.model import BestChoice, CellResult, FinetuneResult, Metrics, Results, RunResult
from .pipeline import publish, summarize
from .vocabulary import VERSION

__all__ = [
    "BestChoice",
    "CellResult",
    "DesignError",
    "Evidence",
    "FinetuneResult",
    "Metrics",
    "Results",
    "RunResult",
    "assess",
    "assess_experiment",
    "gather",
    "publish",
    "summarize",
]
__version__ = VERSION


def assess_experiment(
    experiment_dir: str | Path, *, use_sacct: bool = True, jobs: int = 1
) -> Results:
    """Read an experiment and judge it: every run and cell with its status and metrics, as
    summary.md would show them, without writing anything. Raises DesignError when the folder
    has no usable experiment_summary.yaml."""
    return assess(gather(Path(experiment_dir).resolve(), use_sacct=use_sacct, jobs=jobs))
