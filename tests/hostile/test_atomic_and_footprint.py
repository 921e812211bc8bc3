"""Nothing lost: summary.md is replaced atomically, a failed run keeps the previous summary, the
summarizer writes only summary.md, summary.json and logs/, and two summarizers can run at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import summarize_experiment.pipeline as pipeline

from .support import (
    FOOTER,
    SPEC,
    SUMMARIZE_SCRIPT,
    assert_complete_summary,
    changed_paths,
    eval_row,
    incomplete_rows,
    last_block,
    log_blocks,
    log_of,
    one_json_object,
    run_status,
    run_summary,
    summary_outputs,
    training_rows,
    tree_state,
)


def outputs(exp: Path) -> dict[str, bytes]:
    return {name: (exp / name).read_bytes() for name in ("summary.md", "summary.json")}


def leftovers(exp: Path) -> list[str]:
    """Temporary files the atomic writer may have left beside the outputs."""
    return sorted(p.name for p in exp.iterdir() if p.name.endswith(".tmp"))


def test_standard_experiment_baseline(exp: Path) -> None:
    """The fixture every hostile test starts from, summarized from its sources."""
    code, result, md = run_summary(exp)
    assert code == 0 and result["status"] in ("success", "partial")
    assert_complete_summary(md)
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert accuracy(eval_row(md, "base", None)) == 0.55
    assert training_rows(md)["r1"]["Final Loss"] == "0.2345"
    assert run_status(md)["r2"]["Fine-tuning"] == "FAILED"
    assert {r["Run"] for r in incomplete_rows(md)} == {"r2"}


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def test_render_failure_leaves_previous_summary_byte_identical(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_summary(exp)[0] == 0
    before = outputs(exp)

    def broken(report: dict) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pipeline, "render_markdown", broken)
    try:
        code, _result = pipeline.summarize(exp, use_sacct=False)
    except RuntimeError:
        code = None
    assert code != 0
    assert outputs(exp) == before
    assert leftovers(exp) == []


def test_failure_while_writing_keeps_previous_summary_and_no_temp_file(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up while summary.md is being written (fsync of the temporary file)."""
    assert run_summary(exp)[0] == 0
    before = outputs(exp)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    try:
        code, _result = pipeline.summarize(exp, use_sacct=False)
    except OSError:
        code = None
    monkeypatch.undo()
    assert code != 0
    assert outputs(exp) == before
    assert leftovers(exp) == []


def test_internal_failure_is_explained_with_exit_2_and_a_log_entry(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SKILL.md: every script prints one JSON object; `error`/exit 2 when no summary could be
    made; logging.md: COMPLETE is an ERROR when no summary could be made. An unexpected failure
    (here: the renderer) must not escape as a traceback with nothing in the log."""
    assert run_summary(exp)[0] == 0
    before = outputs(exp)

    def broken(report: dict) -> str:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pipeline, "render_markdown", broken)
    code, result = pipeline.summarize(exp, use_sacct=False)  # must not raise
    assert code == 2
    assert result["status"] == "error"
    assert "renderer exploded" in result["message"]
    assert outputs(exp) == before
    complete = last_block(exp)[-1]
    assert (complete.action, complete.level) == ("COMPLETE", "ERROR")
    assert "renderer exploded" in (complete.details + complete.result) or any(
        "renderer exploded" in e.result for e in last_block(exp)
    )


def test_malformed_design_after_a_good_run_keeps_both_outputs(exp: Path) -> None:
    assert run_summary(exp)[0] == 0
    before = outputs(exp)
    design = exp / "experiment_summary.yaml"
    design.write_text(design.read_text() + "runs: [unclosed\n", encoding="utf-8")
    code, result, _ = run_summary(exp)
    assert code == 2 and result["status"] == "error" and result["summary"] is None
    assert outputs(exp) == before
    assert leftovers(exp) == []


def test_writes_only_summary_md_summary_json_and_the_log(exp: Path) -> None:
    """Snapshot every file (path, mode, mtime, content) of the experiment AND the output base,
    with hostile content in it, before and after two runs: only the three outputs may change."""
    tree = exp.parent
    log = log_of(exp, "r1", 1)
    log.write_bytes(log.read_bytes()[:1000])  # truncated input: read, never "repaired"
    os.symlink("..", exp / "r1" / "eval" / "logs" / "loop")
    os.symlink(exp, exp / "loop")
    before = tree_state(tree)

    assert run_summary(exp)[0] == 0
    middle = tree_state(tree)
    assert run_summary(exp)[0] == 0
    after = tree_state(tree)

    allowed = summary_outputs(exp)
    assert changed_paths(before, middle) <= allowed, changed_paths(before, middle) - allowed
    assert changed_paths(middle, after) <= allowed, changed_paths(middle, after) - allowed
    assert set(after) - set(before) == allowed - {str(exp)}
    for path, state in before.items():  # every input byte-identical with the same mtime
        if path not in allowed:
            assert after[path] == state, path


def test_two_concurrent_summarizers(exp: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(SUMMARIZE_SCRIPT), str(exp), "--no-sacct", "--jobs", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [err[-2000:] for _, err in results]
    for stdout, _ in results:
        assert one_json_object(stdout)["summary"] == str(exp / "summary.md")

    md = (exp / "summary.md").read_text(encoding="utf-8")
    assert_complete_summary(md)
    assert md.rstrip("\n").endswith(FOOTER)
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    data = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
    assert data["experiment"]["name"] == SPEC.name
    blocks = log_blocks(exp)  # parses: every block starts, runs and ends cleanly
    assert len(blocks) == 2
    for block in blocks:
        actions = [e.action for e in block]
        assert actions.count("DISCOVER_EXPERIMENT") >= 1
        assert actions.count("GENERATE_SUMMARY") == 1
        assert actions.count("COMPLETE") == 1
    assert leftovers(exp) == []
