#!/usr/bin/env python3
"""Summarize an experiment in one process: writes summary.md, summary.json and the process log.

The same as the `summarize-experiment` command of an installed package; see
summarize_experiment/command.py (or --help) for the options, output and exit codes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from summarize_experiment.cli import exit_now
from summarize_experiment.command import main

if __name__ == "__main__":
    exit_now(main(prog="summarize.py"))
