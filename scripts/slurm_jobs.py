#!/usr/bin/env python3
"""Print what SLURM knows about jobs (name, state, elapsed time, exit code) as one JSON object."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.evidence import slurm

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3

EPILOG = f"""\
example:
  python scripts/slurm_jobs.py 2773062 2773063 2773065_4 --timeout 10

output (stdout, one JSON object):
  status          "success" (sacct, sacct -c or squeue answered) or "unavailable"
  available       true when some SLURM command answered
  source          the commands that answered, e.g. "sacct" or "sacct -c, squeue"
  error           what failed and what it means (set also when a fallback answered), or null
  jobs            {{job id: {{job_id, name, state, state_detail, elapsed_seconds, exit_code,
                             start, end, source, reason}}}}
  not_found       ids no command knew (purged from accounting, another cluster, a typo)
  unparsed_lines  output lines in an unexpected format (never guessed at)

commands run (each killed after --timeout seconds):
  sacct -j IDS {shlex.join(slurm.SACCT_ARGS)}
  the same with `sacct -c` (job completion file) if sacct fails, e.g. accounting disabled
  squeue --jobs=IDS {shlex.join(slurm.SQUEUE_ARGS)}
    for the ids sacct did not know (jobs still queued or running)

exit codes:
  {EXIT_OK}  SLURM answered (some jobs may still be in not_found)
  {EXIT_USAGE}  bad arguments (e.g. a job id that is not 123 or 123_4)
  {EXIT_UNAVAILABLE}  SLURM unavailable: no sacct/squeue on PATH, accounting off, hung or failing
"""


def _job_id(text: str) -> str:
    try:
        return slurm.validate_job_ids([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"timeout must be a positive number of seconds: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="slurm_jobs.py",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "job_ids",
        nargs="+",
        type=_job_id,
        metavar="JOBID",
        help="job id (123) or array task (123_4)",
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=slurm.DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds before each SLURM command is killed (default {slurm.DEFAULT_TIMEOUT_S:g})",
    )
    args = parser.parse_args(argv)
    lookup = slurm.lookup_jobs(args.job_ids, timeout_s=args.timeout)
    document = {"status": "success" if lookup.available else "unavailable", **lookup.to_dict()}
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if lookup.error:
        print(f"slurm_jobs.py: {lookup.error}", file=sys.stderr)
    return EXIT_OK if lookup.available else EXIT_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
