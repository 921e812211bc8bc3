"""``testing.scored_logs`` writes real inspect-ai logs that score as each scorer does.

Every log is read back only through ``inspect_ai.log``; expected metric values are computed
here independently (sklearn for Brier, AUC and the regression metrics).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.log import EvalLog, read_eval_log, read_eval_log_sample_summaries
from sklearn.metrics import (
    brier_score_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from testing.scored_logs import (
    CONTINUOUS_METRICS,
    GENERATION_ERROR,
    RISK_METRICS,
    ScoredSample,
    write_scored_log,
)

TASK = "capitalization_rank4 (capitalization)"
MODEL = "hf/rank4_epoch_0"
MODEL_ARGS = {"model_path": "/scratch/gpfs/LAB/user/ck-out-rank4/epoch_0"}
TASK_ARGS = {"vis_label": "rank4 (capitalization)", "epoch": 0}
METADATA = {"epoch": 0, "is_finetuned": True, "source_model": "Llama-3.2-1B-Instruct"}
CREATED = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)


def header(path: Path) -> EvalLog:
    return read_eval_log(str(path), header_only=True)


def summaries(path: Path) -> dict[int | str, Any]:
    return {s.id: s for s in read_eval_log_sample_summaries(str(path))}


def metrics(path: Path) -> dict[str, float]:
    (score,) = header(path).results.scores
    return {name: m.value for name, m in score.metrics.items()}


def write(directory: Path, scorer: str, samples: list[ScoredSample], **kwargs: Any) -> Path:
    return write_scored_log(
        directory, scorer=scorer, task=TASK, model=MODEL, samples=samples, **kwargs
    )


# ---------------------------------------------------------------------------
# match / includes
# ---------------------------------------------------------------------------

CLASSIFICATION = [
    ScoredSample(1, "Is 'Paris' capitalized?", "1", "The answer is 1"),
    ScoredSample(2, "Is 'london' capitalized?", "0", "1"),
    ScoredSample("q3", "Is 'Rome' capitalized?", "1", "1."),
    ScoredSample(4, "Is 'oslo' capitalized?", "0", None),
]


@pytest.fixture(scope="module")
def match_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(
        tmp_path_factory.mktemp("match"),
        "match",
        CLASSIFICATION,
        task_args=TASK_ARGS,
        model_args=MODEL_ARGS,
        metadata=METADATA,
        created=CREATED,
    )


def test_match_end_scores_a_verbose_reply_correct_and_keeps_it_as_the_answer(
    match_log: Path,
) -> None:
    log = header(match_log)
    assert [s.name for s in log.results.scores] == ["match"]
    found = summaries(match_log)
    assert set(found) == {1, 2, "q3", 4}
    verbose = found[1].scores["match"]
    assert (verbose.value, verbose.answer) == ("C", "The answer is 1")
    assert found[2].scores["match"].value == "I"
    # inspect's match ignores punctuation: "1." ends with "1"
    assert found["q3"].scores["match"].value == "C"
    assert metrics(match_log)["accuracy"] == pytest.approx(2 / 3)


def test_errored_sample_has_no_score_and_is_left_out(match_log: Path) -> None:
    errored = summaries(match_log)[4]
    assert GENERATION_ERROR in errored.error
    assert not errored.scores
    results = header(match_log).results
    assert (results.total_samples, results.completed_samples) == (4, 3)


def test_header_names_task_model_args_and_metadata_as_given(match_log: Path) -> None:
    log = header(match_log)
    assert log.status == "success"
    assert log.eval.task == TASK
    assert log.eval.model == MODEL
    assert log.eval.model_args == MODEL_ARGS
    assert log.eval.task_args == TASK_ARGS
    assert log.eval.task_args_passed == TASK_ARGS
    assert log.eval.metadata == METADATA
    assert list(log.stats.model_usage) == [MODEL]


def test_created_dates_header_and_file_name(match_log: Path) -> None:
    log = header(match_log)
    assert log.eval.created == "2026-01-05T12:00:30+00:00"
    assert abs(datetime.fromisoformat(log.stats.started_at) - CREATED) < timedelta(minutes=1)
    assert match_log.name.startswith("2026-01-05T12-00-30-00-00_capitalization-rank4 (capit")
    assert match_log.suffix == ".eval"
    assert list(match_log.parent.iterdir()) == [match_log]


def test_match_exact_location_needs_the_bare_target(tmp_path: Path) -> None:
    path = write(tmp_path, "match", CLASSIFICATION[:1], match_location="exact")
    assert summaries(path)[1].scores["match"].value == "I"
    assert header(path).results.scores[0].params["location"] == "exact"


def test_match_numeric_compares_numbers(tmp_path: Path) -> None:
    samples = [
        ScoredSample(1, "How many?", "1000", "It is 1,000"),
        ScoredSample(2, "How many more?", "5", "The answer is 25"),
        ScoredSample(3, "And now?", "2.5", "2.50"),
    ]
    path = write(tmp_path, "match_numeric", samples)
    found = summaries(path)
    assert [found[i].scores["match"].value for i in (1, 2, 3)] == ["C", "I", "C"]
    assert header(path).results.scores[0].params["numeric"] is True
    assert metrics(path)["accuracy"] == pytest.approx(2 / 3)


def test_includes_finds_the_target_anywhere(tmp_path: Path) -> None:
    samples = [
        ScoredSample(1, "Capital of France?", "Paris", "I think it is Paris, France."),
        ScoredSample(2, "Capital of Italy?", "Rome", "Milan"),
    ]
    path = write(tmp_path, "includes", samples)
    assert [s.name for s in header(path).results.scores] == ["includes"]
    found = summaries(path)
    assert [found[1].scores["includes"].value, found[2].scores["includes"].value] == ["C", "I"]
    assert metrics(path)["accuracy"] == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# risk_scorer
# ---------------------------------------------------------------------------

RISKY = [
    ScoredSample(1, "income 1", "1", "1", 0.88),
    ScoredSample(2, "income 2", "1", "1.", 0.72),
    ScoredSample(3, "income 3", "0", "0", 0.15),
    ScoredSample(4, "income 4", "0", "1", 0.61),
    ScoredSample(5, "income 5", "1", "0", 0.33),
    ScoredSample(6, "income 6", "0", "0", 0.05),
    ScoredSample(7, "income 7", "1", "The answer is 1", 0.93),
    ScoredSample(8, "income 8", "0", "1", None),
    ScoredSample(9, "income 9", "1", None, 0.5),
]
RISK_SCORED = [s for s in RISKY if s.reply is not None and s.risk is not None]


def ece(predicted: list[float], observed: list[float], bins: int = 10) -> float:
    """Calibration error over equal-width bins (right-closed), weighted by bin size."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for p, o in zip(predicted, observed, strict=True):
        groups.setdefault(max(math.ceil(p * bins) - 1, 0), []).append((p, o))
    return sum(
        len(g) / len(predicted) * abs(sum(p for p, _ in g) / len(g) - sum(o for _, o in g) / len(g))
        for g in groups.values()
    )


@pytest.fixture(scope="module")
def risk_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("risk"), "risk_scorer", RISKY)


def test_risk_scorer_is_an_exact_match_of_the_reply(risk_log: Path) -> None:
    assert [s.name for s in header(risk_log).results.scores] == ["risk_scorer"]
    found = summaries(risk_log)
    values = {i: found[i].scores["risk_scorer"].value for i in range(1, 9)}
    assert values == {1: "C", 2: "I", 3: "C", 4: "I", 5: "I", 6: "C", 7: "I", 8: "I"}
    assert found[2].scores["risk_scorer"].answer == "1."
    assert found[7].scores["risk_scorer"].answer == "The answer is 1"
    assert not found[9].scores


def test_risk_scorer_records_the_risk_per_sample(risk_log: Path) -> None:
    found = summaries(risk_log)
    for sample in RISK_SCORED:
        meta = found[sample.id].scores["risk_scorer"].metadata
        assert meta["risk_score"] == pytest.approx(sample.risk, abs=1e-12)
        assert meta["option_probs"]["1"] == pytest.approx(sample.risk, abs=1e-12)
        assert meta["option_probs"]["0"] == pytest.approx(1 - sample.risk, abs=1e-12)
        assert meta["target"] == sample.target
    no_logprobs = found[8].scores["risk_scorer"]
    assert no_logprobs.metadata == {"risk_score": None, "target": "0"}


def test_risk_scorer_header_metrics_follow_the_risks(risk_log: Path) -> None:
    values = metrics(risk_log)
    assert tuple(values) == RISK_METRICS
    risks = [s.risk for s in RISK_SCORED]
    labels = [float(s.target == "1") for s in RISK_SCORED]
    correct = [float(s.reply == s.target) for s in RISK_SCORED]
    confidence = [max(r, 1 - r) for r in risks]
    assert values["mean_risk_score"] == pytest.approx(sum(risks) / len(risks))
    assert values["brier_score"] == pytest.approx(brier_score_loss(labels, risks))
    assert values["auc_score"] == pytest.approx(roc_auc_score(labels, risks))
    assert values["risk_calibration_error"] == pytest.approx(ece(risks, labels))
    assert values["expected_calibration_error"] == pytest.approx(ece(confidence, correct))


def test_risk_metrics_can_carry_the_toolkits_package_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, "risk_scorer", RISKY[:4], metric_namespace="cruijff_kit")
    (score,) = header(path).results.scores
    assert score.name == "risk_scorer"
    assert tuple(score.metrics) == RISK_METRICS
    assert score.metrics["brier_score"].name == "cruijff_kit/brier_score"


# ---------------------------------------------------------------------------
# continuous_scorer
# ---------------------------------------------------------------------------

REGRESSION = [
    ScoredSample(1, "age 1", "45", "45"),
    ScoredSample(2, "age 2", "30", "I am 32 years old"),
    ScoredSample(3, "age 3", "61", "58.5"),
    ScoredSample(4, "age 4", "12", "twelve"),
    ScoredSample(5, "income 5", "$50,000", "52,500 dollars"),
    ScoredSample(6, "age 6", "70", None),
]
PARSED = {1: 45.0, 2: 32.0, 3: 58.5, 5: 52500.0}
TARGETS = {1: 45.0, 2: 30.0, 3: 61.0, 4: 12.0, 5: 50000.0}


@pytest.fixture(scope="module")
def continuous_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("continuous"), "continuous_scorer", REGRESSION)


def test_continuous_scorer_records_the_parsed_prediction(continuous_log: Path) -> None:
    assert [s.name for s in header(continuous_log).results.scores] == ["continuous_scorer"]
    found = summaries(continuous_log)
    for sample_id, prediction in PARSED.items():
        score = found[sample_id].scores["continuous_scorer"]
        error = prediction - TARGETS[sample_id]
        assert score.value == pytest.approx(abs(error))
        assert score.answer == str(prediction)
        assert score.metadata == {
            "prediction": prediction,
            "target_value": TARGETS[sample_id],
            "error": error,
        }
    unparsed = found[4].scores["continuous_scorer"]
    assert (unparsed.value, unparsed.answer) == ("I", "twelve")
    assert unparsed.metadata == {"prediction": None, "target_value": 12.0, "error": None}
    assert not found[6].scores


def test_continuous_scorer_header_metrics_follow_the_predictions(continuous_log: Path) -> None:
    values = metrics(continuous_log)
    assert tuple(values) == CONTINUOUS_METRICS
    truth = [TARGETS[i] for i in PARSED]
    predicted = list(PARSED.values())
    assert values["mae"] == pytest.approx(mean_absolute_error(truth, predicted))
    assert values["rmse"] == pytest.approx(math.sqrt(mean_squared_error(truth, predicted)))
    assert values["r_squared"] == pytest.approx(r2_score(truth, predicted))
    assert values["parse_rate"] == pytest.approx(4 / 5)


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "kwargs", "message"),
    [
        (CLASSIFICATION, {"scorer": "f1"}, "scorer must be one of"),
        (CLASSIFICATION, {"scorer": "match", "match_location": "middle"}, "match_location"),
        ([], {"scorer": "match"}, "must not be empty"),
        ([*CLASSIFICATION[:2], CLASSIFICATION[1]], {"scorer": "match"}, "unique"),
        ([ScoredSample(1, "x", "1", "1", 1.5)], {"scorer": "risk_scorer"}, "within"),
        (
            [ScoredSample(1, "x", "1", "1"), ScoredSample(2, "x", "1", "0")],
            {"scorer": "match"},
            "same input",
        ),
    ],
)
def test_bad_arguments_are_refused_before_evaluating(
    tmp_path: Path, samples: list[ScoredSample], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_scored_log(tmp_path, task=TASK, model=MODEL, samples=samples, **kwargs)
    assert not list(tmp_path.iterdir())
