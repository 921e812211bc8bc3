"""Property-based tests (hypothesis) of what tests/test_training_log.py and tests/test_metrics.py
do not cover: realistic torchtune stdout with noise and random reads, the end-to-end Final Loss
of summary.md, and binary metrics from random confusion matrices (large counts, `other`
predictions) against scikit-learn, the seed's definitions and their symmetries."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from summarize_experiment.evidence.training_log import scan_training_chunks, scan_training_log
from summarize_experiment.judge.metrics import binary_metrics, wilson_interval
from summarize_experiment.pipeline import summarize
from testing.synthetic import training_stdout_text

from .support import SPEC, training_rows, training_stdout

# --------------------------------------------------------------------------- loss values

FINITE = st.one_of(
    st.floats(min_value=0.0, max_value=20.0, allow_nan=False),
    st.floats(min_value=1e-12, max_value=1e-4),  # repr in scientific notation
    st.floats(min_value=1e5, max_value=1e12),  # large, some in scientific notation
    st.floats(min_value=-5.0, max_value=0.0),
)
LOSS = st.one_of(FINITE, st.sampled_from([math.nan, math.inf, -math.inf]))

# Lines a torchtune / SLURM / wandb log really interleaves with the bar, some of them close to
# an update (`Loss`, pipes, numbers) without being one.
NOISE_LINES = [
    "Loss is initialized.",
    "wandb:                      loss 0.28474",
    "wandb: Run summary:",
    "Starting checkpoint save for epoch 0...",
    "Checkpoint saved in 29.72 seconds.",
    "x|y|Loss: 9.99: 50%|█████     | 5/10",  # not `{epoch}|{step}|Loss: `
    "epoch|3|Loss: 7.77",
    "Loss: 8.88 (validation)",
    "|Loss: 6.66",
    "1|2|Loss:",  # no value
    "3|4|Loss: abc",
    "\tGPU peak memory active: 2.41 GiB",
    "W1105 12:00:00.000 torch/distributed: Loss scaler 65536.0",
]


def bar(epoch: int, step: int, loss: float, n: int, total: int, elapsed: int) -> str:
    pct = int(n / total * 100)
    filled = "█" * (10 * n // total)
    return (
        f"{epoch}|{step}|Loss: {loss!r}: {pct:3d}%|{filled:<10}| {n}/{total} "
        f"[{elapsed // 60:02d}:{elapsed % 60:02d}<00:10,  2.00it/s]"
    )


@st.composite
def tqdm_logs(draw: st.DrawFn) -> tuple[bytes, float, int, int]:
    """A torchtune-like stdout: bars joined by \\r (several per physical line), newlines, noise
    lines and blobs in between. Returns the bytes and the LAST update written (loss, epoch,
    step); every earlier loss differs from the last one, so an earlier value cannot pass."""
    count = draw(st.integers(1, 60))
    losses = draw(st.lists(LOSS, min_size=count, max_size=count))
    last = losses[-1]

    def same(a: float, b: float) -> bool:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or (
            math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=1e-3)
        )

    assume(not any(same(v, last) for v in losses[:-1]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    parts = ["Running LoRAFinetuneRecipeSingleDevice with resolved config:\n"]
    epoch, step = 1, 0
    for loss in losses:
        step += rng.randint(1, 3)
        if rng.random() < 0.1:
            epoch += 1
        separator = rng.choice(["\r", "\r", "\r", "\n", "\r\n"])
        parts.append(separator + bar(epoch, step, loss, step % 50 + 1, 50, step))
        if rng.random() < 0.2:
            noise = rng.choice(NOISE_LINES)
            if rng.random() < 0.1:
                noise = "".join(rng.choice("abc XYZ:;-=0123456789.%") for _ in range(5000))
            parts.append("\n" + noise + "\n")
    if rng.random() < 0.5:  # the job then dies: time limit, or a traceback
        parts.append("\nslurmstepd: error: *** JOB 12 ON node CANCELLED AT 2026-01-05T10:00:00")
        parts.append(" DUE TO TIME LIMIT ***\n")
    return "".join(parts).encode("utf-8"), last, epoch, step


def same_loss(seen: float, written: float) -> bool:
    return math.isnan(written) if math.isnan(seen) else seen == written


def random_cuts(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 30)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(log=tqdm_logs(), seed=st.integers(0, 2**32), padding=st.integers(0, 300_000))
def test_final_loss_is_the_last_written_update_for_any_reads(
    log: tuple[bytes, float, int, int], seed: int, padding: int
) -> None:
    """Any split of the stream (including reads of a few bytes, and enough leading log text to
    make the scanner slide its window) gives the last update written, never an earlier one."""
    data, last, epoch, step = log
    data = ("Setting manual seed to local seed 1.\n" * (padding // 37)).encode() + data
    scan = scan_training_chunks(random_cuts(data, random.Random(seed)))
    assert scan.final is not None
    assert same_loss(scan.final.loss, last), (scan.final, last)
    assert (scan.final.epoch, scan.final.step) == (epoch, step)
    assert scan.diverged == (not math.isfinite(last))
    assert scan.to_dict()["final"]["loss_repr"] == repr(last)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    epochs=st.integers(1, 3),
    steps_per_epoch=st.integers(1, 40),
    batch_repeat=st.integers(1, 6),
    ending=st.sampled_from(["completed", "oom", "timeout", "traceback", "diverged"]),
    chunk_size=st.sampled_from([1, 7, 64, 4096, 1 << 20]),
)
def test_realistic_stdout_read_from_disk_in_any_chunk_size(
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
    epochs: int,
    steps_per_epoch: int,
    batch_repeat: int,
    ending: str,
    chunk_size: int,
) -> None:
    """The synthetic torchtune stdout (checkpoint lines, the repeated last bar, wandb summary,
    tracebacks, SLURM time limit) read from a file in chunks of any size."""
    total = epochs * steps_per_epoch
    assume(ending == "completed" or ending == "diverged" or epochs > 1 or steps_per_epoch > 1)
    losses = data.draw(st.lists(FINITE, min_size=total, max_size=total, unique=True))
    stop = None
    if ending in ("oom", "timeout", "traceback"):
        stop = data.draw(st.integers(1, total - 1)) if total > 1 else None
        assume(stop is not None)
    diverge = data.draw(st.integers(1, total)) if ending == "diverged" else None
    text = training_stdout_text(
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        losses=losses,
        ending=ending,
        batch_repeat=batch_repeat,
        stop_step=stop,
        diverge_step=diverge,
    )
    path = tmp_path_factory.mktemp("stdout") / "slurm-1.out"
    path.write_text(text, encoding="utf-8", newline="")
    scan = scan_training_log(path, chunk_size=chunk_size)
    last_step = stop if stop is not None else total
    expected = math.nan if ending == "diverged" else losses[last_step - 1]
    assert scan.final is not None
    assert same_loss(scan.final.loss, expected), (scan.final, expected)
    assert scan.final.step == last_step
    assert scan.final.epoch == (last_step - 1) // steps_per_epoch + 1
    assert scan.diverged == (ending == "diverged")


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def loss_experiment(tmp_path_factory: pytest.TempPathFactory, hostile_base: Path) -> Path:
    tree = tmp_path_factory.mktemp("e2e-loss") / "tree"
    shutil.copytree(hostile_base, tree, symlinks=True)
    return tree / SPEC.name


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(log=tqdm_logs())
def test_summary_final_loss_is_the_last_written_loss(
    loss_experiment: Path, log: tuple[bytes, float, int, int]
) -> None:
    """The whole pipeline: r1's training stdout replaced by a random stream; summary.md's Final
    Loss is the last value written (shown to 4 significant digits, or nan / inf as diverged)
    and summary.json keeps it exactly."""
    data, last, epoch, step = log
    training_stdout(loss_experiment, "r1").write_bytes(data)
    code, _result = summarize(loss_experiment, use_sacct=False)
    assert code == 0
    md = (loss_experiment / "summary.md").read_text(encoding="utf-8")
    row = training_rows(md)["r1"]
    shown = row["Final Loss"]
    if math.isfinite(last):
        assert not shown.endswith("(diverged)")
        assert float(shown) == pytest.approx(last, rel=1e-3, abs=0), (shown, last)
    else:
        assert shown == f"{last!r} (diverged)"
    assert row["Total Steps"] == str(step) and row["Epochs"] == str(epoch)
    summary = json.loads((loss_experiment / "summary.json").read_text(encoding="utf-8"))
    [training] = [t for t in summary["training"] if t["run"] == "r1"]
    assert training["final_loss_repr"] == repr(last)
    if math.isfinite(last):
        assert training["final_loss"] == last
    else:
        assert training["final_loss"] is None and training["diverged"] is True


# --------------------------------------------------------------------------- metrics

COUNT = st.integers(0, 5000)


@st.composite
def confusion(draw: st.DrawFn) -> dict[str, int]:
    """tp, tn, fp, fn and `other` answers (neither 0 nor 1) per true class."""
    cells = {
        k: draw(COUNT if draw(st.booleans()) else st.integers(0, 5))
        for k in ("tp", "tn", "fp", "fn", "other0", "other1")
    }
    assume(sum(cells.values()) > 0)
    return cells


def expand(cells: dict[str, int], rng: random.Random) -> tuple[list[str], list[object]]:
    pairs: list[tuple[str, object]] = []
    pairs += [("1", "1")] * cells["tp"] + [("0", "0")] * cells["tn"]
    pairs += [("0", "1")] * cells["fp"] + [("1", "0")] * cells["fn"]
    pairs += [("0", rng.choice([None, "yes", "2", ""])) for _ in range(cells["other0"])]
    pairs += [("1", rng.choice([None, "no", "-1", "0.5"])) for _ in range(cells["other1"])]
    rng.shuffle(pairs)
    return [t for t, _ in pairs], [p for _, p in pairs]


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@settings(max_examples=120, deadline=None)
@given(cells=confusion(), seed=st.integers(0, 2**32))
def test_binary_metrics_from_random_confusion_matrices(cells: dict[str, int], seed: int) -> None:
    targets, predictions = expand(cells, random.Random(seed))
    result = binary_metrics(targets, predictions)
    tp, tn, fp, fn = cells["tp"], cells["tn"], cells["fp"], cells["fn"]
    other = cells["other0"] + cells["other1"]
    n = tp + tn + fp + fn + other
    assert result["samples"] == n
    assert result["confusion_matrix"] == {"tp": tp, "tn": tn, "fp": fp, "fn": fn, "other": other}

    # the seed's definitions
    recall_1 = ratio(tp, tp + fn + cells["other1"])
    recall_0 = ratio(tn, tn + fp + cells["other0"])
    precision_1 = ratio(tp, tp + fp)
    assert result["accuracy"] == pytest.approx((tp + tn) / n)
    assert result["recall_1"] == pytest.approx(recall_1)
    assert result["recall_0"] == pytest.approx(recall_0)
    assert result["precision_1"] == pytest.approx(precision_1)
    present = [r for r in (recall_0, recall_1) if r is not None]
    assert result["balanced_accuracy"] == pytest.approx(sum(present) / len(present))
    if recall_0 is not None and recall_1 is not None:
        assert result["balanced_accuracy"] == pytest.approx((recall_0 + recall_1) / 2)
    if precision_1 and recall_1:
        assert result["f1"] == pytest.approx(2 * precision_1 * recall_1 / (precision_1 + recall_1))
    positives_anywhere = tp + fp + fn + cells["other1"]
    if positives_anywhere:
        assert result["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn + cells["other1"]))
    else:
        assert result["f1"] is None

    # scikit-learn, with `other` as its own label (-1) that no target has
    y_true = np.array([int(t) for t in targets])
    y_pred = np.array([int(p) if p in ("0", "1") else -1 for p in predictions])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
        assert result["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
        if positives_anywhere:
            assert result["f1"] == pytest.approx(
                f1_score(y_true, y_pred, labels=[1], average="macro", zero_division=0.0)
            )
        if recall_1 is not None:
            assert result["recall_1"] == pytest.approx(
                recall_score(y_true, y_pred, labels=[1], average="macro")
            )
        if precision_1 is not None:
            assert result["precision_1"] == pytest.approx(
                precision_score(y_true, y_pred, labels=[1], average="macro")
            )
    matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
    assert matrix.tolist() == [[tn, fp], [fn, tp]]

    # the accuracy's Wilson interval contains it
    low, high = wilson_interval(tp + tn, n)
    assert low <= result["accuracy"] <= high


@settings(max_examples=80, deadline=None)
@given(cells=confusion(), seed=st.integers(0, 2**32))
def test_binary_metrics_symmetries(cells: dict[str, int], seed: int) -> None:
    """Order of the samples does not matter; swapping the classes swaps the recalls and keeps
    accuracy and balanced accuracy."""
    rng = random.Random(seed)
    targets, predictions = expand(cells, rng)
    result = binary_metrics(targets, predictions)
    order = list(range(len(targets)))
    rng.shuffle(order)
    shuffled = binary_metrics([targets[i] for i in order], [predictions[i] for i in order])
    assert shuffled == result

    swap = {"0": "1", "1": "0"}
    swapped = binary_metrics(
        [swap[t] for t in targets],
        [swap.get(p, p) if isinstance(p, str) else p for p in predictions],
    )
    assert swapped["accuracy"] == pytest.approx(result["accuracy"])
    assert swapped["balanced_accuracy"] == pytest.approx(result["balanced_accuracy"])
    assert swapped["recall_0"] == pytest.approx(result["recall_1"])
    assert swapped["recall_1"] == pytest.approx(result["recall_0"])
    matrix, flipped = result["confusion_matrix"], swapped["confusion_matrix"]
    assert (flipped["tp"], flipped["tn"], flipped["fp"], flipped["fn"]) == (
        matrix["tn"],
        matrix["tp"],
        matrix["fn"],
        matrix["fp"],
    )
    assert flipped["other"] == matrix["other"]
