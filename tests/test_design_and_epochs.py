"""Pure parts: the design file's validation and the epoch-evidence functions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from summarize_experiment.evidence.design import DesignError, load_design, parse_design
from summarize_experiment.judge.epochs import (
    JobName,
    decide_epoch,
    epoch_from_model_name,
    epoch_from_model_path,
    epoch_from_task_args,
    parse_eval_job_name,
)

LONG_RUN = "Llama-3.2-1B-Instruct_rank16_lr1e-5_extra_long_suffix"
RUNS = ["rank4_lr1e-5", "rank4", LONG_RUN, "base-v1.2"]
TASKS = ["capitalization", "general_eval", "cap-v2"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("eval-capitalization-rank4_lr1e-5-ep0", JobName("capitalization", "rank4_lr1e-5", 0)),
        ("eval-capitalization-rank4-ep12", JobName("capitalization", "rank4", 12)),
        (f"eval-general_eval-{LONG_RUN}-ep3", JobName("general_eval", LONG_RUN, 3)),
        ("eval-cap-v2-base-v1.2", JobName("cap-v2", "base-v1.2", None)),
        ("eval-capitalization-ep4", JobName("capitalization", None, 4)),
        ("eval-capitalization", JobName("capitalization", None, None)),
        ("eval-general_eval-lowlr-ep9", None),
        ("eval-capitalization-Llama-3.2-1B-Instruct_rank16_lr1e-5_e+", None),
        ("train-rank4", None),
        ("eval-unknown_task-rank4-ep0", None),
    ],
)
def test_parse_eval_job_name(name: str, expected: JobName | None) -> None:
    assert parse_eval_job_name(name, TASKS, RUNS) == expected


def test_job_name_prefers_the_longest_task_that_fits() -> None:
    parsed = parse_eval_job_name("eval-cap-v2-rank4-ep1", ["cap", "cap-v2"], ["v2-rank4", "rank4"])
    assert parsed == JobName("cap-v2", "rank4", 1)


@pytest.mark.parametrize(
    ("model", "run", "expected"),
    [
        ("hf/rank4_lr1e-5_epoch_3", "rank4_lr1e-5", 3),
        ("hf/rank4_lr1e-5_epoch_3", "rank4", None),
        ("hf/rank4_lr1e-5_base", "rank4_lr1e-5", None),
        ("hf/rank4_lr1e-5", "rank4_lr1e-5", None),
    ],
)
def test_epoch_from_model_name(model: str, run: str, expected: int | None) -> None:
    assert epoch_from_model_name(model, run) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/scratch/out/ck-out-rank4/epoch_7", 7),
        ("/scratch/out/ck-out-rank4/epoch_7/", 7),
        ("/scratch/out/ck-out-rank4/epoch_7/adapter", None),
        ("/scratch/out/my_epoch_7", None),
        (None, None),
    ],
)
def test_epoch_from_model_path(path: str | None, expected: int | None) -> None:
    assert epoch_from_model_path(path) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"epoch": 2}, 2),
        ({"epoch": "4"}, 4),
        ({"epoch": True}, None),
        ({"epoch": -1}, None),
        ({}, None),
    ],
)
def test_epoch_from_task_args(args: dict, expected: int | None) -> None:
    assert epoch_from_task_args(args) == expected


def test_decide_epoch_priority_and_conflict() -> None:
    agreed = decide_epoch({"sacct": 1, "model_name": 1, "folder": None})
    assert (agreed.epoch, agreed.source, agreed.conflict) == (1, "sacct", None)
    conflict = decide_epoch({"task_args": 2, "model_path": 1, "model_name": 1})
    assert (conflict.epoch, conflict.source) == (2, "task_args")
    assert (
        "task_args says epoch 2" in conflict.conflict
        and "model_path says epoch 1" in conflict.conflict
    )
    nothing = decide_epoch({"sacct": None, "model_name": None})
    assert (nothing.epoch, nothing.source) == (None, None)


def _design(tmp_path: Path, data: dict) -> Path:
    (tmp_path / "experiment_summary.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


BASE = {
    "experiment": {"name": "exp", "directory": "/old/place/exp"},
    "controls": {"epochs": 2},
    "runs": [
        {"name": "r1", "type": "fine-tuned", "model": "m", "parameters": {"lr": 1e-5}},
        {"name": "base", "type": "control", "model": "m", "parameters": {}},
    ],
    "evaluation": {
        "tasks": [{"name": "cap"}],
        "matrix": [
            {"run": "r1", "tasks": ["cap"], "epochs": [0, 1]},
            {"run": "base", "tasks": ["cap"], "epochs": None},
        ],
    },
}


@pytest.mark.parametrize("spelling", ["base_directory", "output_dir_base"])
def test_output_root_in_both_spellings_and_relative(tmp_path: Path, spelling: str) -> None:
    data = {**BASE, "output": {spelling: "ck-outputs"}}
    design = load_design(_design(tmp_path, data))
    assert design.output_base == (tmp_path / "ck-outputs").resolve()
    assert design.epochs == 2 and [r.name for r in design.runs] == ["r1", "base"]
    assert design.matrix[0].epochs == (0, 1) and design.matrix[1].epochs is None
    assert design.problems == ()


def test_moved_experiment_finds_its_output_root(tmp_path: Path) -> None:
    (tmp_path / "outputs").mkdir()
    data = {**BASE, "output": {"base_directory": "/old/place/exp/outputs"}}
    design = load_design(_design(tmp_path, data))
    assert design.output_base == tmp_path / "outputs"


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "experiment_summary.yaml").write_text("runs:\n  - name: a\n   bad: [\n")
    with pytest.raises(DesignError) as error:
        load_design(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "experiment_summary.yaml") in message
    assert "line 3" in message


def test_missing_runs_is_fatal_missing_matrix_is_not(tmp_path: Path) -> None:
    with pytest.raises(DesignError, match="no `runs:` list"):
        parse_design({"experiment": {"name": "x"}}, tmp_path, tmp_path / "d.yaml")
    design = parse_design({**BASE, "evaluation": {}}, tmp_path, tmp_path / "d.yaml")
    assert design.matrix == ()
    assert any("no `evaluation.matrix:`" in p for p in design.problems)


def test_bad_matrix_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    data = {
        **BASE,
        "runs": [
            *BASE["runs"],
            {"name": "../escape", "type": "fine-tuned"},
            {"name": "/abs", "type": "fine-tuned"},
        ],
        "evaluation": {
            "tasks": [{"name": "cap"}],
            "matrix": [
                {"run": "ghost", "tasks": ["cap"], "epochs": [0]},
                {"run": "r1", "tasks": ["cap", "unknown_task"], "epochs": "0,1"},
                {"run": "base", "tasks": ["cap"], "epochs": [-1, 0]},
            ],
        },
    }
    design = parse_design(data, tmp_path, tmp_path / "d.yaml")
    problems = "\n".join(design.problems)
    assert "names run 'ghost', which is not in `runs:`" in problems
    assert "task 'unknown_task' is not in `evaluation.tasks:`" in problems
    assert "epochs is '0,1' (str)" in problems
    assert "epoch -1 is not a non-negative integer" in problems
    assert "control run 'base' lists epochs [0]; ignored" in problems
    assert set(design.rejected_runs) == {"../escape", "/abs"}
    assert "it contains a path separator" in design.rejected_runs["../escape"]
    assert "it is an absolute path" in design.rejected_runs["/abs"]
    assert [r.name for r in design.runs] == ["r1", "base"]
    assert design.matrix_row("r1").epochs == ()
