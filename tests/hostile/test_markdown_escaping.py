"""Markdown stays a table: run names, task names and messages with `|`, backticks, newlines or
HTML are escaped, every row keeps its column count, and the names read back as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import read_eval_log, write_eval_log

from summarize_experiment.text import visible
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

from .support import (
    TARGETS,
    answers_with,
    eval_rows,
    incomplete_rows,
    log_blocks,
    run_status,
    run_summary,
    tables,
    training_rows,
)

PIPE, TICK, NEWLINE, HTML = "a|b", "t`ick", "line\nbreak", "h<b>x"
TASK_HTML, TASK_PIPE = "x<b>y", "p|q"
ERROR_MESSAGE = "CUDA | failed `kernel` <oops>\nsecond line | more"
NAMES = (PIPE, TICK, NEWLINE, HTML, TASK_HTML, TASK_PIPE)


def shown(name: str) -> str:
    """How a name is expected to read in a table cell: as in the log, a newline is shown as
    `\\n` (issue 12: what is shown is what is there), runs of spaces as one space."""
    return " ".join(visible(name).split())


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> dict[str, Any]:
    spec = ExperimentSpec(
        name="names_exp",
        runs=[RunSpec(PIPE), RunSpec(TICK), RunSpec(NEWLINE), RunSpec(HTML, type="control")],
        tasks=[TASK_HTML, TASK_PIPE],
        evals=[
            EvalSpec(PIPE, TASK_HTML, 0, TARGETS, answers_with(19)),
            EvalSpec(PIPE, TASK_PIPE, 0, TARGETS, answers_with(12), status="error"),
            EvalSpec(TICK, TASK_HTML, 0, TARGETS, answers_with(14)),
            EvalSpec(TICK, TASK_PIPE, 0, TARGETS, answers_with(18)),
            EvalSpec(NEWLINE, TASK_HTML, 0, TARGETS, answers_with(13)),
            EvalSpec(HTML, TASK_HTML, None, TARGETS, answers_with(11)),
            EvalSpec(HTML, TASK_PIPE, None, TARGETS, answers_with(10)),
        ],
        epochs=1,
    )
    root = tmp_path_factory.mktemp("names")
    exp = build_experiment(root, spec, cache_dir=template_cache)
    # the errored evaluation's message carries a pipe, backticks, HTML and a newline
    [errored] = [
        p
        for p in (exp / PIPE / "eval" / "logs").glob("*.eval")
        if read_eval_log(str(p), header_only=True).status == "error"
    ]
    log = read_eval_log(str(errored))
    log.error.message = ERROR_MESSAGE
    write_eval_log(log, str(errored))
    # one fine-tuned run without training stdout: a warning line that names it
    for stdout in (root / "ck-outputs" / spec.name / f"ck-out-{TICK}").glob("slurm-*.out"):
        stdout.unlink()
    code, result, md = run_summary(exp)
    assert code == 0
    return {"exp": exp, "md": md, "result": result, "errored": errored}


def test_every_table_row_has_its_header_column_count(named: dict[str, Any]) -> None:
    found = tables(named["md"])  # asserts the cell count of every row against its header
    assert len(found) >= 4
    widths = {tuple(t.header): len(t.header) for t in found}
    assert widths[("Run", "Type", "Fine-tuning", "Evaluation")] == 4
    assert widths[("Run", "Task", "Epoch", "Accuracy", "Bal. Acc", "F1", "Sat.", "Samples")] == 8
    # counted independently of the parser: pipes not preceded by an odd number of backslashes
    width = None
    for line in named["md"].splitlines():
        if not line.startswith("|"):
            width = None
            continue
        pipes = len(re.findall(r"(?<!\\)(?:\\\\)*\|", line))
        if width is None:
            width = pipes
        assert pipes == width, line


def test_names_read_back_exactly_in_the_tables(named: dict[str, Any]) -> None:
    md = named["md"]
    assert set(run_status(md)) == {shown(PIPE), shown(TICK), shown(NEWLINE), shown(HTML)}
    assert set(training_rows(md)) == {shown(PIPE), shown(TICK), shown(NEWLINE)}
    rows = {(r["Run"], r["Task"], r["Epoch"]): r for r in eval_rows(md)}
    assert float(rows[(PIPE, TASK_HTML, "0")]["Accuracy"].split()[0]) == 0.95
    assert rows[(PIPE, TASK_PIPE, "0")]["Accuracy"] == "ERROR"
    assert float(rows[(TICK, TASK_PIPE, "0")]["Accuracy"].split()[0]) == 0.9
    assert float(rows[(shown(NEWLINE), TASK_HTML, "0")]["Accuracy"].split()[0]) == 0.65
    assert float(rows[(HTML, TASK_PIPE, "-")]["Accuracy"].split()[0]) == 0.5
    assert len(rows) == 7


def test_error_message_with_markup_stays_in_its_cell(named: dict[str, Any]) -> None:
    [row] = [
        r
        for r in incomplete_rows(named["md"])
        if (r["Run"], r["Stage"]) == (PIPE, f"Evaluation: {TASK_PIPE} epoch 0")
    ]
    assert row["Status"] == "FAILED"
    assert "CUDA | failed `kernel` <oops>" in row["Notes"]
    assert str(named["errored"]) in row["Notes"]  # the path, pipes and all, reads back whole


def test_names_outside_tables_are_escaped_too(named: dict[str, Any]) -> None:
    """The Best performing lines and the training notes name runs and tasks too. A raw `<b>`
    there turns the rest of the line bold and hides the name; a raw backtick opens a code span
    that swallows the text up to the next backtick; a raw newline breaks the line."""
    md = named["md"]
    best = [line for line in md.splitlines() if line.startswith("**Best performing")]
    assert len(best) == 2, best
    for raw in (TASK_HTML, HTML, TICK, NEWLINE):
        assert raw not in md, f"{raw!r} appears unescaped in summary.md"


def test_the_log_stays_one_line_per_field(named: dict[str, Any]) -> None:
    blocks = log_blocks(named["exp"])  # asserts the entry format: no field spans two lines
    entries = blocks[-1]
    subjects = [e.subject for e in entries if e.action == "EXTRACT_ACCURACY"]
    escaped = NEWLINE.replace("\n", "\\n")  # issue 12: control characters escaped, not dropped
    assert f"{escaped} {TASK_HTML} epoch 0" in subjects
    failed = next(e for e in entries if e.subject == f"{PIPE} {TASK_PIPE} epoch 0")
    assert failed.level == "ERROR" and "CUDA | failed `kernel` <oops>" in failed.result


def test_jobs_whose_logs_were_read_are_not_reported_without_a_log(named: dict[str, Any]) -> None:
    """Every evaluation job of this experiment wrote a log that was read and is in the tables.
    Log file names carry the task name (`..._p|q_<id>.eval`); a job stdout's `Log: logs/...`
    line naming such a file must still be matched to it, not reported as a job without a log
    in an unknown cell."""
    rows = incomplete_rows(named["md"])
    unknown = [r for r in rows if "cell unknown" in r["Stage"] or r["Status"] == "NO_LOG"]
    assert unknown == [], unknown
    # the only genuinely missing evaluation: line break on p|q was never run
    assert sorted((r["Run"], r["Stage"], r["Status"]) for r in rows) == [
        (PIPE, f"Evaluation: {TASK_PIPE} epoch 0", "FAILED"),
        (shown(NEWLINE), f"Evaluation: {TASK_PIPE} epoch 0", "MISSING"),
    ]
