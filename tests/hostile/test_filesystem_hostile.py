"""Symlink loops and odd entries under the experiment: the summary completes, from the real
files only."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .support import eval_row, incomplete_rows, run_status, run_summary, training_rows


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def summarize_within(exp: Path, seconds: float) -> tuple[int, dict[str, Any], str]:
    """run_summary in a thread, failing (not hanging) when it does not finish in time."""
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(run_summary(exp)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the summarizer did not finish within {seconds} s"
    assert outcome, "the summarizer raised"
    return outcome[0]


def test_symlink_loops_under_the_experiment(exp: Path) -> None:
    logs = exp / "r1" / "eval" / "logs"
    os.symlink("..", logs / "loop")  # {run}/eval/logs/loop -> {run}/eval
    os.symlink(exp, exp / "loop")  # {exp}/loop -> {exp}
    os.symlink("self.eval", logs / "self.eval")  # a link to itself, named like a log
    os.symlink(exp / "base", exp / "base" / "eval" / "up")  # control: eval/up -> base
    os.symlink("logs", exp / "r1" / "eval" / "logs" / "logs")  # logs/logs -> logs
    code, result, md = summarize_within(exp, 60)
    assert code == 0
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert accuracy(eval_row(md, "base", None)) == 0.55
    assert training_rows(md)["r1"]["Final Loss"] == "0.2345"
    assert run_status(md)["r1"]["Evaluation"] == "COMPLETED"
    assert {r["Run"] for r in incomplete_rows(md)} == {"r2"}
    # issue 12: a loop named like a log is noted, never skipped in silence; the folder loops
    # are no inputs
    loops = [w for w in result["warnings"] if "a symbolic link loop" in w]
    assert loops == [f"r1: {logs / 'self.eval'}: a symbolic link loop; skipped"], loops


def test_experiment_folder_reached_through_a_symlink(exp: Path) -> None:
    """Summarizing through a link to the folder reads the same files and writes into it."""
    link = exp.parent / "via-link"
    os.symlink(exp, link)
    code, _result, md = summarize_within(link, 60)
    assert code == 0
    assert (exp / "summary.md").read_text(encoding="utf-8") == md
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert link.is_symlink()  # the link itself was not replaced by a file or folder
