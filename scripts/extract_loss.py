#!/usr/bin/env python3
"""Step 2 (extract_loss): the final training loss, total steps and epoch of fine-tuned runs.

Takes the LAST `{epoch}|{step}|Loss: {value}` update of the training stdout that counts (tqdm
lines joined by carriage returns are handled; 6.0498e-06 stays 6.0498e-06; a final nan/inf is
reported and flags the run as diverged). Which stdout is a training stdout, and which one
counts when a run was resubmitted (OOM retries), is decided from the evidence as in the
summary. A run that did not complete has `finished: false`: its last loss is not a final loss.
The file is streamed: memory does not grow with its size.

Examples:
  python scripts/extract_loss.py --experiment /scratch/me/cap_4L --steps-dir   # every run
  python scripts/extract_loss.py --experiment /scratch/me/cap_4L --run rank4_lr1e-5
  python scripts/extract_loss.py /scratch/out/ck-out-rank4_lr1e-5/slurm-2773001.out

Output (reference.md, "Step 2"): with --experiment, {"status", "step", "runs": [one document
per fine-tuned run]}; with --run or file paths, that one document: status ("success",
"no_loss", "missing", "error"), run, finetune, finished, stdout, final, final_loss,
total_steps, epoch, diverged, min_finite, curve, updates, failure_line, duration_seconds,
duration_source, attempts, warning.
Exit codes: 0 a result (also "missing": no stdout, loss N/A, with a warning); 1 the file
cannot be read; 2 usage error or no usable experiment_summary.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import (
    add_steps_dir_argument,
    print_json,
    print_step,
    steps_folder,
    warn,
    write_step,
)
from summarize_experiment.evidence import slurm
from summarize_experiment.evidence.design import DesignError
from summarize_experiment.evidence.gather import gather
from summarize_experiment.evidence.layout import run_from_stdout_path
from summarize_experiment.evidence.model import JobStdoutFile
from summarize_experiment.evidence.readers import read_job_stdout
from summarize_experiment.evidence.training_log import job_id_from_stdout_name
from summarize_experiment.judge.assess import assess
from summarize_experiment.judge.jobs import latest_stdout
from summarize_experiment.judge.status import state_from_failure_line
from summarize_experiment.judge.training import training_result
from summarize_experiment.report.contracts import loss_fields, training_document
from summarize_experiment.vocabulary import EXIT_INPUT_ERROR, EXIT_OK, EXIT_USAGE, UNKNOWN

STEP = "extract_loss"


def _from_files(paths: list[Path], run: str | None, use_sacct: bool) -> tuple[int, dict]:
    """The document for stdout files given by path (no experiment design to judge with)."""
    files = []
    for path in paths:
        try:
            info = path.stat()
        except OSError as exc:
            return EXIT_INPUT_ERROR, {
                "status": "error",
                "step": STEP,
                "stdout": str(path),
                "message": f"{path}: cannot be read ({exc.strerror or exc})",
            }
        job_id = job_id_from_stdout_name(path.name)
        files.append(JobStdoutFile(str(path), job_id, "given", info.st_mtime_ns, info.st_size))
    chosen = latest_stdout(files)
    assert chosen is not None
    read = read_job_stdout(Path(chosen.path))
    if read.error:
        return EXIT_INPUT_ERROR, {
            "status": "error",
            "step": STEP,
            "stdout": chosen.path,
            "message": read.error,
        }
    job = None
    if chosen.job_id and use_sacct:
        job = slurm.lookup_jobs([chosen.job_id]).jobs.get(chosen.job_id)
    failure = read.scan.failure_line if read.scan else None
    status = job.state if job else state_from_failure_line(failure) if failure else UNKNOWN
    training = training_result(chosen, read, job, files, status)
    document = {
        "status": "success" if training.final else "no_loss",
        "step": STEP,
        "run": run or run_from_stdout_path(Path(chosen.path)),
        "finetune": status,
        **loss_fields(training),
        "attempts": [],
    }
    return EXIT_OK, document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", help="training stdout file(s) (slurm-*.out)")
    parser.add_argument("--experiment", help="experiment folder: every fine-tuned run")
    parser.add_argument("--run", help="only this run (with --experiment)")
    parser.add_argument("--no-sacct", action="store_true", help="no SLURM elapsed time")
    add_steps_dir_argument(parser)
    args = parser.parse_args(argv)
    if not args.paths and not args.experiment:
        parser.error("give stdout file path(s), or --experiment DIR [--run NAME]")
    if args.paths:
        code, document = _from_files([Path(p) for p in args.paths], args.run, not args.no_sacct)
        written = write_step(
            steps_folder(args.steps_dir, None) if args.steps_dir else None,
            STEP,
            document,
            item=Path(args.paths[0]).name,
        )
        print_step(document, written)
        return code
    experiment = Path(args.experiment).resolve()
    try:
        evidence = gather(experiment, read_logs=False, use_sacct=not args.no_sacct)
    except DesignError as exc:
        print_json({"status": "error", "step": STEP, "message": str(exc)})
        return EXIT_USAGE
    runs = [run for run in assess(evidence).runs if run.trains]
    if args.run:
        chosen = [run for run in runs if run.name == args.run]
        if not chosen:
            names = ", ".join(r.name for r in runs) or "none"
            message = (
                f"{evidence.design.design_file}: no fine-tuned run named {args.run!r} "
                f"(fine-tuned runs: {names})"
            )
            print_json({"status": "error", "step": STEP, "message": message})
            return EXIT_USAGE
        document = training_document(chosen[0])
        if document.get("warning"):
            warn(f"extract_loss: {document['warning']}")
        print_step(
            document, write_step(steps_folder(args.steps_dir, experiment), STEP, document, args.run)
        )
        return EXIT_OK
    document = {"status": "success", "step": STEP, "runs": [training_document(r) for r in runs]}
    print_step(document, write_step(steps_folder(args.steps_dir, experiment), STEP, document))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
