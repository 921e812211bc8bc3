"""The best-run verdict compares paired evaluations sample by sample (issue 11): the runner-up,
the control run, each fine-tuned run's consecutive epochs, and what the evaluation can detect.
Every number is checked against an independent computation (scikit-learn, scipy, or the
formula by hand)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.stats import binomtest, norm
from sklearn.metrics import balanced_accuracy_score

from summarize_experiment.pipeline import summarize
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

N = 120
TARGETS = ["1" if i % 2 else "0" for i in range(N)]
WORDS = ["w" + str(i) for i in range(N)]


def answers(wrong: set[int]) -> list[str]:
    return [("0" if t == "1" else "1") if i in wrong else t for i, t in enumerate(TARGETS)]


GOOD = answers(set(range(0, 12)))  # 108 right
WEAK = answers(set(range(0, 36)))  # 84 right: every sample GOOD misses, WEAK misses too
BASE = answers(set(range(0, 60)))  # 60 right
WORSE_LATER = answers(set(range(0, 12)) | set(range(60, 84)))  # epoch 2: 24 more wrong


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> dict:
    spec = ExperimentSpec(
        name="comparisons",
        runs=[
            RunSpec("good", steps_per_epoch=3),
            RunSpec("weak", steps_per_epoch=3),
            RunSpec("base", type="control"),
        ],
        tasks=["cap"],
        evals=[
            EvalSpec("good", "cap", 0, TARGETS, WEAK, inputs=WORDS),
            EvalSpec("good", "cap", 1, TARGETS, GOOD, inputs=WORDS),
            EvalSpec("good", "cap", 2, TARGETS, WORSE_LATER, inputs=WORDS),
            EvalSpec("weak", "cap", 0, TARGETS, BASE, inputs=WORDS),
            EvalSpec("weak", "cap", 1, TARGETS, WEAK, inputs=WORDS),
            EvalSpec("weak", "cap", 2, TARGETS, WEAK, inputs=WORDS),
            EvalSpec("base", "cap", None, TARGETS, BASE, inputs=WORDS),
        ],
        epochs=3,
    )
    exp = build_experiment(tmp_path_factory.mktemp("compare"), spec, cache_dir=template_cache)
    code, result = summarize(exp, use_sacct=False)
    assert code == 0, result
    document = json.loads((exp / "summary.json").read_text())
    document["markdown"] = (exp / "summary.md").read_text()
    return document


def balanced(answers_: list[str]) -> float:
    return balanced_accuracy_score([int(t) for t in TARGETS], [int(a) for a in answers_])


def test_the_best_is_clearly_better_than_the_runner_up_paired(report: dict) -> None:
    (best,) = report["best"]
    assert (best["run"], best["epoch"], best["metric"]) == ("good", 1, "balanced accuracy")
    runner = best["runner_up"]
    # the runner-up by balanced accuracy is good epoch 0 or weak epoch 1/2 (WEAK answers)
    assert runner["paired"] is True and runner["n"] == N
    assert runner["difference"] == pytest.approx(balanced(GOOD) - balanced(WEAK))
    assert 0 < runner["ci_low"] < runner["difference"] < runner["ci_high"]
    assert runner["p_value"] < 0.01 and runner["clearly_different"] is True
    assert best["clearly_better"] is True
    assert "— clearly better than " in report["markdown"]


def test_the_best_against_the_control_run(report: dict) -> None:
    control = report["best"][0]["versus_control"]
    assert control["b"] == "base" and control["paired"] is True
    assert control["difference"] == pytest.approx(balanced(GOOD) - balanced(BASE))
    assert control["ci_low"] > 0 and control["p_value"] < 0.001
    line = next(
        line for line in report["markdown"].splitlines() if line.startswith("- Fine-tuning")
    )
    assert line.startswith("- Fine-tuning improved balanced accuracy over the base model base: +")
    assert f"+{control['difference']:.3f}" in line and "(p < 0.001, paired, n = 120)" in line


def test_what_the_evaluation_can_detect(report: dict) -> None:
    best = report["best"][0]
    p = 108 / N  # the best evaluation's accuracy
    by_hand = (norm.ppf(0.975) + norm.ppf(0.8)) * math.sqrt(2 * p * (1 - p) / N)
    assert by_hand == pytest.approx((1.959964 + 0.841621) * math.sqrt(2 * 0.9 * 0.1 / 120))
    assert best["detectable"] == pytest.approx(by_hand)
    shown = f"With n = {N}, differences in accuracy under ~{by_hand * 100:.0f} points"
    assert shown in report["markdown"]


def test_a_later_epoch_clearly_worse_is_flagged(report: dict) -> None:
    trends = {(t["a"], t["b_epoch"], t["a_epoch"]): t for t in report["epoch_trends"]}
    assert set(trends) == {("good", 0, 1), ("good", 1, 2), ("weak", 0, 1), ("weak", 1, 2)}
    drop = trends[("good", 1, 2)]
    # epoch 2 gets 24 samples wrong that epoch 1 got right, and none the other way
    assert drop["difference"] == pytest.approx(-24 / N) and drop["paired"] is True
    assert drop["p_value"] == pytest.approx(binomtest(0, 24, 0.5).pvalue)
    assert drop["ci_high"] < 0
    same = trends[("weak", 1, 2)]
    assert (same["difference"], same["p_value"], same["clearly_different"]) == (0, 1.0, False)
    markdown = report["markdown"]
    assert "**Later epochs clearly worse (overfitting?):**" in markdown
    flagged = [line for line in markdown.splitlines() if line.startswith("- good on cap")]
    assert flagged == [
        f"- good on cap: epoch 2 against epoch 1, accuracy -0.200 [{drop['ci_low']:.3f}, "
        f"{drop['ci_high']:.3f}] (p < 0.001, paired, n = 120)"
    ]


def test_runs_on_different_samples_are_compared_unpaired(
    tmp_path: Path, template_cache: Path
) -> None:
    """Two runs evaluated on different sample ids: no pairing; accuracy then by the two-
    proportion z-test, and the text says the samples differ."""
    other = ["1" if i % 3 else "0" for i in range(90)]
    spec = ExperimentSpec(
        name="unpaired",
        runs=[RunSpec("a", steps_per_epoch=3), RunSpec("b", steps_per_epoch=3)],
        tasks=["num"],
        evals=[
            EvalSpec("a", "num", 0, [str(i) for i in range(N)], [str(i) for i in range(N)]),
            EvalSpec("b", "num", 0, [str(i + 5) for i in range(90)], ["5"] * 45 + other[45:]),
        ],
        epochs=1,
    )
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    assert summarize(exp, use_sacct=False)[0] == 0
    (best,) = json.loads((exp / "summary.json").read_text())["best"]
    runner = best["runner_up"]
    assert (best["run"], best["metric"], runner["paired"]) == ("a", "accuracy", False)
    assert runner["method"].startswith("unpaired")
    correct_b = 1  # only "5" against target 5
    pooled = (N + correct_b) / (N + 90)
    z = (1 - correct_b / 90) / math.sqrt(pooled * (1 - pooled) * (1 / N + 1 / 90))
    assert runner["p_value"] == pytest.approx(2 * norm.sf(z))
    assert "unpaired: different samples" in (exp / "summary.md").read_text()
