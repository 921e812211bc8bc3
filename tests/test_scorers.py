"""Metrics follow the scorer named in the log (ARTIFACTS.md "Scorers"), and every number of a
row has one source of correctness: the scorer's per-sample values.

Logs are real evaluations run by inspect-ai with its mockllm provider
(`testing.scored_logs`), scored by inspect's `match` (its default location: the end of the
reply), `match` with `numeric=True`, and the toolkit's `risk_scorer`; every expected number
is computed here independently (scikit-learn, scipy, or by hand).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries, write_eval_log
from scipy.stats import binomtest
from sklearn.metrics import balanced_accuracy_score, f1_score

from summarize_experiment.pipeline import summarize
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

TASK = "capitalization"
N = 60
TARGETS = ["1" if i % 3 else "0" for i in range(N)]  # 40 ones, 20 zeros


def verbose(target: str, i: int) -> str:
    """A reply as a chatty model gives it: the label at the end, sometimes wrong, sometimes
    with no label at all."""
    if i % 10 == 7:
        return "I cannot tell from the word alone."
    label = target if i % 4 else ("0" if target == "1" else "1")
    return f"The answer is {label}." if i % 2 else label


REPLIES = [verbose(t, i) for i, t in enumerate(TARGETS)]
NUM_TARGETS = [str(3 + i % 17) for i in range(40)]
NUM_REPLIES = [t if i % 5 else str(int(t) + 1) for i, t in enumerate(NUM_TARGETS)]
RISK_REPLIES = ["1." if i % 7 == 0 else ("1" if t == "1" else "0") for i, t in enumerate(TARGETS)]
RISKS = [0.9 if t == "1" else 0.2 for t in TARGETS]


def label_of(reply: str) -> int | None:
    """This test's own reading of a reply: the last 0 or 1 standing alone."""
    found = re.findall(r"(?<![\w.])([01])(?![\w])", reply)
    return int(found[-1]) if found else None


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = ExperimentSpec(
        name="scorers",
        runs=[RunSpec("chatty", steps_per_epoch=3), RunSpec("risky", steps_per_epoch=3)],
        tasks=[TASK, "sum_digits"],
        evals=[
            EvalSpec("chatty", TASK, 0, TARGETS, REPLIES, scorer="match"),
            EvalSpec("chatty", "sum_digits", 0, NUM_TARGETS, NUM_REPLIES, scorer="match_numeric"),
            EvalSpec("risky", TASK, 0, TARGETS, RISK_REPLIES, scorer="risk_scorer", risks=RISKS),
        ],
        matrix=[
            {"run": "chatty", "tasks": [TASK, "sum_digits"], "epochs": [0]},
            {"run": "risky", "tasks": [TASK], "epochs": [0]},
        ],
        epochs=1,
    )
    exp = build_experiment(tmp_path_factory.mktemp("scorers"), spec)
    code, result = summarize(exp, use_sacct=False)
    assert code == 0, result
    return exp


def rows(exp: Path) -> dict[tuple[str, str], dict]:
    report = json.loads((exp / "summary.json").read_text())
    return {(r["run"], r["task"]): r for r in report["evaluations"]}


def the_log(exp: Path, run: str, task: str) -> str:
    return rows(exp)[(run, task)]["log"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_verbose_match_row_is_consistent(experiment: Path) -> None:
    row = rows(experiment)[("chatty", TASK)]
    values = [
        s.scores["match"].value for s in read_eval_log_sample_summaries(row["log"]) if s.scores
    ]
    correct = values.count("C")
    assert len(values) == N
    # accuracy and its interval: the scorer's own C/I, as inspect's accuracy
    assert (row["family"], row["scorer"]) == ("classification", "match")
    assert row["accuracy"] == pytest.approx(correct / N)
    header = read_eval_log(row["log"], header_only=True).results.scores[0].metrics
    assert header["accuracy"].value == pytest.approx(row["accuracy"])
    wilson = binomtest(correct, N).proportion_ci(method="wilson")
    assert row["accuracy_ci"] == pytest.approx([wilson.low, wilson.high])
    # balanced accuracy and F1: from each reply's label; a reply with no label counts as wrong
    truth = [int(t) for t in TARGETS]
    guess = [label_of(r) if label_of(r) is not None else 2 for r in REPLIES]
    unlabelled = guess.count(2)
    assert unlabelled == 6
    assert row["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, guess))
    assert row["f1"] == pytest.approx(f1_score(truth, guess, labels=[1], average=None)[0])
    assert row["labelled"] == N - unlabelled
    assert row["confusion"]["other"] == unlabelled
    assert any(f"{unlabelled} of {N} answers have no 0/1 label" in n for n in row["metric_notes"])
    markdown = (experiment / "summary.md").read_text()
    assert f"{unlabelled} of {N} answers have no 0/1 label" in markdown


def test_numeric_match_is_classification_not_regression(experiment: Path) -> None:
    row = rows(experiment)[("chatty", "sum_digits")]
    expected = sum(r == t for r, t in zip(NUM_REPLIES, NUM_TARGETS, strict=True)) / 40
    assert (row["family"], row["scorer"]) == ("classification", "match")
    assert row["accuracy"] == pytest.approx(expected)
    assert row["regression"] is None and row["balanced_accuracy"] is None
    assert "### Regression tasks" not in (experiment / "summary.md").read_text()


def test_risk_scorer_gives_accuracy_and_its_own_metrics_only(experiment: Path) -> None:
    row = rows(experiment)[("risky", TASK)]
    exact = sum(r == t for r, t in zip(RISK_REPLIES, TARGETS, strict=True))  # `1.` is wrong
    assert (row["family"], row["scorer"]) == ("risk", "risk_scorer")
    assert row["accuracy"] == pytest.approx(exact / N)
    assert row["balanced_accuracy"] is None and row["f1"] is None and row["confusion"] is None
    header = read_eval_log(row["log"], header_only=True).results.scores[0].metrics
    for name in ("auc_score", "brier_score", "expected_calibration_error", "mean_risk_score"):
        assert row["header_metrics"][name] == pytest.approx(header[name].value), name
    markdown = (experiment / "summary.md").read_text()
    section = markdown.split("### Risk scorer metrics", 1)[1].split("\n\n", 2)[1]
    header_row, _rule, risky = section.splitlines()[:3]
    assert "AUC" in header_row and "Brier" in header_row
    cells = [c.strip() for c in risky.strip("|").split("|")]
    assert cells[0] == "risky" and float(cells[3]) == pytest.approx(
        header["auc_score"].value, abs=5e-4
    )
    # a risk_scorer row has no balanced accuracy: it is never ranked against one that has
    best = json.loads((experiment / "summary.json").read_text())["best"]
    (cap,) = [b for b in best if b["task"] == TASK]
    assert (cap["run"], cap["metric"], cap["runner_up"]) == ("chatty", "balanced accuracy", None)


def test_header_accuracy_that_disagrees_with_the_samples_is_noted(
    experiment: Path, tmp_path: Path
) -> None:
    """Editing only the header's accuracy (through inspect's own API) changes nothing but a
    note: accuracy, interval and Sat. follow the samples."""
    log_path = the_log(experiment, "chatty", TASK)
    before = rows(experiment)[("chatty", TASK)]
    log = read_eval_log(log_path, header_only=True)
    log.results.scores[0].metrics["accuracy"].value = 0.99
    write_eval_log(log, log_path, header_only=True)
    assert summarize(experiment, use_sacct=False)[0] == 0
    after = rows(experiment)[("chatty", TASK)]
    assert after["accuracy"] == before["accuracy"]
    assert after["accuracy_ci"] == before["accuracy_ci"]
    assert after["saturated"] is False
    assert any("header says accuracy 0.99" in n for n in after["metric_notes"])
