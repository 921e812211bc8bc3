"""Time one paired comparison at the scale of a real log (2,000 samples).

Prints, per statistic, the CPU time per call of ``paired_bootstrap_difference`` with the
defaults (and, for reference, with BCa and with scipy.stats.bootstrap called on every array with
``paired=True``), fastest and median of the calls, and ``paired_accuracy_difference``.  The
fastest call is the best estimate of the cost on an idle machine.

Also the per-log interval of balanced accuracy: ``balanced_accuracy_interval`` (BCa drawn over
the four confusion cells) against ``scipy.stats.bootstrap(..., paired=True, method="BCa")`` on
the same 2,000 pairs, the reason the former exists (each binary log of the sweep needs one).

    .venv/bin/python bench/compare_bootstrap.py [calls]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from summarize_experiment.judge.compare import (
    BOOTSTRAP_BATCH,
    BOOTSTRAP_RESAMPLES,
    balanced_accuracy,
    f1,
    paired_accuracy_difference,
    paired_bootstrap_difference,
    rmse,
)
from summarize_experiment.judge.metrics import balanced_accuracy_interval

SAMPLES = 2000
INTERVAL_RESAMPLES = 2000  # balanced_accuracy_interval's default
DEFAULT_CALLS = 60


def _scipy_direct(statistic: Callable, data_a: tuple, data_b: tuple) -> object:
    k = len(data_a)

    def difference(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(*arrays[:k], axis=axis) - statistic(*arrays[k:], axis=axis)

    return stats.bootstrap(
        data_a + data_b,
        difference,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=BOOTSTRAP_BATCH,
        method="percentile",
        rng=np.random.default_rng(0),
    )


def main(calls: int) -> None:
    """Time the calls, interleaved so that a busy spell slows them all alike."""
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 2, SAMPLES).astype(np.int8)
    predictions_a = np.where(rng.random(SAMPLES) < 0.8, targets, 1 - targets).astype(np.int8)
    predictions_b = np.where(rng.random(SAMPLES) < 0.75, targets, 1 - targets).astype(np.int8)
    numbers = rng.normal(size=SAMPLES)
    answers_a = numbers + rng.normal(size=SAMPLES)
    answers_b = numbers + 1.2 * rng.normal(size=SAMPLES)
    answers_b[::20] = np.nan
    jobs: dict[str, Callable[[], object]] = {}
    for name, statistic, data_a, data_b in (
        (
            "balanced_accuracy",
            balanced_accuracy,
            (targets, predictions_a),
            (targets, predictions_b),
        ),
        ("f1", f1, (targets, predictions_a), (targets, predictions_b)),
        ("rmse", rmse, (numbers, answers_a), (numbers, answers_b)),
    ):
        for method in ("percentile", "BCa"):
            jobs[f"{name} {method}"] = lambda s=statistic, a=data_a, b=data_b, m=method: (
                paired_bootstrap_difference(s, a, b, method=m)
            )
        jobs[f"{name} scipy paired=True"] = lambda s=statistic, a=data_a, b=data_b: _scipy_direct(
            s, a, b
        )
    labels, guesses = [str(v) for v in targets], [str(v) for v in predictions_a]
    jobs["balanced_accuracy_interval (per log)"] = lambda: balanced_accuracy_interval(
        labels, guesses, resamples=INTERVAL_RESAMPLES
    )
    jobs["scipy BCa interval (per log)"] = lambda: stats.bootstrap(
        (targets, predictions_a),
        balanced_accuracy,
        paired=True,
        vectorized=True,
        n_resamples=INTERVAL_RESAMPLES,
        method="BCa",
        rng=np.random.default_rng(0),
    )
    correct_a, correct_b = predictions_a == targets, predictions_b == targets
    jobs["paired_accuracy_difference"] = lambda: paired_accuracy_difference(correct_a, correct_b)
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(calls):
        for name, job in jobs.items():
            start = time.process_time()
            job()
            times[name].append(time.process_time() - start)
    print(f"n = {SAMPLES}, B = {BOOTSTRAP_RESAMPLES}, batch = {BOOTSTRAP_BATCH}, {calls} calls")
    for name, values in times.items():
        fastest, median = 1000 * min(values), 1000 * float(np.median(values))
        print(f"{name:36s} fastest {fastest:6.1f} ms   median {median:6.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CALLS)
