"""Shared pieces of the command-line fronts: JSON on stdout, diagnostics on stderr, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_INPUT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_APPLICABLE = 3


def print_json(document: Any, *, pretty: bool = False) -> None:
    """Write one JSON document on stdout (NaN and infinity are written as strings)."""
    text = json.dumps(_json_safe(document), indent=2 if pretty else None, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def experiment_argument(value: str | None) -> Path:
    """The experiment folder: the argument, or the current folder when it holds the design."""
    return Path(value) if value else Path.cwd()


def read_json_argument(value: str) -> Any:
    """Load JSON from a file path, or from stdin when the path is '-'."""
    text = sys.stdin.read() if value == "-" else Path(value).read_text(encoding="utf-8")
    return json.loads(text)
