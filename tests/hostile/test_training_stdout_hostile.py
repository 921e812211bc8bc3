"""Bad training stdout: binary garbage, empty, diverged, huge. Final Loss is the file's last
update or N/A with the reason; memory does not grow with the file."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from testing.synthetic import training_stdout_text, write_training_stdout

from .support import (
    REPO,
    eval_row,
    last_block,
    run_status,
    run_summary,
    training_rows,
    training_stdout,
)


def accuracy(row: dict[str, str]) -> float:
    return float(row["Accuracy"].split()[0])


def assert_loss_not_available(exp: Path, md: str, result: dict, stdout: Path) -> None:
    row = training_rows(md)["r1"]
    assert row["Final Loss"] == "N/A"
    assert row["Total Steps"] == "-" and row["Epochs"] == "-"
    expected = f"{stdout}: no `epoch|step|Loss: value` line found; loss is N/A"
    assert f"- r1: {expected}" in md
    assert f"r1: {expected}" in result["warnings"]
    entry = next(e for e in last_block(exp) if e.action == "EXTRACT_LOSS" and e.subject == "r1")
    assert entry.level == "WARNING" and str(stdout) in entry.details + entry.result
    # the rest of the summary is unaffected
    assert run_status(md)["r1"]["Fine-tuning"] == "COMPLETED"  # all checkpoints are there
    assert accuracy(eval_row(md, "r1", 0)) == 0.8
    assert accuracy(eval_row(md, "r1", 1)) == 0.9


def test_binary_garbage_stdout(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    stdout.write_bytes(random.Random(7).randbytes(300_000).replace(b"|", b"/"))
    code, result, md = run_summary(exp)
    assert code == 0 and result["status"] == "partial"
    assert_loss_not_available(exp, md, result, stdout)


def test_empty_stdout(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    stdout.write_bytes(b"")
    code, result, md = run_summary(exp)
    assert code == 0 and result["status"] == "partial"
    assert_loss_not_available(exp, md, result, stdout)


def test_diverged_run_shows_nan_not_the_last_finite_loss(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    losses = [2.0 - 0.03 * i for i in range(50)]
    write_training_stdout(
        stdout, epochs=2, steps_per_epoch=25, losses=losses, ending="diverged", diverge_step=41
    )
    code, _result, md = run_summary(exp)
    assert code == 0
    row = training_rows(md)["r1"]
    assert row["Final Loss"] == "nan (diverged)"
    assert row["Total Steps"] == "50"
    assert row["Min Loss"].startswith("min 0.83 @ step 40")  # the last finite one, 2.0 - 1.17
    assert run_status(md)["r1"]["Fine-tuning"] == "COMPLETED (diverged)"
    entry = next(e for e in last_block(exp) if e.action == "EXTRACT_LOSS" and e.subject == "r1")
    assert entry.level == "WARNING" and "diverged" in entry.result


MEASURE = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from summarize_experiment.pipeline import summarize
    start = time.monotonic()
    code, result = summarize(Path(sys.argv[1]), use_sacct=False, jobs=1)
    # VmHWM, this process's own peak: getrusage's ru_maxrss would also count the peak of the
    # pytest process this one was forked from (Linux keeps it across exec)
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print(json.dumps({"code": code, "seconds": time.monotonic() - start, "peak_kib": peak}))
    """
)

BIG_BYTES = 300 << 20
PEAK_LIMIT_KIB = 300 * 1024


@pytest.mark.slow  # ~15-25 s: writes and scans 300 MB; runs by default
def test_300_mb_stdout_streams_in_bounded_memory(exp: Path) -> None:
    """300 MB of realistic tqdm updates (one 2 MB epoch of 20 000 updates, repeated), then a
    distinct last update: the summary shows that last value, and the summarizer's peak RSS,
    measured in its own process, stays under 300 MB (the file alone would exceed it)."""
    stdout = training_stdout(exp, "r1")
    text = training_stdout_text(epochs=1, steps_per_epoch=20_000, batch_repeat=3, seed=3)
    start, end = text.index("  0%|"), text.index("wandb:\nwandb: Run history")
    head, body, tail = text[:start].encode(), text[start:end].encode(), text[end:].encode()
    last = "\r2|987654|Loss: 6.0498432503663935e-06: 100%|██████████| 20000/20000 [41:07<00:00]\n"
    try:
        with stdout.open("wb") as out:
            out.write(head)
            written = 0
            while written < BIG_BYTES:
                out.write(body)
                written += len(body)
            out.write(last.encode())
            out.write(tail)
        assert stdout.stat().st_size > BIG_BYTES
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, str(exp), str(REPO)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"300 MB stdout: {measured} (wall {time.monotonic() - started:.1f} s)")
        assert measured["code"] == 0
        assert measured["peak_kib"] < PEAK_LIMIT_KIB, measured
        md = (exp / "summary.md").read_text(encoding="utf-8")
        row = training_rows(md)["r1"]
        assert row["Final Loss"] == "6.050e-06"
        assert row["Total Steps"] == "987654" and row["Epochs"] == "2"
        data = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
        [training] = [t for t in data["training"] if t["run"] == "r1"]
        assert training["final_loss_repr"] == "6.0498432503663935e-06"
    finally:
        stdout.unlink(missing_ok=True)
