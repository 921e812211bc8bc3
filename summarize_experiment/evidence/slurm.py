"""What SLURM knows about jobs: parse `sacct`/`squeue` output, ask them safely, submit jobs.

The parsers are pure functions. `lookup_jobs` asks SLURM once per command and never raises for
what goes wrong on real machines (no SLURM, accounting disabled, slurmdbd down, a hung command,
output in a format it does not know); it says what failed in `SlurmLookup.error` instead.

Facts checked against SLURM 22.05 (Debian 12):
- `sacct --parsable2 --noheader` prints `|`-separated fields, names uncut; without `-X`
  (`--allocations`) it adds step lines (`123.batch`, `123.extern`, `123.0`). Right after
  `sbatch`, sacct can print nothing for a moment, and a running job can still show PENDING.
- States: `CANCELLED by 1234` (uid of who cancelled); a timed-out job is `TIMEOUT` while its
  batch step is `CANCELLED` with exit code `0:15`. Array tasks print as `123_4`.
- Accounting disabled: exit 1, `Slurm accounting storage is disabled` on stderr. slurmdbd down:
  exit 1, `Connection refused`.
- `sacct -c` reads the job completion file (JobCompType=jobcomp/filetxt) and accepts the same
  `--format/--parsable2/--noheader/--allocations` flags; it lists jobs only (no steps, no
  pending or running jobs), prints `CANCELLED` without `by N`, and knows array tasks only by
  their own numeric job id, not as `123_4`. Job completion disabled: exit 1,
  `Slurm job completion is disabled`.
- `squeue -j` with only unknown ids exits 1 with `Invalid job id specified`; with a mix it lists
  the known ones. With slurmctld unreachable it retries for about 18 s, then exits 1.
- sacct lags slurmctld: in the second after a job ends, slurmdbd may not have its record yet
  (no line), may still hold it as PENDING, or may hold a placeholder named `allocation` (seen
  when a job's step records arrive before its own). slurmctld keeps an ended job for MinJobAge
  (300 s by default), so squeue's view of such a job is the current one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..vocabulary import ACTIVE_STATES
from .safe_io import run_bounded

log = logging.getLogger(__name__)

# A healthy sacct answers in well under a second; a busy slurmdbd asked for hundreds of jobs can
# take several seconds, and squeue retries an unreachable slurmctld for ~18 s before reporting
# it itself. 30 s lets those finish with their own message but stops a hung command (NFS,
# a dead slurmdbd holding the connection) from stalling a summary. One budget for all the
# commands of a lookup (sacct, sacct -c, squeue): hung commands never add up to more.
DEFAULT_TIMEOUT_S = 30.0
# Longest stderr excerpt kept in an error message.
STDERR_EXCERPT_CHARS = 300

SACCT_FIELDS = ("JobID", "JobName", "State", "Elapsed", "ExitCode", "Start", "End")
# --parsable2 prints whole names whatever the width (checked: `JobName%5` is not cut); %200 keeps
# the command useful when run by hand without --parsable2, where names are cut to the width.
SACCT_FORMAT = "JobID,JobName%200,State,Elapsed,ExitCode,Start,End"
SACCT_ARGS = (f"--format={SACCT_FORMAT}", "--parsable2", "--noheader", "--allocations")

# squeue fields: job id, state (long form), time used, start, end, reason, name. The name is last
# so that it may contain `|`; --array prints one line per array task; --states=all keeps jobs that
# ended less than MinJobAge ago.
SQUEUE_FORMAT = "%i|%T|%M|%S|%e|%r|%j"
SQUEUE_FIELD_COUNT = 7
SQUEUE_ARGS = ("--noheader", "--array", "--states=all", f"--format={SQUEUE_FORMAT}")

KNOWN_STATES = (
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "CANCELLED",
    "RUNNING",
    "PENDING",
    "NODE_FAIL",
    "PREEMPTED",
)
NO_TIME = frozenset({"", "unknown", "none", "n/a"})
# The name slurmdbd gives a job record created before the job's own start record arrived.
SLURMDBD_PLACEHOLDER_NAME = "allocation"

# Ids a caller may ask about: a job `123` or an array task `123_4`.
JOB_ID_RE = re.compile(r"^\d+(?:_\d+)?$")
# Ids SLURM prints: also pending array ranges `123_[1-5%2]` and heterogeneous components `123+0`.
PRINTED_JOB_ID_RE = re.compile(r"^\d+(?:_(?:\d+|\[[^\]|]*\]))?(?:\+\d+)?$")
ELAPSED_RE = re.compile(
    r"^(?:(?:(?P<days>\d+)-)?(?P<hours>\d+):)?(?P<minutes>\d+):(?P<seconds>\d+)(?:\.\d+)?$"
)


class SlurmError(RuntimeError):
    """A SLURM command needed for an action (not a lookup) failed."""


@dataclass(frozen=True)
class SlurmJob:
    """One job as SLURM reported it.

    `state` is the base state (`CANCELLED` for `CANCELLED by 1234`, kept in `state_detail`);
    `source` is the command that reported it; `reason` is squeue's pending/exit reason
    (`Dependency`, `NonZeroExitCode`), None from sacct.
    """

    job_id: str
    name: str
    state: str
    state_detail: str
    elapsed_seconds: int | None
    exit_code: str | None
    start: str | None
    end: str | None
    source: str
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SlurmLookup:
    """The answer to `lookup_jobs`: the jobs found, and what failed on the way.

    `available` is True when at least one command (sacct, sacct -c, squeue) answered; `source`
    names those commands, joined by ", " (`"sacct"`, `"sacct -c, squeue"`); `error` can then
    still say which command failed before a fallback answered. `not_found` lists the
    ids asked for that no command knew (purged from accounting, another cluster, a typo).
    """

    available: bool
    source: str | None
    jobs: dict[str, SlurmJob]
    error: str | None
    unparsed_lines: list[str]
    not_found: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "available": self.available,
            "source": self.source,
            "error": self.error,
            "jobs": {job_id: job.to_dict() for job_id, job in self.jobs.items()},
            "not_found": list(self.not_found),
            "unparsed_lines": list(self.unparsed_lines),
        }


def normalize_state(raw: str) -> str:
    """The base state: `CANCELLED by 0` → `CANCELLED`, `OUT_OF_ME+` → `OUT_OF_ME`, upper-case."""
    words = raw.split()
    return words[0].rstrip("+").upper() if words else ""


def parse_elapsed(text: str) -> int | None:
    """Seconds from `[D-]HH:MM:SS`, `H:MM:SS`, `MM:SS` or `MM:SS.mmm`; None for anything else."""
    match = ELAPSED_RE.match(text.strip())
    if not match:
        return None
    days = int(match["days"] or 0)
    hours = int(match["hours"] or 0)
    minutes, seconds = int(match["minutes"]), int(match["seconds"])
    if seconds >= 60 or minutes >= 60 or (match["days"] is not None and hours >= 24):
        return None
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def format_duration(seconds: int | None) -> str:
    """Short human duration: `N/A`, `45s`, `8m 15s`, `1h 02m`, `2d 03h` (two units at most)."""
    if seconds is None or seconds < 0:
        return "N/A"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def _time_or_none(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in NO_TIME else text


def _is_step(job_id: str) -> bool:
    head, dot, tail = job_id.partition(".")
    return bool(dot) and bool(tail) and PRINTED_JOB_ID_RE.match(head) is not None


def parse_sacct_parsable(
    text: str, *, source: str = "sacct"
) -> tuple[dict[str, SlurmJob], list[str]]:
    """Jobs from `sacct --parsable2 --noheader --format=JobID,JobName,State,Elapsed,ExitCode,
    Start,End` output, and the lines that are not in that format.

    Step lines (`123.batch`, `123.extern`, `123.0`) and blank lines are skipped; a job printed
    twice (requeued) keeps its last line. Nothing is guessed from a malformed line.
    """
    jobs: dict[str, SlurmJob] = {}
    unparsed: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != len(SACCT_FIELDS):
            unparsed.append(line)
            continue
        job_id, name, state, elapsed, exit_code, start, end = (f.strip() for f in fields)
        if _is_step(job_id):
            continue
        base_state = normalize_state(state)
        if not PRINTED_JOB_ID_RE.match(job_id) or not base_state:
            unparsed.append(line)
            continue
        jobs.pop(job_id, None)
        jobs[job_id] = SlurmJob(
            job_id=job_id,
            name=name,
            state=base_state,
            state_detail=state,
            elapsed_seconds=parse_elapsed(elapsed),
            exit_code=exit_code or None,
            start=_time_or_none(start),
            end=_time_or_none(end),
            source=source,
        )
    return jobs, unparsed


def parse_squeue(text: str) -> tuple[dict[str, SlurmJob], list[str]]:
    """Jobs from `squeue --noheader --format='%i|%T|%M|%S|%e|%r|%j'` output (see SQUEUE_FORMAT),
    and the lines that are not in that format.

    squeue has no exit code; a start or end time that is only a forecast (a PENDING job's start,
    an unfinished job's end) is None.
    """
    jobs: dict[str, SlurmJob] = {}
    unparsed: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", SQUEUE_FIELD_COUNT - 1)
        if len(fields) != SQUEUE_FIELD_COUNT:
            unparsed.append(line)
            continue
        job_id, state, used, start, end, reason, name = (f.strip() for f in fields)
        base_state = normalize_state(state)
        if not PRINTED_JOB_ID_RE.match(job_id) or not base_state:
            unparsed.append(line)
            continue
        active = base_state in ACTIVE_STATES
        jobs.pop(job_id, None)
        jobs[job_id] = SlurmJob(
            job_id=job_id,
            name=name,
            state=base_state,
            state_detail=state,
            elapsed_seconds=parse_elapsed(used),
            exit_code=None,
            start=None if base_state == "PENDING" else _time_or_none(start),
            end=None if active else _time_or_none(end),
            source="squeue",
            reason=_time_or_none(reason),
        )
    return jobs, unparsed


def validate_job_ids(job_ids: Iterable[str]) -> list[str]:
    """The ids stripped and de-duplicated in order; ValueError for one that is not `123`/`123_4`."""
    ids: list[str] = []
    for raw in job_ids:
        job_id = str(raw).strip()
        if not JOB_ID_RE.match(job_id):
            raise ValueError(
                f"not a SLURM job id: {raw!r} (expected digits, or 123_4 for an array task)"
            )
        if job_id not in ids:
            ids.append(job_id)
    return ids


@dataclass
class _Result:
    """How one command ended: `failure` is None when it exited 0."""

    label: str
    returncode: int | None
    stdout: str
    stderr: str
    failure: str | None


def _excerpt(stderr: str) -> str:
    text = " ".join(stderr.split())
    if len(text) > STDERR_EXCERPT_CHARS:
        text = text[: STDERR_EXCERPT_CHARS - 3] + "..."
    return text or "no message on stderr"


def _explain(label: str, returncode: int, stderr: str) -> str:
    """A failed command's message, saying what the known SLURM errors mean."""
    if "accounting storage is disabled" in stderr:
        meaning = "Slurm accounting storage is disabled (AccountingStorageType=none)"
    elif "job completion is disabled" in stderr:
        meaning = "Slurm job completion logging is disabled (JobCompType=none), no completion file"
    elif "Connection refused" in stderr or "Problem talking to the database" in stderr:
        meaning = "cannot reach slurmdbd (Connection refused): the accounting database is down"
    elif "Unable to contact slurm controller" in stderr:
        meaning = "cannot reach slurmctld: the SLURM controller is down or unreachable"
    else:
        meaning = "failed"
    return f"{label}: {meaning} (exit {returncode}: {_excerpt(stderr)})"


def _run(
    label: str, argv: list[str], timeout_s: float, *, deadline: float | None = None
) -> _Result:
    """Run argv without a shell, in its own process group, for `timeout_s` or until `deadline`
    (monotonic; the budget shared by several commands), keeping at most
    COMMAND_OUTPUT_MAX_BYTES of output; see `run_bounded`."""
    log.debug("running %s", argv)
    started = time.monotonic()
    deadline = started + timeout_s if deadline is None else deadline
    if deadline <= started:
        failure = f"{label} was not run: the {timeout_s:g} s for all SLURM commands were used up"
        return _Result(label, None, "", "", failure)
    done = run_bounded(argv, deadline=deadline, label=label)
    stdout = done.stdout.decode("utf-8", errors="replace")
    stderr = done.stderr.decode("utf-8", errors="replace")
    if done.timed_out:
        allotted = deadline - started
        share = (
            f" (what was left of the {timeout_s:g} s for all SLURM commands)"
            if round(allotted, 1) < round(timeout_s, 1)
            else ""
        )
        failure = (
            f"{label} timed out after {round(allotted, 1):g} s{share} and was killed: slurmdbd "
            "or slurmctld is overloaded or unreachable"
        )
        return _Result(label, None, "", "", failure)
    if done.failure is not None:
        return _Result(label, None, stdout, stderr, done.failure)
    if stderr.strip():
        log.debug("%s stderr: %s", label, stderr.strip())
    if done.returncode != 0:
        failure = _explain(label, done.returncode or 0, stderr)
        return _Result(label, done.returncode, stdout, stderr, failure)
    return _Result(label, 0, stdout, stderr, None)


def _records(job_id: str, jobs: dict[str, SlurmJob]) -> list[SlurmJob]:
    """The records of `job_id`, or (for an array job) of its tasks, in `jobs`."""
    return [job for key, job in jobs.items() if key == job_id or key.startswith(f"{job_id}_")]


def _known(job_id: str, jobs: dict[str, SlurmJob]) -> bool:
    """True when `job_id`, or (for an array job) one of its tasks, is in `jobs`."""
    return bool(_records(job_id, jobs))


def _unsettled(job: SlurmJob) -> bool:
    """True for an accounting record that may lag slurmctld: the job has not ended by its
    account, or slurmdbd holds only a placeholder for it."""
    return job.state in ACTIVE_STATES or job.name == SLURMDBD_PLACEHOLDER_NAME


def _ask_squeue(job_id: str, jobs: dict[str, SlurmJob]) -> bool:
    """True when squeue should be asked about `job_id`: accounting does not know it, or its
    record may be behind slurmctld's."""
    records = _records(job_id, jobs)
    return not records or any(_unsettled(job) for job in records)


def _newer(earlier: SlurmJob | None, later: SlurmJob) -> SlurmJob:
    """`later`'s record of a job `earlier` had missing or unsettled; an exit code `later` lacks
    (squeue prints none) is kept from `earlier` when both agree on the state."""
    if earlier is not None and later.exit_code is None and earlier.state == later.state:
        return replace(later, exit_code=earlier.exit_code)
    return later


def lookup_jobs(
    job_ids: Iterable[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    sacct: str = "sacct",
    squeue: str = "squeue",
) -> SlurmLookup:
    """Ask SLURM about jobs: sacct once for all ids, `sacct -c` if sacct fails (accounting off,
    slurmdbd down), then squeue for ids neither knew (still queued or running) and for ids whose
    accounting record may lag slurmctld (not ended, or a placeholder); squeue's answer replaces
    such a record.

    All commands together get `timeout_s`: one that hangs is killed when the budget runs out,
    and a later one gets what is left. Raises ValueError for an id that is not `123` or
    `123_4`; never raises for SLURM being absent, broken or slow.
    """
    ids = validate_job_ids(job_ids)
    deadline = time.monotonic() + timeout_s
    if not ids:
        return SlurmLookup(available=True, source=None, jobs={}, error=None, unparsed_lines=[])
    jobs: dict[str, SlurmJob] = {}
    unparsed: list[str] = []
    answered: list[str] = []
    errors: list[str] = []

    def take(result: _Result, found: dict[str, SlurmJob], bad: list[str]) -> None:
        answered.append(result.label)
        for job_id, job in found.items():
            earlier = jobs.get(job_id)
            if earlier is None or _unsettled(earlier):
                jobs[job_id] = _newer(earlier, job)
        unparsed.extend(bad)
        if bad:
            errors.append(
                f"{result.label} printed {len(bad)} line(s) in an unexpected format "
                "(kept in unparsed_lines)"
            )

    id_list = ",".join(ids)
    result = _run("sacct", [sacct, "-j", id_list, *SACCT_ARGS], timeout_s, deadline=deadline)
    if result.failure is None:
        take(result, *parse_sacct_parsable(result.stdout, source="sacct"))
    else:
        errors.append(result.failure)
        if result.returncode is not None:
            fallback_argv = [sacct, "-c", "-j", id_list, *SACCT_ARGS]
            fallback = _run("sacct -c", fallback_argv, timeout_s, deadline=deadline)
            if fallback.failure is None:
                take(fallback, *parse_sacct_parsable(fallback.stdout, source="sacct -c"))
            else:
                errors.append(fallback.failure)

    to_check = [job_id for job_id in ids if _ask_squeue(job_id, jobs)]
    if to_check:
        queue_argv = [squeue, f"--jobs={','.join(to_check)}", *SQUEUE_ARGS]
        queue = _run("squeue", queue_argv, timeout_s, deadline=deadline)
        if queue.failure is None:
            take(queue, *parse_squeue(queue.stdout))
        elif queue.returncode == 1 and "Invalid job id" in queue.stderr:
            answered.append("squeue")
        else:
            errors.append(queue.failure)

    available = bool(answered)
    return SlurmLookup(
        available=available,
        source=", ".join(answered) if answered else None,
        jobs=jobs,
        error="; ".join(errors) if errors else None,
        unparsed_lines=unparsed,
        not_found=[job_id for job_id in ids if not _known(job_id, jobs)] if available else [],
    )


def queued_jobs(
    *, user: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, squeue: str = "squeue"
) -> SlurmLookup:
    """The current user's (or `user`'s) jobs still in the queue: pending, running, completing."""
    who = f"--user={user}" if user else "--me"
    argv = [squeue, who, "--noheader", "--array", f"--format={SQUEUE_FORMAT}"]
    result = _run("squeue", argv, timeout_s)
    if result.failure is not None:
        return SlurmLookup(
            available=False, source=None, jobs={}, error=result.failure, unparsed_lines=[]
        )
    jobs, unparsed = parse_squeue(result.stdout)
    return SlurmLookup(
        available=True, source="squeue", jobs=jobs, error=None, unparsed_lines=unparsed
    )


def submit_dependent_job(
    script: Path,
    after_job_ids: list[str],
    *,
    job_name: str,
    output: Path,
    sbatch: str = "sbatch",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Submit `script` to start after all `after_job_ids` ended, whatever their state
    (`--dependency=afterany:ID:ID`), and return its job id. Raises SlurmError on failure."""
    ids = validate_job_ids(after_job_ids)
    if not Path(script).is_file():
        raise SlurmError(f"cannot submit {script}: no such file")
    argv = [sbatch, "--parsable"]
    if ids:
        argv.append(f"--dependency=afterany:{':'.join(ids)}")
    argv += [f"--job-name={job_name}", f"--output={output}", str(script)]
    result = _run("sbatch", argv, timeout_s)
    if result.failure is not None:
        raise SlurmError(f"submitting {script} failed: {result.failure}")
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    job_id = lines[-1].split(";", 1)[0] if lines else ""
    if not JOB_ID_RE.match(job_id):
        raise SlurmError(
            f"sbatch --parsable printed no job id for {script}: {result.stdout.strip()!r}"
        )
    return job_id
