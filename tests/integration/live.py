"""Helpers the live-SLURM test modules share: run a command, wait for a condition, ask squeue
and sacct, and read summary.md's sections and tables as the tests compare them."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

# Jobs start within a second on the idle testbed and sacct knows them a second later; 60 s
# fails a stuck test long before the suite's budget is gone.
WAIT_S = 60
COMMAND_TIMEOUT_S = 30
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], limit_s: float = WAIT_S) -> T:
    """Call probe every 0.5 s until it returns something truthy; fail after limit_s."""
    deadline = time.monotonic() + limit_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still not true after {limit_s} s (last: {value!r})")
        time.sleep(0.5)


def run(*argv: str, cwd: Path | None = None) -> str:
    """The stdout of a command that must succeed."""
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False, cwd=cwd
    )
    assert result.returncode == 0, f"{argv}: exit {result.returncode}: {result.stderr}"
    return result.stdout


def squeue_field(job_id: str, field: str) -> str | None:
    """What squeue prints for one job with format `field` (`%T`: the state), None when it
    no longer lists the job."""
    out = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", field],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    ).stdout.strip()
    return out or None


END_MARGIN_S = 5


def end_at_time_limit(job_id: str) -> None:
    """Move a running job's end time to a few seconds from now, so slurmctld's own time-limit
    check ends it as TIMEOUT (within its 30 s interval).

    Not `EndTime=now`: scontrol reads the clock before it sends the request and slurmctld
    refuses an end time already past when the request arrives ("Invalid time specified"),
    which a busy machine makes happen. An absolute local time a few seconds ahead is past
    the check's next pass either way.
    """
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + END_MARGIN_S))
    run("scontrol", "update", f"JobId={job_id}", f"EndTime={end}")


@dataclass(frozen=True)
class Acct:
    """One job as a test reads it from sacct itself."""

    job_id: str
    name: str
    state: str  # base state: `CANCELLED by 0` -> CANCELLED
    elapsed_seconds: int


def elapsed_seconds(text: str) -> int:
    """sacct's `[D-]HH:MM:SS`."""
    days, _, clock = text.rpartition("-")
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def sacct(job_ids: list[str]) -> dict[str, Acct]:
    """What sacct itself records of these jobs (their allocations), by job id."""
    out = run(
        "sacct",
        "-j",
        ",".join(job_ids),
        "--parsable2",
        "--noheader",
        "--allocations",
        "--format=JobID,JobName%200,State,Elapsed",
    )
    jobs = {}
    for line in out.splitlines():
        if line.strip():
            job_id, name, state, elapsed = line.split("|")
            jobs[job_id] = Acct(job_id, name, state.split()[0], elapsed_seconds(elapsed))
    return jobs


def duration(seconds: int) -> str:
    """How summary.md shows a duration under an hour: `3s`, `1m 05s`."""
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m {seconds % 60:02d}s"


def md_section(markdown: str, heading: str) -> str:
    """The text under `## heading` in summary.md, up to the next `## ` heading."""
    assert f"## {heading}\n" in markdown, f"no '## {heading}' section in summary.md"
    return markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def md_table(markdown: str, heading: str) -> list[dict[str, str]]:
    """The rows of the first table under `## heading`, as {column: cell text}."""
    lines = [line for line in md_section(markdown, heading).splitlines() if line.startswith("| ")]
    assert lines, f"no table under '## {heading}'"

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]

    header = cells(lines[0])
    return [dict(zip(header, cells(line), strict=True)) for line in lines[1:]]
