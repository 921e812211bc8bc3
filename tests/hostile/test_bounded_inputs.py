"""Bounded work per input, attacked on a real experiment (testing.synthetic) through the
summarizer itself, run as a command in a child limited to 500 MB of address space and 60 s:
YAML alias bombs and runaway nesting in the design or in one run's files, an inspect-ai log
that inflates to 3 GiB, a 4 GB sparse training stdout, FIFOs where files are expected, a
header claiming a billion samples, and an input whose reading fails unexpectedly. A bad design
is a clear exit 2; any other bad input is that input's note or ERROR, and the rest of the
summary is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log, write_eval_log

import summarize_experiment.evidence.readers as readers
from summarize_experiment.evidence import training_log
from summarize_experiment.evidence.eval_logs import HEADER_SAMPLES_MAX
from summarize_experiment.evidence.safe_io import (
    EVAL_MEMBER_MAX_BYTES,
    YAML_MAX_ALIASES,
    YAML_MAX_DEPTH,
)
from testing.synthetic import build_experiment

from .harness import REPO, SAFETY_TIMEOUT_S, summarize_limited
from .support import (
    SPEC,
    changed_paths,
    eval_row,
    incomplete_rows,
    log_of,
    notes,
    run_summary,
    summary_outputs,
    training_rows,
    training_stdout,
    tree_state,
)
from .test_safe_io import GIB, billion_laughs, rewrite_member, zstd_bomb_3gib  # noqa: F401

REPORT_LINE = "Please report"


def accuracy(md: str, run: str, epoch: int | None) -> float:
    return float(eval_row(md, run, epoch)["Accuracy"].split()[0])


def markdown(exp: Path) -> str:
    return (exp / "summary.md").read_text(encoding="utf-8")


def assert_rest_summarized(md: str) -> None:
    assert accuracy(md, "r1", 1) == 0.9 and accuracy(md, "base", None) == 0.55


# --------------------------------------------------------------------------- YAML


def test_a_billion_laughs_design_is_a_clear_exit_2(exp: Path) -> None:
    design = exp / "experiment_summary.yaml"
    text = design.read_text(encoding="utf-8")
    design.write_text(text + "variables_cache:\n" + billion_laughs("  "), encoding="utf-8")
    assert design.stat().st_size < 3_000
    before = tree_state(exp.parent)

    done = summarize_limited(exp)

    assert done.code == 2 and done.seconds < SAFETY_TIMEOUT_S
    message = done.result["message"]
    assert message.startswith(f"{design}: its aliases expand to more than {YAML_MAX_ALIASES:,}")
    assert "billion laughs" in message and message.endswith("Fix the file and run again.")
    assert REPORT_LINE not in message and "MemoryError" not in message
    assert changed_paths(before, tree_state(exp.parent)) <= summary_outputs(exp)
    assert not (exp / "summary.md").exists()


def test_a_design_nested_2000_deep_is_a_clear_exit_2(exp: Path) -> None:
    design = exp / "experiment_summary.yaml"
    deep = "deep: " + "[" * 2000 + "]" * 2000 + "\n"
    design.write_text(design.read_text(encoding="utf-8") + deep, encoding="utf-8")

    done = summarize_limited(exp)

    assert done.code == 2
    message = done.result["message"]
    assert message.startswith(f"{design}: it nests deeper than {YAML_MAX_DEPTH} levels at line")
    assert "RecursionError" not in message and REPORT_LINE not in message


def test_a_bomb_in_one_runs_setup_is_that_files_note(exp: Path) -> None:
    setup = exp / "r1" / "setup_finetune.yaml"
    setup.write_text(billion_laughs(), encoding="utf-8")
    assert setup.stat().st_size < 600  # the 535-byte one of the report

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = markdown(exp)
    [note] = [n for n in notes(md) if str(setup) in n]
    assert note.startswith(f"{setup}: its aliases expand to more than {YAML_MAX_ALIASES:,}")
    assert f"r1: {note}" in done.result["warnings"]
    assert training_rows(md)["r1"]["Final Loss"] == "0.2345"
    assert_rest_summarized(md)


def test_a_bomb_in_one_cells_eval_yaml_is_that_files_note(
    tmp_path: Path, template_cache: Path
) -> None:
    exp = build_experiment(tmp_path / "b", SPEC, layout="B", cache_dir=template_cache)
    config = exp / "r1" / "eval" / "cap_epoch1" / "eval.yaml"
    config.write_text(billion_laughs(), encoding="utf-8")

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = markdown(exp)
    assert any(n.startswith(f"{config}: its aliases expand to more than") for n in notes(md))
    assert accuracy(md, "r1", 0) == 0.8 and accuracy(md, "base", None) == 0.55


# --------------------------------------------------------------------------- logs


def test_a_log_that_inflates_to_3_gib_is_that_logs_error(
    exp: Path,
    zstd_bomb_3gib: tuple[bytes, int],  # noqa: F811
) -> None:
    payload, crc = zstd_bomb_3gib
    log = log_of(exp, "r1", 0)
    rewrite_member(log, log, "summaries.json", payload, 93, file_size=3 * GIB, crc=crc)
    assert log.stat().st_size < 400_000
    before = tree_state(exp.parent)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = markdown(exp)
    assert eval_row(md, "r1", 0)["Accuracy"] == "ERROR"
    [row] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert row["Run"] == "r1" and row["Status"] == "ERROR"
    assert (
        f"{log}: its member summaries.json would inflate to {3 * GIB:,} bytes, more than the "
        f"{EVAL_MEMBER_MAX_BYTES:,} allowed; not read" in row["Notes"]
    )
    assert_rest_summarized(md)
    assert changed_paths(before, tree_state(exp.parent)) <= summary_outputs(exp)


def test_a_header_claiming_a_billion_samples_is_not_passed_on(exp: Path) -> None:
    """parse_status.py reads headers only: the claim is noted and not reported as a count."""
    path = log_of(exp, "r1", 1)
    log = read_eval_log(str(path))
    log.results.total_samples = 10**9
    write_eval_log(log, str(path))

    done = summarize_limited(
        exp, "--no-sacct", "--jobs", "1", script=REPO / "scripts" / "parse_status.py"
    )

    assert done.code == 0, done.stderr
    expected = (
        f"{path}: its header claims 1,000,000,000 samples, more than the "
        f"{HEADER_SAMPLES_MAX:,} a log is believed to hold; the count is not used"
    )
    assert expected in done.result["notes"]
    [cell] = [
        c for r in done.result["runs"] if r["name"] == "r1" for c in r["cells"] if c["epoch"] == 1
    ]
    assert cell["samples"] != 10**9 and cell["status"] == "COMPLETED"
    # the full summary counts the samples it read, and says the same
    assert summarize_limited(exp).code == 0
    md = markdown(exp)
    assert eval_row(md, "r1", 1)["Samples"] == "20"
    assert expected in notes(md)


# --------------------------------------------------------------------------- stdouts


def test_a_4_gb_sparse_training_stdout_is_scanned_from_its_end(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    text = stdout.read_bytes()
    with stdout.open("r+b") as handle:
        handle.truncate(0)
        handle.seek(4 * GIB - len(text))
        handle.write(text)
    assert stdout.stat().st_size == 4 * GIB
    before = tree_state(exp)  # the output base holds the 4 GB file: its stat is compared
    stdout_before = stdout.stat()

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    assert done.seconds < SAFETY_TIMEOUT_S / 2, done.seconds
    md = markdown(exp)
    assert training_rows(md)["r1"]["Final Loss"] == "0.2345"  # the end holds the last update
    note = (
        f"{stdout}: scanned the last 256 MiB of 4 GiB (at most 256 MiB of a job stdout are "
        "scanned); its final loss and failure line are from that part, and the loss curve and "
        "minimum cover that part only"
    )
    assert note in notes(md) and note in done.result["warnings"]
    assert_rest_summarized(md)
    assert changed_paths(before, tree_state(exp)) <= summary_outputs(exp)
    after = stdout.stat()
    assert (after.st_size, after.st_mtime_ns) == (stdout_before.st_size, stdout_before.st_mtime_ns)
    print(f"4 GB sparse stdout: summarized in {done.seconds:.1f} s")


def test_a_fifo_as_training_stdout_is_refused_without_waiting(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    stdout.unlink()
    os.mkfifo(stdout)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = markdown(exp)
    assert f"{stdout}: is a named pipe (FIFO), not a regular file; not read" in notes(md)
    assert training_rows(md)["r1"]["Final Loss"] == "N/A"
    assert_rest_summarized(md)


def test_a_scan_that_takes_too_long_is_abandoned(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Updates packed without line breaks are scanned ~15 times slower than torchtune's: the
    time limit ends the scan, and the loss is N/A rather than a value from part of the file."""
    stdout = training_stdout(exp, "r1")
    stdout.write_bytes(b"1|2|Loss: 0.5 " * 2_000_000)  # 28 MB, no line break
    monkeypatch.setattr(training_log, "SCAN_MAX_SECONDS", 0.2)

    code, result, md = run_summary(exp, jobs=1)

    assert code == 0
    row = training_rows(md)["r1"]
    assert row["Final Loss"] == "N/A"
    [warning] = [w for w in result["warnings"] if str(stdout) in w and "scanning stopped" in w]
    assert "scanning stopped after 0.2 s (the limit per training stdout)" in warning
    assert_rest_summarized(md)


# --------------------------------------------------------------------------- the unexpected


def test_an_unexpected_error_reading_one_input_is_that_inputs_error(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_log = str(log_of(exp, "r1", 0))
    broken_stdout = str(training_stdout(exp, "r1"))
    read_log, read_stdout = readers.eval_logs.read_log, readers.read_job_stdout

    def log_reader(path: Path, **kwargs: object) -> object:
        if str(path) == broken_log:
            raise RecursionError("maximum recursion depth exceeded")
        return read_log(path, **kwargs)

    def stdout_reader(path: Path) -> object:
        if str(path) == broken_stdout:
            raise ValueError("could not convert string to float: b'6.04e'")
        return read_stdout(path)

    monkeypatch.setattr(readers.eval_logs, "read_log", log_reader)
    monkeypatch.setattr(readers, "read_job_stdout", stdout_reader)

    code, result, md = run_summary(exp, jobs=1, use_cache=False)

    assert code == 0, result
    assert eval_row(md, "r1", 0)["Accuracy"] == "ERROR"
    [row] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert f"{broken_log}: could not be read (RecursionError: maximum recursion" in row["Notes"]
    assert training_rows(md)["r1"]["Final Loss"] == "N/A"
    assert any(
        f"{broken_stdout}: could not be read (ValueError: could not convert" in w
        for w in result["warnings"]
    )
    assert_rest_summarized(md)
