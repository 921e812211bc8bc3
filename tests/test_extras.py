"""Beyond the original: layout B, regression, uncertainty, datasets, loss curve, summary.json."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import re
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    balanced_accuracy_score,
    mean_absolute_error,
    r2_score,
    root_mean_squared_error,
)

from summarize_experiment.pipeline import summarize
from summarize_experiment.report.render import format_metric, sparkline
from testing.synthetic import (
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    build_experiment,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "schemas" / "summary.schema.json").read_text())


def _demo_spec() -> ExperimentSpec:
    """The demo's runs and answers, without what only layout B can hold (the eval-only run,
    the run logs' OOM retries, the generated datasets), so that the same experiment can be
    written in both layouts."""
    spec = importlib.util.spec_from_file_location("make_demo", REPO / "examples" / "make_demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_demo"] = module
    spec.loader.exec_module(module)
    demo = module.demo_spec()
    runs = [dataclasses.replace(run, oom_retries=0) for run in demo.runs if run.type != "eval-only"]
    names = {run.name for run in runs}
    return dataclasses.replace(
        demo,
        runs=runs,
        evals=[cell for cell in demo.evals if cell.run in names],
        matrix=[row for row in demo.matrix if row["run"] in names],
        dataset_condition=None,
        write_datasets=False,
    )


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each table under its nearest heading, as rows of cells (header row first)."""
    tables: dict[str, list[list[str]]] = {}
    heading = ""
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        elif line.startswith("|") and not re.match(r"^\|[-|]+\|$", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            key = heading
            while key in tables and len(tables[key][0]) != len(cells):
                key += "+"
            tables.setdefault(key, []).append(cells)
    return tables


def _without_paths(table: list[list[str]]) -> list[list[str]]:
    return [[re.sub(r"Check \S+", "Check <file>", cell) for cell in row] for row in table]


@pytest.fixture(scope="module")
def both_layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cache = tmp_path_factory.mktemp("template")
    spec = _demo_spec()
    out = {}
    for layout in "AB":
        root = tmp_path_factory.mktemp(f"layout{layout}")
        exp = build_experiment(root, spec, layout=layout, cache_dir=cache)
        code, _ = summarize(exp, use_sacct=False)
        assert code == 0
        out[layout] = exp
    return out


def test_layout_b_is_detected_without_a_flag(both_layouts: dict[str, Path]) -> None:
    summary = json.loads((both_layouts["B"] / "summary.json").read_text())
    assert summary["experiment"]["layout"] == "B"
    layout_a = json.loads((both_layouts["A"] / "summary.json").read_text())
    assert layout_a["experiment"]["layout"] == "A"
    assert "eval/*/logs/*.eval" in (both_layouts["B"] / "summary.md").read_text()


def test_both_layouts_give_identical_tables(both_layouts: dict[str, Path]) -> None:
    """The same experiment in layout A and in layout B as ARTIFACTS.md describes it today gives
    the same tables; only layout B's cells name their evaluation set (`eval.yaml`
    `data_path`), so only it lists evaluation datasets."""
    a = _tables((both_layouts["A"] / "summary.md").read_text())
    b = _tables((both_layouts["B"] / "summary.md").read_text())
    assert set(b) - set(a) == {"Datasets Used+"}
    for heading in a:
        assert _without_paths(a[heading]) == _without_paths(b[heading]), heading
    assert len(a["Evaluation Results"]) == 1 + 5  # header + the 5 capitalization cells
    assert len(a["Regression tasks"]) == 1 + 4  # sum_digits, scored as a regression
    header, *rows = b["Datasets Used+"]
    assert header == ["Task", "Eval dataset", "Config hash", "Labels 1 / 0", "Runs"]
    assert [row[3] for row in rows] == ["62% / 38% (n=100)"]  # once per distinct file


def test_summary_json_validates_against_the_schema(both_layouts: dict[str, Path]) -> None:
    for exp in both_layouts.values():
        document = json.loads((exp / "summary.json").read_text())
        jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_summary_json_holds_what_the_tables_show(both_layouts: dict[str, Path]) -> None:
    exp = both_layouts["A"]
    document = json.loads((exp / "summary.json").read_text())
    rows = _tables((exp / "summary.md").read_text())["Evaluation Results"][1:]
    by_key = {
        (e["run"], e["task"], str(e["epoch"]) if e["epoch"] is not None else "-"): e
        for e in document["evaluations"]
    }
    for run, task, epoch, accuracy, *_ in rows:
        assert float(accuracy.split()[0]) == pytest.approx(
            by_key[(run, task, epoch)]["accuracy"], abs=5e-4
        )
    assert document["complete_runs"] == 2 and document["total_runs"] == 4


REG_TARGETS = ["10", "12", "7", "3", "15", "9", "4", "11", "8", "6"]
REG_ANSWERS = ["10", "13", "7", "five", "14", "9", "4", "12", "8", "6"]
CONST_ANSWERS = ["9"] * 10
REGRESSION = "continuous_scorer"  # the toolkit's regression scorer (ARTIFACTS.md "Scorers")


@pytest.fixture(scope="module")
def regression_experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = ExperimentSpec(
        name="regression_check",
        runs=[RunSpec("good"), RunSpec("flat"), RunSpec("base", type="control")],
        tasks=["sum_digits"],
        evals=[
            EvalSpec("good", "sum_digits", 1, REG_TARGETS, REG_ANSWERS, scorer=REGRESSION),
            EvalSpec("flat", "sum_digits", 1, REG_TARGETS, CONST_ANSWERS, scorer=REGRESSION),
            EvalSpec("base", "sum_digits", None, REG_TARGETS, REG_TARGETS[::-1], scorer=REGRESSION),
        ],
        matrix=[
            {"run": "good", "tasks": ["sum_digits"], "epochs": [1]},
            {"run": "flat", "tasks": ["sum_digits"], "epochs": [1]},
            {"run": "base", "tasks": ["sum_digits"], "epochs": None},
        ],
    )
    exp = build_experiment(
        tmp_path_factory.mktemp("reg"), spec, cache_dir=tmp_path_factory.mktemp("cache")
    )
    assert summarize(exp, use_sacct=False)[0] == 0
    return exp


def test_regression_metrics_match_scikit_learn(regression_experiment: Path) -> None:
    document = json.loads((regression_experiment / "summary.json").read_text())
    good = next(e for e in document["evaluations"] if e["run"] == "good")
    pairs = [
        (float(t), float(a)) for t, a in zip(REG_TARGETS, REG_ANSWERS, strict=True) if a.isdigit()
    ]
    y, p = np.array([t for t, _ in pairs]), np.array([a for _, a in pairs])
    regression = good["regression"]
    assert (good["family"], good["scorer"], good["accuracy"]) == ("regression", REGRESSION, None)
    assert regression["parse_rate"] == pytest.approx(0.9)
    assert regression["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert regression["rmse"] == pytest.approx(root_mean_squared_error(y, p))
    assert regression["r2"] == pytest.approx(r2_score(y, p))
    assert good["balanced_accuracy"] is None and good["f1"] is None


def test_regression_table_flags_and_best_by_lowest_rmse(regression_experiment: Path) -> None:
    markdown = (regression_experiment / "summary.md").read_text()
    table = _tables(markdown)["Regression tasks"]
    assert table[0] == [  # no Accuracy column: meaningless for a regression scorer
        "Run",
        "Task",
        "Epoch",
        "MAE",
        "RMSE",
        "R²",
        "Parse Rate",
        "Samples",
    ]
    assert [row[0] for row in table[1:]] == ["good", "flat", "base"]
    assert "good sum_digits epoch 1: only 90% of answers parse as a number" in markdown
    assert "flat sum_digits epoch 1: every prediction is the same value" in markdown
    document = json.loads((regression_experiment / "summary.json").read_text())
    rmse = {e["run"]: e["regression"]["rmse"] for e in document["evaluations"]}
    best = document["best"][0]
    assert best["metric"] == "RMSE" and best["run"] == min(rmse, key=rmse.get) == "good"
    assert re.search(r"\*\*Best performing:\*\* good \(epoch 1\) with [0-9.]+ RMSE", markdown)


def _binary_spec(name: str, answers: dict[str, list[str]], targets: list[str]) -> ExperimentSpec:
    runs = [RunSpec(run) for run in answers]
    return ExperimentSpec(
        name=name,
        runs=runs,
        tasks=["cap"],
        evals=[EvalSpec(run, "cap", 0, targets, ans) for run, ans in answers.items()],
        matrix=[{"run": run, "tasks": ["cap"], "epochs": [0]} for run in answers],
        epochs=1,
    )


def test_wilson_interval_saturation_and_overlap(tmp_path: Path, template_cache: Path) -> None:
    targets = ["1"] * 60 + ["0"] * 40
    near = targets[:]
    near[0] = "0"  # 99 correct
    almost = targets[:]
    for i in range(3):
        almost[i] = "0"  # 97 correct
    spec = _binary_spec("overlap", {"top": near, "second": almost}, targets)
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    assert summarize(exp, use_sacct=False)[0] == 0
    document = json.loads((exp / "summary.json").read_text())
    top = next(e for e in document["evaluations"] if e["run"] == "top")
    wilson = binomtest(99, 100).proportion_ci(method="wilson")
    assert top["accuracy_ci"] == pytest.approx([wilson.low, wilson.high])
    assert top["saturated"] is True
    lo, hi = top["balanced_accuracy_ci"]
    assert lo <= top["balanced_accuracy"] <= hi
    markdown = (exp / "summary.md").read_text()
    # the same 100 samples, compared paired by balanced accuracy: top is wrong on sample 0, second
    # on 0, 1 and 2 (all positives), so the difference is (59/60 - 57/60) / 2, and only 2 of the
    # 100 samples ever tell them apart: not clearly better
    truth = [int(t) for t in targets]
    top_bal = balanced_accuracy_score(truth, [int(a) for a in near])
    second_bal = balanced_accuracy_score(truth, [int(a) for a in almost])
    assert top_bal - second_bal == pytest.approx((59 / 60 - 57 / 60) / 2)
    best = document["best"][0]
    runner = best["runner_up"]
    assert best["metric"] == "balanced accuracy" and best["value"] == pytest.approx(top_bal)
    assert runner["paired"] is True and runner["b"] == "second"
    assert runner["difference"] == pytest.approx(top_bal - second_bal)
    assert runner["ci_low"] <= 0 <= runner["ci_high"] and runner["p_value"] > 0.05
    assert runner["clearly_different"] is False
    assert "not clearly better than second epoch 0: +0.0167 [" in markdown
    assert ", paired, n = 100)" in markdown
    sat_col = _tables(markdown)["Evaluation Results"][0].index("Sat.")
    rows = _tables(markdown)["Evaluation Results"][1:]
    assert [row[sat_col] for row in rows] == ["✓", "✓"]


def test_bootstrap_interval_is_reproducible(tmp_path: Path, template_cache: Path) -> None:
    targets = ["1"] * 30 + ["0"] * 20
    answers = ["1"] * 25 + ["0"] * 5 + ["0"] * 15 + ["1"] * 5
    spec = _binary_spec("repro", {"only": answers}, targets)
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    first = summarize(exp, use_sacct=False)
    ci_first = json.loads((exp / "summary.json").read_text())["evaluations"][0]
    summarize(exp, use_sacct=False)
    ci_second = json.loads((exp / "summary.json").read_text())["evaluations"][0]
    assert first[0] == 0
    assert ci_first["balanced_accuracy_ci"] == ci_second["balanced_accuracy_ci"]
    # recall_1 = 25/30, recall_0 = 15/20: balanced accuracy (25/30 + 15/20) / 2 = 0.7917
    expected = balanced_accuracy_score([int(t) for t in targets], [int(a) for a in answers])
    assert expected == pytest.approx((25 / 30 + 15 / 20) / 2)
    assert ci_first["balanced_accuracy"] == pytest.approx(expected)
    low, high = ci_first["balanced_accuracy_ci"]
    assert low < expected < high


def test_datasets_show_training_data_and_label_split(both_layouts: dict[str, Path]) -> None:
    markdown = (both_layouts["A"] / "summary.md").read_text()
    tables = _tables(markdown)
    training = tables["Datasets Used"]
    assert training[0] == ["Run", "Training dataset", "Config hash"]
    assert all(row[1].endswith("cap_demo_lora_rank_comparison_train.json") for row in training[1:])


def test_loss_curve_sparkline_and_minimum(tmp_path: Path, template_cache: Path) -> None:
    steps = 40
    losses = [2.0 - 1.9 * i / 20 for i in range(20)] + [0.1 + 0.05 * i for i in range(20)]
    spec = ExperimentSpec(
        name="curve",
        runs=[RunSpec("bounce", losses=losses, steps_per_epoch=steps // 2)],
        tasks=["cap"],
        evals=[],
        matrix=[{"run": "bounce", "tasks": ["cap"], "epochs": [0, 1]}],
    )
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    assert summarize(exp, use_sacct=False)[0] == 0
    row = _tables((exp / "summary.md").read_text())["Training Results"][1]
    header = _tables((exp / "summary.md").read_text())["Training Results"][0]
    record = dict(zip(header, row, strict=True))
    assert float(record["Final Loss"]) == pytest.approx(losses[-1], rel=1e-3)
    assert record["Min Loss"] == f"min {losses[20]:.4g} @ step 21"
    curve = record["Loss Curve"]
    assert curve[0] == "█" and "▁" in curve
    assert curve.index("▁") < len(curve) - 1


def test_sparkline_marks_non_finite_and_keeps_a_flat_line() -> None:
    assert sparkline([1.0, 0.5, math.nan]) == "█▁×"
    assert sparkline([1.0]) == ""
    assert sparkline([0.3, 0.3, 0.3]) == "▁▁▁"
    assert len(sparkline([float(i) for i in range(100)])) == 24


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.85, "0.850"),
        (0.8888888, "0.889"),
        (1.0, "1.000"),
        (0.0, "0.000"),
        (0.05, "0.0500"),
        (0.0123456, "0.0123"),
        (0.00123456, "0.00123"),
        (-0.0123456, "-0.0123"),
        (1.8400001, "1.840"),
        (-0.25, "-0.250"),
        (1234.56789, "1234.568"),
        (0.00042, "4.200e-04"),
        (2.5e7, "2.500e+07"),
        (math.nan, "nan"),
        (None, "N/A"),
    ],
)
def test_metrics_show_three_decimals_unless_too_small_or_large(
    value: float | None, shown: str
) -> None:
    """Every metric column of summary.md lines up at 3 decimals, with more below 0.1 so that
    a value keeps 3 significant digits; a value decimals would hide (a tiny MAE) or stretch (a
    huge RMSE) is shown in scientific notation instead."""
    assert format_metric(value) == shown
