"""Helpers the live-SLURM test modules share: run a command, wait for a condition, ask squeue."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
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
