"""Real inspect-ai logs scored by the scorers the toolkit uses, for tests of our metrics.

``write_scored_log`` runs a real ``inspect_ai.eval`` with inspect's ``mockllm/model`` provider:
each sample's reply is what the mock model answers, and the log is scored by one of

- ``match`` / ``match_numeric`` / ``includes``: inspect's own scorers (``C``/``I``);
- ``risk_scorer``: the toolkit's binary scorer. Correct is an exact match of the stripped reply
  with the target; the risk is P("1") renormalised over the option tokens "0"/"1" from the
  first generated token's logprobs, which the mock model returns from ``ScoredSample.risk``;
- ``continuous_scorer``: the toolkit's regression scorer (first number in the reply).

The toolkit's two scorers and their metrics are re-implemented here from the toolkit's rules,
registered under its names so the log reads like the toolkit's. inspect records the model as
``mockllm/model``; the header is then rewritten with inspect's ``write_eval_log(...,
header_only=True)`` to name the evaluated model (``hf/rank4_epoch_0``) and its ``model_args``.
The sample transcripts keep ``mockllm/model``, the model that actually generated them.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai import task as inspect_task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog, write_eval_log
from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    get_model,
)
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Metric,
    SampleScore,
    Score,
    Scorer,
    Target,
    includes,
    match,
    metric,
    value_to_float,
)
from inspect_ai.scorer import scorer as inspect_scorer
from inspect_ai.solver import TaskState, generate

__all__ = [
    "CONTINUOUS_METRICS",
    "GENERATION_ERROR",
    "RISK_METRICS",
    "SCORERS",
    "MatchLocation",
    "ScoredSample",
    "write_scored_log",
]

SCORERS = ("match", "match_numeric", "includes", "risk_scorer", "continuous_scorer")
"""Values of ``write_scored_log(scorer=...)``; ``match_numeric`` is ``match(numeric=True)``."""

RISK_METRICS = (
    "mean_risk_score",
    "expected_calibration_error",
    "risk_calibration_error",
    "brier_score",
    "auc_score",
)
"""Header metrics of ``risk_scorer``, in the toolkit's order."""

CONTINUOUS_METRICS = ("mae", "rmse", "r_squared", "parse_rate")
"""Header metrics of ``continuous_scorer``, in the toolkit's order."""

GENERATION_ERROR = "CUDA error: out of memory"
"""What generation raises for a sample whose reply is None."""

OPTION_TOKENS = ("0", "1")
"""The risk scorer's option tokens; the risk is the probability of the last one."""

CALIBRATION_BINS = 10
"""Equal-width bins over [0, 1] of both calibration errors."""

_MOCK_MODEL = "mockllm/model"
_ABSENT_LOGPROB = -9999.0
"""Logprob of an option with probability 0 (``exp`` underflows to exactly 0.0)."""
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?")
_NOT_NUMERIC = str.maketrans("", "", ",$%")
_LEADING_TOKEN = re.compile(r"\s*(\d{1,3}|[^\W\d]+|\S)")

MatchLocation = Literal["begin", "end", "any", "exact"]
"""Where ``match`` looks for the target in the reply."""


@dataclass(frozen=True)
class ScoredSample:
    """One sample: the model answers ``reply`` to ``input`` (None: generation fails).

    ``risk`` is P("1") in the first-token logprobs the model returns, which ``risk_scorer``
    reads (None: no logprobs, which ``risk_scorer`` scores ``I`` with no risk).
    """

    id: int | str
    input: str
    target: str
    reply: str | None
    risk: float | None = None


# ---------------------------------------------------------------------------
# Metric computations (on the scores' metadata, as the toolkit's metrics read them)
# ---------------------------------------------------------------------------


def _metadata(score: SampleScore) -> dict[str, Any]:
    return score.score.metadata or {}


def _calibration_gap(predicted: Sequence[float], observed: Sequence[float]) -> float:
    """Binned calibration error: bin b holds p in (b*w, b*w + w] (0.0 goes in the first bin);
    the error is the sum over bins of (share of points) * |mean p - mean observed|."""
    if not predicted:
        return math.nan
    width = 1.0 / CALIBRATION_BINS
    gap = 0.0
    for b in range(CALIBRATION_BINS):
        low = b * width
        high = low + width
        members = [
            (p, o)
            for p, o in zip(predicted, observed, strict=True)
            if low < p <= high or (b == 0 and p == 0.0)
        ]
        if members:
            mean_p = sum(p for p, _ in members) / len(members)
            mean_o = sum(o for _, o in members) / len(members)
            gap += len(members) / len(predicted) * abs(mean_p - mean_o)
    return gap


def _risks_and_labels(scores: Sequence[SampleScore]) -> tuple[list[float], list[float]]:
    """(risk, 1.0 if the target is the positive option else 0.0) of the samples with a risk."""
    risks: list[float] = []
    labels: list[float] = []
    for score in scores:
        meta = _metadata(score)
        risk, target, probs = meta.get("risk_score"), meta.get("target"), meta.get("option_probs")
        if risk is None or target is None or probs is None:
            continue
        risks.append(float(risk))
        labels.append(1.0 if target == list(probs)[-1] else 0.0)
    return risks, labels


def _mean_risk(scores: Sequence[SampleScore]) -> float:
    risks = [
        _metadata(s)["risk_score"] for s in scores if _metadata(s).get("risk_score") is not None
    ]
    return sum(risks) / len(risks) if risks else math.nan


def _confidence_calibration(scores: Sequence[SampleScore]) -> float:
    """Bins by the top option probability; observed is whether the sample was scored correct."""
    to_float = value_to_float()
    confidences: list[float] = []
    correct: list[float] = []
    for score in scores:
        probs = _metadata(score).get("option_probs")
        if probs is not None:
            confidences.append(max(probs.values()))
            correct.append(to_float(score.score.value))
    return _calibration_gap(confidences, correct)


def _risk_calibration(scores: Sequence[SampleScore]) -> float:
    return _calibration_gap(*_risks_and_labels(scores))


def _brier(scores: Sequence[SampleScore]) -> float:
    risks, labels = _risks_and_labels(scores)
    if len(risks) < 2:
        return math.nan
    return sum((r - y) ** 2 for r, y in zip(risks, labels, strict=True)) / len(risks)


def _auc(scores: Sequence[SampleScore]) -> float:
    """Area under the ROC curve: the chance a positive outranks a negative (ties count half)."""
    risks, labels = _risks_and_labels(scores)
    positives = [r for r, y in zip(risks, labels, strict=True) if y == 1.0]
    negatives = sorted(r for r, y in zip(risks, labels, strict=True) if y == 0.0)
    if not positives or not negatives:
        return math.nan
    wins = 0.0
    for p in positives:
        below, up_to = bisect_left(negatives, p), bisect_right(negatives, p)
        wins += below + (up_to - below) / 2
    return wins / (len(positives) * len(negatives))


def _errors(scores: Sequence[SampleScore]) -> list[float]:
    return [_metadata(s)["error"] for s in scores if _metadata(s).get("error") is not None]


def _mae(scores: Sequence[SampleScore]) -> float:
    errors = _errors(scores)
    return sum(abs(e) for e in errors) / len(errors) if errors else math.nan


def _rmse(scores: Sequence[SampleScore]) -> float:
    errors = _errors(scores)
    return math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else math.nan


def _r_squared(scores: Sequence[SampleScore]) -> float:
    pairs = [
        (_metadata(s)["target_value"], _metadata(s)["prediction"])
        for s in scores
        if _metadata(s).get("prediction") is not None
    ]
    if len(pairs) < 2:
        return math.nan
    mean = sum(t for t, _ in pairs) / len(pairs)
    total = sum((t - mean) ** 2 for t, _ in pairs)
    if total == 0:
        return math.nan
    return 1.0 - sum((t - p) ** 2 for t, p in pairs) / total


def _parse_rate(scores: Sequence[SampleScore]) -> float:
    if not scores:
        return math.nan
    return sum(_metadata(s).get("prediction") is not None for s in scores) / len(scores)


_RISK_COMPUTATIONS: dict[str, Callable[[Sequence[SampleScore]], float]] = {
    "mean_risk_score": _mean_risk,
    "expected_calibration_error": _confidence_calibration,
    "risk_calibration_error": _risk_calibration,
    "brier_score": _brier,
    "auc_score": _auc,
}
_CONTINUOUS_COMPUTATIONS: dict[str, Callable[[Sequence[SampleScore]], float]] = {
    "mae": _mae,
    "rmse": _rmse,
    "r_squared": _r_squared,
    "parse_rate": _parse_rate,
}


# ---------------------------------------------------------------------------
# The toolkit's scorers
# ---------------------------------------------------------------------------


def _parse_number(text: str | None) -> float | None:
    """The first number in ``text`` once ``,``, ``$`` and ``%`` are dropped."""
    if not text:
        return None
    found = _NUMBER.search(text.strip().translate(_NOT_NUMERIC))
    return float(found.group()) if found else None


def _option_logprobs(state: TaskState) -> dict[str, float] | None:
    """Logprob of each token at the first position (its top alternatives and the chosen one)."""
    choice = state.output.choices[0] if state.output.choices else None
    if choice is None or choice.logprobs is None or not choice.logprobs.content:
        return None
    first = choice.logprobs.content[0]
    found = {top.token.strip(): top.logprob for top in first.top_logprobs or []}
    found[first.token.strip()] = first.logprob
    return found


async def _score_risk(state: TaskState, target: Target) -> Score:
    answer = state.output.completion.strip()
    found = _option_logprobs(state)
    if found is None:
        return Score(
            value=INCORRECT,
            answer=answer,
            explanation="No logprobs available",
            metadata={"risk_score": None, "target": target.text},
        )
    missing = [t for t in OPTION_TOKENS if t not in found]
    if missing:
        return Score(
            value=INCORRECT,
            answer=answer,
            explanation=f"Option token(s) {missing} not in top logprobs",
            metadata={
                "risk_score": None,
                "option_probs": None,
                "missing_tokens": missing,
                "available_tokens": list(found),
                "target": target.text,
            },
        )
    top = max(found[t] for t in OPTION_TOKENS)
    weights = {t: math.exp(found[t] - top) for t in OPTION_TOKENS}
    total = sum(weights.values())
    probs = {t: w / total for t, w in weights.items()}
    correct = bool(target.text) and answer == target.text
    return Score(
        value=CORRECT if correct else INCORRECT,
        answer=answer,
        metadata={
            "risk_score": probs[OPTION_TOKENS[-1]],
            "option_probs": probs,
            "target": target.text,
        },
    )


async def _score_continuous(state: TaskState, target: Target) -> Score:
    completion = state.output.completion
    prediction = _parse_number(completion)
    target_value = _parse_number(target.text)
    if prediction is None or target_value is None:
        return Score(
            value=INCORRECT,
            answer=completion.strip() if completion else "",
            explanation="Could not parse number from output",
            metadata={"prediction": None, "target_value": target_value, "error": None},
        )
    error = prediction - target_value
    return Score(
        value=abs(error),
        answer=str(prediction),
        metadata={"prediction": prediction, "target_value": target_value, "error": error},
    )


def _registered_metric(name: str, compute: Callable[[Sequence[SampleScore]], float]) -> Metric:
    """A metric registered as ``name`` computing ``compute`` over the scored samples."""

    def factory() -> Metric:
        def value(scores: list[SampleScore]) -> float:
            return compute(scores)

        return value

    return metric(name=name)(factory)()


@cache
def _toolkit_scorer(name: str, namespace: str) -> Scorer:
    """The toolkit's scorer ``name``; its metrics are registered as ``{namespace}/{metric}``
    when a namespace is given (as an installed package's are), else under the bare name."""
    prefix = f"{namespace}/" if namespace else ""
    computations, score = {
        "risk_scorer": (_RISK_COMPUTATIONS, _score_risk),
        "continuous_scorer": (_CONTINUOUS_COMPUTATIONS, _score_continuous),
    }[name]
    metrics = [_registered_metric(prefix + m, f) for m, f in computations.items()]

    def factory() -> Scorer:
        return score

    return inspect_scorer(metrics=metrics, name=prefix + name)(factory)()


def _scorer(name: str, location: MatchLocation, ignore_case: bool, namespace: str) -> Scorer:
    if name in ("match", "match_numeric"):
        return match(location=location, ignore_case=ignore_case, numeric=name == "match_numeric")
    if name == "includes":
        return includes(ignore_case=ignore_case)
    return _toolkit_scorer(name, namespace)


# ---------------------------------------------------------------------------
# The mock model
# ---------------------------------------------------------------------------


def _risk_logprobs(reply: str, risk: float) -> Logprobs:
    """First-token logprobs putting P("1") : P("0") at risk : 1 - risk.

    When the reply does not start with an option token, the chosen token takes half the mass.
    """
    found = _LEADING_TOKEN.match(reply)
    chosen = found.group(1) if found else "<|eot_id|>"
    options_mass = 1.0 if chosen in OPTION_TOKENS else 0.5
    probs = {"0": options_mass * (1.0 - risk), "1": options_mass * risk}
    if chosen not in OPTION_TOKENS:
        probs[chosen] = 1.0 - options_mass
    logprobs = {t: math.log(p) if p > 0 else _ABSENT_LOGPROB for t, p in probs.items()}
    ranked = sorted(logprobs.items(), key=lambda item: -item[1])
    return Logprobs(
        content=[
            Logprob(
                token=chosen,
                logprob=logprobs[chosen],
                top_logprobs=[TopLogprob(token=t, logprob=lp) for t, lp in ranked],
            )
        ]
    )


def _mock_model(samples: Sequence[ScoredSample], model: str) -> Callable[..., ModelOutput]:
    """mockllm's ``custom_outputs``: the reply of the sample whose input was sent."""
    by_input = {s.input: s for s in samples}

    def respond(input: list[ChatMessage], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        text = input[-1].text
        sample = by_input[text]
        if sample.reply is None:
            raise RuntimeError(GENERATION_ERROR)
        output = ModelOutput.from_content(model=model, content=sample.reply)
        if sample.risk is not None:
            output.choices[0].logprobs = _risk_logprobs(sample.reply, sample.risk)
        # without usage mockllm counts tokens with tiktoken, which downloads its data file
        prompt, reply = max(1, len(text.split())), max(1, len(sample.reply.split()))
        output.usage = ModelUsage(
            input_tokens=prompt, output_tokens=reply, total_tokens=prompt + reply
        )
        return output

    return respond


# ---------------------------------------------------------------------------
# Writing the log
# ---------------------------------------------------------------------------


def _check(samples: Sequence[ScoredSample], scorer_name: str, match_location: str) -> None:
    locations = get_args(MatchLocation)
    if scorer_name not in SCORERS:
        raise ValueError(f"scorer must be one of {SCORERS}, got {scorer_name!r}")
    if match_location not in locations:
        raise ValueError(f"match_location must be one of {locations}, got {match_location!r}")
    if not samples:
        raise ValueError("samples must not be empty")
    if len({s.id for s in samples}) != len(samples):
        raise ValueError("sample ids must be unique")
    answers: dict[str, tuple[str | None, float | None]] = {}
    for s in samples:
        if s.risk is not None and not 0.0 <= s.risk <= 1.0:
            raise ValueError(f"sample {s.id!r}: risk must be within [0, 1], got {s.risk!r}")
        # the mock model sees only the input: one input, one answer (as at temperature 0)
        if answers.setdefault(s.input, (s.reply, s.risk)) != (s.reply, s.risk):
            raise ValueError(f"sample {s.id!r}: same input as another sample, different reply")


def _utc_seconds(when: datetime) -> datetime:
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def _shifted(text: str | None, by: timedelta) -> str | None:
    return (datetime.fromisoformat(text) + by).isoformat() if text else text


def _as_evaluated(
    log: EvalLog, model: str, model_args: dict[str, Any], created: datetime | None
) -> EvalLog:
    """The log's header naming ``model`` (with ``model_args``) instead of mockllm, dated
    ``created`` (the header's other times move with it)."""
    usage = log.stats.model_usage.get(_MOCK_MODEL)
    spec_update: dict[str, Any] = {"model": model, "model_args": model_args}
    stats_update: dict[str, Any] = {"model_usage": {model: usage} if usage else {}}
    if created is not None:
        shift = created - datetime.fromisoformat(log.eval.created)
        spec_update["created"] = created.isoformat()
        stats_update["started_at"] = _shifted(log.stats.started_at, shift)
        stats_update["completed_at"] = _shifted(log.stats.completed_at, shift)
    return log.model_copy(
        update={
            "eval": log.eval.model_copy(update=spec_update),
            "stats": log.stats.model_copy(update=stats_update),
            "samples": None,
        }
    )


def write_scored_log(
    directory: Path,
    *,
    scorer: str,
    task: str,
    model: str,
    samples: Sequence[ScoredSample],
    task_args: dict[str, Any] | None = None,
    model_args: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    created: datetime | None = None,
    match_location: MatchLocation = "end",
    ignore_case: bool = True,
    metric_namespace: str = "",
    filename: str | None = None,
) -> Path:
    """Evaluate ``samples`` with inspect-ai (mock model) scored by ``scorer``; return the log.

    The log is ``{directory}/{created}_{task}_{id}.eval`` as inspect names it; its header has
    task ``task``, model ``model``, ``task_args`` (``-T``), ``model_args`` (``-M``) and eval
    ``metadata`` (``--metadata``) as given. ``created`` (default: now) dates the header and
    the file name (the samples keep the times of the run).
    ``match_location`` and ``ignore_case`` configure ``match``/``includes``.
    ``metric_namespace`` (e.g. ``"cruijff_kit"``) registers the toolkit scorers' metrics as
    an installed package's are, so their header names read ``cruijff_kit/brier_score``.
    ``filename`` names the file instead of inspect's random id (for reproducible trees).
    """
    _check(samples, scorer, match_location)
    dataset = MemoryDataset(
        [Sample(id=s.id, input=s.input, target=s.target) for s in samples], name=task
    )
    config = (
        GenerateConfig(logprobs=True, top_logprobs=20)
        if scorer == "risk_scorer"
        else GenerateConfig()
    )
    scoring = _scorer(scorer, match_location, ignore_case, metric_namespace)

    @inspect_task(name="scored_log")
    def scored_log(**_task_args: Any) -> Task:
        return Task(name=task, dataset=dataset, solver=generate(), scorer=scoring, config=config)

    logs = inspect_eval(
        scored_log(**(task_args or {})),
        model=get_model(_MOCK_MODEL, custom_outputs=_mock_model(samples, model)),
        metadata=dict(metadata) if metadata is not None else None,
        log_dir=str(directory),
        display="none",
        fail_on_error=False,
        log_realtime=False,
    )
    log = logs[0]
    if log.status != "success":
        raise RuntimeError(f"evaluation failed: {log.status} {log.error}")
    path = Path(log.location)
    stamp = _utc_seconds(created) if created is not None else None
    write_eval_log(
        _as_evaluated(log, model, dict(model_args or {}), stamp), str(path), header_only=True
    )
    if filename is not None:
        return path.rename(path.with_name(filename))
    if stamp is not None:
        prefix = stamp.isoformat().replace(":", "-").replace("+", "-")
        path = path.rename(path.with_name(prefix + path.name[path.name.index("_") :]))
    return path
