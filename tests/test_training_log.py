"""Tests of summarize_experiment.evidence.training_log (streaming scan of torchtune stdout)."""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summarize_experiment.evidence import training_log
from summarize_experiment.evidence.training_log import (
    CURVE_BUCKETS,
    CURVE_POINTS,
    LOSS_PATTERN,
    LossPoint,
    TrainingLogScan,
    job_id_from_stdout_name,
    pick_latest_stdout,
    scan_training_chunks,
    scan_training_log,
)

# ---------------------------------------------------------------- stream builders


def _clock(seconds: int) -> str:
    """tqdm's format_interval."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def bar(epoch: int, step: int, loss: str, n: int, total: int, elapsed: int) -> str:
    """One tqdm redraw of torchtune's progress bar (without the leading separator)."""
    fraction = n / total
    cells = int(fraction * 10)
    body = "█" * cells + ("▌" if cells < 10 else "") + " " * max(0, 9 - cells)
    remaining = int(elapsed / n * (total - n)) if n else 0
    return (
        f"{epoch}|{step}|Loss: {loss}: {int(fraction * 100):3d}%|{body}| {n}/{total} "
        f"[{_clock(elapsed)}<{_clock(remaining)},  2.17it/s]"
    )


HEADER = (
    "Skipping import of cpp extensions due to incompatible torch version\n"
    "Running LoRAFinetuneRecipeSingleDevice with resolved config:\n\n"
    "batch_size: 32\nepochs: 2\n\n"
    "Memory stats after model init:\n\tGPU peak memory active: 2.35 GiB\n"
    "Optimizer and loss are initialized.\n"
    "  0%|          | 0/{total} [00:00<?, ?it/s]"
)


def torchtune_stdout(losses: list[list[str]], seconds_per_step: int = 1) -> str:
    """A training stdout shaped like torchtune's under SLURM, one list of losses per epoch.

    Updates are redrawn with '\\r'; after each epoch come the checkpoint lines, the
    next epoch's empty bar and the repeat of the epoch's last update (whose elapsed
    time includes the checkpoint, 30 s here).
    """
    total = len(losses[0])
    out = [HEADER.replace("{total}", str(total))]
    step = 0
    for index, epoch_losses in enumerate(losses):
        epoch = index + 1
        for n, loss in enumerate(epoch_losses, start=1):
            step += 1
            out.append("\r" + bar(epoch, step, loss, n, total, n * seconds_per_step))
        last = bar(epoch, step, epoch_losses[-1], total, total, total * seconds_per_step + 30)
        out.append(
            f"\nStarting checkpoint save for epoch {index}...\n"
            f"Model checkpoint saved to /scratch/run/epoch_{index}\n"
            "Checkpoint saved in 30.00 seconds.\n"
            f"  0%|          | 0/{total} [00:00<?, ?it/s]\r{last}\n"
        )
    out.append("wandb: Run summary:\nwandb:               global_step 4\nwandb: loss 0.264\n")
    return "".join(out)


def scan_text(text: str | bytes) -> TrainingLogScan:
    data = text.encode() if isinstance(text, str) else text
    return scan_training_chunks([data])


def seconds(timing: bytes) -> int:
    total = 0
    for part in timing.split(b":"):
        total = total * 60 + int(part)
    return total


def naive_scan(data: bytes) -> dict:
    """The loss fields straight from their definitions over the whole buffer."""
    matches = list(LOSS_PATTERN.finditer(data))
    points = [LossPoint(int(m[1]), int(m[2]), float(m[3])) for m in matches]
    finite = [point for point in points if math.isfinite(point.loss)]
    elapsed: dict[int, int] = {}
    for match in matches:
        if match[4]:
            elapsed[int(match[1])] = seconds(match[4])
    width = 1
    while len({point.step // width for point in points}) > CURVE_BUCKETS:
        width *= 2
    by_bucket: dict[int, list[LossPoint]] = {}
    for point in points:
        by_bucket.setdefault(point.step // width, []).append(point)
    curve: list[LossPoint] = []
    for key in sorted(by_bucket):
        group = by_bucket[key]  # in stream order
        last = max(group, key=lambda point: point.step)  # max() keeps the first of equals...
        last = [p for p in group if p.step == last.step][-1]  # ...the later update counts
        kept = [last]
        finite_group = [p for p in group if math.isfinite(p.loss)]
        if finite_group:
            kept.append(min(finite_group, key=lambda point: point.loss))  # earliest on a tie
            kept.append(max(finite_group, key=lambda point: point.loss))
        others = [p for p in dict.fromkeys(kept[1:]) if p != last]
        # step order; on one step the last update comes last and the others by loss
        curve += sorted([*others, last], key=lambda p: (p.step, p is last, p.loss))
    epoch_ends: dict[int, int] = {}
    for point in points:
        epoch_ends[point.epoch] = max(epoch_ends.get(point.epoch, point.step), point.step)
    non_finite = [point for point in points if not math.isfinite(point.loss)]
    return TrainingLogScan(
        final=points[-1] if points else None,
        diverged=bool(points) and not math.isfinite(points[-1].loss),
        min_finite=min(finite, key=lambda point: point.loss) if finite else None,
        curve=curve,
        updates=len(points),
        epoch_ends=dict(sorted(epoch_ends.items())),
        first_non_finite=non_finite[0] if non_finite else None,
        elapsed_seconds=float(sum(elapsed.values())) if elapsed else None,
        bytes_read=len(data),
    ).to_dict()


LOSS_FIELDS = (
    "final",
    "diverged",
    "min_finite",
    "curve",
    "updates",
    "elapsed_seconds",
    "epoch_ends",
    "first_non_finite",
)


def loss_fields(result: dict) -> dict:
    return {key: result[key] for key in LOSS_FIELDS}


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# ---------------------------------------------------------------- realistic logs


def test_reference_shaped_stream() -> None:
    losses = [
        ["10.480173110961914", "0.4998027980327606", "0.29993346333503723", "0.22619308531284332"],
        ["0.30553025007247925", "0.23510268330574036", "0.2378608137369156", "0.26427456736564636"],
    ]
    text = torchtune_stdout(losses, seconds_per_step=28)
    scan = scan_text(text)
    assert scan.final == LossPoint(2, 8, 0.26427456736564636)
    assert not scan.diverged
    assert scan.min_finite == LossPoint(1, 4, 0.22619308531284332)
    assert scan.updates == 10  # 8 updates + each epoch's repeat after the checkpoint
    # last update of each epoch is the repeat: 4 * 28 + 30 s each
    assert scan.elapsed_seconds == 2 * (4 * 28 + 30)
    assert [point.step for point in scan.curve] == list(range(1, 9))
    assert scan.curve[-1] == scan.final
    assert scan.failure_line is None
    assert scan.bytes_read == len(text.encode())
    dumped = json.loads(json.dumps(scan.to_dict(), allow_nan=False))
    assert dumped["final"] == {
        "epoch": 2,
        "step": 8,
        "loss": 0.26427456736564636,
        "loss_repr": "0.26427456736564636",
    }
    assert loss_fields(scan.to_dict()) == loss_fields(naive_scan(text.encode()))


def test_updates_glued_without_separators_and_text_glued_to_bars() -> None:
    # the reference log has updates with no separator in between, and other
    # output printed right after a bar
    text = (
        "  0%|          | 0/250 [00:00<?, ?it/s]Setting `pad_token_id` to `eos_token_id`\n"
        + bar(1, 40, "10.480173110961914", 40, 250, 19)
        + bar(1, 41, "11.064162254333496", 41, 250, 20)
        + "\n"
    )
    scan = scan_text(text)
    assert scan.updates == 2
    assert scan.final == LossPoint(1, 41, 11.064162254333496)
    assert scan.elapsed_seconds == 20


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        ("6.0498432503663935e-06", 6.0498432503663935e-06),
        ("1e-05", 1e-05),
        ("2.5e+16", 2.5e16),
        ("0.2261", 0.2261),
    ],
)
def test_final_loss_keeps_scientific_notation_whole(printed: str, value: float) -> None:
    scan = scan_text(torchtune_stdout([["0.9", "0.5", printed]]))
    assert scan.final is not None
    assert scan.final.loss == value
    assert scan.to_dict()["final"]["loss_repr"] == repr(value)


@pytest.mark.parametrize(
    ("printed", "expected_repr"), [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf")]
)
def test_non_finite_final_loss_is_divergence_not_an_earlier_value(
    printed: str, expected_repr: str
) -> None:
    scan = scan_text(torchtune_stdout([["2.5", "0.75", "0.5", printed]]))
    assert scan.final is not None
    assert scan.final.step == 4
    assert not math.isfinite(scan.final.loss)
    assert scan.diverged
    assert scan.min_finite == LossPoint(1, 3, 0.5)
    result = scan.to_dict()
    assert result["final"]["loss"] is None
    assert result["final"]["loss_repr"] == expected_repr
    assert result["diverged"] is True
    json.dumps(result, allow_nan=False)


def test_finite_again_after_nan_is_not_diverged() -> None:
    scan = scan_text(torchtune_stdout([["2.5", "nan", "0.5"]]))
    assert not scan.diverged
    assert scan.final == LossPoint(1, 3, 0.5)


def test_repeat_after_checkpoint_is_the_final_when_the_next_epoch_never_starts() -> None:
    text = torchtune_stdout([["0.5", "0.25"]]) + "Traceback (most recent call last):\n"
    scan = scan_text(text)
    assert scan.final == LossPoint(1, 2, 0.25)
    assert scan.updates == 3


def test_truncated_number_last_match_wins() -> None:
    full = bar(2, 500, "0.26427456736564636", 250, 250, 113)
    # a partial write cut mid-number, then later the full line
    scan = scan_text(f"\r2|500|Loss: 0.264274567\n\r{full}\n")
    assert scan.final == LossPoint(2, 500, 0.26427456736564636)
    assert scan.updates == 2
    # cut at the very end of the file: the cut value is the last match (spec rule)
    scan = scan_text(f"\r{full}\n\r2|501|Loss: 0.2642")
    assert scan.final == LossPoint(2, 501, 0.2642)


def test_bare_value_running_into_the_next_update() -> None:
    # each `|Loss: ` is judged on its own: the value `1` also reads as the next epoch
    data = b"\r1|5|Loss: 1|6|Loss: 0.5\n"
    scan = scan_text(data)
    assert scan.updates == 2
    assert scan.final == LossPoint(1, 6, 0.5)
    assert loss_fields(scan.to_dict()) == loss_fields(naive_scan(data))


def test_number_cut_inside_its_exponent_is_no_match() -> None:
    scan = scan_text(f"\r{bar(1, 7, '0.5', 7, 9, 7)}\r1|8|Loss: 6.04e-")
    assert scan.final == LossPoint(1, 7, 0.5)
    scan = scan_text(f"\r{bar(1, 7, '0.5', 7, 9, 7)}\r1|8|Loss: 6.04e-0")
    assert scan.final == LossPoint(1, 8, 6.04)


def test_empty_stream() -> None:
    scan = scan_training_chunks([])
    assert scan == TrainingLogScan()
    assert scan.to_dict() == {
        "final": None,
        "diverged": False,
        "min_finite": None,
        "curve": [],
        "updates": 0,
        "elapsed_seconds": None,
        "failure_line": None,
        "bytes_read": 0,
        "epoch_ends": {},
        "first_non_finite": None,
    }
    assert scan_training_chunks([b"", b""]).bytes_read == 0


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "slurm-1.out"
    path.write_bytes(b"")
    assert scan_training_log(path) == TrainingLogScan()


def test_binary_garbage_does_not_crash() -> None:
    garbage = random.Random(7).randbytes(300_000)
    scan = scan_training_chunks(split(garbage, 65_536))
    assert scan.bytes_read == len(garbage)
    assert scan == scan_training_chunks([garbage])
    assert loss_fields(scan.to_dict()) == loss_fields(naive_scan(garbage))


def test_updates_inside_binary_garbage_without_line_breaks() -> None:
    rng = random.Random(3)
    pieces = []
    for step in range(1, 400):
        noise = rng.randbytes(rng.randrange(0, 900)).translate(None, b"|\r\n0123456789")
        pieces.append(noise + b"]" + bar(1, step, repr(1 / step), step, 400, step).encode())
    data = b"".join(pieces)
    expected = naive_scan(data)
    assert expected["updates"] == 399
    for size in (len(data), 1 << 16, 5_000, 777):
        assert loss_fields(scan_training_chunks(split(data, size)).to_dict()) == loss_fields(
            expected
        )


def test_long_realistic_log_streams_exactly(tmp_path: Path) -> None:
    rng = random.Random(11)
    losses = [
        [repr(rng.random() * 10 ** rng.randint(-7, 1)) for _ in range(1500)] for _ in range(3)
    ]
    losses[1][700] = "nan"
    data = torchtune_stdout(losses).encode()
    assert len(data) > 4 * training_log._MIN_STEP
    path = tmp_path / "slurm-5.out"
    path.write_bytes(data)
    whole = scan_training_chunks([data]).to_dict()
    assert loss_fields(whole) == loss_fields(naive_scan(data))
    assert whole["updates"] == 4503
    assert len(whole["curve"]) <= CURVE_POINTS
    for size in (1 << 20, 65_536, 10_007, 4_096):
        assert scan_training_log(path, chunk_size=size).to_dict() == whole


# ---------------------------------------------------------------- failure lines

OOM_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/opt/torchtune/recipes/lora_finetune_single_device.py", line 800, in <module>\n'
    "    sys.exit(recipe_main())\n"
    "             ^^^^^^^^^^^^^\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB. GPU 0 has a "
    "total capacity of 79.25 GiB of which 1.02 GiB is free.\n"
)
TIME_LIMIT = (
    "slurmstepd: error: *** JOB 2773062 ON gpu-node-07 CANCELLED AT 2026-01-01T12:00:00 "
    "DUE TO TIME LIMIT ***\n"
)
VALUE_ERROR = (
    "Traceback (most recent call last):\n"
    '  File "/opt/torchtune/torchtune/_cli/tune.py", line 49, in main\n'
    "    raise ValueError(msg)\n"
    "ValueError: dataset column 'output' not found\n"
)


def test_generic_traceback_gives_its_exception_line() -> None:
    text = torchtune_stdout([["0.5", "0.4"]]) + VALUE_ERROR + "wandb: Find logs at: x\n"
    assert scan_text(text).failure_line == "ValueError: dataset column 'output' not found"


def test_last_traceback_wins_and_chained_exceptions() -> None:
    text = (
        VALUE_ERROR
        + "\nDuring handling of the above exception, another exception occurred:\n\n"
        + VALUE_ERROR.replace("ValueError: dataset column 'output' not found", "KeyError: 'x'")
    )
    assert scan_text(text).failure_line == "KeyError: 'x'"
    bare = 'Traceback (most recent call last):\n  File "x.py", line 1\nKeyboardInterrupt\n'
    assert scan_text(bare).failure_line == "KeyboardInterrupt"


def test_rank_prefixed_traceback() -> None:
    text = (
        "[rank0]: Traceback (most recent call last):\n"
        '[rank0]:   File "/opt/recipes/full_finetune_distributed.py", line 9, in train\n'
        "[rank0]: RuntimeError: NCCL timeout\n"
    )
    assert scan_text(text).failure_line == "[rank0]: RuntimeError: NCCL timeout"


def test_oom_line() -> None:
    scan = scan_text(torchtune_stdout([["0.5"]]) + OOM_TRACEBACK)
    assert scan.failure_line is not None
    assert scan.failure_line.startswith("torch.OutOfMemoryError: CUDA out of memory.")


def test_time_limit_and_preemption_lines() -> None:
    text = torchtune_stdout([["0.5"]]) + "\r" + bar(2, 2, "0.4", 1, 1, 3) + "\n" + TIME_LIMIT
    assert scan_text(text).failure_line == TIME_LIMIT.strip()
    preempted = TIME_LIMIT.replace("TIME LIMIT", "PREEMPTION")
    assert scan_text(VALUE_ERROR + preempted).failure_line == preempted.strip()


def test_failure_priority_oom_over_time_limit_over_exception() -> None:
    assert scan_text(OOM_TRACEBACK + TIME_LIMIT + VALUE_ERROR).failure_line.startswith(
        "torch.OutOfMemoryError"
    )
    assert scan_text(VALUE_ERROR + TIME_LIMIT + VALUE_ERROR).failure_line == TIME_LIMIT.strip()
    oom_kill = (
        "slurmstepd: error: Detected 1 oom_kill event in StepId=2773062.batch. "
        "Some of the step tasks have been OOM Killed.\n"
    )
    assert scan_text(TIME_LIMIT + oom_kill).failure_line == oom_kill.strip()


def test_memory_lines_that_are_not_failures() -> None:
    text = "Memory stats after model init:\n\tGPU peak memory active: 2.35 GiB\n"
    assert scan_text(text).failure_line is None


def test_failure_line_is_trimmed() -> None:
    long_message = "RuntimeError: " + "x" * 1000 + "\n"
    line = scan_text('Traceback (most recent call last):\n  File "a"\n' + long_message)
    assert line.failure_line is not None
    assert len(line.failure_line) == training_log.FAILURE_LINE_CHARS
    assert line.failure_line.startswith("RuntimeError: xxx")
    assert line.failure_line.endswith("…")


def test_failure_line_across_chunk_boundaries() -> None:
    prefix = torchtune_stdout([["0.5"] * 800]).encode()
    data = prefix + OOM_TRACEBACK.encode() + b"\xff\xfe garbage\n"
    expected = scan_training_chunks([data]).to_dict()
    assert expected["failure_line"].startswith("torch.OutOfMemoryError")
    marker = data.index(b"OutOfMemoryError")
    with mock.patch.object(training_log, "_MIN_STEP", 0):
        for offset in (-120, -3, 0, 1, 7, 15, 16, 300):
            cut = marker + offset
            chunks = [data[:cut], data[cut:]]
            assert scan_training_chunks(chunks).to_dict() == expected
        header = data.index(b"Traceback")
        for cut in range(header - 2, header + 40, 3):
            assert scan_training_chunks([data[:cut], data[cut:]]).to_dict() == expected


# ---------------------------------------------------------------- property tests

LOSSES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=20),
    st.floats(min_value=1e-12, max_value=1e-4),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e-05, 6.0498432503663935e-06, 0.0]),
)
NOISE = st.binary(max_size=60).map(lambda raw: raw.replace(b"|", b"/"))
FAILURES = st.sampled_from([OOM_TRACEBACK, TIME_LIMIT, VALUE_ERROR]).map(str.encode)


@st.composite
def tqdm_streams(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, float]], bool]:
    """A tqdm-like stream, the updates written to it, and whether they read back as written.

    An update glued right after a bar-less one does not: its epoch digits then
    follow the previous value's digits.
    """
    pieces: list[bytes] = []
    written: list[tuple[int, int, float]] = []
    epoch, step = draw(st.integers(1, 3)), draw(st.integers(0, 10))
    exact = True
    previous = b"\n"  # how the stream ends so far: "]" (a bar), "v" (a bare value), "\n"
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["update"] * 6 + ["noise", "failure", "blob", "repeat"]))
        if kind in ("noise", "failure", "blob") and previous == b"v":
            pieces.append(b"\n")  # output after a bar-less value starts a new line
        if kind == "noise":
            pieces.append(draw(NOISE) + b"\n")
            previous = b"\n"
        elif kind == "failure":
            pieces.append(b"\n" + draw(FAILURES))
            previous = b"\n"
        elif kind == "blob":
            raw = random.Random(draw(st.integers(0, 99))).randbytes(draw(st.integers(0, 9000)))
            pieces.append(raw.translate(None, b"|\r\n") + b"\n")
            previous = b"\n"
        else:
            if kind == "update":
                step += draw(st.integers(0, 40))
                epoch += draw(st.integers(0, 8)) == 0
            loss = draw(LOSSES)
            elapsed = draw(st.integers(0, 40_000))
            separator = draw(st.sampled_from([b"\r", b"\n", b"\r\n", b""]))
            if separator == b"" and previous == b"v":
                exact = False
            with_bar = draw(st.integers(0, 5)) > 0
            if with_bar:
                text = bar(epoch, step, repr(loss), 1 + step % 50, 50, elapsed).encode()
            else:
                text = f"{epoch}|{step}|Loss: {loss!r}".encode()
            pieces.append(separator + text)
            written.append((epoch, step, loss))
            previous = b"]" if with_bar else b"v"
    return b"".join(pieces), written, exact


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    if draw(st.booleans()):
        size = draw(st.sampled_from([5, 64, 333, 1024, 5000]))
        return split(data, size)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=tqdm_streams(), data=st.data(), slack=st.sampled_from([16, 4096]))
def test_chunking_never_changes_the_result(
    stream: tuple[bytes, list[tuple[int, int, float]], bool], data: st.DataObject, slack: int
) -> None:
    raw, written, exact = stream
    expected = scan_training_chunks([raw]).to_dict()
    assert loss_fields(expected) == loss_fields(naive_scan(raw))
    if written and exact:
        epoch, step, loss = written[-1]
        assert expected["final"]["epoch"] == epoch
        assert expected["final"]["step"] == step
        assert expected["final"]["loss_repr"] == repr(float(repr(loss)))
        assert expected["diverged"] == (not math.isfinite(loss))
        assert expected["updates"] == len(written)
    elif not written:
        assert expected["final"] is None
    chunks = data.draw(splits(raw))
    # read regions as small as possible so that every boundary case is exercised
    with (
        mock.patch.object(training_log, "_MIN_STEP", 0),
        mock.patch.object(training_log, "_SEPARATOR_SLACK", slack),
    ):
        assert scan_training_chunks(chunks).to_dict() == expected


# ---------------------------------------------------------------- SLURM stdout files


@pytest.mark.parametrize(
    ("name", "job_id"),
    [
        ("slurm-2773062.out", "2773062"),
        ("slurm-123_4.out", "123_4"),
        ("/x/ck-out-run/slurm-42.out", "42"),
        ("slurm-.out", None),
        ("slurm-12.err", None),
        ("slurm-12.out.bak", None),
        ("train-12.out", None),
        ("slurm-12_.out", None),
    ],
)
def test_job_id_from_stdout_name(name: str, job_id: str | None) -> None:
    assert job_id_from_stdout_name(name) == job_id


def _touch(path: Path, mtime: float) -> Path:
    path.write_text("x")
    os.utime(path, (mtime, mtime))
    return path


def test_pick_latest_stdout_by_modification_time(tmp_path: Path) -> None:
    old = _touch(tmp_path / "slurm-900.out", 1_700_000_000)
    new = _touch(tmp_path / "slurm-100.out", 1_700_000_500)
    assert pick_latest_stdout([old, new]) == new
    assert pick_latest_stdout([new, old]) == new


def test_pick_latest_stdout_ties_go_to_the_larger_job_id(tmp_path: Path) -> None:
    when = 1_700_000_000
    nine = _touch(tmp_path / "slurm-99.out", when)
    hundred = _touch(tmp_path / "slurm-100.out", when)
    assert pick_latest_stdout([hundred, nine]) == hundred  # numeric, not text order
    assert pick_latest_stdout([nine, hundred]) == hundred
    task_2 = _touch(tmp_path / "slurm-7_2.out", when)
    task_10 = _touch(tmp_path / "slurm-7_10.out", when)
    assert pick_latest_stdout([task_10, task_2]) == task_10


def test_pick_latest_stdout_edge_cases(tmp_path: Path) -> None:
    assert pick_latest_stdout([]) is None
    assert pick_latest_stdout([tmp_path / "slurm-1.out"]) is None
    only = _touch(tmp_path / "slurm-1.out", 1_700_000_000)
    assert pick_latest_stdout([tmp_path / "slurm-2.out", only]) == only


def test_the_curve_keeps_every_bucket_s_spike_and_dip() -> None:
    """Decimated to at most CURVE_POINTS points, the curve still shows a one-step spike and a
    one-step dip (each bucket keeps its lowest and highest loss), and the epoch ends."""
    losses = [[repr(1.0 + 0.001 * (i % 7)) for i in range(2500)] for _ in range(2)]
    losses[0][1344] = "50.0"  # global step 1345
    losses[1][1499] = "0.001"  # global step 4000
    scan = scan_text(torchtune_stdout(losses))
    assert len(scan.curve) <= CURVE_POINTS
    assert scan.updates >= 5000
    by_step = {point.step: point.loss for point in scan.curve}
    assert by_step[1345] == 50.0 and by_step[4000] == 0.001
    assert scan.epoch_ends == {1: 2500, 2: 5000}
    assert scan.first_non_finite is None
    assert [p.step for p in scan.curve] == sorted(p.step for p in scan.curve)
