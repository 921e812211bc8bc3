"""SLURM that hangs, fails or prints something unexpected: the summary still comes out of the
files on disk, in seconds, and says what happened to SLURM."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from .support import (
    SPEC,
    eval_row,
    install_fake_slurm,
    last_block,
    notes,
    run_status,
    run_summary,
    sacct_rows,
    sacct_text,
    serve_sacct_rows,
    training_rows,
)

SQUEUE_DOWN = (
    "echo 'squeue: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n"
)


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def assert_summary_from_disk(md: str) -> None:
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert accuracy(eval_row(md, "base", None)) == 0.55
    assert training_rows(md)["r1"]["Final Loss"] == "0.2345"
    assert run_status(md)["r1"]["Fine-tuning"] == "COMPLETED"
    assert run_status(md)["r2"]["Fine-tuning"] == "FAILED"


def slurm_entry(exp: Path):
    [entry] = [e for e in last_block(exp) if e.subject == "SLURM accounting"]
    assert entry.action == "PARSE_STATUS"
    return entry


def test_hanging_sacct_is_killed_after_the_timeout(
    exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "sacct.pid"
    install_fake_slurm(
        monkeypatch,
        tmp_path / "bin",
        sacct=f"echo $$ > '{pid_file}'\nexec sleep 60\n",
        squeue=SQUEUE_DOWN,
    )
    started = time.monotonic()
    code, result, md = run_summary(exp, use_sacct=True, sacct_timeout_s=1)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 10, f"took {elapsed:.1f} s with sacct_timeout_s=1"
    assert_summary_from_disk(md)
    [note] = [n for n in notes(md) if n.startswith("SLURM accounting not used")]
    assert "sacct timed out after 1 s and was killed" in note
    entry = slurm_entry(exp)
    assert entry.level == "WARNING" and "timed out after 1 s" in entry.result
    # the hung sacct is gone, not left sleeping
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the timed-out sacct is still running"
    assert result["status"] in ("success", "partial")


def test_failing_sacct_is_explained(
    exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_fake_slurm(
        monkeypatch,
        tmp_path / "bin",
        sacct="echo 'sacct: error: Problem talking to the database: Connection refused' >&2\n"
        "exit 1\n",
        squeue=SQUEUE_DOWN,
    )
    code, _result, md = run_summary(exp, use_sacct=True, sacct_timeout_s=5)
    assert code == 0
    assert_summary_from_disk(md)
    [note] = [n for n in notes(md) if n.startswith("SLURM accounting not used")]
    assert "cannot reach slurmdbd (Connection refused)" in note
    assert "exit 1" in note
    entry = slurm_entry(exp)
    assert entry.level == "WARNING"
    assert "Problem talking to the database: Connection refused" in entry.result


def test_sacct_in_an_unexpected_format_is_noted(
    exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sacct answers (exit 0) but in its fixed-width layout, not the `|`-separated one asked
    for (an alias or a wrapper script in the way): nothing in it can be used, and the summary
    and the log must say so instead of silently reporting 'source sacct, 0 jobs known'."""
    fixed_width = (
        "       JobID                JobName      State    Elapsed ExitCode\n"
        "------------ ---------------------- ---------- ---------- --------\n"
        "2773000                       ft-r1  COMPLETED   00:01:12      0:0\n"
        "2773000.bat+                  batch  COMPLETED   00:01:12      0:0\n"
    )
    (tmp_path / "fixed.txt").write_text(fixed_width, encoding="utf-8")
    install_fake_slurm(
        monkeypatch,
        tmp_path / "bin",
        sacct=f"cat '{tmp_path / 'fixed.txt'}'\n",
        squeue=SQUEUE_DOWN,
    )
    code, _result, md = run_summary(exp, use_sacct=True, sacct_timeout_s=5)
    assert code == 0
    assert_summary_from_disk(md)
    sacct_notes = [n for n in notes(md) if "sacct" in n]
    assert any("unexpected format" in n for n in sacct_notes), notes(md)
    entry = slurm_entry(exp)
    assert entry.level == "WARNING", entry
    assert "unexpected format" in entry.result


def test_working_sacct_is_used(exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control case for the three above: the same experiment with a healthy sacct."""
    serve_sacct_rows(monkeypatch, tmp_path / "bin", sacct_text(SPEC))
    code, _result, md = run_summary(exp, use_sacct=True, sacct_timeout_s=5)
    assert code == 0
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert run_status(md)["r2"]["Fine-tuning"] == "FAILED"
    [elapsed] = [row[3] for row in sacct_rows(SPEC) if row[1] == "ft-r1"]
    assert elapsed == "00:01:24"
    assert training_rows(md)["r1"]["Duration"] == "1m 24s"  # sacct's Elapsed, not tqdm's sum
    assert not any(n.startswith("SLURM accounting not used") for n in notes(md))
    assert slurm_entry(exp).level == "INFO"
    assert os.environ["PATH"].startswith(str(tmp_path / "bin"))
