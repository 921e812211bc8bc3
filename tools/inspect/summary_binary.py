#!/usr/bin/env python3
"""Step 5: accuracy, balanced accuracy, F1 and the confusion matrix of a binary (0/1) task.

Computed with scikit-learn from each sample's target and the answer its scorer extracted.
A prediction outside {0, 1} is counted as `other`: always wrong, it lowers the recall of its
true class and is a prediction of neither class.

Examples:
  python tools/inspect/summary_binary.py LOG.eval            # human-readable
  python tools/inspect/summary_binary.py LOG.eval --json
  python tools/inspect/summary_binary.py rank4_lr1e-5/eval/logs --json   # every log: a list

JSON: status ("success", "not_binary", "error"), path, samples, accuracy, balanced_accuracy, f1,
precision_1, recall_1, recall_0, confusion_matrix {tp, tn, fp, fn, other}, accuracy_ci,
balanced_accuracy_ci, label_counts. A directory gives a JSON list of those objects.
Exit codes: 0 success (every file); 1 a file unreadable or not a finished evaluation;
2 usage; 3 not a binary task (targets not all 0/1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from summarize_experiment.cli import (
    EXIT_INPUT_ERROR,
    EXIT_NOT_APPLICABLE,
    EXIT_OK,
    EXIT_USAGE,
    print_json,
)
from summarize_experiment.evidence.eval_logs import binary_output, read_eval
from summarize_experiment.evidence.layout import EVAL_LOG_SUFFIXES
from summarize_experiment.report.render import format_metric


def _human(doc: dict) -> str:
    if doc["status"] != "success":
        return f"{doc['path']}: {doc['status']}: {doc.get('message', '')}"
    m = doc["confusion_matrix"]
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
    ]
    return "\n".join(lines)


def _exit_code(docs: list[dict]) -> int:
    statuses = {d["status"] for d in docs}
    if "error" in statuses:
        return EXIT_INPUT_ERROR
    if "not_binary" in statuses:
        return EXIT_NOT_APPLICABLE
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", help="an inspect-ai log, or a folder of logs")
    parser.add_argument("--json", action="store_true", help="JSON instead of text")
    args = parser.parse_args(argv)
    target = Path(args.path)
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in EVAL_LOG_SUFFIXES and p.is_file())
        if not files:
            print_json(
                {
                    "status": "error",
                    "path": str(target),
                    "message": f"{target}: no .eval or .json logs in this folder",
                }
            )
            return EXIT_USAGE
        docs = [binary_output(read_eval(p)) for p in files]
        if args.json:
            print_json(docs)
        else:
            print("\n\n".join(_human(d) for d in docs))
        return _exit_code(docs)
    doc = binary_output(read_eval(target))
    if args.json:
        print_json(doc)
    else:
        print(_human(doc))
    return _exit_code([doc])


if __name__ == "__main__":
    sys.exit(main())
