"""Reading with one process or with a pool gives the same summary, byte for byte.

``scripts/summarize.py --jobs 1`` reads every artifact in-process; ``--jobs 4`` reads them in the
parent and three forked workers, in whatever order they finish. Both must write the same
summary.md and summary.json (up to the generation time) and print the same JSON result, also
when stderr is a terminal and the progress bar is drawn while the pool reads.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec

REPO = Path(__file__).resolve().parent.parent
SUMMARIZE = REPO / "scripts" / "summarize.py"
CONTROL = "Llama-3.2-1B-Instruct_base"
SAMPLES = 24
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _answers(targets: list[str], right: float, rng: random.Random) -> list[str]:
    wrong = {"0": "1", "1": "0"}
    out = []
    for target in targets:
        roll = rng.random()
        if roll < right:
            out.append(target)
        elif roll < right + 0.05:
            out.append("yes")
        else:
            out.append(wrong.get(target, str(int(target) + 1)))
    return out


def _spec() -> ExperimentSpec:
    """4 fine-tuned runs (one failed after an epoch) x 3 epochs x 2 tasks + a control: 20
    logs, with an errored evaluation, a failed evaluation job and a missing cell."""
    rng = random.Random(7)
    binary = [rng.choice("01") for _ in range(SAMPLES)]
    numeric = [str(rng.randint(2, 30)) for _ in range(SAMPLES)]
    runs = [
        RunSpec("r4_lr1e-5", parameters={"lora_rank": 4}, final_loss=0.31),
        RunSpec("r8_lr1e-5", parameters={"lora_rank": 8}, final_loss=0.27),
        RunSpec("r16_lr1e-5", parameters={"lora_rank": 16}, training="oom", epochs_trained=1),
        RunSpec("r32_lr1e-5", parameters={"lora_rank": 32}, final_loss=0.24),
        RunSpec(CONTROL, type="control"),
    ]
    evals = []
    for run in runs:
        epochs = [None] if run.type == "control" else [0, 1, 2]
        if run.training == "oom":
            epochs = [0]
        for epoch in epochs:
            for task, targets in (("capitalization", binary), ("sum_digits", numeric)):
                right = 0.5 + 0.1 * (epoch or 0) + rng.random() * 0.1
                evals.append(
                    EvalSpec(run.name, task, epoch, targets, _answers(targets, right, rng))
                )
    evals.append(EvalSpec("r4_lr1e-5", "capitalization", 2, binary, binary, status="error"))
    evals.append(EvalSpec("r8_lr1e-5", "sum_digits", 2, numeric, numeric, status="job_failed"))
    evals.append(EvalSpec("r8_lr1e-5", "capitalization", 2, binary, binary, status="missing"))
    seen: dict[tuple, EvalSpec] = {}
    for cell in evals:  # the later (failure) specs replace the successful ones
        seen[cell.run, cell.task, cell.epoch] = cell
    return ExperimentSpec(
        name="parallel_identical",
        runs=runs,
        tasks=["capitalization", "sum_digits"],
        evals=list(seen.values()),
        epochs=3,
    )


def _outputs(exp: Path, stdout: str) -> tuple[dict, str, dict]:
    result = json.loads(stdout)
    markdown = "\n".join(
        "**Generated:** <time>" if "**Generated:**" in line else line
        for line in (exp / "summary.md").read_text().splitlines()
    )
    data = json.loads((exp / "summary.json").read_text())
    data.pop("generated_at", None)
    data.pop("summary_md_sha256", None)  # the digest of summary.md, whose time differs
    return result, markdown, data


def _command(exp: Path, jobs: int) -> list[str]:
    return [
        sys.executable,
        str(SUMMARIZE),
        str(exp),
        "--no-sacct",
        "--no-cache",
        "--jobs",
        str(jobs),
    ]


def _summarize(exp: Path, jobs: int) -> tuple[dict, str, dict]:
    done = subprocess.run(
        _command(exp, jobs), capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    return _outputs(exp, done.stdout)


def _summarize_on_terminal(exp: Path, jobs: int) -> tuple[tuple[dict, str, dict], str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); returns the outputs and what was
    drawn on the terminal."""
    master, slave = pty.openpty()
    drawn: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO once the child has closed the terminal
                return
            if not data:
                return
            drawn.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    try:
        proc = subprocess.Popen(
            _command(exp, jobs), stdout=subprocess.PIPE, stderr=slave, cwd=REPO, env=env
        )
        os.close(slave)
        stdout, _ = proc.communicate(timeout=120)
        reader.join(timeout=10)
    finally:
        os.close(master)
    terminal = b"".join(drawn).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal
    return _outputs(exp, stdout.decode()), terminal


def test_jobs_1_and_4_write_the_same_summary(build) -> None:
    exp = build(_spec())
    assert len(list(exp.glob("*/eval/logs/*.eval"))) == 20
    one = _summarize(exp, 1)
    four = _summarize(exp, 4)
    assert one[0] == four[0]  # the JSON result: counts, best runs, warnings
    assert one[1] == four[1]  # summary.md
    assert one[2] == four[2]  # summary.json
    assert one[0]["counts"]["evaluations"] >= 15
    assert one[0]["counts"]["errors"] >= 1
    assert "**Generated:** <time>" in one[1]

    on_terminal, drawn = _summarize_on_terminal(exp, 4)
    assert on_terminal == four  # the bar changes nothing, and stdout holds only the JSON
    assert "reading logs" in drawn
    counts = [tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+)", ANSI.sub("", drawn))]
    total = 20 + len(list(exp.glob("*/eval/slurm-*.out"))) + 4  # + one training stdout per run
    assert (total, total) in counts, counts  # the last artifact is drawn before the bar goes


def test_parse_status_jobs_give_the_same_status(build) -> None:
    """parse_status.py reads log headers with the same pool: any --jobs, the same document;
    --jobs 0 is refused as a usage error."""
    exp = build(_spec())
    script = REPO / "scripts" / "parse_status.py"
    documents = []
    for jobs in ("1", "3"):
        done = subprocess.run(
            [sys.executable, str(script), str(exp), "--no-sacct", "--jobs", jobs],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr
        documents.append(json.loads(done.stdout))
    assert documents[0] == documents[1]
    cells = [cell for run in documents[0]["runs"] for cell in run["cells"]]
    assert sum(1 for cell in cells if cell["log"]) >= 18
    refused = subprocess.run(
        [sys.executable, str(script), str(exp), "--jobs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--jobs: must be at least 1, got 0" in refused.stderr


READ_ONLY = """
import json, sys
from pathlib import Path
from summarize_experiment.evidence import eval_logs, readers
reads = [eval_logs.read_log(Path(p), with_samples=True) for p in sys.argv[1:]]
print(json.dumps({
    "heavy": sorted(m for m in ("sklearn", "scipy") if m in sys.modules),
    "samples": [[s.ids, s.target_labels.typecode, list(s.target_labels), list(s.answer_labels),
                 [None if v != v else v for v in s.answer_numbers], list(s.values), s.errored]
                for s in (r.samples for r in reads)],
}))
"""


def test_reading_logs_needs_no_scikit_learn(tmp_path: Path, template_cache: Path) -> None:
    """A process that only reads logs (what the forked readers do) never imports scikit-learn
    or scipy; its compact samples give the judge what it needs."""
    from summarize_experiment.evidence import eval_logs
    from summarize_experiment.judge.scoring import score_log
    from testing.synthetic import write_inspect_log

    binary = write_inspect_log(
        tmp_path / "binary",
        task="capitalization",
        model="hf/r4_epoch_0",
        targets=["1", "0", "1", "1"],
        answers=["1", "1", "yes", "1"],
        cache_dir=template_cache,
    )
    numeric = write_inspect_log(
        tmp_path / "numeric",
        task="sum_digits",
        model="hf/r4_epoch_0",
        targets=["12", "7", "30"],
        answers=["12", "9.5", "n/a"],
        cache_dir=template_cache,
    )
    done = subprocess.run(
        [sys.executable, "-c", READ_ONLY, str(binary), str(numeric)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    assert result["samples"] == [
        # ids, label typecode, targets, answers (-1: labels.OTHER), answers as numbers, C/I, errored
        [
            ["1", "2", "3", "4"],
            "b",
            [1, 0, 1, 1],
            [1, 1, -1, 1],
            [1.0, 1.0, None, 1.0],
            [1.0, 0.0, 0.0, 1.0],
            0,
        ],
        [["1", "2", "3"], "b", [-1, -1, -1], [-1, -1, -1], [12.0, 9.5, None], [1.0, 0.0, 0.0], 0],
    ]
    read = eval_logs.read_log(binary, with_samples=True)
    metrics = score_log(read.header, read.samples)
    assert (metrics.family, metrics.accuracy) == ("classification", 0.5)
    assert metrics.confusion is not None
    assert (metrics.confusion.tp, metrics.confusion.fp, metrics.confusion.other) == (2, 1, 1)
    assert (metrics.class_balance.n_1, metrics.class_balance.n_0) == (3, 1)
