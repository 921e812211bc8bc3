"""Every script's command-line contract, as reference.md documents it, run as a subprocess,
and SKILL.md's by-hand path, parsed from SKILL.md itself, against the one command.

Each script's stdout must be exactly one JSON document (``json.loads`` of the whole stdout,
NaN/Infinity rejected), with every key reference.md lists for that script, of the right type
and value, and the documented exit code. The five commands SKILL.md lists under "The steps by
hand", run in order on the experiment, must write the same summary.md, summary.json and
process log as ``scripts/summarize.py`` apart from timestamps.

Speed: a cold start of a script costs 1.5-4 s of CPU (scikit-learn, inspect-ai imports). Every
script is run cold at least once, exactly as documented (``[sys.executable, "scripts/x.py",
...]``, cwd = the repository root); the other invocations go through a small fork server: a
child interpreter that imports the third-party libraries once, then forks one process per
invocation, which runs the script file as ``__main__`` with its stdout and stderr redirected
to files, and exits with the script's exit code.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from summarize_experiment.vocabulary import LOG_ACTIONS, STEPS
from testing.synthetic import (
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    build_experiment,
    write_training_stdout,
)

pytestmark = pytest.mark.xdist_group("scripts_contract")

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = [
    "scripts/summarize.py",
    "scripts/parse_status.py",
    "scripts/extract_loss.py",
    "tools/inspect/parse_eval_log.py",
    "tools/inspect/summary_binary.py",
    "scripts/render_summary.py",
    "scripts/slurm_jobs.py",
]
# the options SKILL.md or reference.md document for each script (checked against both)
DOCUMENTED_OPTIONS = {
    "scripts/summarize.py": ["--jobs", "--no-sacct", "--sacct-timeout", "--when-done"],
    "scripts/parse_status.py": ["--steps-dir"],
    "scripts/extract_loss.py": ["--experiment", "--run", "--steps-dir"],
    "tools/inspect/parse_eval_log.py": ["--experiment", "--steps-dir"],
    "tools/inspect/summary_binary.py": ["--experiment", "--json", "--steps-dir"],
    "scripts/render_summary.py": ["--steps-dir"],
    "scripts/slurm_jobs.py": [],
}

NAME = "contract_lora_rank"
CAP, SUM = "capitalization", "sum_digits"
R4, R16, DIVERGED, NO_STDOUT = "r4_lr1e-5", "r16_lr1e-5", "rdiv.lr-1e-3", "r0_no-stdout"
CONTROL = "base-model_base"
FINETUNED = [R4, R16, DIVERGED, NO_STDOUT]
EPOCHS, STEPS_PER_EPOCH = 2, 5
FINAL_LOSS = 0.25
CAP_TARGETS = ["1"] * 14 + ["0"] * 6
CAP_ANSWERS = list(CAP_TARGETS)
CAP_ANSWERS[0] = "0"  # a false negative
CAP_ANSWERS[1] = "yes"  # off-label on a positive
CAP_ANSWERS[14] = "1"  # a false positive
CAP_ANSWERS[15] = "2"  # off-label on a negative
SUM_TARGETS = [str(3 + i) for i in range(12)]
SUM_ANSWERS = list(SUM_TARGETS)
SUM_ANSWERS[0] = "9"
SUM_ANSWERS[1] = "seven"


def experiment_spec() -> ExperimentSpec:
    runs = [
        RunSpec(R4, steps_per_epoch=STEPS_PER_EPOCH, final_loss=FINAL_LOSS),
        RunSpec(R16, steps_per_epoch=STEPS_PER_EPOCH, training="oom"),
        RunSpec(DIVERGED, steps_per_epoch=STEPS_PER_EPOCH, training="diverged"),
        RunSpec(NO_STDOUT, steps_per_epoch=STEPS_PER_EPOCH),
        RunSpec(CONTROL, type="control"),
    ]
    evals = [
        EvalSpec(R4, CAP, 1, CAP_TARGETS, CAP_ANSWERS),
        EvalSpec(R4, SUM, 1, SUM_TARGETS, SUM_ANSWERS),
        EvalSpec(DIVERGED, CAP, 1, CAP_TARGETS, CAP_TARGETS, status="missing"),
        EvalSpec(NO_STDOUT, CAP, 1, CAP_TARGETS, CAP_TARGETS, status="missing"),
        EvalSpec(CONTROL, CAP, None, CAP_TARGETS, CAP_ANSWERS, status="cancelled"),
    ]
    matrix = [
        {"run": R4, "tasks": [CAP, SUM], "epochs": [1]},
        {"run": R16, "tasks": [CAP], "epochs": [1]},
        {"run": DIVERGED, "tasks": [CAP], "epochs": [1]},
        {"run": NO_STDOUT, "tasks": [CAP], "epochs": [1]},
        {"run": CONTROL, "tasks": [CAP], "epochs": None},
    ]
    return ExperimentSpec(
        name=NAME, runs=runs, tasks=[CAP, SUM], evals=evals, epochs=EPOCHS, matrix=matrix
    )


def _path_without_slurm() -> str:
    """PATH without the folders that hold sacct or squeue: every script here runs as on a
    machine without SLURM, the by-hand path and the one command alike."""
    kept = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any(os.path.exists(os.path.join(d, x)) for x in ("sacct", "squeue"))
    ]
    return os.pathsep.join(kept)


NO_SLURM_ENV = {**os.environ, "PATH": _path_without_slurm()}

HELP_PROBE = r"""
import contextlib, io, json, runpy, sys
out = {}
for script in sys.argv[1:]:
    buffer = io.StringIO()
    sys.argv = [script, "--help"]
    code = "did not exit"
    with contextlib.redirect_stdout(buffer):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = exc.code
    out[script] = {"code": code, "text": buffer.getvalue()}
sys.stdout.write(json.dumps(out))
"""


def reject_non_json_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    cold: bool  # a fresh `python script ...` process (else: forked by the fork server)

    def json(self):
        """The whole stdout as one JSON document (fails on anything else on stdout)."""
        try:
            return json.loads(self.stdout, parse_constant=reject_non_json_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise AssertionError(
                f"stdout of {self.args} is not one JSON document ({exc}):\n{self.stdout[:2000]}"
            ) from None


FORK_SERVER = r"""
import json, os, runpy, signal, sys, traceback
requests = os.fdopen(os.dup(0), "r")
replies = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
os.dup2(null, 0)
os.dup2(null, 1)  # nothing but replies on the pipe to the test, whatever the imports print
import numpy, scipy.special, scipy.stats, sklearn.metrics, yaml  # the heavy imports, once
import inspect_ai.log

def run_script(args, out, err, cwd, stdin=None):
    code = 1
    try:
        os.chdir(cwd)
        if stdin is not None:
            handle = os.open(stdin, os.O_RDONLY)
            os.dup2(handle, 0)
            os.close(handle)
        for fd, path in ((1, out), (2, err)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(handle, fd)
            os.close(handle)
        signal.alarm(300)
        sys.argv = list(args)
        try:
            runpy.run_path(args[0], run_name="__main__")
            code = 0
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

for line in requests:
    batch = json.loads(line)
    queue, running, codes = list(enumerate(batch)), {}, {}
    while queue or running:
        while queue and len(running) < 2:
            index, job = queue.pop(0)
            pid = os.fork()
            if pid == 0:
                run_script(**job)
            running[pid] = index
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    replies.write(json.dumps([codes[i] for i in range(len(batch))]) + "\n")
    replies.flush()
"""


STDIN = "<stdin>"


class ForkServer:
    """Runs batches of script invocations in processes forked from one warm interpreter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**NO_SLURM_ENV, "OPENBLAS_NUM_THREADS": "1"},
        )

    def run(self, invocations: list[tuple[str | Path, ...]]) -> list[Ran]:
        """Run each invocation; one given as ``(..., STDIN, path)`` reads stdin from path."""
        jobs = []
        for invocation in invocations:
            self.count += 1
            args = [str(a) for a in invocation]
            stdin = None
            if len(args) >= 2 and args[-2] == STDIN:
                args, stdin = args[:-2], args[-1]
            jobs.append(
                {
                    "args": args,
                    "out": str(self.folder / f"{self.count}.out"),
                    "err": str(self.folder / f"{self.count}.err"),
                    "cwd": str(REPO),
                    "stdin": stdin,
                }
            )
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(jobs) + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        assert reply, f"the fork server died (exit {self.process.poll()})"
        return [
            Ran(
                tuple(job["args"]),
                code,
                Path(job["out"]).read_text(encoding="utf-8"),
                Path(job["err"]).read_text(encoding="utf-8"),
                cold=False,
            )
            for job, code in zip(jobs, json.loads(reply), strict=True)
        ]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_cold(*args: str | Path) -> Ran:
    """One documented invocation: `python script args...` from the repository root."""
    argv = tuple(str(a) for a in args)
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=NO_SLURM_ENV,
    )
    return Ran(argv, done.returncode, done.stdout, done.stderr, cold=True)


@dataclass
class Setup:
    experiment: Path
    by_hand: Path
    output_base: Path
    work: Path
    empty_log: Path
    broken_design: Path
    older_stdout: Path
    r4_stdout: Path


@dataclass
class Calls:
    """Every invocation this module makes, by name; `steps` are SKILL.md's by-hand commands."""

    ran: dict[str, Ran]
    steps: list[Ran]
    logs: dict[str, str]  # "binary", "numeric", "cancelled" -> the log of that cell
    by_hand: dict[str, str | None]  # summary.md, summary.json and the log the steps wrote

    def __getitem__(self, name: str) -> Ran:
        return self.ran[name]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Setup:
    root = tmp_path_factory.mktemp("contract")
    experiment = build_experiment(root, experiment_spec(), cache_dir=template_cache)
    output_base = root / "ck-outputs" / NAME
    (stdout,) = (output_base / f"ck-out-{NO_STDOUT}").glob("slurm-*.out")
    stdout.unlink()
    # the same experiment again, for the by-hand path (the one command writes into the first)
    twin_root = tmp_path_factory.mktemp("contract-by-hand")
    by_hand = build_experiment(twin_root, experiment_spec(), cache_dir=template_cache)
    (twin_stdout,) = (twin_root / "ck-outputs" / NAME / f"ck-out-{NO_STDOUT}").glob("slurm-*")
    twin_stdout.unlink()
    work = tmp_path_factory.mktemp("work")
    empty_log = work / "broken" / "2026-01-09T00-00-00-00-00_capitalization_EMPTY.eval"
    empty_log.parent.mkdir()
    empty_log.write_bytes(b"")
    broken = work / "broken-design"
    broken.mkdir()
    (broken / "experiment_summary.yaml").write_text(
        "experiment:\n  name: broken\nruns:\n  - name: a\n    type: fine-tuned\n   model: x\n"
    )
    (broken / "summary.md").write_text("the previous summary\n")
    # an older attempt of R4's training (an OOM) with a LARGER job id but an older file time
    (r4_stdout,) = (output_base / f"ck-out-{R4}").glob("slurm-*.out")
    older = work / "older-attempt" / "slurm-9999999.out"
    write_training_stdout(
        older, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, ending="oom", stop_step=2
    )
    when = r4_stdout.stat().st_mtime - 3600
    os.utime(older, (when, when))
    return Setup(experiment, by_hand, output_base, work, empty_log, broken, older, r4_stdout)


def skill_md_steps(experiment: Path) -> list[tuple[str, ...]]:
    """The commands SKILL.md lists under "The steps by hand", for `experiment`."""
    text = (REPO / "SKILL.md").read_text(encoding="utf-8")
    section = text.split("## The steps by hand", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\d+\. `python ([^`]+)`$", section, re.MULTILINE)
    return [
        tuple(str(experiment) if word == "EXPERIMENT" else word for word in shlex.split(cmd))
        for cmd in commands
    ]


def loss_args(setup: Setup, run: str) -> tuple[str | Path, ...]:
    return ("scripts/extract_loss.py", "--experiment", setup.experiment, "--run", run, "--no-sacct")


@pytest.fixture(scope="module")
def calls(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calls]:
    exp = setup.experiment
    server = ForkServer(tmp_path_factory.mktemp("fork-server"))
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        cold = {
            "parse_status": pool.submit(
                run_cold, "scripts/parse_status.py", exp, "--no-sacct", "--steps-dir"
            ),
            "summarize": pool.submit(run_cold, "scripts/summarize.py", exp, "--no-sacct"),
            "help": pool.submit(run_cold, "-c", HELP_PROBE, *SCRIPTS),
        }
        status_run = cold["parse_status"].result()
        assert status_run.code == 0, status_run.stderr
        cells = {
            (run["name"], cell["task"], cell["epoch"]): cell["log"]
            for run in status_run.json()["runs"]
            for cell in run["cells"]
            if cell["log"]
        }
        assert len(cells) == 3, cells
        logs = {
            "binary": cells[(R4, CAP, 1)],
            "numeric": cells[(R4, SUM, 1)],
            "cancelled": cells[(CONTROL, CAP, None)],
        }
        cold["eval binary"] = pool.submit(
            run_cold, "tools/inspect/parse_eval_log.py", logs["binary"]
        )
        cold["binary numeric"] = pool.submit(
            run_cold, "tools/inspect/summary_binary.py", logs["numeric"], "--json"
        )
        cold[f"loss {NO_STDOUT}"] = pool.submit(run_cold, *loss_args(setup, NO_STDOUT))
        warm_calls: dict[str, tuple[str | Path, ...]] = {
            **{f"loss {run}": loss_args(setup, run) for run in (R4, R16, DIVERGED)},
            "loss all": ("scripts/extract_loss.py", "--experiment", exp, "--no-sacct"),
            "eval numeric": ("tools/inspect/parse_eval_log.py", logs["numeric"]),
            "eval cancelled": ("tools/inspect/parse_eval_log.py", logs["cancelled"]),
            "eval all": ("tools/inspect/parse_eval_log.py", "--experiment", exp),
            "binary binary": ("tools/inspect/summary_binary.py", logs["binary"], "--json"),
            "binary cancelled": ("tools/inspect/summary_binary.py", logs["cancelled"], "--json"),
            "loss path form": (
                "scripts/extract_loss.py",
                setup.older_stdout,
                setup.r4_stdout,
                "--no-sacct",
            ),
            "eval empty": ("tools/inspect/parse_eval_log.py", setup.empty_log),
            "binary folder": (
                "tools/inspect/summary_binary.py",
                exp / R4 / "eval" / "logs",
                "--json",
            ),
            "binary human": ("tools/inspect/summary_binary.py", logs["binary"]),
            "render without steps": ("scripts/render_summary.py", setup.work),
            "summarize broken design": ("scripts/summarize.py", setup.broken_design, "--no-sacct"),
            "parse_status no design": ("scripts/parse_status.py", setup.work, "--no-sacct"),
            "loss unknown run": loss_args(setup, "no-such-run"),
        }
        ran = dict(zip(warm_calls, server.run(list(warm_calls.values())), strict=True))
        ran.update({name: future.result() for name, future in cold.items()})
        # SKILL.md's by-hand path, in order, on the twin experiment; then its outputs are put
        # aside and the one command runs on the same folder
        steps = []
        for command in skill_md_steps(setup.by_hand):
            steps.append(server.run([command])[0] if steps else run_cold(*command))
        outputs = {}
        for name in ("summary.md", "summary.json", "logs/summarize-experiment.log"):
            path = setup.by_hand / name
            outputs[name] = path.read_text(encoding="utf-8") if path.exists() else None
            path.unlink(missing_ok=True)
        ran["summarize twin"] = run_cold("scripts/summarize.py", setup.by_hand)
        yield Calls(ran, steps, logs, outputs)
    finally:
        pool.shutdown(wait=True)
        server.close()


def expected_binary() -> dict:
    y_true = [int(t) for t in CAP_TARGETS]
    y_pred = [int(a) if a in ("0", "1") else 2 for a in CAP_ANSWERS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    pairs = list(zip(CAP_TARGETS, CAP_ANSWERS, strict=True))
    return {
        "accuracy": sum(a == t for t, a in pairs) / len(pairs),
        "balanced_accuracy": balanced,
        "f1": float(f1_score(y_true, y_pred, labels=[1], average=None)[0]),
        "confusion_matrix": {
            "tp": sum(t == "1" and a == "1" for t, a in pairs),
            "tn": sum(t == "0" and a == "0" for t, a in pairs),
            "fp": sum(t == "0" and a == "1" for t, a in pairs),
            "fn": sum(t == "1" and a == "0" for t, a in pairs),
            "other": sum(a not in ("0", "1") for _, a in pairs),
        },
    }


def is_interval_around(value: object, center: float) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, float) for v in value)
        and value[0] <= center <= value[1]
    )


# ---------------------------------------------------------------------------------------------
# scripts/summarize.py
# ---------------------------------------------------------------------------------------------


def test_summarize_contract(setup: Setup, calls: Calls) -> None:
    ran = calls["summarize"]
    assert ran.cold and ran.code == 0, ran.stderr
    doc = ran.json()
    assert set(doc) >= {
        "status",
        "experiment",
        "summary",
        "summary_json",
        "log",
        "counts",
        "best",
        "warnings",
    }
    assert doc["status"] == "partial"  # a missing stdout, a cancelled evaluation, ...
    assert doc["experiment"] == NAME
    assert doc["summary"] == str(setup.experiment / "summary.md")
    assert doc["summary_json"] == str(setup.experiment / "summary.json")
    assert doc["log"] == str(setup.experiment / "logs" / "summarize-experiment.log")
    assert all(Path(doc[k]).is_file() for k in ("summary", "summary_json", "log"))
    counts = doc["counts"]
    assert set(counts) == {"runs", "complete_runs", "evaluations", "errors", "incomplete"}
    assert (counts["runs"], counts["complete_runs"]) == (5, 1)
    assert (counts["evaluations"], counts["errors"]) == (2, 1)
    assert isinstance(counts["incomplete"], int) and counts["incomplete"] >= 5
    best = {b["task"]: b for b in doc["best"]}
    assert set(best) == {CAP, SUM}
    for entry in best.values():
        assert set(entry) >= {
            "task",
            "run",
            "epoch",
            "metric",
            "value",
            "higher_is_better",
            "n",
            "runner_up",
            "clearly_better",
            "versus_control",
            "detectable",
        }
        assert (entry["run"], entry["epoch"], entry["runner_up"]) == (R4, 1, None)
    assert best[CAP]["metric"] == "balanced accuracy"
    assert best[CAP]["value"] == pytest.approx(expected_binary()["balanced_accuracy"])
    assert best[SUM]["metric"] == "accuracy"  # scored by `match`: accuracy, not RMSE
    assert best[SUM]["value"] == pytest.approx(10 / 12)
    assert isinstance(doc["warnings"], list) and all(isinstance(w, str) for w in doc["warnings"])
    assert any(NO_STDOUT in w and "N/A" in w for w in doc["warnings"]), doc["warnings"]


def test_summarize_error_leaves_the_previous_summary(setup: Setup, calls: Calls) -> None:
    ran = calls["summarize broken design"]
    assert ran.code == 2
    doc = ran.json()
    assert doc["status"] == "error"
    assert "experiment_summary.yaml" in doc["message"]
    assert re.search(r"\bline 6\b", doc["message"]), doc["message"]
    assert (setup.broken_design / "summary.md").read_text() == "the previous summary\n"


# ---------------------------------------------------------------------------------------------
# Step 1: scripts/parse_status.py
# ---------------------------------------------------------------------------------------------


def test_parse_status_contract(setup: Setup, calls: Calls) -> None:
    ran = calls["parse_status"]
    assert ran.cold and ran.code == 0
    doc = ran.json()
    assert set(doc) == {
        "status",
        "step",
        "schema_version",
        "experiment",
        "slurm",
        "runs",
        "logs_to_read",
        "chosen_logs",
        "design_problems",
        "notes",
        "steps_file",
    }
    assert (doc["status"], doc["step"], doc["schema_version"]) == ("success", "parse_status", 2)
    assert doc["experiment"]["name"] == NAME and doc["experiment"]["layout"] == "A"
    assert set(doc["slurm"]) == {
        "used",
        "available",
        "source",
        "error",
        "jobs_asked",
        "jobs_found",
    }
    assert doc["slurm"]["used"] is False
    # the evidence goes to the steps file, not to stdout
    steps_file = Path(doc["steps_file"])
    assert steps_file == setup.experiment / "logs" / "summarize-steps" / "1-parse_status.json"
    written = json.loads(steps_file.read_text())
    assert {k: v for k, v in written.items() if k != "evidence"} == {
        k: v for k, v in doc.items() if k != "steps_file"
    }
    assert set(written["evidence"]) >= {"design", "layout", "runs", "slurm", "stdouts", "logs"}
    runs = {run["name"]: run for run in doc["runs"]}
    assert list(runs) == [R4, R16, DIVERGED, NO_STDOUT, CONTROL]
    for run in runs.values():
        assert set(run) == {
            "name",
            "type",
            "model",
            "parameters",
            "finetune",
            "cells",
            "unplaced_jobs",
            "evaluation_status",
            "complete",
        }
        assert set(run["finetune"]) == {
            "status",
            "text",
            "notes",
            "checkpoints",
            "expected_epochs",
            "job",
            "attempts",
            "stdout",
            "stdout_files",
            "duration_seconds",
            "duration_source",
        }
        for cell in run["cells"]:
            assert set(cell) == {
                "task",
                "variant",
                "epoch",
                "in_design",
                "status",
                "log",
                "other_logs",
                "epoch_source",
                "task_source",
                "placement",
                "notes",
                "job",
                "stdout",
                "check",
                "dataset",
                "model",
                "accuracy",
                "samples",
                "scorer",
            }
    status = {name: run["finetune"]["status"] for name, run in runs.items()}
    # R16's stdout ends in a CUDA out-of-memory traceback: FAILED here as in summary.md
    assert status == {
        R4: "COMPLETED",
        R16: "FAILED",
        DIVERGED: "COMPLETED",
        NO_STDOUT: "COMPLETED",
        CONTROL: "N/A",
    }
    assert any("CUDA out of memory" in note for note in runs[R16]["finetune"]["notes"])
    r4 = {(c["task"], c["epoch"]): c for c in runs[R4]["cells"]}
    assert r4[(CAP, 1)]["status"] == "COMPLETED" and r4[(CAP, 1)]["epoch_source"] == "model_path"
    assert r4[(CAP, 1)]["accuracy"] == pytest.approx(expected_binary()["accuracy"])
    assert r4[(CAP, 1)]["scorer"] == "match" and r4[(CAP, 1)]["samples"] == len(CAP_TARGETS)
    assert [c["status"] for c in runs[R16]["cells"]] == ["NOT_STARTED"]
    assert [c["status"] for c in runs[NO_STDOUT]["cells"]] == ["MISSING"]
    (control,) = runs[CONTROL]["cells"]
    assert (control["task"], control["epoch"], control["status"]) == (CAP, None, "CANCELLED")
    assert control["log"] and runs[CONTROL]["complete"] is False
    assert sorted(doc["chosen_logs"]) == sorted(calls.logs.values())
    assert set(doc["logs_to_read"]) == set(calls.logs.values())


def test_parse_status_without_a_design(setup: Setup, calls: Calls) -> None:
    ran = calls["parse_status no design"]
    assert ran.code == 2
    doc = ran.json()
    assert (doc["status"], doc["step"]) == ("error", "parse_status")
    assert str(setup.work / "experiment_summary.yaml") in doc["message"]
    assert not (setup.work / "logs").exists()


# ---------------------------------------------------------------------------------------------
# Step 2: scripts/extract_loss.py
# ---------------------------------------------------------------------------------------------

LOSS_KEYS = {
    "status",
    "step",
    "run",
    "finetune",
    "finetune_text",
    "finished",
    "stdout",
    "candidates",
    "final",
    "final_loss",
    "total_steps",
    "epoch",
    "diverged",
    "min_finite",
    "curve",
    "updates",
    "failure_line",
    "duration_seconds",
    "duration_source",
    "attempts",
    "warning",
}


def test_extract_loss_experiment_form(calls: Calls) -> None:
    r4 = calls[f"loss {R4}"]
    assert r4.code == 0, r4.stderr
    doc = r4.json()
    assert set(doc) == LOSS_KEYS
    assert (doc["status"], doc["run"], doc["finetune"], doc["finished"]) == (
        "success",
        R4,
        "COMPLETED",
        True,
    )
    assert doc["final"]["loss"] == pytest.approx(FINAL_LOSS, rel=1e-6)
    assert doc["final_loss"] == doc["final"]["loss"]
    assert (doc["total_steps"], doc["epoch"]) == (EPOCHS * STEPS_PER_EPOCH, EPOCHS)
    assert doc["duration_source"] == "tqdm" and doc["duration_seconds"] > 0
    r16 = calls[f"loss {R16}"].json()
    assert (r16["finetune"], r16["finished"]) == ("FAILED", False)  # its last loss is not final
    assert "CUDA out of memory" in r16["failure_line"]
    diverged = calls[f"loss {DIVERGED}"].json()
    assert diverged["diverged"] is True and diverged["final"]["loss_repr"] == "nan"
    assert diverged["final"]["loss"] is None
    every = calls["loss all"]
    assert every.code == 0
    whole = every.json()
    assert (whole["status"], whole["step"]) == ("success", "extract_loss")
    assert [r["run"] for r in whole["runs"]] == FINETUNED
    assert whole["runs"][0] == doc


def test_extract_loss_missing_stdout(calls: Calls) -> None:
    ran = calls[f"loss {NO_STDOUT}"]
    assert ran.cold and ran.code == 0
    doc = ran.json()
    assert (doc["status"], doc["final_loss"], doc["stdout"]) == ("missing", "N/A", None)
    assert "no training stdout" in doc["warning"]
    assert "no training stdout" in ran.stderr


def test_extract_loss_unknown_run_is_a_usage_error(calls: Calls) -> None:
    ran = calls["loss unknown run"]
    assert ran.code == 2
    doc = ran.json()
    assert doc["status"] == "error" and "no-such-run" in doc["message"]
    assert R4 in doc["message"]  # the valid names are listed


def test_extract_loss_file_path_form(setup: Setup, calls: Calls) -> None:
    """Given two stdouts, the most recent by modification time counts, not the larger job id."""
    ran = calls["loss path form"]
    assert ran.code == 0, ran.stderr
    doc = ran.json()
    assert doc["stdout"] == str(setup.r4_stdout)
    assert set(doc["candidates"]) == {str(setup.r4_stdout), str(setup.older_stdout)}
    assert doc["final"]["loss"] == pytest.approx(FINAL_LOSS, rel=1e-6)
    assert doc["run"] == R4  # from the folder the stdout lies in (ck-out-{run})


# ---------------------------------------------------------------------------------------------
# Step 3: tools/inspect/parse_eval_log.py
# ---------------------------------------------------------------------------------------------


def test_parse_eval_log_success(calls: Calls) -> None:
    ran = calls["eval binary"]
    assert ran.cold and ran.code == 0, ran.stderr
    doc = ran.json()
    assert set(doc) >= {"status", "task", "accuracy", "samples", "scorer", "model", "metrics"}
    want = expected_binary()
    assert (doc["status"], doc["task"], doc["scorer"]) == ("success", CAP, "match")
    assert doc["accuracy"] == pytest.approx(want["accuracy"])
    assert doc["metrics"]["accuracy"] == pytest.approx(want["accuracy"])  # the toolkit's name
    assert doc["scorer_metrics"]["match/accuracy"] == pytest.approx(want["accuracy"])
    assert doc["samples"] == len(CAP_TARGETS) and doc["errored_samples"] == 0
    assert doc["model"] == f"hf/{R4}_epoch_1"
    assert doc["family"] == "classification"
    assert is_interval_around(doc["accuracy_ci"], doc["accuracy"])
    assert "evidence" not in doc
    numeric = calls["eval numeric"].json()
    assert (numeric["family"], numeric["regression"]) == ("classification", None)
    assert numeric["accuracy"] == pytest.approx(10 / 12)


def test_parse_eval_log_cancelled_and_empty(setup: Setup, calls: Calls) -> None:
    cancelled = calls["eval cancelled"]
    assert cancelled.code == 1
    doc = cancelled.json()
    assert (doc["status"], doc["log_status"]) == ("error", "cancelled")
    assert "cancelled" in doc["message"] and "Re-run" in doc["message"]
    empty = calls["eval empty"]
    assert empty.code == 1
    doc = empty.json()
    assert doc["status"] == "error" and str(setup.empty_log) in doc["message"]
    assert "empty (0 bytes)" in doc["message"]


def test_parse_eval_log_experiment_form(calls: Calls) -> None:
    ran = calls["eval all"]
    assert ran.code == 1  # one of the logs is a cancelled evaluation
    doc = ran.json()
    assert (doc["status"], doc["step"]) == ("partial", "parse_eval_log")
    assert sorted(d["path"] for d in doc["logs"]) == sorted(calls.logs.values())
    by_path = {d["path"]: d for d in doc["logs"]}
    assert by_path[calls.logs["binary"]]["accuracy"] == calls["eval binary"].json()["accuracy"]


# ---------------------------------------------------------------------------------------------
# Step 4: tools/inspect/summary_binary.py
# ---------------------------------------------------------------------------------------------


def test_summary_binary_json(calls: Calls) -> None:
    ran = calls["binary binary"]
    assert ran.code == 0, ran.stderr
    doc = ran.json()
    want = expected_binary()
    assert doc["status"] == "success" and doc["step"] == "summary_binary"
    assert doc["accuracy"] == pytest.approx(want["accuracy"])
    assert doc["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"])
    assert doc["f1"] == pytest.approx(want["f1"])
    assert doc["confusion_matrix"] == want["confusion_matrix"]
    assert doc["labelled"] == len(CAP_TARGETS) - 2
    assert doc["class_balance"] == {
        "frac_1": pytest.approx(14 / 20),
        "frac_0": pytest.approx(6 / 20),
        "n_1": 14,
        "n_0": 6,
    }
    assert is_interval_around(doc["balanced_accuracy_ci"], doc["balanced_accuracy"])
    assert any("2 of 20 answers have no 0/1 label" in note for note in doc["notes"])


def test_summary_binary_not_binary_and_error(calls: Calls) -> None:
    numeric = calls["binary numeric"]
    assert numeric.cold and numeric.code == 3
    assert numeric.json()["status"] == "not_binary"
    cancelled = calls["binary cancelled"]
    assert cancelled.code == 1 and cancelled.json()["status"] == "error"


def test_summary_binary_folder_gives_one_document_of_its_logs(calls: Calls) -> None:
    """A folder mixing a binary and a numeric task: one object (as every script prints), the
    numeric log `not_binary` in it and not a failure of the step."""
    ran = calls["binary folder"]
    doc = ran.json()
    assert (doc["status"], doc["step"]) == ("success", "summary_binary")
    assert sorted(d["status"] for d in doc["logs"]) == ["not_binary", "success"]
    assert all(Path(d["path"]).parent.name == "logs" for d in doc["logs"])
    assert ran.code == 0


def test_summary_binary_human_mode(calls: Calls) -> None:
    ran = calls["binary human"]
    assert ran.code == 0
    assert "balanced accuracy" in ran.stdout and "confusion matrix" in ran.stdout
    assert "class balance      14 of 1, 6 of 0" in ran.stdout


# ---------------------------------------------------------------------------------------------
# Step 5: scripts/render_summary.py, and the by-hand path of SKILL.md
# ---------------------------------------------------------------------------------------------


def test_render_summary_without_the_steps_names_the_step_to_run(setup: Setup, calls: Calls) -> None:
    ran = calls["render without steps"]
    assert ran.code == 1
    doc = ran.json()
    assert doc["status"] == "error" and "1-parse_status.json" in doc["message"]
    assert not (setup.work / "summary.md").exists()


def test_skill_md_lists_five_steps_in_order(setup: Setup) -> None:
    commands = skill_md_steps(setup.by_hand)
    scripts = [command[0] for command in commands]
    assert scripts == [
        "scripts/parse_status.py",
        "scripts/extract_loss.py",
        "tools/inspect/parse_eval_log.py",
        "tools/inspect/summary_binary.py",
        "scripts/render_summary.py",
    ]
    assert scripts == [step.script for step in STEPS]


def test_steps_and_actions_are_named_as_the_vocabulary_defines_them(
    helps: dict[str, dict],
) -> None:
    """One definition (`vocabulary.STEPS`, `LOG_ACTIONS`): each step script's --help opens with
    its step's label, reference.md's step sections carry the same numbers and scripts, and
    logging.md's table lists the log's actions in the order they are written."""
    for step in STEPS:
        assert step.label in helps[step.script]["text"].split("\n\n")[1], step
    headings = re.findall(
        r"^## Step (\d): (\S+)$", (REPO / "reference.md").read_text(encoding="utf-8"), re.M
    )
    assert headings == [(str(s.number), s.script) for s in STEPS if s.name != "render_summary"]
    logging_md = (REPO / "logging.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| `([A-Z_]+)` \|", logging_md, re.M) == list(LOG_ACTIONS)


def test_by_hand_steps_run_and_write_their_files(setup: Setup, calls: Calls) -> None:
    codes = [ran.code for ran in calls.steps]
    assert codes[:2] == [0, 0] and codes[4] == 0, [ran.stderr for ran in calls.steps]
    assert codes[2] == 1 and codes[3] == 1  # the cancelled evaluation's log is not a result
    assert [ran.json()["status"] for ran in calls.steps[2:4]] == ["partial", "partial"]
    folder = setup.by_hand / "logs" / "summarize-steps"
    assert sorted(p.name for p in folder.iterdir()) == [
        "1-parse_status.json",
        "2-extract_loss.json",
        "3-parse_eval_log.json",
        "4-summary_binary.json",
    ]
    for ran in calls.steps[:4]:
        assert Path(ran.json()["steps_file"]).parent == folder
        assert "evidence" not in ran.stdout


def _normalized(text: str | None) -> str:
    assert text is not None
    text = re.sub(r"\*\*Generated:\*\* \S+", "**Generated:** <time>", text)
    text = re.sub(r'"generated_at": "[^"]+"', '"generated_at": "<time>"', text)
    text = re.sub(r'"summary_md_sha256": "[^"]+"', '"summary_md_sha256": "<digest>"', text)
    return re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]", "[<time>]", text, flags=re.M)


@pytest.mark.parametrize("name", ["summary.md", "summary.json", "logs/summarize-experiment.log"])
def test_by_hand_path_writes_what_the_one_command_writes(
    setup: Setup, calls: Calls, name: str
) -> None:
    assert calls["summarize twin"].code == 0, calls["summarize twin"].stderr
    by_hand = _normalized(calls.by_hand[name])
    one_command = _normalized((setup.by_hand / name).read_text(encoding="utf-8"))
    diff = "\n".join(
        difflib.unified_diff(
            one_command.splitlines(), by_hand.splitlines(), "summarize.py", "by hand", lineterm=""
        )
    )
    assert by_hand == one_command, f"the by-hand {name} differs:\n{diff}"
    render = calls.steps[-1].json()
    assert {k: v for k, v in render.items() if k != "log"} == {
        k: v for k, v in calls["summarize twin"].json().items() if k != "log"
    }


# ---------------------------------------------------------------------------------------------
# --help
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helps(calls: Calls) -> dict[str, dict]:
    ran = calls["help"]
    assert ran.code == 0, ran.stderr
    return ran.json()


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_0_with_an_example(helps: dict[str, dict], script: str) -> None:
    result = helps[script]
    assert result["code"] == 0, result
    text = result["text"]
    assert text.startswith("usage:")
    assert re.search(r"\bexamples?:", text, re.IGNORECASE), text
    name = Path(script).name
    assert re.search(rf"python \S*{re.escape(name)} \S", text), f"no example command:\n{text}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_every_documented_option(helps: dict[str, dict], script: str) -> None:
    docs = (REPO / "SKILL.md").read_text(encoding="utf-8")
    docs += (REPO / "reference.md").read_text(encoding="utf-8")
    text = helps[script]["text"]
    for option in DOCUMENTED_OPTIONS[script]:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", docs), (script, option)
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
            f"{script} --help does not offer {option}, which SKILL.md or reference.md documents"
        )
