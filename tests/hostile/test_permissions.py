"""Unreadable inputs. Root ignores permission bits, so the summarizer runs as a subprocess
(scripts/summarize.py) that has lost CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: it obeys mode 000
like any user while still being able to run the interpreter installed under /root."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .support import (
    SPEC,
    drop_file_privileges,
    eval_row,
    incomplete_rows,
    last_block,
    log_of,
    one_json_object,
    require_permission_checks,
    run_script,
    training_rows,
    training_stdout,
)


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


@pytest.fixture(scope="module")
def unreadable(tmp_path_factory: pytest.TempPathFactory, hostile_base: Path) -> dict[str, Any]:
    """Two experiments summarized by the script without file privileges:
    ``inputs``: r1's epoch-0 log, r1's training stdout and the control's logs/ folder are 000;
    ``design``: experiment_summary.yaml is 000."""
    root = tmp_path_factory.mktemp("unreadable")
    require_permission_checks(root)
    trees = {}
    for name in ("inputs", "design"):
        shutil.copytree(hostile_base, root / name, symlinks=True)
        trees[name] = root / name / SPEC.name
    exp = trees["inputs"]
    locked = {
        "eval": log_of(exp, "r1", 0),
        "stdout": training_stdout(exp, "r1"),
        "logs_dir": exp / "base" / "eval" / "logs",
        "design": trees["design"] / "experiment_summary.yaml",
    }
    for path in locked.values():
        path.chmod(0)
    try:
        with ThreadPoolExecutor(2) as pool:
            done = dict(
                zip(
                    trees,
                    pool.map(
                        lambda e: run_script(
                            e, "--no-sacct", "--jobs", "1", preexec_fn=drop_file_privileges
                        ),
                        trees.values(),
                    ),
                    strict=True,
                )
            )
    finally:
        for path in locked.values():
            path.chmod(0o755 if path.is_dir() else 0o644)
    return {"trees": trees, "locked": locked, "done": done}


def inputs_summary(unreadable: dict[str, Any]) -> tuple[Path, dict[str, Any], str]:
    exp = unreadable["trees"]["inputs"]
    done = unreadable["done"]["inputs"]
    assert done.returncode == 0, done.stderr[-2000:]
    return exp, one_json_object(done.stdout), (exp / "summary.md").read_text(encoding="utf-8")


def test_unreadable_eval_log_is_an_error_with_advice(unreadable: dict[str, Any]) -> None:
    exp, result, md = inputs_summary(unreadable)
    path = unreadable["locked"]["eval"]
    assert result["status"] == "partial"
    assert eval_row(md, "r1", 0)["Accuracy"] == "ERROR"
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    [row] = [r for r in incomplete_rows(md) if r["Stage"] == "Evaluation: cap epoch 0"]
    assert row["Status"] == "ERROR"
    assert (
        f"{path}: cannot be read (permission denied); check the file's permissions"
        in (row["Notes"])
    )
    entry = next(e for e in last_block(exp) if e.subject == "r1 cap epoch 0")
    assert entry.level == "ERROR" and str(path) in entry.details and "permission" in entry.result


def test_unreadable_training_stdout_is_explained_with_advice(unreadable: dict[str, Any]) -> None:
    """Loss N/A, and like the unreadable .eval the message says what to do about it."""
    exp, result, md = inputs_summary(unreadable)
    path = unreadable["locked"]["stdout"]
    assert training_rows(md)["r1"]["Final Loss"] == "N/A"
    [warning] = [w for w in result["warnings"] if w.startswith("r1: ")]
    assert str(path) in warning
    assert "permission denied" in warning.lower()
    assert "check" in warning.lower() and "permission" in warning.split("denied", 1)[1].lower(), (
        f"no advice on what to do: {warning}"
    )
    entry = next(e for e in last_block(exp) if e.action == "EXTRACT_LOSS" and e.subject == "r1")
    assert entry.level in ("WARNING", "ERROR") and str(path) in entry.details + entry.result


def test_unreadable_logs_folder_is_explained(unreadable: dict[str, Any]) -> None:
    """The control's eval/logs/ cannot be listed: the summary must say so (folder, permission),
    not claim that no evaluation log exists."""
    _exp, result, md = inputs_summary(unreadable)
    folder = unreadable["locked"]["logs_dir"]
    rows = [r for r in incomplete_rows(md) if r["Run"] == "base"]
    assert rows, "the control's unreadable logs folder is not reported"
    text = " ".join(r["Notes"] for r in rows) + " ".join(result["warnings"])
    assert str(folder) in text and "permission" in text.lower(), text
    assert not any("no evaluation log" in r["Notes"] for r in rows), rows


def test_unreadable_design_file_is_fatal_and_explained(unreadable: dict[str, Any]) -> None:
    exp = unreadable["trees"]["design"]
    done = unreadable["done"]["design"]
    assert done.returncode == 2, done.stderr[-2000:]
    result = one_json_object(done.stdout)
    assert result["status"] == "error"
    path = unreadable["locked"]["design"]
    assert result["message"].startswith(f"{path}: cannot be read")
    assert "ermission denied" in result["message"]
    assert not (exp / "summary.md").exists()
    assert [(e.action, e.level) for e in last_block(exp)] == [
        ("DISCOVER_EXPERIMENT", "ERROR"),
        ("COMPLETE", "ERROR"),
    ]
