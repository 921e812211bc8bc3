"""Unit tests of summarize_experiment.evidence.slurm: parsers on real SLURM 22.05 output, and
lookup_jobs / submit_dependent_job / scripts/slurm_jobs.py against fake sacct, squeue and sbatch
executables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from summarize_experiment.evidence import slurm
from summarize_experiment.evidence.slurm import (
    SlurmError,
    format_duration,
    lookup_jobs,
    parse_elapsed,
    parse_sacct_parsable,
    parse_squeue,
    submit_dependent_job,
)

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / "scripts" / "slurm_jobs.py"
LONG_NAME = "eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix-ep3"

# Real output of `sacct -j 1,2,3,4 --format=JobID,JobName%200,State,Elapsed,ExitCode,Start,End
# --parsable2 --noheader` (no --allocations: step lines included) on the SLURM 22.05 testbed.
SACCT_REAL = """\
1|eval-capitalization-rank4_lr1e-5-ep0|COMPLETED|00:00:03|0:0|2026-11-29T01:54:33|2026-11-29T01:54:36
1.batch|batch|COMPLETED|00:00:03|0:0|2026-11-29T01:54:33|2026-11-29T01:54:36
2|eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix-ep3|FAILED|00:00:00|3:0|2026-11-29T01:54:33|2026-11-29T01:54:33
2.batch|batch|FAILED|00:00:00|3:0|2026-11-29T01:54:33|2026-11-29T01:54:33
3|eval-cancel|CANCELLED by 0|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
3.batch|batch|CANCELLED|00:00:01|0:15|2026-11-29T01:54:33|2026-11-29T01:54:34
4_1|arr|COMPLETED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
4_1.batch|batch|COMPLETED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
4_2|arr|COMPLETED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
4_2.batch|batch|COMPLETED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
"""
# Real: a job killed by its time limit is TIMEOUT, its batch step CANCELLED with signal 15.
SACCT_TIMEOUT_REAL = """\
10|t-tl1|TIMEOUT|00:01:18|0:0|2026-11-29T01:55:24|2026-11-29T01:56:42
10.batch|batch|CANCELLED|00:01:19|0:15|2026-11-29T01:55:24|2026-11-29T01:56:43
"""
# Real, with --allocations: running, pending (Unknown start), held, a pending array range.
SACCT_ACTIVE_REAL = """\
13|eval-running.job|RUNNING|00:00:02|0:0|2026-11-29T01:58:47|Unknown
14|eval-pending_dep|PENDING|00:00:00|0:0|Unknown|Unknown
16|held|PENDING|00:00:00|0:0|Unknown|Unknown
15_[1-3%1]|arrpend|PENDING|00:00:00|0:0|Unknown|Unknown
"""
# Real: a job cancelled while pending never started: Start is "None".
SACCT_CANCELLED_PENDING_REAL = (
    "14|eval-pending_dep|CANCELLED by 0|00:00:00|0:0|None|2026-11-29T01:58:50\n"
)
# Real `sacct -c` (job completion file) output, same flags: no steps, no `by N`, array task
# 4_3 printed under its own job id 4.
SACCT_C_REAL = """\
2|eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix-ep3|FAILED|00:00:00|3:0|2026-11-29T01:54:33|2026-11-29T01:54:33
3|eval-cancel|CANCELLED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
4|arr|COMPLETED|00:00:01|0:0|2026-11-29T01:54:33|2026-11-29T01:54:34
1|eval-capitalization-rank4_lr1e-5-ep0|COMPLETED|00:00:03|0:0|2026-11-29T01:54:33|2026-11-29T01:54:36
"""
# Real `squeue --noheader --array --states=all --format='%i|%T|%M|%S|%e|%r|%j'` output.
SQUEUE_REAL = """\
14|PENDING|0:00|N/A|N/A|Dependency|eval-pending_dep
15_1|PENDING|0:00|N/A|N/A|Dependency|arrpend
15_2|PENDING|0:00|N/A|N/A|Dependency|arrpend
16|PENDING|0:00|N/A|N/A|JobHeldUser|held
13|RUNNING|0:03|2026-11-29T01:58:47|NONE|None|eval-running.job
3|COMPLETING|0:01|2026-11-29T01:54:33|2026-11-29T01:54:34|None|eval-cancel
2|FAILED|0:00|2026-11-29T01:54:33|2026-11-29T01:54:33|NonZeroExitCode|eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix-ep3
"""
# Real output of the command in SLURM-TESTBED.md, with 5 fields: not the format asked for.
SACCT_FIVE_FIELDS_REAL = """\
1|eval-capitalization-rank4-ep0|COMPLETED|00:00:01|0:0
1.batch|batch|COMPLETED|00:00:01|0:0
"""
# Real default (fixed-width) sacct output: a header, dashes and cut names.
SACCT_FIXED_WIDTH_REAL = """\
JobID           UID    JobName  Partition   NNodes        NodeList      State                 End
------------ ------ ---------- ---------- -------- --------------- ---------- -------------------
2                 0 eval-capi+      debug        1       localhost     FAILED 2026-11-29T01:54:33
"""
ACCOUNTING_DISABLED = "Slurm accounting storage is disabled"
DBD_DOWN = (
    "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent connection "
    "to host:127.0.0.1:6819: Connection refused\n"
    "sacct: error: Sending PersistInit msg: Connection refused\n"
    "sacct: error: Problem talking to the database: Connection refused"
)
JOBCOMP_DISABLED = "Slurm job completion is disabled"
SQUEUE_INVALID = "slurm_load_jobs error: Invalid job id specified"
CTLD_DOWN = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"


def sacct_line(
    job_id: str,
    name: str,
    state: str,
    elapsed: str = "00:00:01",
    exit_code: str = "0:0",
    start: str = "2026-11-29T01:54:33",
    end: str = "2026-11-29T01:54:34",
) -> str:
    return "|".join((job_id, name, state, elapsed, exit_code, start, end))


# --------------------------------------------------------------------------- parse_elapsed


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:00", 0),
        ("00:00:03", 3),
        ("00:01:17", 77),
        ("00:08:15", 495),
        ("01:02:03", 3723),
        ("1-02:03:04", 93784),
        ("12-00:00:00", 1036800),
        ("0:03", 3),  # squeue %M
        ("1:02:03", 3723),  # squeue %M with hours
        ("59:59", 3599),
        ("00:15.123", 15),  # MM:SS.mmm (sacct TotalCPU style)
        (" 00:00:03 ", 3),  # fixed-width padding
    ],
)
def test_parse_elapsed(text: str, seconds: int) -> None:
    assert parse_elapsed(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Unknown",
        "INVALID",
        "UNLIMITED",
        "N/A",
        "3",
        "1-02",
        "00:61:00",
        "00:00:60",
        "1-24:00:00",
        "a:bc",
        "-1:00",
        "00:00:03junk",
        "1--02:03:04",
    ],
)
def test_parse_elapsed_junk(text: str) -> None:
    assert parse_elapsed(text) is None


@given(st.integers(min_value=0, max_value=10**8))
def test_parse_elapsed_reads_what_sacct_prints(seconds: int) -> None:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    assert parse_elapsed(f"{days}-{text}" if days else text) == seconds


# --------------------------------------------------------------------------- format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "N/A"),
        (-5, "N/A"),
        (0, "0s"),
        (45, "45s"),
        (59, "59s"),
        (60, "1m 00s"),
        (495, "8m 15s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3720, "1h 02m"),
        (86399, "23h 59m"),
        (86400, "1d 00h"),
        (183600, "2d 03h"),
    ],
)
def test_format_duration(seconds: int | None, text: str) -> None:
    assert format_duration(seconds) == text


# --------------------------------------------------------------------------- parse_sacct_parsable


def test_sacct_real_output_jobs_and_steps() -> None:
    jobs, unparsed = parse_sacct_parsable(SACCT_REAL)
    assert unparsed == []
    assert list(jobs) == ["1", "2", "3", "4_1", "4_2"]  # steps skipped, not unparsed
    first = jobs["1"]
    assert first == slurm.SlurmJob(
        job_id="1",
        name="eval-capitalization-rank4_lr1e-5-ep0",
        state="COMPLETED",
        state_detail="COMPLETED",
        elapsed_seconds=3,
        exit_code="0:0",
        start="2026-11-29T01:54:33",
        end="2026-11-29T01:54:36",
        source="sacct",
    )
    long_name = jobs["2"].name
    assert long_name == LONG_NAME
    assert len(long_name) > 50
    assert (jobs["2"].state, jobs["2"].exit_code) == ("FAILED", "3:0")
    assert (jobs["3"].state, jobs["3"].state_detail) == ("CANCELLED", "CANCELLED by 0")
    assert jobs["4_2"].name == "arr"


def test_sacct_timeout_with_cancelled_batch_step() -> None:
    jobs, unparsed = parse_sacct_parsable(SACCT_TIMEOUT_REAL)
    assert unparsed == []
    assert list(jobs) == ["10"]
    assert (jobs["10"].state, jobs["10"].elapsed_seconds, jobs["10"].exit_code) == (
        "TIMEOUT",
        78,
        "0:0",
    )


def test_sacct_active_jobs_unknown_times_and_array_range() -> None:
    jobs, unparsed = parse_sacct_parsable(SACCT_ACTIVE_REAL)
    assert unparsed == []
    assert jobs["13"].state == "RUNNING"
    assert jobs["13"].start == "2026-11-29T01:58:47"
    assert jobs["13"].end is None
    assert jobs["14"].start is None and jobs["14"].end is None
    assert jobs["15_[1-3%1]"].state == "PENDING"
    assert jobs["13"].name == "eval-running.job"
    assert jobs["14"].name == "eval-pending_dep"
    cancelled, _ = parse_sacct_parsable(SACCT_CANCELLED_PENDING_REAL)
    assert cancelled["14"].start is None
    assert cancelled["14"].end == "2026-11-29T01:58:50"


def test_sacct_c_output_has_no_cancelled_by() -> None:
    jobs, unparsed = parse_sacct_parsable(SACCT_C_REAL, source="sacct -c")
    assert unparsed == []
    assert set(jobs) == {"1", "2", "3", "4"}
    assert jobs["3"].state_detail == "CANCELLED"
    assert {job.source for job in jobs.values()} == {"sacct -c"}


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("COMPLETED", "COMPLETED"),
        ("FAILED", "FAILED"),
        ("TIMEOUT", "TIMEOUT"),
        ("OUT_OF_MEMORY", "OUT_OF_MEMORY"),
        ("CANCELLED by 1234", "CANCELLED"),
        ("CANCELLED", "CANCELLED"),
        ("RUNNING", "RUNNING"),
        ("PENDING", "PENDING"),
        ("NODE_FAIL", "NODE_FAIL"),
        ("PREEMPTED", "PREEMPTED"),
        ("REQUEUED", "REQUEUED"),
        ("BOOT_FAIL", "BOOT_FAIL"),
        ("DEADLINE", "DEADLINE"),
        ("suspended", "SUSPENDED"),
        ("CANCELLED+", "CANCELLED"),  # cut by a fixed-width column
    ],
)
def test_sacct_states(raw: str, state: str) -> None:
    jobs, unparsed = parse_sacct_parsable(sacct_line("7", "job", raw) + "\n")
    assert unparsed == []
    assert jobs["7"].state == state
    assert jobs["7"].state_detail == raw


def test_every_known_state_is_kept_as_is() -> None:
    for state in slurm.KNOWN_STATES:
        assert slurm.normalize_state(state) == state


def test_sacct_day_elapsed_and_empty_exit_code() -> None:
    jobs, _ = parse_sacct_parsable(
        sacct_line("123_4", "train.rank-8_x", "COMPLETED", elapsed="1-02:03:04", exit_code="")
        + "\n"
    )
    assert jobs["123_4"].elapsed_seconds == 93784
    assert jobs["123_4"].exit_code is None
    assert jobs["123_4"].name == "train.rank-8_x"


def test_sacct_requeued_job_keeps_last_line() -> None:
    text = "\n".join(
        [
            sacct_line("5", "eval-a", "NODE_FAIL", elapsed="00:00:10"),
            sacct_line("5.batch", "batch", "NODE_FAIL"),
            sacct_line("6", "eval-b", "COMPLETED"),
            sacct_line("5", "eval-a", "COMPLETED", elapsed="00:02:00"),
        ]
    )
    jobs, unparsed = parse_sacct_parsable(text)
    assert unparsed == []
    assert (jobs["5"].state, jobs["5"].elapsed_seconds) == ("COMPLETED", 120)
    assert list(jobs) == ["6", "5"]


def test_sacct_blank_steps_and_junk_lines() -> None:
    steps = [sacct_line(s, "x", "COMPLETED") for s in ("9.batch", "9.extern", "9.0", "9_2.batch")]
    junk = [
        "sacct: error: something odd",
        "9|name-only|COMPLETED",
        sacct_line("abc", "x", "COMPLETED"),
        sacct_line("9", "x", ""),  # no state
        sacct_line("garbage.batch", "x", "COMPLETED"),  # not a step of a real job id
    ]
    text = "\n\n".join([sacct_line("9", "eval-z", "COMPLETED"), *steps, *junk, "   "])
    jobs, unparsed = parse_sacct_parsable(text)
    assert list(jobs) == ["9"]
    assert unparsed == junk


def test_sacct_other_formats_are_not_guessed() -> None:
    for text in (SACCT_FIVE_FIELDS_REAL, SACCT_FIXED_WIDTH_REAL):
        jobs, unparsed = parse_sacct_parsable(text)
        assert jobs == {}
        assert unparsed == [line for line in text.splitlines() if line.strip()]


def test_sacct_name_with_pipe_is_unparsed_not_guessed() -> None:
    line = sacct_line("8", "a|b", "COMPLETED")
    assert parse_sacct_parsable(line) == ({}, [line])


@given(st.text())
def test_sacct_parser_never_raises_and_accounts_for_every_line(text: str) -> None:
    jobs, unparsed = parse_sacct_parsable(text)
    assert all(line in text for line in unparsed)
    assert all(job.state for job in jobs.values())


# --------------------------------------------------------------------------- parse_squeue


def test_squeue_real_output() -> None:
    jobs, unparsed = parse_squeue(SQUEUE_REAL)
    assert unparsed == []
    pending = jobs["14"]
    assert (pending.state, pending.reason, pending.start, pending.end) == (
        "PENDING",
        "Dependency",
        None,
        None,
    )
    assert pending.elapsed_seconds == 0
    assert pending.exit_code is None
    assert pending.source == "squeue"
    assert jobs["15_2"].name == "arrpend"
    assert jobs["16"].reason == "JobHeldUser"
    running = jobs["13"]
    assert (running.state, running.elapsed_seconds, running.reason) == ("RUNNING", 3, None)
    assert (running.start, running.end) == ("2026-11-29T01:58:47", None)
    assert jobs["3"].end is None  # COMPLETING: not ended yet
    failed = jobs["2"]
    assert (failed.state, failed.end, failed.reason) == (
        "FAILED",
        "2026-11-29T01:54:33",
        "NonZeroExitCode",
    )
    assert len(failed.name) > 50


def test_squeue_name_may_contain_pipe_and_junk_is_unparsed() -> None:
    text = "7|RUNNING|1-00:00:01|2026-11-29T01:00:00|NONE|None|odd|name\nnot squeue output\n"
    jobs, unparsed = parse_squeue(text)
    assert jobs["7"].name == "odd|name"
    assert jobs["7"].elapsed_seconds == 86401
    assert unparsed == ["not squeue output"]


# --------------------------------------------------------------------------- to_dict


def test_to_dict_is_json_ready() -> None:
    jobs, _ = parse_sacct_parsable(SACCT_REAL)
    lookup = slurm.SlurmLookup(
        available=True,
        source="sacct",
        jobs=jobs,
        error=None,
        unparsed_lines=["x"],
        not_found=["99"],
    )
    document = json.loads(json.dumps(lookup.to_dict()))
    assert set(document) == {"available", "source", "error", "jobs", "not_found", "unparsed_lines"}
    assert document["jobs"]["3"]["state_detail"] == "CANCELLED by 0"
    assert set(document["jobs"]["3"]) == {
        "job_id",
        "name",
        "state",
        "state_detail",
        "elapsed_seconds",
        "exit_code",
        "start",
        "end",
        "source",
        "reason",
    }


# --------------------------------------------------------------------------- fakes


def write_fake(path: Path, body: str) -> Path:
    """An executable bash script; it records its arguments, one call per line, in path.calls."""
    path.write_text(f'#!/bin/bash\necho "$*" >> "{path}.calls"\n{body}\n')
    path.chmod(0o755)
    return path


def calls(path: Path) -> list[str]:
    record = Path(f"{path}.calls")
    return record.read_text().splitlines() if record.exists() else []


def emit(text: str, *, stderr: str = "", code: int = 0) -> str:
    """Bash that prints text on stdout, stderr on stderr, and exits with code."""
    parts = []
    if text:
        parts.append(f"/bin/cat <<'EOF'\n{text.rstrip(chr(10))}\nEOF")
    if stderr:
        parts.append(f"/bin/cat >&2 <<'EOF'\n{stderr}\nEOF")
    parts.append(f"exit {code}")
    return "\n".join(parts)


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


def test_lookup_asks_sacct_once_and_skips_squeue_when_all_known(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(SACCT_REAL))
    squeue = write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    lookup = lookup_jobs(["1", "2", "3", "4_1", "2"], sacct=str(sacct), squeue=str(squeue))
    assert lookup.available and lookup.source == "sacct" and lookup.error is None
    assert calls(sacct) == [
        "-j 1,2,3,4_1 --format=JobID,JobName%200,State,Elapsed,ExitCode,Start,End "
        "--parsable2 --noheader --allocations"
    ]
    assert calls(squeue) == []
    assert lookup.jobs["2"].name.endswith("extra_long_suffix-ep3")
    assert lookup.not_found == []


def test_lookup_array_job_is_known_through_its_tasks(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(SACCT_REAL))
    squeue = write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    lookup = lookup_jobs(["4"], sacct=str(sacct), squeue=str(squeue))
    assert set(lookup.jobs) >= {"4_1", "4_2"}
    assert calls(squeue) == []
    assert lookup.not_found == []


def test_lookup_empty_runs_nothing(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(SACCT_REAL))
    lookup = lookup_jobs([], sacct=str(sacct), squeue=str(sacct))
    assert (lookup.available, lookup.source, lookup.jobs, lookup.error) == (True, None, {}, None)
    assert calls(sacct) == []


def test_lookup_rejects_malformed_ids(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(SACCT_REAL))
    for bad in ("12a", "-j", "1,2", "", "1.batch", "1_[1-3]"):
        with pytest.raises(ValueError, match="not a SLURM job id"):
            lookup_jobs(["1", bad], sacct=str(sacct))
    assert calls(sacct) == []


def test_lookup_missing_commands(tmp_path: Path) -> None:
    lookup = lookup_jobs(["1"], sacct=str(tmp_path / "sacct"), squeue=str(tmp_path / "squeue"))
    assert not lookup.available
    assert lookup.source is None and lookup.jobs == {}
    assert "sacct not found on PATH" in lookup.error
    assert "squeue not found on PATH" in lookup.error


def test_lookup_missing_commands_on_path(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fakes))
    lookup = lookup_jobs(["1"])
    assert not lookup.available
    assert lookup.error.startswith("sacct not found on PATH")


def test_lookup_accounting_disabled_falls_back_to_sacct_c(fakes: Path) -> None:
    sacct = write_fake(
        fakes / "sacct",
        f"""
if [ "$1" = "-c" ]; then
{emit(SACCT_C_REAL)}
fi
{emit("", stderr=ACCOUNTING_DISABLED, code=1)}""",
    )
    squeue = write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    lookup = lookup_jobs(["1", "3", "77"], sacct=str(sacct), squeue=str(squeue))
    assert lookup.available
    assert lookup.source == "sacct -c, squeue"
    assert "Slurm accounting storage is disabled" in lookup.error
    assert calls(sacct)[1].startswith("-c -j 1,3,77 --format=")
    assert lookup.jobs["3"].state == "CANCELLED" and lookup.jobs["3"].source == "sacct -c"
    assert set(lookup.jobs) == {"1", "2", "3", "4"}  # the completion file holds what it holds
    assert calls(squeue) == ["--jobs=77 " + " ".join(slurm.SQUEUE_ARGS)]
    assert lookup.not_found == ["77"]


def test_lookup_squeue_answers_for_queued_jobs(fakes: Path) -> None:
    sacct = write_fake(
        fakes / "sacct", emit(sacct_line("13", "eval-running.job", "RUNNING", end="Unknown"))
    )
    squeue = write_fake(fakes / "squeue", emit(SQUEUE_REAL))
    lookup = lookup_jobs(["13", "14", "15_2"], sacct=str(sacct), squeue=str(squeue))
    assert lookup.available and lookup.source == "sacct, squeue" and lookup.error is None
    # 13 is RUNNING by its accounting record, which may lag slurmctld: squeue is asked too
    assert calls(squeue) == ["--jobs=13,14,15_2 " + " ".join(slurm.SQUEUE_ARGS)]
    assert (lookup.jobs["13"].source, lookup.jobs["13"].elapsed_seconds) == ("squeue", 3)
    assert (lookup.jobs["14"].state, lookup.jobs["14"].reason) == ("PENDING", "Dependency")
    assert lookup.jobs["15_2"].source == "squeue"


# Captured on the testbed: sacct and squeue asked by a job that started (afterany) the moment
# jobs 224 (running) and 225 (held) were cancelled. slurmdbd had a placeholder record for 224
# (named `allocation`), none at all for 225, and in other runs 225 as still PENDING.
SACCT_RIGHT_AFTER_CANCEL = """\
224|allocation|CANCELLED by 0|00:00:01|0:0|2026-11-29T04:36:18|2026-11-29T04:36:19
226|allocation|PENDING|00:00:01|0:0|2026-11-29T04:36:27|Unknown
227|ft-rank8|PENDING|00:00:00|0:0|Unknown|Unknown
"""
SQUEUE_RIGHT_AFTER_CANCEL = """\
224|CANCELLED|0:01|2026-11-29T04:36:18|2026-11-29T04:36:19|None|eval-capitalization-rank8_lr3e-4-ep0
225|CANCELLED|0:00|2026-11-29T04:36:19|2026-11-29T04:36:19|JobHeldUser|ft-rank8
226|CANCELLED|0:01|2026-11-29T04:36:27|2026-11-29T04:36:28|None|eval-capitalization-rank8_lr3e-4-ep1
227|CANCELLED|0:00|2026-11-29T04:36:28|2026-11-29T04:36:28|JobHeldUser|ft-rank8
"""


def test_lookup_prefers_slurmctld_over_lagging_accounting(fakes: Path) -> None:
    """Right after jobs end, slurmdbd's record can be a placeholder, missing or still PENDING:
    squeue's record (slurmctld keeps ended jobs for MinJobAge) replaces it."""
    sacct = write_fake(fakes / "sacct", emit(SACCT_RIGHT_AFTER_CANCEL))
    squeue = write_fake(fakes / "squeue", emit(SQUEUE_RIGHT_AFTER_CANCEL))
    lookup = lookup_jobs(["224", "225", "226", "227"], sacct=str(sacct), squeue=str(squeue))
    assert calls(squeue) == ["--jobs=224,225,226,227 " + " ".join(slurm.SQUEUE_ARGS)]
    assert lookup.source == "sacct, squeue" and lookup.error is None
    assert {job_id: (job.name, job.state) for job_id, job in lookup.jobs.items()} == {
        "224": ("eval-capitalization-rank8_lr3e-4-ep0", "CANCELLED"),
        "225": ("ft-rank8", "CANCELLED"),
        "226": ("eval-capitalization-rank8_lr3e-4-ep1", "CANCELLED"),
        "227": ("ft-rank8", "CANCELLED"),
    }
    assert {job.source for job in lookup.jobs.values()} == {"squeue"}
    assert lookup.jobs["224"].exit_code == "0:0"  # both agree on CANCELLED: accounting's kept
    assert lookup.jobs["226"].exit_code is None  # accounting said PENDING: its 0:0 means nothing
    assert lookup.jobs["224"].elapsed_seconds == 1


def test_lookup_keeps_settled_accounting_when_squeue_is_asked(fakes: Path) -> None:
    """A job accounting has settled keeps accounting's record even when squeue, asked about
    another job, lists it too."""
    settled = sacct_line("2", "eval-done-ep0", "FAILED", exit_code="1:0")
    running = sacct_line("13", "eval-running.job", "RUNNING", end="Unknown")
    sacct = write_fake(fakes / "sacct", emit(f"{settled}\n{running}"))
    squeue = write_fake(fakes / "squeue", emit(SQUEUE_REAL))
    lookup = lookup_jobs(["2", "13"], sacct=str(sacct), squeue=str(squeue))
    assert calls(squeue) == ["--jobs=13 " + " ".join(slurm.SQUEUE_ARGS)]
    assert (lookup.jobs["2"].source, lookup.jobs["2"].exit_code) == ("sacct", "1:0")
    assert lookup.jobs["13"].source == "squeue"


def test_lookup_sacct_empty_right_after_submit_then_squeue(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(""))
    squeue = write_fake(
        fakes / "squeue", emit("21|RUNNING|0:00|2026-11-29T01:58:09|NONE|None|sleeper")
    )
    lookup = lookup_jobs(["21"], sacct=str(sacct), squeue=str(squeue))
    assert lookup.source == "sacct, squeue"
    assert lookup.jobs["21"].state == "RUNNING"


def test_lookup_everything_down(fakes: Path) -> None:
    sacct = write_fake(
        fakes / "sacct",
        f"""
if [ "$1" = "-c" ]; then
{emit("", stderr=JOBCOMP_DISABLED, code=1)}
fi
{emit("", stderr=DBD_DOWN, code=1)}""",
    )
    squeue = write_fake(fakes / "squeue", emit("", stderr=CTLD_DOWN, code=1))
    lookup = lookup_jobs(["1"], sacct=str(sacct), squeue=str(squeue))
    assert not lookup.available and lookup.source is None
    assert "cannot reach slurmdbd (Connection refused)" in lookup.error
    assert "job completion logging is disabled" in lookup.error
    assert "cannot reach slurmctld" in lookup.error
    assert lookup.not_found == []


def test_lookup_other_failure_keeps_stderr(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit("", stderr="sacct: fatal: something new", code=2))
    squeue = write_fake(fakes / "squeue", emit("", stderr="", code=1))
    lookup = lookup_jobs(["1"], sacct=str(sacct), squeue=str(squeue))
    assert not lookup.available
    assert "sacct: failed (exit 2: sacct: fatal: something new)" in lookup.error
    assert "squeue: failed (exit 1: no message on stderr)" in lookup.error


def _alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_lookup_hung_sacct_is_killed_with_its_children(fakes: Path) -> None:
    pid_file = fakes / "sleep.pid"
    sacct = write_fake(fakes / "sacct", f'/bin/sleep 60 &\necho $! > "{pid_file}"\nwait')
    squeue = write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    started = time.monotonic()
    lookup = lookup_jobs(["1"], timeout_s=1, sacct=str(sacct), squeue=str(squeue))
    assert time.monotonic() - started < 6
    assert lookup.error.startswith("sacct timed out after 1 s")
    assert len(calls(sacct)) == 1  # no `sacct -c` after a timeout
    # the hung sacct used the whole budget of the lookup, so squeue is not even started
    assert "squeue was not run: the 1 s for all SLURM commands were used up" in lookup.error
    assert not lookup.available and lookup.not_found == []
    deadline = time.monotonic() + 5
    while _alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid_file.read_text()))


def test_lookup_unexpected_format_is_recorded(fakes: Path) -> None:
    sacct = write_fake(fakes / "sacct", emit(SACCT_FIXED_WIDTH_REAL))
    squeue = write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    lookup = lookup_jobs(["2"], sacct=str(sacct), squeue=str(squeue))
    assert lookup.available
    assert lookup.jobs == {}
    assert lookup.unparsed_lines == SACCT_FIXED_WIDTH_REAL.splitlines()
    assert "sacct printed 3 line(s) in an unexpected format" in lookup.error
    assert lookup.not_found == ["2"]


def test_lookup_with_fakes_first_on_path(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake(fakes / "sacct", emit(SACCT_TIMEOUT_REAL))
    write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    monkeypatch.setenv("PATH", f"{fakes}{os.pathsep}{os.environ.get('PATH', '')}")
    lookup = lookup_jobs(["10"])
    assert lookup.jobs["10"].state == "TIMEOUT"


# --------------------------------------------------------------------------- submit_dependent_job


def test_submit_dependent_job(fakes: Path, tmp_path: Path) -> None:
    script = tmp_path / "summarize.sbatch"
    script.write_text("#!/bin/bash\ntrue\n")
    sbatch = write_fake(fakes / "sbatch", emit("42;testbed"))
    job_id = submit_dependent_job(
        script,
        ["7", "8_1"],
        job_name="summarize-exp",
        output=tmp_path / "slurm-%j.out",
        sbatch=str(sbatch),
    )
    assert job_id == "42"
    assert calls(sbatch) == [
        f"--parsable --dependency=afterany:7:8_1 --job-name=summarize-exp "
        f"--output={tmp_path / 'slurm-%j.out'} {script}"
    ]


def test_submit_without_dependencies(fakes: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.sbatch"
    script.write_text("#!/bin/bash\n")
    sbatch = write_fake(fakes / "sbatch", emit("43"))
    assert (
        submit_dependent_job(script, [], job_name="x", output=tmp_path / "o", sbatch=str(sbatch))
        == "43"
    )
    assert "--dependency" not in calls(sbatch)[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            emit(
                "",
                stderr="sbatch: error: Batch job submission failed: Invalid job id specified",
                code=1,
            ),
            "Invalid job id specified",
        ),
        (emit("Submitted batch job 44"), "printed no job id"),
        (emit(""), "printed no job id"),
        ("/bin/sleep 30", "timed out after 0.5 s"),
    ],
)
def test_submit_failures_raise_slurm_error(
    fakes: Path, tmp_path: Path, body: str, message: str
) -> None:
    script = tmp_path / "s.sbatch"
    script.write_text("#!/bin/bash\n")
    sbatch = write_fake(fakes / "sbatch", body)
    with pytest.raises(SlurmError, match=message):
        submit_dependent_job(
            script, ["1"], job_name="x", output=tmp_path / "o", sbatch=str(sbatch), timeout_s=0.5
        )


def test_submit_missing_sbatch_or_script(tmp_path: Path) -> None:
    script = tmp_path / "s.sbatch"
    with pytest.raises(SlurmError, match="no such file"):
        submit_dependent_job(script, ["1"], job_name="x", output=tmp_path / "o")
    script.write_text("#!/bin/bash\n")
    with pytest.raises(SlurmError, match="not found on PATH"):
        submit_dependent_job(
            script, ["1"], job_name="x", output=tmp_path / "o", sbatch=str(tmp_path / "sbatch")
        )
    with pytest.raises(ValueError):
        submit_dependent_job(script, ["1;rm"], job_name="x", output=tmp_path / "o")


# --------------------------------------------------------------------------- CLI


def run_cli(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, str(CLI), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_success(fakes: Path) -> None:
    write_fake(fakes / "sacct", emit(SACCT_REAL))
    write_fake(fakes / "squeue", emit("", stderr=SQUEUE_INVALID, code=1))
    result = run_cli("1", "2", "99", "--timeout", "5", path=str(fakes))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "success"
    assert document["available"] is True
    assert document["source"] == "sacct, squeue"
    assert document["jobs"]["2"]["exit_code"] == "3:0"
    assert document["not_found"] == ["99"]


def test_cli_unavailable(fakes: Path) -> None:
    result = run_cli("1", path=str(fakes))
    assert result.returncode == 3
    document = json.loads(result.stdout)
    assert document["status"] == "unavailable"
    assert document["available"] is False
    assert "sacct not found on PATH" in document["error"]
    assert "sacct not found on PATH" in result.stderr


def test_cli_accounting_disabled_everywhere(fakes: Path) -> None:
    write_fake(fakes / "sacct", emit("", stderr=ACCOUNTING_DISABLED, code=1))
    write_fake(fakes / "squeue", emit("", stderr=CTLD_DOWN, code=1))
    result = run_cli("1", path=str(fakes))
    assert result.returncode == 3
    assert "Slurm accounting storage is disabled" in json.loads(result.stdout)["error"]


def test_cli_usage_errors_and_help(fakes: Path) -> None:
    for args in (["12a"], [], ["1", "--timeout", "0"], ["1", "--timeout", "x"]):
        result = run_cli(*args, path=str(fakes))
        assert result.returncode == 2, args
        assert result.stdout == ""
    result = run_cli("--help", path=str(fakes))
    assert result.returncode == 0
    assert "python scripts/slurm_jobs.py 2773062" in result.stdout
    assert "exit codes" in result.stdout
