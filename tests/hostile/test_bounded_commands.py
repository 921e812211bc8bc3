"""SLURM commands that hang, print without end, or exit while a child keeps their output open:
run_bounded and lookup_jobs stay within one time budget and a byte cap, keep good data, and
leave no process of theirs running."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from summarize_experiment.evidence.safe_io import COMMAND_OUTPUT_MAX_BYTES, run_bounded
from summarize_experiment.evidence.slurm import lookup_jobs

from .harness import SAFETY_TIMEOUT_S, run_limited

ROW = "7|eval-cap-r1-ep0|COMPLETED|00:08:15|0:0|2026-01-05T10:00:00|2026-01-05T10:08:15"
SQUEUE_UNKNOWN = "echo 'squeue: error: Invalid job id specified' >&2\nexit 1\n"


def fake(folder: Path, name: str, body: str) -> Path:
    """An executable shell script ``name`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(0o755)
    return script


def alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_output_and_exit_code_come_back(tmp_path: Path) -> None:
    script = fake(tmp_path, "cmd", "echo out; echo err >&2; exit 3\n")
    result = run_bounded([str(script)], deadline=time.monotonic() + SAFETY_TIMEOUT_S)
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert result.failure is None and not result.timed_out and not result.overflowed


def test_a_command_printing_without_end_is_stopped_at_the_cap(tmp_path: Path) -> None:
    pid_file = tmp_path / "yes.pid"
    script = fake(tmp_path, "sacct", f"yes 'JobID|JobName' &\necho $! > '{pid_file}'\nwait\n")
    outcome = run_limited(
        """
        import json, sys, time
        from summarize_experiment.evidence.safe_io import run_bounded
        result = run_bounded([sys.argv[1]], deadline=time.monotonic() + 60, label="sacct")
        print(json.dumps([result.failure, result.overflowed, len(result.stdout)]))
        """,
        str(script),
    )
    failure, overflowed, kept = outcome
    assert failure == f"sacct printed more than {COMMAND_OUTPUT_MAX_BYTES:,} bytes and was killed"
    assert overflowed and COMMAND_OUTPUT_MAX_BYTES < kept < COMMAND_OUTPUT_MAX_BYTES + (1 << 20)
    assert wait_gone(int(pid_file.read_text()))  # the whole group was killed


def test_an_exit_is_seen_even_when_a_child_keeps_the_pipe(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = fake(tmp_path, "sacct", f"echo '{ROW}'\nsleep 300 &\necho $! > '{pid_file}'\nexit 0\n")
    try:
        result = run_bounded([str(script)], deadline=time.monotonic() + SAFETY_TIMEOUT_S)
        assert result.failure is None and result.returncode == 0
        assert result.stdout == f"{ROW}\n".encode()
        assert alive(int(pid_file.read_text()))  # a child left behind is not ours to kill
    finally:
        os.kill(int(pid_file.read_text()), 9)


def test_a_hung_command_is_killed_with_its_group_at_the_deadline(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    script = fake(tmp_path, "sacct", f"echo partial\nsleep 300 &\necho $! > '{pid_file}'\nwait\n")
    result = run_bounded([str(script)], deadline=time.monotonic() + 1, label="sacct")
    assert result.timed_out and result.returncode is None
    assert result.failure == "sacct timed out after 1 s and was killed"
    assert result.stdout == b"partial\n"
    assert wait_gone(int(pid_file.read_text()))


def test_nothing_runs_once_the_deadline_has_passed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = fake(tmp_path, "cmd", f"touch '{marker}'\n")
    result = run_bounded([str(script)], deadline=time.monotonic() - 1, label="squeue")
    assert result.failure == "squeue was not run: no time was left for it"
    assert not marker.exists()


def test_a_missing_command_is_explained(tmp_path: Path) -> None:
    result = run_bounded([str(tmp_path / "sacct")], deadline=time.monotonic() + 5)
    assert result.failure is not None and "not found on PATH" in result.failure


# --------------------------------------------------------------------------- lookup_jobs


def test_hung_commands_share_one_budget(tmp_path: Path) -> None:
    """sacct fails at once, then `sacct -c` and squeue would each hang: together they get the
    budget once (it used to be each, so twice or more in all)."""
    sacct = fake(
        tmp_path,
        "sacct",
        'if [ "$1" = "-c" ]; then exec sleep 300; fi\n'
        "echo 'sacct: error: Problem talking to the database: Connection refused' >&2\nexit 1\n",
    )
    squeue = fake(tmp_path, "squeue", "exec sleep 300\n")
    budget = 2.0
    started = time.monotonic()
    lookup = lookup_jobs(["7"], timeout_s=budget, sacct=str(sacct), squeue=str(squeue))
    elapsed = time.monotonic() - started
    assert elapsed < 2 * budget, f"{elapsed:.1f} s for a {budget:g} s budget"
    assert not lookup.available
    assert re.search(r"sacct -c timed out after [0-9.]+ s.* and was killed", lookup.error)
    assert "squeue was not run: the 2 s for all SLURM commands were used up" in lookup.error


def test_a_sacct_that_exits_while_its_child_holds_stdout_is_believed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    sacct = fake(tmp_path, "sacct", f"echo '{ROW}'\nsleep 300 &\necho $! > '{pid_file}'\nexit 0\n")
    squeue = fake(
        tmp_path, "squeue", "echo 'squeue: error: Invalid job id specified' >&2\nexit 1\n"
    )
    try:
        lookup = lookup_jobs(
            ["7"], timeout_s=SAFETY_TIMEOUT_S, sacct=str(sacct), squeue=str(squeue)
        )
    finally:
        os.kill(int(pid_file.read_text()), 9)
    assert lookup.error is None and lookup.source == "sacct"
    assert lookup.jobs["7"].state == "COMPLETED" and lookup.jobs["7"].elapsed_seconds == 495


def test_an_endless_sacct_is_capped_and_explained(tmp_path: Path) -> None:
    sacct = fake(tmp_path, "sacct", f"while :; do echo '{ROW}'; done\n")
    squeue = fake(
        tmp_path, "squeue", "echo 'squeue: error: Invalid job id specified' >&2\nexit 1\n"
    )
    error = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.slurm import lookup_jobs
        lookup = lookup_jobs(["7"], timeout_s=50, sacct=sys.argv[1], squeue=sys.argv[2])
        print(json.dumps(lookup.error))
        """,
        str(sacct),
        str(squeue),
    )
    assert f"sacct printed more than {COMMAND_OUTPUT_MAX_BYTES:,} bytes and was killed" in error


def test_a_zero_budget_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    sacct = fake(tmp_path, "sacct", f"touch '{marker}'\n")
    lookup = lookup_jobs(["7"], timeout_s=0, sacct=str(sacct), squeue=str(sacct))
    assert not lookup.available and not marker.exists()
