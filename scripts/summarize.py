#!/usr/bin/env python3
"""Summarize an experiment in one process: writes summary.md, summary.json and the process log.

Examples:
  python scripts/summarize.py /scratch/me/cap_4L_lora_rank_comparison
  python scripts/summarize.py        # the current folder, if it holds experiment_summary.yaml
  python scripts/summarize.py EXP --jobs 4 --no-sacct

Prints one JSON object on stdout: status ("success", "partial" when some inputs had problems, or
"error"), the paths written (summary, summary_json, log), counts, best and warnings.
With --when-done: submits the summarizer as a SLURM job with --dependency=afterany on every
training and evaluation job of the experiment not yet finished, and prints {"status": "submitted",
"job_id": ..., "waits_for": [...], "script": ...}, or {"status": "nothing_to_wait_for"} when all
have ended (nothing is submitted then).

Exit codes: 0 summary written (also with partial results) or job submitted; 2 no summary could
be made (no usable experiment_summary.yaml; summary.md is left as it was) or sbatch failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import add_jobs_argument, experiment_argument, print_json
from summarize_experiment.progress import progress_reporter


def _when_done(experiment: Path) -> int:
    from summarize_experiment.evidence.design import DesignError
    from summarize_experiment.evidence.slurm import SlurmError
    from summarize_experiment.when_done import submit_when_done

    try:
        result = submit_when_done(experiment)
    except (DesignError, SlurmError) as exc:
        print_json({"status": "error", "message": str(exc)})
        return 2
    print_json(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    add_jobs_argument(parser)
    parser.add_argument(
        "--no-sacct",
        action="store_true",
        help="do not ask SLURM accounting; use only the files on disk",
    )
    parser.add_argument(
        "--sacct-timeout",
        type=float,
        default=None,
        help="seconds to wait for sacct before going on without it",
    )
    parser.add_argument(
        "--when-done",
        action="store_true",
        help="submit the summary as a SLURM job that starts when every "
        "unfinished job of the experiment has ended; print its job id",
    )
    args = parser.parse_args(argv)
    if args.when_done:
        return _when_done(experiment_argument(args.experiment))
    from summarize_experiment.pipeline import summarize

    with progress_reporter() as on_progress:
        code, result = summarize(
            experiment_argument(args.experiment),
            jobs=args.jobs,
            use_sacct=not args.no_sacct,
            sacct_timeout_s=args.sacct_timeout,
            on_progress=on_progress,
        )
    print_json(result)
    return code


if __name__ == "__main__":
    sys.exit(main())
