"""Shared pieces of the command-line fronts: JSON on stdout, diagnostics on stderr, exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .evidence.readers import default_jobs
from .jsonio import dumps

EXIT_OK = 0
EXIT_INPUT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_APPLICABLE = 3


def print_json(document: Any, *, pretty: bool = False) -> None:
    """Write one JSON document on stdout (NaN and infinity are written as strings)."""
    sys.stdout.write(dumps(document, indent=2 if pretty else None) + "\n")
    sys.stdout.flush()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """`--jobs N`: processes reading logs in parallel (default: the usable cores)."""
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=default_jobs(),
        help="processes reading logs in parallel (default: the cores, %(default)s)",
    )


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def experiment_argument(value: str | None) -> Path:
    """The experiment folder: the argument, or the current folder when it holds the design."""
    return Path(value) if value else Path.cwd()


def read_json_argument(value: str) -> Any:
    """Load JSON from a file path, or from stdin when the path is '-'."""
    text = sys.stdin.read() if value == "-" else Path(value).read_text(encoding="utf-8")
    return json.loads(text)
