#!/usr/bin/env python3
"""Step 3 (parse_eval_log): the results of inspect-ai evaluation logs, read via inspect_ai.log.

Accuracy (and its 95% interval) comes from the scorer's per-sample scores, as inspect's own
accuracy does; metrics follow the scorer (match/includes/exact/choice: classification;
risk_scorer: accuracy and its own metrics; continuous_scorer: regression; any other: the
header's metrics as they are).

Examples:
  python tools/inspect/parse_eval_log.py --experiment /scratch/me/cap_4L --steps-dir
  python tools/inspect/parse_eval_log.py rank4_lr1e-5/eval/logs/capitalization_X.eval --pretty

Output (reference.md, "Step 3"), one document per log: status, path, task, accuracy, samples,
scorer, model, metrics (plain names: accuracy, stderr, ...), scorer_metrics
("match/accuracy"), log_status, log_error, model_path, task_args, metadata, created, family,
accuracy_ci, header_accuracy, errored_samples, regression, notes. Several paths or
--experiment give {"status", "step", "logs": [...]}. On failure a document is
{"status": "error", "path", "message"} plus the header fields when the header was readable.
With --steps-dir the documents, with each log's samples as evidence, are also written there
for scripts/render_summary.py.
Exit codes: 0 every log is a finished evaluation; 1 a log is unreadable or did not finish;
2 usage or no usable experiment_summary.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from summarize_experiment.cli import (
    add_jobs_argument,
    add_steps_dir_argument,
    print_json,
    print_step,
    steps_folder,
    write_step,
)
from summarize_experiment.evidence.design import DesignError
from summarize_experiment.evidence.gather import log_paths
from summarize_experiment.evidence.readers import read_all
from summarize_experiment.report.contracts import eval_log_document
from summarize_experiment.vocabulary import EXIT_INPUT_ERROR, EXIT_OK, EXIT_USAGE

STEP = "parse_eval_log"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", help="inspect-ai logs (.eval, or older .json)")
    parser.add_argument("--experiment", help="experiment folder: every log it holds")
    add_jobs_argument(parser)
    add_steps_dir_argument(parser)
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    if not args.paths and not args.experiment:
        parser.error("give log path(s), or --experiment DIR")
    experiment = Path(args.experiment).resolve() if args.experiment else None
    if experiment is not None:
        try:
            paths = log_paths(experiment)
        except DesignError as exc:
            print_json({"status": "error", "step": STEP, "message": str(exc)})
            return EXIT_USAGE
    else:
        paths = [str(Path(p)) for p in args.paths]
    reads, _ = read_all(paths, [], with_samples=True, jobs=args.jobs)
    documents = [eval_log_document(reads[path]) for path in paths]
    code = EXIT_OK if all(d["status"] == "success" for d in documents) else EXIT_INPUT_ERROR
    folder = steps_folder(args.steps_dir, experiment)
    if len(documents) == 1 and experiment is None:
        written = write_step(folder, STEP, documents[0], item=Path(paths[0]).name)
        print_step(documents[0], written, pretty=args.pretty)
        return code
    document = {
        "status": "success" if code == EXIT_OK else "partial",
        "step": STEP,
        "logs": documents,
    }
    print_step(document, write_step(folder, STEP, document), pretty=args.pretty)
    return code


if __name__ == "__main__":
    sys.exit(main())
