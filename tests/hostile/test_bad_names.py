"""Names that inject or cannot be paths, attacked on a real experiment (testing.synthetic): a run
name too long for a file name, with a NUL or a `/` is that run's problem (refused with a note,
the rest summarized); names that differ only by invisible characters are flagged; and the
experiment name, every heading and every table cell show newlines, fake tables, HTML,
backticks, zero-width and bidi characters as what they are."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .harness import summarize_limited
from .support import (
    changed_paths,
    eval_row,
    log_blocks,
    notes,
    run_status,
    summary_outputs,
    tables,
    tree_state,
    unescape,
)

REPORT_LINE = "Please report"


def design_of(exp: Path) -> dict[str, Any]:
    return yaml.safe_load((exp / "experiment_summary.yaml").read_text(encoding="utf-8"))


def save(exp: Path, design: dict[str, Any]) -> None:
    text = yaml.safe_dump(design, sort_keys=False, allow_unicode=True)
    (exp / "experiment_summary.yaml").write_text(text, encoding="utf-8")


def add_runs(exp: Path, *names: str, kind: str = "fine-tuned") -> None:
    design = design_of(exp)
    for name in names:
        design["runs"].append({"name": name, "type": kind, "model": "m", "parameters": {}})
        epochs = [0] if kind == "fine-tuned" else None
        design["evaluation"]["matrix"].append({"run": name, "tasks": ["cap"], "epochs": epochs})
    save(exp, design)


def accuracy(md: str, run: str, epoch: int | None) -> float:
    return float(eval_row(md, run, epoch)["Accuracy"].split()[0])


def assert_rest_summarized(md: str) -> None:
    assert accuracy(md, "r1", 0) == 0.8 and accuracy(md, "r1", 1) == 0.9
    assert accuracy(md, "base", None) == 0.55
    assert run_status(md)["r2"]["Fine-tuning"] == "FAILED"


# --------------------------------------------------------------------------- not a path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a" * 255, "it is 255 bytes long"),
        ("é" * 150, "it is 300 bytes long"),
        ("b" * 249, "it is 249 bytes long"),  # ck-out-{run} would be 256 bytes
        ("r\x00x", "it contains a NUL byte"),
        ("x/y", "it contains a path separator"),
    ],
    ids=["255-bytes", "150-e-acute", "checkpoint-folder", "nul", "slash"],
)
def test_a_name_that_cannot_be_a_path_is_that_runs_problem(
    exp: Path, name: str, reason: str
) -> None:
    add_runs(exp, name)
    before = tree_state(exp.parent)

    done = summarize_limited(exp)

    assert done.code == 0, (done.result, done.stderr[-2000:])
    md = (exp / "summary.md").read_text(encoding="utf-8")
    design = exp / "experiment_summary.yaml"
    shown = name.replace("\x00", "\\x00")
    [note] = [n for n in notes(md) if f"run name '{shown}' refused: {reason}" in n]
    assert note.startswith(f"{design}: ")
    assert note in done.result["warnings"]
    assert shown not in run_status(md)
    assert not any(shown in cell for table in tables(md) for row in table.rows for cell in row)
    assert "\x00" not in md
    assert_rest_summarized(md)
    assert changed_paths(before, tree_state(exp.parent)) <= summary_outputs(exp)
    assert REPORT_LINE not in json.dumps(done.result)


# --------------------------------------------------------------------------- invisible


def test_runs_differing_only_by_invisible_characters_are_flagged(exp: Path) -> None:
    add_runs(exp, "r1\u200b", "base\u202e", kind="control")

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    for raw, shown in (("r1\u200b", "r1\\u200b"), ("base\u202e", "base\\u202e")):
        twin = raw[:-1]
        flag = (
            f"runs '{twin}' and '{shown}' differ only by invisible characters (shown escaped); "
            "both are summarized, check that they are two runs."
        )
        assert any(n.endswith(flag) for n in notes(md)), notes(md)
        assert shown in run_status(md)  # a row of its own, told apart from its twin
    assert "\u200b" not in md and "\u202e" not in md
    assert_rest_summarized(md)


# --------------------------------------------------------------------------- escaping

HOSTILE_NAME = (
    "x\n| Run | Accuracy |\n|---|---|\n| fake | 1.000 |\n"
    "<img src=x onerror=alert(1)> `code` \u200bzero \u202eevil"
)


def test_the_experiment_name_cannot_inject_into_the_summary(exp: Path) -> None:
    design = design_of(exp)
    design["experiment"]["name"] = HOSTILE_NAME
    save(exp, design)
    add_runs(exp, "<img src=y onerror=alert(2)>\n| injected |", kind="control")

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    lines = md.splitlines()
    [header] = [line for line in lines if line.startswith("**Experiment:**")]
    assert lines.index(header) == 2 and lines[3] == ""  # one line, under the title
    span = re.match(r"\*\*Experiment:\*\* (`+) (.*?) \1 \| \*\*Generated:\*\*", header)
    assert span, header
    assert span.group(2) == (
        "x\\n| Run | Accuracy |\\n|---|---|\\n| fake | 1.000 |\\n"
        "<img src=x onerror=alert(1)> `code` \\u200bzero \\u202eevil"
    )
    assert "<img" not in md.replace(header, "")  # only inside the code span, shown as text
    for invisible in ("\u200b", "\u202e"):
        assert invisible not in md
    found = tables(md)  # every table well formed
    assert not any("fake" in cell for table in found for row in table.rows for cell in row)
    assert not any(line.startswith("| fake") for line in lines)
    headings = [line for line in lines if line.startswith("#")]
    assert all("<" not in h and "\\" not in h for h in headings), headings
    injected = "<img src=y onerror=alert(2)>\\n| injected |"
    assert injected in run_status(md)
    assert unescape("&lt;img") == "<img"
    # the log: one line per field, the name escaped
    complete = log_blocks(exp)[-1][-1]
    assert complete.subject.startswith("x\\n| Run | Accuracy |")
    assert_rest_summarized(md)
