#!/usr/bin/env python3
"""Summarize an experiment in one process: writes summary.md, summary.json and the process log.

Examples:
  python scripts/summarize.py /scratch/me/cap_4L_lora_rank_comparison
  python scripts/summarize.py        # the current folder, if it holds experiment_summary.yaml
  python scripts/summarize.py EXP --jobs 4 --no-sacct

Prints one JSON object on stdout: status ("success", "partial" when some inputs had problems, or
"error"), the paths written (summary, summary_json, log), counts, best and warnings.
Exit codes: 0 summary written (also with partial results); 2 no summary could be made (no usable
experiment_summary.yaml; summary.md is left as it was).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import experiment_argument, print_json
from summarize_experiment.progress import progress_reporter
from summarize_experiment.readers import default_jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="processes reading logs in parallel (default: the cores, %(default)s)",
    )
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
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
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
