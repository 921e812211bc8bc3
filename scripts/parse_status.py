#!/usr/bin/env python3
"""Step 1 (parse_status): every run's fine-tuning status and every evaluation cell's status,
with the evidence they were decided from.

Reads experiment_summary.yaml, the files on disk, the toolkit's run logs, SLURM (one call for
every job id found), every job stdout and the headers of the evaluation logs (not their
samples: step 3 reads those). The statuses are final: the summary gives the same ones.

Examples:
  python scripts/parse_status.py /scratch/me/cap_4L --steps-dir     # writes logs/summarize-steps/
  python scripts/parse_status.py --no-sacct --pretty --jobs 4       # the current folder

Output: one JSON object (reference.md, "Step 1"): status, step, experiment, slurm, runs[] with
finetune and cells[], logs_to_read; with --steps-dir also steps_file, the file that holds the
same document plus the evidence (what scripts/render_summary.py reads).
Exit codes: 0 written; 2 no usable experiment_summary.yaml (JSON with status "error" and a
message naming the file and the problem).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import (
    add_jobs_argument,
    add_steps_dir_argument,
    experiment_argument,
    print_json,
    print_step,
    steps_folder,
    write_step,
)
from summarize_experiment.evidence.design import DesignError
from summarize_experiment.evidence.gather import gather
from summarize_experiment.judge.assess import assess
from summarize_experiment.report.contracts import parse_status_document
from summarize_experiment.vocabulary import EXIT_OK, EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    parser.add_argument("--no-sacct", action="store_true", help="do not ask SLURM accounting")
    parser.add_argument(
        "--sacct-timeout", type=float, default=None, help="seconds to wait for SLURM"
    )
    add_jobs_argument(parser)
    add_steps_dir_argument(parser)
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    experiment = experiment_argument(args.experiment).resolve()
    try:
        evidence = gather(
            experiment,
            with_samples=False,
            jobs=args.jobs,
            use_sacct=not args.no_sacct,
            sacct_timeout_s=args.sacct_timeout,
        )
    except DesignError as exc:
        print_json({"status": "error", "step": "parse_status", "message": str(exc)})
        return EXIT_USAGE
    document = parse_status_document(evidence, assess(evidence))
    written = write_step(steps_folder(args.steps_dir, experiment), "parse_status", document)
    print_step(document, written, pretty=args.pretty)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
