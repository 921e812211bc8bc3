"""Read the toolkit's run logs, `logs/run-torchtune.log` and `logs/run-inspect.log`.

Each entry is `[YYYY-MM-DD HH:MM:SS] ACTION: subject`, then `Details:` and `Result:` lines (and
`Job ID: N` in the toolkit's submission blocks); entries are separated by blank lines. ARTIFACTS.md
("Run logs") shows a submission as `Result: Job ID N submitted at ...`; the toolkit's own writer
puts `Job ID: N` on a line of its own, and an OOM retry says `resubmitted as job N`: every form
is read. Nothing is decided here: the judge ties entries to runs and cells.
"""

from __future__ import annotations

import re
from pathlib import Path

from .model import RunLogEntry
from .safe_io import InputRefused, read_regular_bytes, resolve_inside

RUN_LOG_NAMES = ("run-torchtune.log", "run-inspect.log")
RUN_LOG_READ_LIMIT = 16 << 20
"""A run log holds a few lines per job: 16 MiB is thousands of jobs; more is not a run log."""

_HEADER = re.compile(r"^\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)Z?\] ([A-Z][A-Z0-9_]*)(?::\s*(.*))?$")
_JOB_ID = re.compile(r"\bjob(?: id)?:?\s+(\d+(?:_\d+)?)\b", re.IGNORECASE)


def parse_run_log(text: str, file: str) -> list[RunLogEntry]:
    """The entries of one run log's text (pure)."""
    entries: list[RunLogEntry] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            body = " ".join(current["body"])
            match = _JOB_ID.search(body)
            entries.append(
                RunLogEntry(
                    file=file,
                    line=current["line"],
                    timestamp=current["timestamp"],
                    action=current["action"],
                    subject=current["subject"],
                    details=current["details"],
                    result=current["result"],
                    job_id=match.group(1) if match else None,
                )
            )

    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line.strip())
        if header:
            close()
            current = {
                "line": number,
                "timestamp": header.group(1).replace("T", " "),
                "action": header.group(2),
                "subject": (header.group(3) or "").strip(),
                "details": "",
                "result": "",
                "body": [],
            }
            continue
        if current is None or not line.strip():
            continue
        text_line = line.strip()
        current["body"].append(text_line)
        key, _, value = text_line.partition(":")
        if key == "Details" and not current["details"]:
            current["details"] = value.strip()
        elif key == "Result" and not current["result"]:
            current["result"] = value.strip()
    close()
    return entries


def read_run_logs(experiment_dir: Path) -> tuple[list[RunLogEntry], list[str]]:
    """Every entry of the experiment's run logs, and a note per log that could not be read (a
    FIFO or device, a link loop) or was read through a link leading out of the experiment."""
    entries: list[RunLogEntry] = []
    problems: list[str] = []
    for name in RUN_LOG_NAMES:
        path = experiment_dir / "logs" / name
        try:
            if not path.exists() and not path.is_symlink():
                continue
            resolved, note = resolve_inside(path, experiment_dir)
            if note:
                problems.append(note)
            if resolved is None:
                continue
            data = read_regular_bytes(path, RUN_LOG_READ_LIMIT)
        except InputRefused as exc:
            problems.append(f"{exc}; its job ids unused")
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc}); its job ids unused")
            continue
        if data.cut:
            problems.append(
                f"{path}: larger than {RUN_LOG_READ_LIMIT >> 20} MiB; only its start was read"
            )
        try:
            entries.extend(parse_run_log(bytes(data).decode("utf-8", "replace"), str(path)))
        except Exception as exc:  # this log's problem only
            problems.append(f"{path}: cannot be read ({type(exc).__name__}: {exc})")
    return entries, problems
