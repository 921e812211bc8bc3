#!/usr/bin/env python3
"""Step 4 (summary_binary): balanced accuracy, F1, the confusion matrix and the class balance
of binary (0/1) classification logs.

Computed with scikit-learn from each sample's target and the 0/1 label of its answer, read
where the scorer reads it (the last standalone 0 or 1 of a verbose reply for inspect's default
`match(location="end")`). An answer with no 0/1 label counts as `other`: always wrong, it lowers
the recall of its true class and is a prediction of neither class. Not for `risk_scorer` logs
(their correctness is an exact string match: take accuracy and samples from step 3) nor for
tasks whose targets are not all 0/1 (status "not_binary").

Examples:
  python tools/inspect/summary_binary.py LOG.eval                 # human-readable
  python tools/inspect/summary_binary.py LOG.eval --json
  python tools/inspect/summary_binary.py rank4_lr1e-5/eval/logs --json    # every log
  python tools/inspect/summary_binary.py --experiment EXP --json --steps-dir

JSON (reference.md, "Step 4"): status ("success", "not_binary", "error"), path, samples,
accuracy, balanced_accuracy, f1, precision_1, recall_1, recall_0, confusion_matrix {tp, tn, fp,
fn, other}, accuracy_ci, balanced_accuracy_ci, labelled, class_balance {frac_1, frac_0, n_1,
n_0}, saturated, notes. A folder or --experiment gives a list.
Exit codes: 0 success (every file); 1 a file unreadable or not a finished evaluation; 2 usage;
3 not a binary task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from summarize_experiment.cli import (
    add_steps_dir_argument,
    print_json,
    print_step,
    steps_folder,
    write_step,
)
from summarize_experiment.evidence.design import DesignError
from summarize_experiment.evidence.gather import log_paths
from summarize_experiment.evidence.layout import EVAL_LOG_SUFFIXES
from summarize_experiment.evidence.readers import read_all
from summarize_experiment.report.contracts import binary_document
from summarize_experiment.report.render import format_metric
from summarize_experiment.vocabulary import (
    EXIT_INPUT_ERROR,
    EXIT_NOT_AVAILABLE,
    EXIT_OK,
    EXIT_USAGE,
)

STEP = "summary_binary"


def _human(doc: dict) -> str:
    if doc["status"] != "success":
        return f"{doc['path']}: {doc['status']}: {doc.get('message', '')}"
    m = doc["confusion_matrix"]
    balance = doc["class_balance"] or {}
    lines = [
        doc["path"],
        f"  samples            {doc['samples']}",
        f"  accuracy           {format_metric(doc['accuracy'])}",
        f"  balanced accuracy  {format_metric(doc['balanced_accuracy'])}",
        f"  F1 (class 1)       {format_metric(doc['f1'])}",
        f"  precision_1 {format_metric(doc['precision_1'])}  recall_1 "
        f"{format_metric(doc['recall_1'])}  recall_0 {format_metric(doc['recall_0'])}",
        "  confusion matrix   predicted 1  predicted 0  other",
        f"    actual 1         {m['tp']:>11}  {m['fn']:>11}  (other total: {m['other']})",
        f"    actual 0         {m['fp']:>11}  {m['tn']:>11}",
        f"  class balance      {balance.get('n_1')} of 1, {balance.get('n_0')} of 0",
        *[f"  note: {note}" for note in doc.get("notes") or []],
    ]
    return "\n".join(lines)


def _exit_code(docs: list[dict], single: bool) -> int:
    statuses = {d["status"] for d in docs}
    if "error" in statuses:
        return EXIT_INPUT_ERROR
    if single and "not_binary" in statuses:
        return EXIT_NOT_AVAILABLE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", nargs="?", help="an inspect-ai log, or a folder of logs")
    parser.add_argument("--experiment", help="experiment folder: every log it holds")
    parser.add_argument("--json", action="store_true", help="JSON instead of text")
    add_steps_dir_argument(parser)
    args = parser.parse_args(argv)
    if not args.path and not args.experiment:
        parser.error("give a log or a folder of logs, or --experiment DIR")
    experiment = Path(args.experiment).resolve() if args.experiment else None
    target = Path(args.path) if args.path else None
    if experiment is not None:
        try:
            files = log_paths(experiment)
        except DesignError as exc:
            print_json({"status": "error", "step": STEP, "message": str(exc)})
            return EXIT_USAGE
    elif target is not None and target.is_dir():
        files = sorted(
            str(p) for p in target.iterdir() if p.suffix in EVAL_LOG_SUFFIXES and p.is_file()
        )
        if not files:
            print_json(
                {
                    "status": "error",
                    "step": STEP,
                    "path": str(target),
                    "message": f"{target}: no .eval or .json logs in this folder",
                }
            )
            return EXIT_USAGE
    else:
        files = [str(target)]
    reads, _ = read_all(files, [], with_samples=True, jobs=1)
    docs = [binary_document(reads[path]) for path in files]
    single = experiment is None and not (target is not None and target.is_dir())
    code = _exit_code(docs, single)
    folder = steps_folder(args.steps_dir, experiment)
    if single:
        document = docs[0]
        written = write_step(folder, STEP, document, item=Path(files[0]).name)
    else:
        document = {
            "status": "partial" if code == EXIT_INPUT_ERROR else "success",
            "step": STEP,
            "logs": docs,
        }
        written = write_step(folder, STEP, document)
    if args.json:
        print_step(document, written)
    else:
        print("\n\n".join(_human(d) for d in docs))
    return code


if __name__ == "__main__":
    sys.exit(main())
