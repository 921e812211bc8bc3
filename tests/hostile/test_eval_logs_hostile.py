"""Bad evaluation logs: each shown as ERROR (or its evaluation's status) with the file and the
reason, never as a number; a `.json` log read as a result; several logs for one cell."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log, write_eval_log

from .support import (
    SPEC,
    answers_with,
    eval_row,
    eval_rows,
    eval_stdout_text_for,
    incomplete_rows,
    job_id,
    last_block,
    log_of,
    notes,
    replace_cell_log,
    run_status,
    run_summary,
    sacct_text,
    serve_sacct_rows,
    write_cell_log,
)


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def break_log(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zero-byte":
        path.write_bytes(b"")
    elif how == "text":
        path.write_text("Traceback (most recent call last):\n  oops, not a log\n", "utf-8")
    else:
        raise ValueError(how)


# what is wrong, per kind of damage; what to do is the same for all: re-run the evaluation
REASONS = {
    "truncated": "not a readable inspect-ai log",
    "zero-byte": "is empty (0 bytes)",
    "text": "not a readable inspect-ai log",
}
WHAT_TO_DO = "Re-run the evaluation"


@pytest.mark.parametrize("how", ["truncated", "zero-byte", "text"])
def test_unreadable_log_is_an_error_row_with_file_and_reason(
    exp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """With SLURM accounting mapping the job to its cell (the usual case on a cluster)."""
    serve_sacct_rows(monkeypatch, tmp_path / "bin", sacct_text(SPEC))
    bad = log_of(exp, "r1", 0)
    break_log(bad, how)
    code, result, md = run_summary(exp, use_sacct=True)
    assert code == 0 and result["status"] == "partial"
    row = eval_row(md, "r1", 0)
    assert (row["Accuracy"], row["Bal. Acc"], row["F1"], row["Samples"]) == ("ERROR", "-", "-", "-")
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert accuracy(eval_row(md, "base", None)) == 0.55
    [incomplete] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert (incomplete["Run"], incomplete["Status"]) == ("r1", "ERROR")
    assert f"{bad}: {REASONS[how]}" in incomplete["Notes"], incomplete["Notes"]
    assert WHAT_TO_DO in incomplete["Notes"], f"no advice on what to do: {incomplete['Notes']}"
    errors = [e for e in last_block(exp) if (e.action, e.level) == ("EXTRACT_ACCURACY", "ERROR")]
    assert [e.subject for e in errors] == ["r1 cap epoch 0"]
    assert str(bad) in errors[0].details and REASONS[how] in errors[0].result


def test_unreadable_log_without_sacct_is_placed_by_its_job_stdout(exp: Path) -> None:
    """No SLURM accounting (laptop, purged): the evaluation job's stdout still says which log it
    wrote (`Log: logs/<file>`) and for which model (`hf/r1_epoch_0`). The cell must read ERROR
    with the file, not MISSING with 'no evaluation log and no evaluation job found'."""
    bad = log_of(exp, "r1", 0)
    break_log(bad, "truncated")
    code, _result, md = run_summary(exp)
    assert code == 0
    rows = {r["Stage"]: r for r in incomplete_rows(md) if r["Run"] == "r1"}
    assert "Evaluation: cap epoch 0" in rows, rows
    assert rows["Evaluation: cap epoch 0"]["Status"] == "ERROR"
    assert bad.name in rows["Evaluation: cap epoch 0"]["Notes"]
    assert not any("no evaluation log" in r["Notes"] for r in rows.values()), rows
    assert eval_row(md, "r1", 0)["Accuracy"] == "ERROR"


def test_each_unreadable_log_is_explained(exp: Path) -> None:
    """Two broken logs of one run (no sacct): each file gets its own reason; neither may be
    dismissed as an 'ignored' duplicate of the other."""
    truncated, empty = log_of(exp, "r1", 0), log_of(exp, "r1", 1)
    break_log(truncated, "truncated")
    break_log(empty, "zero-byte")
    code, result, md = run_summary(exp)
    assert code == 0
    incomplete = " ".join(r["Notes"] for r in incomplete_rows(md))
    assert f"{truncated}: not a readable inspect-ai log" in incomplete, incomplete
    assert f"{empty}: is empty (0 bytes)" in incomplete, incomplete
    assert "ignored" not in incomplete
    errors = [e for e in last_block(exp) if (e.action, e.level) == ("EXTRACT_ACCURACY", "ERROR")]
    assert sorted(str(truncated) in e.details or str(empty) in e.details for e in errors) == [
        True,
        True,
    ], errors
    assert result["status"] == "partial"


@pytest.mark.parametrize(
    ("status", "shown", "why"),
    [
        ("error", "FAILED", "CUDA error: an illegal memory access was encountered"),
        ("cancelled", "CANCELLED", "status 'cancelled'"),
    ],
)
def test_errored_or_cancelled_evaluation_is_not_a_result(
    exp: Path, template_cache: Path, status: str, shown: str, why: str
) -> None:
    """The replacement log of r1 epoch 0 ended early; its 12 logged samples are all right, so a
    cancelled log's header carries accuracy 1.0, which must not be shown."""
    answers = [*answers_with(20)[:12], *[None] * 8]
    bad = replace_cell_log(exp, "r1", 0, answers, template_cache, status=status)
    code, result, md = run_summary(exp)
    assert code == 0 and result["status"] == "partial"
    assert eval_row(md, "r1", 0)["Accuracy"] == "ERROR"
    [row] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert row["Status"] == shown
    assert str(bad) in row["Notes"] and why in row["Notes"]
    assert "Re-run the evaluation" in row["Notes"]
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    entry = next(e for e in last_block(exp) if e.subject == "r1 cap epoch 0")
    assert (entry.action, entry.level) == ("EXTRACT_ACCURACY", "ERROR")
    assert str(bad) in entry.details and why in entry.result
    data = json.loads((exp / "summary.json").read_text())
    [cell] = [r for r in data["evaluations"] if (r["run"], r["epoch"]) == ("r1", 0)]
    assert cell["accuracy"] is None


def test_unfinished_log_of_a_timed_out_job_is_not_running(
    exp: Path, tmp_path: Path, template_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job was killed at its time limit (sacct TIMEOUT, `DUE TO TIME LIMIT` in its stdout)
    and left an unfinished (`started`) log. The summary must not call the evaluation RUNNING."""
    name = "eval-cap-r1-ep0"
    bad = replace_cell_log(
        exp, "r1", 0, [*answers_with(20)[:6], *[None] * 14], template_cache, status="started"
    )
    stdout = exp / "r1" / "eval" / f"slurm-{job_id(SPEC, name)}.out"
    stdout.write_text(eval_stdout_text_for(bad, failed="timeout", job=job_id(SPEC, name)), "utf-8")
    serve_sacct_rows(monkeypatch, tmp_path / "bin", sacct_text(SPEC, {name: "TIMEOUT"}))
    code, _result, md = run_summary(exp, use_sacct=True)
    assert code == 0
    [row] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert row["Status"] == "TIMEOUT", row
    assert run_status(md)["r1"]["Evaluation"] != "RUNNING"


def test_json_log_is_read_as_a_result(exp: Path, template_cache: Path) -> None:
    """Older inspect versions wrote `.json` logs: the control's is read like an `.eval`."""
    replace_cell_log(exp, "base", None, answers_with(14), template_cache, log_format="json")
    code, _result, md = run_summary(exp)
    assert code == 0
    row = eval_row(md, "base", None)
    assert accuracy(row) == 0.7
    assert row["Bal. Acc"].split()[0] == "0.700" and row["F1"] == "0.700" and row["Samples"] == "20"
    assert not any(r["Run"] == "base" for r in incomplete_rows(md))
    assert run_status(md)["base"]["Evaluation"] == "COMPLETED"
    entry = next(e for e in last_block(exp) if e.subject.startswith("base cap"))
    assert entry.level == "INFO" and ".json" in entry.details and "accuracy 0.7" in entry.result


def two_successful_logs(exp: Path, cache: Path) -> tuple[Path, Path]:
    """r1 epoch 0 gets a second, later successful log with accuracy 0.95; the older one (0.8)
    is touched last, so only the logs' own creation times tell which is newer."""
    older = log_of(exp, "r1", 0)
    newer = write_cell_log(
        exp, "r1", 0, answers_with(19), cache, created=datetime(2026, 1, 9, 9, 0, tzinfo=UTC)
    )
    os.utime(newer, (1_700_000_000, 1_700_000_000))
    os.utime(older, (1_800_000_000, 1_800_000_000))
    return older, newer


def test_two_logs_for_one_cell_the_latest_successful_one_counts(
    exp: Path, template_cache: Path
) -> None:
    _older, _newer = two_successful_logs(exp, template_cache)
    code, _result, md = run_summary(exp)
    assert code == 0
    assert accuracy(eval_row(md, "r1", 0)) == 0.95
    assert [r for r in eval_rows(md) if (r["Run"], r["Epoch"]) == ("r1", "0")] == [
        eval_row(md, "r1", 0)
    ]
    assert "0.8 [" not in md


def test_two_logs_for_one_cell_the_other_is_noted(exp: Path, template_cache: Path) -> None:
    """SKILL.md: 'Several logs for one cell: the latest successful one ... is `log`, the rest are
    `other_logs`, with a note.' The note must reach summary.md and the process log."""
    older, _newer = two_successful_logs(exp, template_cache)
    code, result, md = run_summary(exp)
    assert code == 0
    assert older.name in md, "the ignored log is not mentioned in summary.md"
    log_text = (exp / "logs" / "summarize-experiment.log").read_text()
    assert older.name in log_text, "the ignored log is not mentioned in the process log"
    assert any(older.name in w for w in result["warnings"])


def test_a_later_failed_log_does_not_hide_the_earlier_result(
    exp: Path, template_cache: Path
) -> None:
    write_cell_log(
        exp,
        "r1",
        0,
        [*answers_with(20)[:10], *[None] * 10],
        template_cache,
        status="error",
        created=datetime(2026, 1, 9, tzinfo=UTC),
    )
    code, _result, md = run_summary(exp)
    assert code == 0
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert not any(r["Stage"] == "Evaluation: cap epoch 0" for r in incomplete_rows(md))


def test_creation_times_are_compared_as_times_not_text(exp: Path, template_cache: Path) -> None:
    """Across a daylight-saving change, 01:10-05:00 (06:10Z) is later than 01:50-04:00 (05:50Z)
    although its text sorts first."""
    early, late = (
        log_of(exp, "r1", 0),
        write_cell_log(exp, "r1", 0, answers_with(19), template_cache),
    )
    for path, created in (
        (early, "2026-11-01T01:50:00-04:00"),
        (late, "2026-11-01T01:10:00-05:00"),
    ):
        log = read_eval_log(str(path))
        log.eval.created = created
        write_eval_log(log, str(path))
    os.utime(late, (1_700_000_000, 1_700_000_000))
    os.utime(early, (1_800_000_000, 1_800_000_000))
    code, _result, md = run_summary(exp)
    assert code == 0
    assert accuracy(eval_row(md, "r1", 0)) == 0.95


def test_accuracy_and_its_interval_agree_when_samples_errored(
    exp: Path, template_cache: Path
) -> None:
    """A finished log where 10 of 20 samples errored (no score) and the 10 scored are right.
    Whatever the denominator, the interval shown must contain the accuracy shown."""
    replace_cell_log(exp, "r1", 0, [*answers_with(20)[:10], *[None] * 10], template_cache)
    code, _result, md = run_summary(exp)
    assert code == 0
    cell = eval_row(md, "r1", 0)["Accuracy"]
    value = float(cell.split()[0])
    low, high = (float(x) for x in cell.split("[")[1].rstrip("]").split(","))
    assert low <= value <= high, cell
    data = json.loads((exp / "summary.json").read_text())
    for row in data["evaluations"]:
        if row["accuracy"] is not None and row["accuracy_ci"]:
            low, high = row["accuracy_ci"]
            assert low <= row["accuracy"] <= high, row


def test_errored_samples_are_reported(exp: Path, template_cache: Path) -> None:
    """The same log: the summary must say that only 10 of the 20 samples were scored, instead
    of presenting the row as a plain 20-sample result."""
    replace_cell_log(exp, "r1", 0, [*answers_with(20)[:10], *[None] * 10], template_cache)
    code, result, md = run_summary(exp)
    assert code == 0
    mentions = [
        line
        for line in md.splitlines()
        if "r1" in line and "10" in line and "sample" in line.lower() and "error" in line.lower()
    ]
    assert mentions, "no line of summary.md says that 10 samples of r1 epoch 0 errored"
    assert any("10" in w and "r1" in w for w in result["warnings"]) or any(
        "10" in n for n in notes(md)
    )
