"""Shared pieces of the command-line fronts: JSON on stdout, diagnostics on stderr, the
`--jobs` and `--steps-dir` options."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from .atomic import write_atomically
from .evidence.design import DESIGN_FILE
from .evidence.readers import default_jobs
from .jsonio import dumps
from .vocabulary import STEPS_FOLDER, step


def exit_now(code: int) -> NoReturn:
    """End a command: flush stdout and stderr, then leave without the interpreter's teardown
    (freeing the modules of scipy, scikit-learn, matplotlib and inspect-ai took 0.34 s of a
    3.3 s re-run on the sweep). Only for a command's very end: every file it wrote is closed
    and in place by then, its worker processes and threads have ended."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)


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


def add_steps_dir_argument(parser: argparse.ArgumentParser) -> None:
    """`--steps-dir [DIR]`: also write the JSON there (default: the experiment's
    logs/summarize-steps/)."""
    parser.add_argument(
        "--steps-dir",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help=f"also write this step's JSON into DIR (default, with no DIR: the experiment's "
        f"{STEPS_FOLDER}/); scripts/render_summary.py reads it from there",
    )


def steps_folder(value: str | None, experiment: Path | None) -> Path | None:
    """The folder `--steps-dir` names: DIR, or the experiment's logs/summarize-steps/."""
    if value is None:
        return None
    if value:
        return Path(value)
    if experiment is None:
        raise SystemExit("--steps-dir needs a folder when no experiment is given")
    return experiment / STEPS_FOLDER


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "item"


def step_file(folder: Path, name: str, item: str | None = None) -> Path:
    """Where a step writes: `{N}-{step}.json` for a whole experiment, `{N}-{step}/{item}.json`
    for one input (its file name, made safe)."""
    number = step(name).number
    if item is None:
        return folder / f"{number}-{name}.json"
    return folder / f"{number}-{name}" / f"{_slug(item)}.json"


EVIDENCE_KEY = "evidence"
"""The part of a step's document that goes to the steps folder only (it can be megabytes)."""


def without_evidence(document: Any) -> Any:
    """A step's document as printed on stdout: everything but the evidence."""
    if isinstance(document, list):
        return [without_evidence(item) for item in document]
    if isinstance(document, dict):
        return {k: without_evidence(v) for k, v in document.items() if k != EVIDENCE_KEY}
    return document


def _experiment_of(folder: Path) -> Path | None:
    """The experiment whose `logs/summarize-steps/` ``folder`` is (nothing is then written
    through a symbolic link leading out of it), or None for a folder given elsewhere."""
    parts = Path(STEPS_FOLDER).parts
    if tuple(folder.parts[-len(parts) :]) != parts:
        return None
    experiment = folder.parents[len(parts) - 1]
    return experiment if (experiment / DESIGN_FILE).is_file() else None


def write_step(
    folder: Path | None, name: str, document: Any, item: str | None = None
) -> Path | None:
    """Write a step's whole JSON (with its evidence) into the steps folder, replacing what an
    earlier run wrote there; returns the file written. When it cannot be written (a full disk;
    the experiment's `logs/` a symbolic link leading out of it), stderr and the document's
    `steps_error` say why, and None is returned."""
    if folder is None:
        return None
    path = step_file(folder, name, item)
    try:
        write_atomically(path, dumps(document, indent=1) + "\n", root=_experiment_of(folder))
    except OSError as exc:
        from .pipeline import write_problem

        problem = write_problem(path, exc)
        print(f"{step(name).label}: not written: {problem}", file=sys.stderr)
        if isinstance(document, dict):
            document["steps_error"] = problem
        return None
    print(f"{step(name).label}: wrote {path}", file=sys.stderr)
    return path


def print_step(document: Any, written: Path | None, *, pretty: bool = False) -> None:
    """Print a step's document without its evidence, and where the whole of it was written."""
    shown = without_evidence(document)
    if written is not None and isinstance(shown, dict):
        shown["steps_file"] = str(written)
    print_json(shown, pretty=pretty)


def warn(message: str) -> None:
    print(message, file=sys.stderr)


def experiment_argument(value: str | None) -> Path:
    """The experiment folder: the argument, or the current folder when it holds the design."""
    return Path(value) if value else Path.cwd()
