"""Every script's command-line contract, as SKILL.md documents it, run as a subprocess.

Each script's stdout must be exactly one JSON document (``json.loads`` of the whole stdout,
NaN/Infinity rejected), with every key SKILL.md lists for that script, of the right type and
value, and the documented exit code. SKILL.md's "by hand" path (parse_status -> extract_loss
-> parse_eval_log + summary_binary -> render_summary) must give the same summary.md as
``scripts/summarize.py``, up to the ``**Generated:**`` time.

Speed: a cold start of a script costs 1.5-4 s of CPU (scikit-learn, inspect-ai imports) and
this module needs about 20 invocations. So every script is run cold at least once, exactly
as documented (``[sys.executable, "scripts/x.py", ...]``, cwd = the repository root), and
the other invocations go through a small fork server: a child interpreter that imports the
third-party libraries once, then forks one process per invocation, which runs the script
file as ``__main__`` (the product's own modules are imported fresh in each) with its stdout
and stderr redirected, at the file-descriptor level, to files, and exits with the script's
exit code. Each invocation is made once per module and shared by the tests.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

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
# the options SKILL.md documents for each script (checked against SKILL.md below)
DOCUMENTED_OPTIONS = {
    "scripts/summarize.py": ["--jobs", "--no-sacct", "--sacct-timeout", "--when-done"],
    "scripts/parse_status.py": ["--no-sacct", "--pretty"],
    "scripts/extract_loss.py": ["--experiment", "--run", "--no-sacct"],
    "tools/inspect/parse_eval_log.py": ["--pretty"],
    "tools/inspect/summary_binary.py": ["--json"],
    "scripts/render_summary.py": ["--loss", "--eval", "--binary", "--output"],
    "scripts/slurm_jobs.py": ["--timeout"],
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
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
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
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    return Ran(argv, done.returncode, done.stdout, done.stderr, cold=True)


@dataclass
class Setup:
    experiment: Path
    output_base: Path
    work: Path
    empty_log: Path
    broken_design: Path
    not_json: Path
    older_stdout: Path
    r4_stdout: Path


@dataclass
class Calls:
    """Every invocation this module makes, by name; the by-hand summary.md is `by_hand`."""

    ran: dict[str, Ran]
    status: dict
    logs: dict[str, str]  # "binary", "numeric", "cancelled" -> the log path status.json gives
    by_hand: Path

    def __getitem__(self, name: str) -> Ran:
        return self.ran[name]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Setup:
    root = tmp_path_factory.mktemp("contract")
    experiment = build_experiment(root, experiment_spec(), cache_dir=template_cache)
    output_base = root / "ck-outputs" / NAME
    (stdout,) = (output_base / f"ck-out-{NO_STDOUT}").glob("slurm-*.out")
    stdout.unlink()
    work = tmp_path_factory.mktemp("by-hand")
    empty_log = work / "broken" / "2026-01-09T00-00-00-00-00_capitalization_EMPTY.eval"
    empty_log.parent.mkdir()
    empty_log.write_bytes(b"")
    broken = work / "broken-design"
    broken.mkdir()
    (broken / "experiment_summary.yaml").write_text(
        "experiment:\n  name: broken\nruns:\n  - name: a\n    type: fine-tuned\n   model: x\n"
    )
    (broken / "summary.md").write_text("the previous summary\n")
    not_json = work / "not-json.json"
    not_json.write_text("this is not JSON\n")
    # an older attempt of R4's training (an OOM) with a LARGER job id but an older file time
    (r4_stdout,) = (output_base / f"ck-out-{R4}").glob("slurm-*.out")
    older = work / "older-attempt" / "slurm-9999999.out"
    write_training_stdout(
        older, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, ending="oom", stop_step=2
    )
    when = r4_stdout.stat().st_mtime - 3600
    os.utime(older, (when, when))
    return Setup(experiment, output_base, work, empty_log, broken, not_json, older, r4_stdout)


def loss_args(setup: Setup, run: str) -> tuple[str | Path, ...]:
    return ("scripts/extract_loss.py", "--experiment", setup.experiment, "--run", run, "--no-sacct")


def cell_logs(status: dict) -> dict[tuple[str, str | None, int | None], str]:
    return {
        (run["name"], cell["task"], cell["epoch"]): cell["log"]
        for run in status["runs"]
        for cell in run["cells"]
        if cell["log"]
    }


@pytest.fixture(scope="module")
def calls(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calls]:
    """SKILL.md's "Running the steps one by one", with each output in a file as it shows, and
    the other invocations the contract tests need."""
    exp = setup.experiment
    server = ForkServer(tmp_path_factory.mktemp("fork-server"))
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        cold = {
            "parse_status": pool.submit(run_cold, "scripts/parse_status.py", exp, "--no-sacct"),
            "summarize": pool.submit(run_cold, "scripts/summarize.py", exp, "--no-sacct"),
            f"loss {NO_STDOUT}": pool.submit(run_cold, *loss_args(setup, NO_STDOUT)),
            "help": pool.submit(run_cold, "-c", HELP_PROBE, *SCRIPTS),
        }
        status_run = cold["parse_status"].result()
        assert status_run.code == 0, status_run.stderr
        status = status_run.json()
        (setup.work / "status.json").write_text(status_run.stdout)
        logs = {
            "binary": cell_logs(status)[(R4, CAP, 1)],
            "numeric": cell_logs(status)[(R4, SUM, 1)],
            "cancelled": cell_logs(status)[(CONTROL, CAP, None)],
        }
        assert len(cell_logs(status)) == 3, cell_logs(status)
        cold["eval binary"] = pool.submit(
            run_cold, "tools/inspect/parse_eval_log.py", logs["binary"]
        )
        cold["binary numeric"] = pool.submit(
            run_cold, "tools/inspect/summary_binary.py", logs["numeric"], "--json"
        )
        warm_calls: dict[str, tuple[str | Path, ...]] = {
            **{f"loss {run}": loss_args(setup, run) for run in (R4, R16, DIVERGED)},
            "eval numeric": ("tools/inspect/parse_eval_log.py", logs["numeric"]),
            "eval cancelled": ("tools/inspect/parse_eval_log.py", logs["cancelled"]),
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
            "render bad input": ("scripts/render_summary.py", setup.not_json),
            "summarize broken design": (
                "scripts/summarize.py",
                setup.broken_design,
                "--no-sacct",
            ),
            "parse_status no design": ("scripts/parse_status.py", setup.work, "--no-sacct"),
            "loss unknown run": loss_args(setup, "no-such-run"),
            "render from stdin": (
                "scripts/render_summary.py",
                "-",
                "--output",
                setup.work / "from-stdin" / "summary.md",
                STDIN,
                setup.work / "status.json",
            ),
        }
        ran = dict(zip(warm_calls, server.run(list(warm_calls.values())), strict=True))
        ran.update({name: future.result() for name, future in cold.items()})

        files: dict[str, list[str]] = {"loss": [], "eval": [], "binary": []}
        for kind, names in (
            ("loss", [f"loss {run}" for run in FINETUNED]),
            ("eval", [f"eval {k}" for k in logs]),
            ("binary", [f"binary {k}" for k in logs]),
        ):
            (setup.work / kind).mkdir()
            for i, name in enumerate(names):
                path = setup.work / kind / f"{i}.json"
                path.write_text(ran[name].stdout)
                files[kind].append(str(path))
        by_hand = setup.work / "out" / "summary.md"
        ran["render"] = run_cold(
            "scripts/render_summary.py",
            setup.work / "status.json",
            "--loss",
            *files["loss"],
            "--eval",
            *files["eval"],
            "--binary",
            *files["binary"],
            "--output",
            by_hand,
        )
        yield Calls(ran, status, logs, by_hand)
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
        "label_counts": {"0": CAP_TARGETS.count("0"), "1": CAP_TARGETS.count("1")},
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
    assert isinstance(doc, dict)
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
            "runner_up",
            "clearly_better",
        }
        assert (entry["run"], entry["epoch"]) == (R4, 1)
    assert best[CAP]["metric"] == "balanced accuracy"
    assert best[CAP]["value"] == pytest.approx(expected_binary()["balanced_accuracy"])
    assert best[SUM]["metric"] == "RMSE"
    assert best[SUM]["value"] == pytest.approx(((9 - 3) ** 2 / 11) ** 0.5)
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
# scripts/parse_status.py
# ---------------------------------------------------------------------------------------------


def test_parse_status_contract(setup: Setup, calls: Calls) -> None:
    ran = calls["parse_status"]
    assert ran.cold and ran.code == 0
    doc = ran.json()
    assert set(doc) >= {
        "status",
        "schema_version",
        "experiment",
        "slurm",
        "runs",
        "rejected_runs",
        "design_problems",
        "notes",
    }
    assert (doc["status"], doc["schema_version"]) == ("success", 1)
    experiment = doc["experiment"]
    assert experiment["name"] == NAME
    assert Path(experiment["directory"]) == setup.experiment
    assert Path(experiment["design_file"]) == setup.experiment / "experiment_summary.yaml"
    assert experiment["layout"] == "A"
    assert Path(experiment["output_base"]) == setup.output_base
    assert experiment["tasks"] == [CAP, SUM]
    slurm = doc["slurm"]
    assert set(slurm) >= {"available", "source", "error", "jobs_asked", "jobs_found"}
    assert slurm["available"] is False and isinstance(slurm["error"], str)
    assert isinstance(slurm["jobs_asked"], int) and slurm["jobs_found"] == 0
    assert isinstance(doc["rejected_runs"], dict) and doc["rejected_runs"] == {}
    assert doc["design_problems"] == [] and isinstance(doc["notes"], list)

    runs = {run["name"]: run for run in doc["runs"]}
    assert list(runs) == [*FINETUNED, CONTROL]
    for run in runs.values():
        assert set(run) >= {
            "name",
            "type",
            "model",
            "parameters",
            "finetune",
            "training",
            "cells",
            "evaluation_status",
            "complete",
        }
        assert set(run["finetune"]) >= {
            "status",
            "diverged",
            "checkpoints",
            "expected_epochs",
            "stdout",
            "stdout_files",
            "job",
            "notes",
        }
        for cell in run["cells"]:
            assert set(cell) >= {
                "task",
                "epoch",
                "in_design",
                "status",
                "log",
                "other_logs",
                "epoch_source",
                "notes",
                "job",
                "check",
                "result",
            }
    r4 = runs[R4]
    assert (r4["type"], r4["finetune"]["status"]) == ("fine-tuned", "COMPLETED")
    assert r4["finetune"]["checkpoints"] == [0, 1] and r4["finetune"]["expected_epochs"] == 2
    assert Path(r4["finetune"]["stdout"]).parent == setup.output_base / f"ck-out-{R4}"
    assert set(r4["training"]) >= {"run", "stdout", "duration_seconds", "duration_source"}
    assert r4["training"]["run"] == R4
    assert (r4["evaluation_status"], r4["complete"]) == ("COMPLETED", True)
    cells = {(c["task"], c["epoch"]): c for c in r4["cells"]}
    assert set(cells) == {(CAP, 1), (SUM, 1)}
    cap = cells[(CAP, 1)]
    assert (cap["status"], cap["in_design"], cap["epoch_source"]) == (
        "COMPLETED",
        True,
        "model_path",
    )
    assert Path(cap["log"]).parent == setup.experiment / R4 / "eval" / "logs"
    assert set(cap["result"]) >= {"accuracy", "samples", "scorer", "model"}
    assert cap["result"]["accuracy"] == pytest.approx(expected_binary()["accuracy"])
    assert (cap["result"]["samples"], cap["result"]["scorer"]) == (len(CAP_TARGETS), "match")
    assert cap["result"]["model"] == f"hf/{R4}_epoch_1"

    assert runs[R16]["finetune"]["status"] == "FAILED"
    assert runs[R16]["finetune"]["checkpoints"] == []
    assert Path(runs[R16]["finetune"]["stdout"]).parent == setup.experiment / R16
    assert [c["status"] for c in runs[R16]["cells"]] == ["NOT_STARTED"]
    assert [c["status"] for c in runs[NO_STDOUT]["cells"]] == ["MISSING"]
    assert runs[NO_STDOUT]["finetune"]["stdout"] is None
    control = runs[CONTROL]
    assert (control["type"], control["finetune"]["status"]) == ("control", "N/A")
    assert control["training"] is None
    assert [(c["task"], c["epoch"], c["status"]) for c in control["cells"]] == [
        (CAP, None, "CANCELLED")
    ]
    assert control["cells"][0]["log"] and control["complete"] is False


def test_parse_status_without_a_design(setup: Setup, calls: Calls) -> None:
    ran = calls["parse_status no design"]
    assert ran.code == 2
    doc = ran.json()
    assert doc["status"] == "error"
    assert "experiment_summary.yaml" in doc["message"] and str(setup.work) in doc["message"]


# ---------------------------------------------------------------------------------------------
# scripts/extract_loss.py
# ---------------------------------------------------------------------------------------------


def test_extract_loss_unknown_run_is_a_usage_error(calls: Calls) -> None:
    ran = calls["loss unknown run"]
    assert ran.code == 2
    doc = ran.json()
    assert doc["status"] == "error" and "no-such-run" in doc["message"]


LOSS_KEYS = {
    "status",
    "run",
    "stdout",
    "candidates",
    "final",
    "diverged",
    "min_finite",
    "curve",
    "updates",
    "elapsed_seconds",
    "failure_line",
    "bytes_read",
    "duration_seconds",
    "duration_source",
}


def test_extract_loss_file_path_form(setup: Setup, calls: Calls) -> None:
    """Two files given: the most recent by modification time is read (not the larger id)."""
    ran = calls["loss path form"]
    assert ran.code == 0, ran.stderr
    doc = ran.json()
    assert set(doc) >= LOSS_KEYS
    assert doc["status"] == "success" and isinstance(doc["run"], str)
    assert doc["stdout"] == str(setup.r4_stdout)
    assert sorted(doc["candidates"]) == sorted([str(setup.older_stdout), str(setup.r4_stdout)])
    assert doc["final"] == {
        "epoch": EPOCHS,
        "step": EPOCHS * STEPS_PER_EPOCH,
        "loss": FINAL_LOSS,
        "loss_repr": repr(FINAL_LOSS),
    }
    assert doc["diverged"] is False and doc["failure_line"] is None
    assert doc["bytes_read"] == setup.r4_stdout.stat().st_size
    assert isinstance(doc["updates"], int) and doc["updates"] >= EPOCHS * STEPS_PER_EPOCH
    assert doc["curve"] and all(
        set(p) == {"epoch", "step", "loss", "loss_repr"} for p in doc["curve"]
    )
    assert doc["curve"][-1]["step"] == EPOCHS * STEPS_PER_EPOCH
    assert doc["min_finite"]["loss"] <= FINAL_LOSS


def test_extract_loss_experiment_form(calls: Calls) -> None:
    r4 = calls[f"loss {R4}"]
    assert r4.code == 0
    doc = r4.json()
    assert set(doc) >= LOSS_KEYS
    assert (doc["status"], doc["run"]) == ("success", R4)
    assert (doc["final"]["step"], doc["final"]["loss"]) == (EPOCHS * STEPS_PER_EPOCH, FINAL_LOSS)

    oom = calls[f"loss {R16}"].json()
    assert calls[f"loss {R16}"].code == 0
    assert (oom["status"], oom["run"]) == ("success", R16)
    assert "CUDA out of memory" in oom["failure_line"]
    assert (oom["final"]["epoch"], oom["final"]["step"]) == (1, max(1, STEPS_PER_EPOCH * 3 // 10))

    diverged = calls[f"loss {DIVERGED}"].json()
    assert diverged["status"] == "success" and diverged["diverged"] is True
    assert diverged["final"]["loss"] is None and diverged["final"]["loss_repr"] == "nan"
    assert diverged["final"]["step"] == EPOCHS * STEPS_PER_EPOCH
    assert isinstance(diverged["min_finite"]["loss"], float)


def test_extract_loss_missing_stdout(calls: Calls) -> None:
    ran = calls[f"loss {NO_STDOUT}"]
    assert ran.cold and ran.code == 0
    doc = ran.json()
    assert (doc["status"], doc["run"], doc["final_loss"]) == ("missing", NO_STDOUT, "N/A")
    assert isinstance(doc["warning"], str) and doc["warning"]
    assert doc["stdout"] is None and doc["candidates"] == []
    assert doc["warning"] in ran.stderr  # the diagnostic goes to stderr, stdout stays JSON


# ---------------------------------------------------------------------------------------------
# tools/inspect/parse_eval_log.py
# ---------------------------------------------------------------------------------------------

EVAL_KEYS = {
    "status",
    "path",
    "task",
    "accuracy",
    "samples",
    "scorer",
    "model",
    "metrics",
    "log_status",
    "log_error",
    "model_path",
    "task_args",
    "created",
    "kind",
    "accuracy_ci",
    "regression",
}


def test_parse_eval_log_success(calls: Calls) -> None:
    ran = calls["eval binary"]
    assert ran.cold and ran.code == 0, ran.stderr
    doc = ran.json()
    assert set(doc) >= EVAL_KEYS
    accuracy = expected_binary()["accuracy"]
    assert (doc["status"], doc["path"], doc["task"]) == ("success", calls.logs["binary"], CAP)
    assert doc["accuracy"] == pytest.approx(accuracy)
    assert (doc["samples"], doc["scorer"]) == (len(CAP_TARGETS), "match")
    assert doc["model"] == f"hf/{R4}_epoch_1"
    assert doc["metrics"]["match/accuracy"] == pytest.approx(accuracy)
    assert (doc["log_status"], doc["log_error"]) == ("success", None)
    assert doc["model_path"].endswith(f"ck-out-{R4}/epoch_1")
    assert doc["task_args"] == {} and isinstance(doc["created"], str)
    assert doc["kind"] == "binary" and doc["regression"] is None
    assert is_interval_around(doc["accuracy_ci"], accuracy)

    numeric = calls["eval numeric"]
    assert numeric.code == 0
    doc = numeric.json()
    assert (doc["status"], doc["task"], doc["kind"]) == ("success", SUM, "numeric")
    assert doc["accuracy"] == pytest.approx(10 / 12)
    assert doc["regression"]["rmse"] == pytest.approx(((9 - 3) ** 2 / 11) ** 0.5)
    assert doc["regression"]["parse_rate"] == pytest.approx(11 / 12)


def test_parse_eval_log_cancelled(calls: Calls) -> None:
    log = calls.logs["cancelled"]
    ran = calls["eval cancelled"]
    assert ran.code == 1
    doc = ran.json()
    assert (doc["status"], doc["path"]) == ("error", log)
    assert doc["message"].startswith(f"{log}: ")
    assert "cancelled" in doc["message"]
    assert doc["log_status"] == "cancelled"  # the readable header's fields are kept
    assert doc["task"] == CAP


def test_parse_eval_log_zero_byte_file(setup: Setup, calls: Calls) -> None:
    ran = calls["eval empty"]
    assert ran.code == 1
    doc = ran.json()
    assert (doc["status"], doc["path"]) == ("error", str(setup.empty_log))
    assert str(setup.empty_log) in doc["message"]
    assert "empty" in doc["message"] or "0 bytes" in doc["message"]


# ---------------------------------------------------------------------------------------------
# tools/inspect/summary_binary.py
# ---------------------------------------------------------------------------------------------

BINARY_KEYS = {
    "status",
    "path",
    "samples",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision_1",
    "recall_1",
    "recall_0",
    "confusion_matrix",
    "accuracy_ci",
    "balanced_accuracy_ci",
    "label_counts",
}


def test_summary_binary_json(calls: Calls) -> None:
    ran = calls["binary binary"]
    assert ran.code == 0, ran.stderr
    doc = ran.json()
    want = expected_binary()
    assert set(doc) >= BINARY_KEYS
    assert (doc["status"], doc["path"], doc["samples"]) == (
        "success",
        calls.logs["binary"],
        len(CAP_TARGETS),
    )
    assert doc["accuracy"] == pytest.approx(want["accuracy"])
    assert doc["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"])
    assert doc["f1"] == pytest.approx(want["f1"])
    matrix = want["confusion_matrix"]
    assert doc["confusion_matrix"] == matrix
    assert doc["recall_1"] == pytest.approx(matrix["tp"] / CAP_TARGETS.count("1"))
    assert doc["recall_0"] == pytest.approx(matrix["tn"] / CAP_TARGETS.count("0"))
    assert doc["precision_1"] == pytest.approx(matrix["tp"] / (matrix["tp"] + matrix["fp"]))
    assert doc["label_counts"] == want["label_counts"]
    assert is_interval_around(doc["accuracy_ci"], want["accuracy"])
    assert is_interval_around(doc["balanced_accuracy_ci"], want["balanced_accuracy"])


def test_summary_binary_not_binary_and_error(calls: Calls) -> None:
    numeric = calls["binary numeric"]
    assert numeric.cold and numeric.code == 3
    doc = numeric.json()
    assert (doc["status"], doc["path"]) == ("not_binary", calls.logs["numeric"])
    cancelled = calls["binary cancelled"]
    assert cancelled.code == 1
    assert cancelled.json()["status"] == "error"


def test_summary_binary_folder_gives_a_list(setup: Setup, calls: Calls) -> None:
    ran = calls["binary folder"]
    docs = ran.json()
    assert isinstance(docs, list)
    logs = sorted(str(p) for p in (setup.experiment / R4 / "eval" / "logs").glob("*.eval"))
    assert sorted(d["path"] for d in docs) == logs and len(logs) == 2
    by_status = {d["status"]: d for d in docs}
    assert set(by_status) == {"success", "not_binary"}
    assert by_status["success"]["confusion_matrix"] == expected_binary()["confusion_matrix"]
    assert ran.code == 3  # one log is not a binary task


def test_summary_binary_human_mode(calls: Calls) -> None:
    ran = calls["binary human"]
    assert ran.code == 0
    assert not ran.stdout.lstrip().startswith("{")
    matrix = expected_binary()["confusion_matrix"]
    assert "confusion matrix" in ran.stdout.lower()
    actual_1 = re.search(r"actual 1\s+(\d+)\s+(\d+)", ran.stdout)
    actual_0 = re.search(r"actual 0\s+(\d+)\s+(\d+)", ran.stdout)
    assert actual_1 and actual_0, ran.stdout
    assert (int(actual_1[1]), int(actual_1[2])) == (matrix["tp"], matrix["fn"])
    assert (int(actual_0[1]), int(actual_0[2])) == (matrix["fp"], matrix["tn"])


# ---------------------------------------------------------------------------------------------
# scripts/render_summary.py and the by-hand path
# ---------------------------------------------------------------------------------------------


def test_render_summary_contract(calls: Calls) -> None:
    ran = calls["render"]
    assert ran.cold and ran.code == 0, ran.stderr
    assert ran.json() == {
        "status": "success",
        "summary": str(calls.by_hand),
        "summary_json": str(calls.by_hand.with_suffix(".json")),
    }
    assert calls.by_hand.read_text().startswith("# Experiment Summary\n")
    assert json.loads(calls.by_hand.with_suffix(".json").read_text())["total_runs"] == 5


def test_render_summary_reads_parse_status_from_stdin(setup: Setup, calls: Calls) -> None:
    """`parse_status.py EXP | render_summary.py -` (its --help example)."""
    ran = calls["render from stdin"]
    output = setup.work / "from-stdin" / "summary.md"
    assert ran.code == 0, ran.stderr
    assert ran.json() == {
        "status": "success",
        "summary": str(output),
        "summary_json": str(output.with_suffix(".json")),
    }
    markdown = output.read_text()
    assert re.search(r"\*\*Status:\*\* 1/5 complete", markdown)
    for run in [*FINETUNED, CONTROL]:
        assert f"| {run} |" in markdown


def test_render_summary_bad_input(setup: Setup, calls: Calls) -> None:
    ran = calls["render bad input"]
    assert ran.code == 1
    doc = ran.json()
    assert doc["status"] == "error" and str(setup.not_json) in doc["message"]


def _without_timestamp(markdown: str) -> str:
    return re.sub(r"\*\*Generated:\*\* \S+", "**Generated:** <time>", markdown, count=1)


def test_by_hand_path_gives_the_same_summary(setup: Setup, calls: Calls) -> None:
    assert calls["summarize"].code == 0
    expected = _without_timestamp((setup.experiment / "summary.md").read_text())
    actual = _without_timestamp(calls.by_hand.read_text())
    diff = "\n".join(
        difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), "summarize.py", "by hand", lineterm=""
        )
    )
    assert actual == expected, f"the by-hand summary differs:\n{diff}"


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
    skill = (REPO / "SKILL.md").read_text(encoding="utf-8")
    text = helps[script]["text"]
    for option in DOCUMENTED_OPTIONS[script]:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", skill), (script, option)
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
            f"{script} --help does not offer {option}, which SKILL.md documents"
        )
