"""The process log `logs/summarize-experiment.log`, in the format defined by logging.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ACTIONS = (
    "DISCOVER_EXPERIMENT",
    "PARSE_STATUS",
    "EXTRACT_LOSS",
    "EXTRACT_ACCURACY",
    "GENERATE_SUMMARY",
    "COMPLETE",
)
LEVELS = ("INFO", "WARNING", "ERROR")
LOG_RELATIVE_PATH = Path("logs") / "summarize-experiment.log"


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass
class ProcessLog:
    """Entries of one summarizer run, written to the log in one append at the end."""

    entries: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))

    def add(
        self, action: str, subject: str, details: str, result: str, level: str = "INFO"
    ) -> None:
        if action not in ACTIONS or level not in LEVELS:
            raise ValueError(f"unknown log action {action!r} or level {level!r}")
        self.counts[level] += 1
        self.entries.append(
            f"[{timestamp()}] {action} {level}: {_one_line(subject)}\n"
            f"Details: {_one_line(details)}\n"
            f"Result: {_one_line(result)}\n"
        )

    def text(self, started: str) -> str:
        return (
            f"=== summarize-experiment run started {started} ===\n" + "\n".join(self.entries) + "\n"
        )

    def append_to(self, experiment_dir: Path, started: str) -> Path:
        """Append this run's entries to the log in one write (safe with concurrent runs)."""
        path = experiment_dir / LOG_RELATIVE_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.text(started).encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return path
