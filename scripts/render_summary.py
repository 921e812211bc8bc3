#!/usr/bin/env python3
"""Step 5 (render_summary): write summary.md, summary.json and the process log from the steps'
JSON, exactly as scripts/summarize.py would.

Reads the steps folder (default: the experiment's logs/summarize-steps/): step 1's
`1-parse_status.json` (statuses and the evidence) and step 3's `3-parse_eval_log.json` (every
log with its samples; also single-log files in `3-parse_eval_log/`), rebuilds the evidence from
them, and judges it with the same code as the one-command path. Steps 2 and 4 show one part in
detail and are not needed here.

Examples:
  python scripts/render_summary.py /scratch/me/cap_4L
  python scripts/render_summary.py --steps-dir /tmp/steps

Writes {experiment}/summary.md and summary.json atomically and appends to
{experiment}/logs/summarize-experiment.log. Prints the same JSON as scripts/summarize.py:
{"status": "success"|"partial", "summary", "summary_json", "log", "counts", "best", "warnings"}.
Exit codes: 0 written; 1 a step file is missing, not valid JSON or not a step's document (the
message says which step to run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import experiment_argument, print_json, step_file
from summarize_experiment.evidence.safe_io import InputRefused, open_regular
from summarize_experiment.pipeline import publish
from summarize_experiment.report.contracts import evidence_from_documents
from summarize_experiment.vocabulary import EXIT_INPUT_ERROR, STEPS_FOLDER


def _load(path: Path) -> dict:
    try:
        with open_regular(path) as handle:  # a FIFO in its place is refused, not waited for
            return json.loads(handle.read())
    except FileNotFoundError:
        raise ValueError(f"{path}: not found") from None
    except InputRefused as exc:
        raise ValueError(str(exc)) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _eval_documents(folder: Path) -> list[dict]:
    documents: list[dict] = []
    whole = step_file(folder, "parse_eval_log")
    if whole.exists():
        documents += _load(whole).get("logs") or []
    single = whole.with_suffix("")
    for path in sorted(single.glob("*.json")) if single.is_dir() else []:
        documents.append(_load(path))
    return documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    parser.add_argument(
        "--steps-dir", metavar="DIR", help=f"the steps' JSON (default: EXPERIMENT/{STEPS_FOLDER})"
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write no figures (as summarize.py --no-figures)"
    )
    args = parser.parse_args(argv)
    folder = (
        Path(args.steps_dir)
        if args.steps_dir
        else experiment_argument(args.experiment).resolve() / STEPS_FOLDER
    )
    try:
        status = _load(step_file(folder, "parse_status"))
        evidence = evidence_from_documents(status, _eval_documents(folder))
    except ValueError as exc:
        print_json({"status": "error", "step": "render_summary", "message": str(exc)})
        return EXIT_INPUT_ERROR
    code, result = publish(evidence, figures=not args.no_figures)
    print_json(result)
    return code


if __name__ == "__main__":
    sys.exit(main())
