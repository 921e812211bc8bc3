"""The words the whole tool shares, each defined once: job states, statuses, exit codes, the
steps of the skill and the process log's actions. SKILL.md, logging.md, every script's --help
and the code use these names and numbers (tests check the documents against this module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

VERSION: Final = "0.2.0"
"""This tool's version (the package's, and part of the read cache's key)."""

# --- SLURM job states (sacct/squeue, SLURM 22.05) ---------------------------------------------

ENDED_STATES: Final = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "CANCELLED",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    }
)
"""States of a job that has ended."""

ACTIVE_STATES: Final = frozenset(
    {
        "PENDING",
        "RUNNING",
        "CONFIGURING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
"""States of a job that has not ended: its end time (and for PENDING its start) is a forecast."""

# --- statuses the summary gives -----------------------------------------------------------------

COMPLETED: Final = "COMPLETED"
NOT_APPLICABLE: Final = "N/A"
"""Fine-tuning of a control or eval-only run: nothing to train."""
NOT_STARTED: Final = "NOT_STARTED"
MISSING: Final = "MISSING"
UNKNOWN: Final = "UNKNOWN"
ERROR: Final = "ERROR"
"""A log that cannot be read."""
UNFINISHED: Final = "UNFINISHED"
"""A log left unfinished, with nothing to say why."""
NO_LOG: Final = "NO_LOG"
"""An evaluation job that ended without writing a log."""
SUBMITTED: Final = "SUBMITTED"
"""A job the run log says was submitted, with nothing known since (no stdout, no SLURM record)."""

RUN_TYPES: Final = ("fine-tuned", "control", "eval-only")
TRAINED_TYPES: Final = frozenset({"fine-tuned"})

# --- exit codes of every script ------------------------------------------------------------------

EXIT_OK: Final = 0
"""A result was written (possibly with problems, reported in the JSON)."""
EXIT_INPUT_ERROR: Final = 1
"""An input named on the command line cannot be used (unreadable file, not a log, bad JSON)."""
EXIT_USAGE: Final = 2
"""Bad arguments, or no usable experiment: nothing was written."""
EXIT_NOT_AVAILABLE: Final = 3
"""The result asked for does not exist for this input (a task that is not binary; SLURM that
cannot be asked)."""


# --- the steps of the skill ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of the by-hand path: its number, its script and what it gives."""

    number: int
    name: str
    script: str
    gives: str

    @property
    def label(self) -> str:
        return f"Step {self.number} ({self.name})"


STEPS: Final = (
    Step(1, "parse_status", "scripts/parse_status.py", "run and evaluation status"),
    Step(2, "extract_loss", "scripts/extract_loss.py", "training loss"),
    Step(3, "parse_eval_log", "tools/inspect/parse_eval_log.py", "evaluation results"),
    Step(4, "summary_binary", "tools/inspect/summary_binary.py", "binary-task metrics"),
    Step(5, "render_summary", "scripts/render_summary.py", "summary.md, summary.json, the log"),
)


def step(name: str) -> Step:
    """The step called `name`."""
    return next(s for s in STEPS if s.name == name)


STEPS_FOLDER: Final = "logs/summarize-steps"
"""Where the step scripts write their JSON with --steps-dir (inside the experiment)."""

# --- the process log -----------------------------------------------------------------------------

LOG_ACTIONS: Final = (
    "DISCOVER_EXPERIMENT",
    "PARSE_STATUS",
    "EXTRACT_LOSS",
    "EXTRACT_ACCURACY",
    "GENERATE_SUMMARY",
    "COMPLETE",
)
LOG_LEVELS: Final = ("INFO", "WARNING", "ERROR")
