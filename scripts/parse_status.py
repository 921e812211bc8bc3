#!/usr/bin/env python3
"""Step 1: each run's fine-tuning status and each evaluation cell's status, with the evidence.

Reads experiment_summary.yaml, the files on disk and (when available) SLURM accounting. Reads only
the headers of the evaluation logs; no metrics and no training-log scan (see extract_loss.py,
tools/inspect/parse_eval_log.py and tools/inspect/summary_binary.py for those).

Examples:
  python scripts/parse_status.py /scratch/me/cap_4L_lora_rank_comparison > status.json
  python scripts/parse_status.py --no-sacct --pretty --jobs 4

Exit codes: 0 status written on stdout; 2 no usable experiment_summary.yaml (JSON with
status "error" and a message naming the file and the problem).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import (
    EXIT_OK,
    EXIT_USAGE,
    add_jobs_argument,
    experiment_argument,
    print_json,
)
from summarize_experiment.collect import collect
from summarize_experiment.evidence.design import DesignError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    parser.add_argument("--no-sacct", action="store_true", help="do not ask SLURM accounting")
    parser.add_argument(
        "--sacct-timeout", type=float, default=None, help="seconds to wait for sacct"
    )
    add_jobs_argument(parser)
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    try:
        document = collect(
            experiment_argument(args.experiment).resolve(),
            full=False,
            jobs=args.jobs,
            use_sacct=not args.no_sacct,
            sacct_timeout_s=args.sacct_timeout,
        )
    except DesignError as exc:
        print_json({"status": "error", "message": str(exc)})
        return EXIT_USAGE
    print_json({"status": "success", **document}, pretty=args.pretty)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
