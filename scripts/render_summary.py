#!/usr/bin/env python3
"""Step 6: write summary.md (and summary.json) from the collected results.

Input: the JSON of scripts/parse_status.py (a file, or '-' for stdin), plus the outputs of the
other steps to fill it: --loss (extract_loss.py), --eval (tools/inspect/parse_eval_log.py) and
--binary (tools/inspect/summary_binary.py --json), one JSON file each.

Examples:
  python scripts/parse_status.py EXP > status.json
  python scripts/render_summary.py status.json --loss loss/*.json --eval evals/*.json \\
      --binary binary/*.json
  python scripts/parse_status.py EXP | python scripts/render_summary.py -

Writes {experiment}/summary.md and summary.json atomically (or --output PATH). Prints
{"status": "success", "summary": PATH, "summary_json": PATH} on stdout.
Exit codes: 0 written; 1 an input file is not valid JSON or not a parse_status document.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.atomic import write_atomically
from summarize_experiment.cli import (
    EXIT_INPUT_ERROR,
    EXIT_OK,
    print_json,
    read_json_argument,
)
from summarize_experiment.collect import merge_step_outputs
from summarize_experiment.jsonio import dumps
from summarize_experiment.report.process_log import timestamp
from summarize_experiment.report.render import render_markdown
from summarize_experiment.report.tables import build_report


def _load_all(paths: list[str]) -> list[dict]:
    return [read_json_argument(p) for p in paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("collected", help="parse_status.py JSON file, or - for stdin")
    parser.add_argument("--loss", nargs="*", default=[], help="extract_loss.py outputs")
    parser.add_argument("--eval", nargs="*", default=[], help="parse_eval_log.py outputs")
    parser.add_argument("--binary", nargs="*", default=[], help="summary_binary.py outputs")
    parser.add_argument("--output", help="where to write summary.md (default: in the experiment)")
    args = parser.parse_args(argv)
    try:
        document = read_json_argument(args.collected)
        if not isinstance(document, dict) or "runs" not in document:
            raise ValueError("not a parse_status.py document (no `runs`)")
        merged = merge_step_outputs(
            document, _load_all(args.loss), _load_all(args.eval), _load_all(args.binary)
        )
    except (OSError, ValueError) as exc:
        print_json({"status": "error", "message": f"{args.collected}: {exc}"})
        return EXIT_INPUT_ERROR
    report = build_report(merged, timestamp())
    output = (
        Path(args.output) if args.output else Path(merged["experiment"]["directory"]) / "summary.md"
    )
    write_atomically(output, render_markdown(report))
    summary_json = write_atomically(output.with_suffix(".json"), dumps(report, indent=2) + "\n")
    print_json({"status": "success", "summary": str(output), "summary_json": str(summary_json)})
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
