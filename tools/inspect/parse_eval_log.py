#!/usr/bin/env python3
"""Step 4: accuracy and the other header facts of one inspect-ai log, read via inspect_ai.log.

Examples:
  python tools/inspect/parse_eval_log.py rank4_lr1e-5/eval/logs/capitalization_X.eval
  python tools/inspect/parse_eval_log.py LOG.eval --pretty

Output (one JSON object): status, task, accuracy, samples, scorer, model, metrics, path,
log_status, log_error, model_path, task_args, created, kind (binary|numeric|other),
accuracy_ci (95% Wilson), regression (numeric tasks). On failure:
{"status": "error", "message": "...", "path": ...} (a log whose evaluation errored or was
cancelled is an error too, with its log_status).
Exit codes: 0 success; 1 the log is unreadable or not a finished evaluation; 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from summarize_experiment.cli import EXIT_INPUT_ERROR, EXIT_OK, print_json
from summarize_experiment.evidence.eval_logs import eval_log_output, read_eval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", help="an inspect-ai log (.eval, or an older .json)")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    args = parser.parse_args(argv)
    read = read_eval(Path(args.path))
    print_json(eval_log_output(read), pretty=args.pretty)
    return EXIT_OK if read.ok else EXIT_INPUT_ERROR


if __name__ == "__main__":
    sys.exit(main())
