"""Every design-file error explained: the message names the file, says what is wrong and what to
do; fatal ones exit 2 without touching summary.md, the others still give a summary with a note."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    SPEC,
    TARGETS,
    answers_with,
    changed_paths,
    eval_row,
    incomplete_rows,
    last_block,
    notes,
    one_json_object,
    run_script,
    run_status,
    run_summary,
    summary_outputs,
    tree_state,
    write_inspect_log,
)


def design_path(exp: Path) -> Path:
    return exp / "experiment_summary.yaml"


def load(exp: Path) -> dict[str, Any]:
    return yaml.safe_load(design_path(exp).read_text(encoding="utf-8"))


def save(exp: Path, design: dict[str, Any]) -> None:
    design_path(exp).write_text(yaml.safe_dump(design, sort_keys=False), encoding="utf-8")


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def assert_fatal(exp: Path, code: int, result: dict[str, Any], *fragments: str) -> str:
    """Exit 2, no summary written, the message and the log's ERROR entries explain it."""
    assert code == 2
    assert result["status"] == "error" and result["summary"] is None
    message = result["message"]
    assert str(design_path(exp)) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not (exp / "summary.md").exists()
    assert not (exp / "summary.json").exists()
    block = last_block(exp)
    assert [(e.action, e.level) for e in block] == [
        ("DISCOVER_EXPERIMENT", "ERROR"),
        ("COMPLETE", "ERROR"),
    ]
    assert block[0].result == message
    return message


def assert_noted(exp: Path, md: str, result: dict[str, Any], *fragments: str) -> str:
    """A design problem: one note in summary.md, a warning in the result, a log WARNING."""
    matching = [n for n in notes(md) if all(f in n for f in fragments)]
    assert len(matching) == 1, (fragments, notes(md))
    note = matching[0]
    assert note.startswith(f"{design_path(exp)}: ")
    assert note in result["warnings"]
    assert result["status"] == "partial"
    warnings = [
        e for e in last_block(exp) if (e.action, e.level) == ("DISCOVER_EXPERIMENT", "WARNING")
    ]
    assert any(e.result == note for e in warnings), [e.result for e in warnings]
    return note


def assert_rest_summarized(md: str) -> None:
    assert accuracy(eval_row(md, "base", None)) == 0.55
    assert run_status(md)["r2"]["Fine-tuning"] == "FAILED"


# --------------------------------------------------------------------------- fatal


def test_malformed_yaml_names_the_line_and_exits_2(exp: Path) -> None:
    text = design_path(exp).read_text(encoding="utf-8").splitlines()
    at = text.index("runs:") + 1
    text.insert(at + 1, "  broken: [unclosed")
    design_path(exp).write_text("\n".join(text) + "\n", encoding="utf-8")
    bad_line = at + 2  # 1-based number of the inserted line
    code, result, _ = run_summary(exp)
    message = assert_fatal(exp, code, result, "not valid YAML", "Fix the file and run again")
    match = re.search(r"at line (\d+), column \d+", message)
    assert match, message
    assert abs(int(match.group(1)) - bad_line) <= 1, (bad_line, message)


def test_malformed_yaml_through_the_script_keeps_the_previous_summary(exp: Path) -> None:
    assert run_summary(exp)[0] == 0
    before = (exp / "summary.md").read_bytes(), (exp / "summary.json").read_bytes()
    design_path(exp).write_text("experiment:\n  name: x\nruns:\n  - {name: r1\n", "utf-8")
    done = run_script(exp, "--no-sacct", "--jobs", "1")
    assert done.returncode == 2, done.stderr[-2000:]
    result = one_json_object(done.stdout)
    assert result["status"] == "error"
    assert str(design_path(exp)) in result["message"]
    assert re.search(r"line [45]\b", result["message"]), result["message"]
    assert ((exp / "summary.md").read_bytes(), (exp / "summary.json").read_bytes()) == before


def test_invalid_character_in_yaml_names_the_line(exp: Path) -> None:
    """A control character (a stray byte from a bad copy) is also malformed YAML: the message
    must say where it is, like any other YAML error."""
    design_path(exp).write_bytes(b"experiment:\n  name: x\n  note: bad \x1c byte\nruns: []\n")
    code, result, _ = run_summary(exp)
    message = assert_fatal(exp, code, result, "not valid YAML")
    assert re.search(r"\bline 3\b", message), message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.pop("runs"), "has no `runs:` list"),
        (lambda d: d.__setitem__("runs", 5), "has no `runs:` list"),
        (lambda d: d.__setitem__("runs", []), "has no `runs:` list"),
        (lambda d: d.__setitem__("runs", [{"type": "control"}]), "lists no usable run"),
    ],
    ids=["missing", "not-a-list", "empty", "no-names"],
)
def test_design_without_runs_is_fatal(exp: Path, change: Any, fragment: str) -> None:
    design = load(exp)
    change(design)
    save(exp, design)
    assert_fatal(exp, *run_summary(exp)[:2], fragment)


def test_design_that_is_not_a_mapping_is_fatal(exp: Path) -> None:
    design_path(exp).write_text("- just\n- a list\n", encoding="utf-8")
    assert_fatal(exp, *run_summary(exp)[:2], "expected a YAML mapping", "found list")


def test_missing_design_file_is_fatal(exp: Path) -> None:
    design_path(exp).unlink()
    code, result, _ = run_summary(exp)
    assert code == 2 and result["status"] == "error"
    assert str(design_path(exp)) in result["message"]
    assert "not found" in result["message"] and "pass its path" in result["message"]
    assert not (exp / "summary.md").exists()


# --------------------------------------------------------------------------- noted


def test_design_without_matrix_still_summarizes_with_a_note(exp: Path) -> None:
    design = load(exp)
    del design["evaluation"]["matrix"]
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(exp, md, result, "has no `evaluation.matrix:` list")
    # the logs on disk are still reported, with their own numbers
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert_rest_summarized(md)


def test_matrix_row_naming_an_unknown_run(exp: Path) -> None:
    design = load(exp)
    design["evaluation"]["matrix"].append({"run": "ghost", "tasks": ["cap"], "epochs": [0]})
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(exp, md, result, "evaluation.matrix[3]", "'ghost'", "not in `runs:`", "skipped")
    assert "ghost" not in run_status(md)
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert_rest_summarized(md)


def test_matrix_row_naming_an_unknown_task(exp: Path) -> None:
    design = load(exp)
    design["evaluation"]["matrix"][2]["tasks"] = ["cap", "nosuchtask"]
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(
        exp, md, result, "evaluation.matrix[2]", "'nosuchtask'", "not in `evaluation.tasks:`"
    )
    missing = [r for r in incomplete_rows(md) if "nosuchtask" in r["Stage"]]
    assert [(r["Run"], r["Status"]) for r in missing] == [("base", "MISSING")]
    assert_rest_summarized(md)


def test_epochs_given_as_a_string(exp: Path) -> None:
    design = load(exp)
    design["evaluation"]["matrix"][0]["epochs"] = "0,1"
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(exp, md, result, "evaluation.matrix[0]", "'0,1'", "(str)", "expected a list")
    # the logs of r1 are not lost: reported with their numbers, and said to be outside the matrix
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    outside = [n for n in notes(md) if "not in the design's evaluation.matrix" in n]
    assert len(outside) == 2
    assert_rest_summarized(md)


def test_negative_epoch(exp: Path) -> None:
    design = load(exp)
    design["evaluation"]["matrix"][0]["epochs"] = [-1, 1]
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(exp, md, result, "evaluation.matrix[0]", "epoch -1", "not a non-negative integer")
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert accuracy(eval_row(md, "r1", 0)) == 0.8  # on disk, reported though not expected
    assert_rest_summarized(md)


def test_controls_epochs_of_the_wrong_type(exp: Path) -> None:
    design = load(exp)
    design["controls"]["epochs"] = "two"
    save(exp, design)
    code, result, md = run_summary(exp)
    assert code == 0
    assert_noted(exp, md, result, "controls.epochs", "'two'", "expected an integer")
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert_rest_summarized(md)


# --------------------------------------------------------------------------- unsafe run names


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x", "path separator"),
        ("/abs/path", "absolute path"),
        ("a/b", "path separator"),
        ("..", "parent"),
    ],
)
def test_run_names_escaping_the_experiment_are_refused(
    exp: Path, template_cache: Path, name: str, reason: str
) -> None:
    """A decoy evaluation log waits where the name points (if inside the test's own folder);
    it must never be read, and the other runs must be summarized as usual."""
    tree = exp.parent
    if not name.startswith("/"):
        decoy_logs = (exp / name / "eval" / "logs").resolve()
        assert decoy_logs.is_relative_to(tree)
        write_inspect_log(
            decoy_logs,
            task="cap",
            model=f"hf/{Path(name).name}_epoch_0",
            targets=TARGETS,
            answers=answers_with(1),  # accuracy 0.05: shown nowhere if the run is refused
            cache_dir=template_cache,
        )
    design = load(exp)
    design["runs"].append({"name": name, "type": "fine-tuned", "model": "m", "parameters": {}})
    design["evaluation"]["matrix"].append({"run": name, "tasks": ["cap"], "epochs": [0]})
    save(exp, design)
    before = tree_state(tree)

    code, result, md = run_summary(exp)
    assert code == 0
    note = assert_noted(exp, md, result, f"run name {name!r} refused", reason)
    assert "outside the experiment folder" in note
    assert name not in run_status(md)
    assert "0.05" not in md
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9
    assert_rest_summarized(md)
    assert changed_paths(before, tree_state(tree)) <= summary_outputs(exp)
    assert SPEC.name in result["experiment"]
