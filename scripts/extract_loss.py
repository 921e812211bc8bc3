#!/usr/bin/env python3
"""Step 2: the final training loss, total steps and epoch from a run's training stdout.

Takes the LAST `{epoch}|{step}|Loss: {value}` update (tqdm lines joined by carriage returns are
handled; 6.0498e-06 stays 6.0498e-06; a final nan/inf is reported and flags the run as diverged).
With several files, the most recent by modification time is used (ties: the larger job id).
The file is streamed: memory does not grow with its size.

Examples:
  python scripts/extract_loss.py /scratch/out/ck-out-rank4_lr1e-5/slurm-2773001.out
  python scripts/extract_loss.py --experiment /scratch/me/cap_4L --run rank4_lr1e-5

Exit codes: 0 a result (also status "missing": no stdout file, loss N/A, with a warning);
1 the file cannot be read; 2 usage error or no usable experiment_summary.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import (
    EXIT_INPUT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    print_json,
    warn,
)
from summarize_experiment.collect import training_entry
from summarize_experiment.evidence import layout, slurm, training_log
from summarize_experiment.evidence.design import DesignError, load_design


def _candidates(args: argparse.Namespace) -> tuple[str | None, list[Path]]:
    if args.paths:
        paths = [Path(p) for p in args.paths]
        return args.run or layout.run_from_stdout_path(paths[0]), paths
    design = load_design(Path(args.experiment).resolve())
    if design.run(args.run) is None:
        names = ", ".join(r.name for r in design.runs)
        raise DesignError(f"{design.design_file}: no run named {args.run!r} (runs: {names})")
    found = layout.training_stdout_files(design, args.run, layout.detect_layout(design))
    return args.run, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", help="training stdout file(s) (slurm-*.out)")
    parser.add_argument("--experiment", help="experiment folder (with --run)")
    parser.add_argument("--run", help="run name")
    parser.add_argument("--no-sacct", action="store_true", help="no SLURM elapsed time")
    args = parser.parse_args(argv)
    if not args.paths and not (args.experiment and args.run):
        parser.error("give stdout file path(s), or --experiment DIR --run NAME")
    try:
        run, candidates = _candidates(args)
    except DesignError as exc:
        print_json({"status": "error", "message": str(exc)})
        return EXIT_USAGE
    existing = [p for p in candidates if p.is_file()]
    stdout = training_log.pick_latest_stdout(existing)
    if stdout is None:
        missing = ", ".join(str(p) for p in candidates) or "no slurm-*.out for this run"
        result = training_entry(run or "", None, None, None)
        warn(f"extract_loss: {result['warning']} ({missing})")
        print_json(
            {
                "status": "missing",
                "final_loss": "N/A",
                "candidates": [str(p) for p in candidates],
                **result,
            }
        )
        return EXIT_OK
    try:
        scan = training_log.scan_training_log(stdout)
    except OSError as exc:
        print_json(
            {
                "status": "error",
                "stdout": str(stdout),
                "message": f"{stdout}: cannot be read ({exc.strerror or exc})",
            }
        )
        return EXIT_INPUT_ERROR
    job = None
    job_id = training_log.job_id_from_stdout_name(stdout.name)
    if job_id and not args.no_sacct:
        job = slurm.lookup_jobs([job_id]).jobs.get(job_id)
    result = training_entry(run or "", stdout, scan, job)
    status = "success" if scan.final is not None else "no_loss"
    print_json({"status": status, "candidates": [str(p) for p in existing], **result})
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
