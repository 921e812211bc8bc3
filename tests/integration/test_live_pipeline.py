"""The whole summarizer against an experiment whose jobs really ran on the live SLURM testbed.

The module fixture writes a layout-A experiment's design and scaffolding (no results) and then
submits real jobs, so SLURM itself writes every `slurm-<id>.out` and the accounting:

- training (`ft-{run}`): two runs print a torchtune tqdm stdout into
  `{output_base}/ck-out-{run}/` and create `epoch_N/`; one prints an OOM traceback into
  `{exp}/{run}/` and exits 1 (layout A keeps a failed training's stdout there);
- evaluation (`eval-{task}-{run}-ep{N}`, control `eval-{task}-{run}`, stdout in
  `{exp}/{run}/eval/`): three write a real inspect-ai log with no epoch in it (model
  `hf/{run}`, no model_path, no task_args: only the job name tells the epoch), one fails
  (exit 3), one is killed at its time limit (TIMEOUT), one is cancelled; one cell of the design
  is never submitted, and the OOM run's cells wait on its training.

The tests then compare parse_status.py and summarize.py (with and without sacct) with what sacct
recorded, and exercise `summarize.py --when-done` with jobs still running and pending.

A real TIMEOUT, fast (see test_live_slurm.py): `--time=5` and, once running,
`scontrol update JobId=N EndTime=<now + 5 s>`; slurmctld kills it at its next time-limit check
(< 30 s).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from testing.synthetic import (
    ExperimentSpec,
    RunSpec,
    build_experiment,
    default_losses,
    training_stdout_text,
    write_inspect_log,
)

from .live import (
    COMMAND_TIMEOUT_S,
    ENDED,
    Acct,
    duration,
    end_at_time_limit,
    md_section,
    md_table,
    run,
    sacct,
    squeue_field,
    wait_for,
)

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable).absolute()  # the venv's python: it has inspect-ai and PyYAML

TASK = "capitalization"
EPOCHS = 3
STEPS_PER_EPOCH = 8
SHORT = "rank4_lr1e-5"
LONG = "Llama-3.2-1B-Instruct_rank16_lr1e-5_with_a_name_longer_than_fifty_chars"
OOM = "rank64_lr1e-3"
CONTROL = "Llama-3.2-1B-Instruct_base"
FINAL_LOSS = {SHORT: 0.1234, LONG: 0.2345, OOM: 0.3456}
OOM_STOP_STEP = STEPS_PER_EPOCH + 3  # in the second epoch, after epoch_0 was saved
TRAIN_SLEEP_S = {SHORT: 2, LONG: 4, OOM: 3}  # Elapsed > 0, and not the same for every run

# What happens to each evaluation cell: (run, epoch) -> job outcome; `None` epoch: control.
SUCCESS, FAIL, TIMEOUT, CANCEL = "success", "fail", "timeout", "cancel"
CELL_PLAN: dict[tuple[str, int | None], str] = {
    (SHORT, 0): SUCCESS,
    (SHORT, 1): FAIL,
    (SHORT, 2): CANCEL,
    (LONG, 0): TIMEOUT,
    (LONG, 1): SUCCESS,
    # (LONG, 2) is never submitted: MISSING; OOM's cells wait on its failed training
    (CONTROL, None): SUCCESS,
}
MISSING_CELL = (LONG, 2)
SAMPLES = 20
WRONG = {(SHORT, 0): 6, (LONG, 1): 3, (CONTROL, None): 10}  # wrong answers of 20
EVAL_FAILURE = "RuntimeError: Error(s) in loading state_dict for PeftModelForCausalLM"

# A log-writing job needs ~3 s of CPU: live.WAIT_S leaves room for it.
# slurmctld checks time limits every 30 s and then kills within KillWait (2 s).
ALL_ENDED_S = 75
SCRIPT_TIMEOUT_S = 120


def ended(job_ids: list[str]) -> Callable[[], dict[str, Acct] | None]:
    def probe() -> dict[str, Acct] | None:
        jobs = sacct(job_ids)
        if all(job_id in jobs and jobs[job_id].state in ENDED for job_id in job_ids):
            return jobs
        return None

    return probe


def loss_text(value: float) -> str:
    """summary.md's number format for a loss between 1e-3 and 1e6."""
    return f"{value:.4g}"


def script(name: str, *args: str) -> dict:
    """Run scripts/{name} with SLURM_CONF in its environment; its JSON output."""
    assert os.environ.get("SLURM_CONF"), "live_slurm sets SLURM_CONF for the subprocesses"
    result = subprocess.run(
        [str(PYTHON), str(REPO / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, f"{name} {args}: exit {result.returncode}: {result.stderr}"
    return json.loads(result.stdout)


def eval_job_name(run_name: str, epoch: int | None) -> str:
    return f"eval-{TASK}-{run_name}" if epoch is None else f"eval-{TASK}-{run_name}-ep{epoch}"


def answers_for(cell: tuple[str, int | None]) -> tuple[list[str], list[str]]:
    targets = ["1" if i % 2 == 0 else "0" for i in range(SAMPLES)]
    wrong = WRONG[cell]
    answers = [t if i >= wrong else ("0" if t == "1" else "1") for i, t in enumerate(targets)]
    return targets, answers


# --- the evaluation job's body --------------------------------------------------------------

EVAL_JOB = """\
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, {repo!r})
from testing.synthetic import eval_stdout_text

spec = json.loads(Path(sys.argv[1]).read_text())
common = {{"task": spec["task"], "model": spec["model"], "samples": len(spec["targets"])}}
mode = spec["mode"]
if mode == "success":
    from testing.synthetic import write_inspect_log

    log = write_inspect_log(
        Path(spec["log_dir"]),
        task=spec["task"],
        model=spec["model"],
        targets=spec["targets"],
        answers=spec["answers"],
        cache_dir=Path(spec["cache_dir"]),
    )
    right = sum(a == t for a, t in zip(spec["answers"], spec["targets"]))
    text = eval_stdout_text(
        log_path=Path("logs") / log.name, accuracy=right / len(spec["targets"]), **common
    )
    print(text, end="", flush=True)
elif mode == "fail":
    print(eval_stdout_text(log_path=None, accuracy=None, failed="traceback", **common), end="")
    sys.exit(3)
else:  # timeout / cancel: the progress so far, then wait for SLURM to end the job
    text = eval_stdout_text(
        log_path=None, accuracy=None, failed="timeout", completed=len(spec["targets"]) // 2,
        **common,
    )
    kept = [line for line in text.splitlines(keepends=True) if "slurmstepd" not in line]
    print("".join(kept), end="", flush=True)
    time.sleep(600)
"""


# --- the experiment --------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The experiment the module's jobs produced, and what sacct recorded for them."""

    exp: Path
    output_base: Path
    train_ids: dict[str, str]  # run -> job id
    eval_ids: dict[tuple[str, int | None], str]  # (run, epoch) -> job id
    acct: dict[str, Acct]
    losses: dict[str, list[float]]

    def train_stdout(self, run_name: str) -> Path:
        job_id = self.train_ids[run_name]
        if run_name == OOM:
            return self.exp / run_name / f"slurm-{job_id}.out"
        return self.output_base / f"ck-out-{run_name}" / f"slurm-{job_id}.out"

    def eval_stdout(self, cell: tuple[str, int | None]) -> Path:
        return self.exp / cell[0] / "eval" / f"slurm-{self.eval_ids[cell]}.out"


@pytest.fixture(scope="module")
def live(
    live_slurm, template_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    submitted: list[str] = []
    try:
        yield _run_experiment(template_cache, tmp_path_factory, submitted)
    finally:  # a failure half-way must not leave `sleep 600` jobs behind
        if submitted:
            subprocess.run(["scancel", *submitted], timeout=COMMAND_TIMEOUT_S, check=False)


def _run_experiment(
    template_cache: Path, tmp_path_factory: pytest.TempPathFactory, submitted: list[str]
) -> Live:
    root = tmp_path_factory.mktemp("live-pipeline")
    spec = ExperimentSpec(
        name="live_pipeline_rank_comparison",
        runs=[
            RunSpec(SHORT, parameters={"lora_rank": 4, "lr": 1e-5}, training="not_started"),
            RunSpec(LONG, parameters={"lora_rank": 16, "lr": 1e-5}, training="not_started"),
            RunSpec(OOM, parameters={"lora_rank": 64, "lr": 1e-3}, training="not_started"),
            RunSpec(CONTROL, type="control", parameters={}),
        ],
        tasks=[TASK],
        evals=[],  # the matrix defaults to every run x task x epoch; no results written
        epochs=EPOCHS,
    )
    exp = build_experiment(root, spec, cache_dir=template_cache)
    output_base = root / "ck-outputs" / spec.name
    written = {p.relative_to(exp).as_posix() for p in exp.rglob("*") if p.is_file()}
    assert not [p for p in written if p.endswith((".out", ".eval"))], written
    assert f"{SHORT}/eval/{TASK}_epoch2.slurm" in written
    assert f"{CONTROL}/eval/{TASK}_base.slurm" in written

    # warm the template cache once, so each evaluation job only reads it (~2 s, not ~5 s)
    write_inspect_log(
        root / "warm-up",
        task=TASK,
        model="hf/warm-up",
        targets=["1"],
        answers=["1"],
        cache_dir=template_cache,
    )
    jobs_dir = root / "jobs"
    jobs_dir.mkdir()
    helper = jobs_dir / "eval_job.py"
    helper.write_text(EVAL_JOB.format(repo=str(REPO)))

    def sbatch(name: str, body: str, chdir: Path, output: Path, *extra: str) -> str:
        job_script = jobs_dir / f"{name}.sh"
        job_script.write_text("#!/bin/bash\n" + body)
        job_id = run(
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--chdir={chdir}",
            f"--output={output}",
            *extra,
            str(job_script),
        ).strip()
        submitted.append(job_id)
        return job_id

    losses: dict[str, list[float]] = {}
    train_ids: dict[str, str] = {}
    for index, run_name in enumerate((SHORT, LONG, OOM)):
        ckpt = output_base / f"ck-out-{run_name}"
        ckpt.mkdir(parents=True)
        losses[run_name] = default_losses(
            EPOCHS * STEPS_PER_EPOCH, seed=index, final=FINAL_LOSS[run_name]
        )
        failed = run_name == OOM
        text = training_stdout_text(
            epochs=EPOCHS,
            steps_per_epoch=STEPS_PER_EPOCH,
            losses=losses[run_name],
            ending="oom" if failed else "completed",
            stop_step=OOM_STOP_STEP if failed else None,
            seed=index,
            output_dir=str(ckpt),
        )
        text_file = jobs_dir / f"train-{run_name}.txt"
        text_file.write_text(text, encoding="utf-8")
        saved = range(1) if failed else range(EPOCHS)
        mkdirs = " ".join(shlex.quote(str(ckpt / f"epoch_{n}")) for n in saved)
        body = (
            f"cat {shlex.quote(str(text_file))}\nmkdir -p {mkdirs}\n"
            f"sleep {TRAIN_SLEEP_S[run_name]}\n"
        )
        body += "exit 1\n" if failed else ""
        where = exp / run_name if failed else ckpt  # layout A: a failed training's stdout stays
        train_ids[run_name] = sbatch(f"ft-{run_name}", body, where, where / "slurm-%j.out")

    eval_ids: dict[tuple[str, int | None], str] = {}
    for cell, mode in CELL_PLAN.items():
        run_name, epoch = cell
        folder = exp / run_name / "eval"
        targets, answers = answers_for(cell) if mode == SUCCESS else (["1"] * SAMPLES,) * 2
        job_spec = jobs_dir / f"{run_name}-{epoch}.json"
        job_spec.write_text(
            json.dumps(
                {
                    "mode": mode,
                    "task": TASK,
                    "model": f"hf/{run_name}",  # no epoch in the log: only the job name has it
                    "targets": targets,
                    "answers": answers,
                    "log_dir": str(folder / "logs"),
                    "cache_dir": str(template_cache),
                }
            )
        )
        body = (
            f"{shlex.quote(str(PYTHON))} {shlex.quote(str(helper))} {shlex.quote(str(job_spec))}\n"
        )
        extra = ("--time=5",) if mode == TIMEOUT else ()
        eval_ids[cell] = sbatch(
            eval_job_name(run_name, epoch), body, folder, folder / "slurm-%j.out", *extra
        )

    # end the cancel and timeout jobs once they run and have started loading the model
    killed = {mode: cell for cell, mode in CELL_PLAN.items() if mode in (CANCEL, TIMEOUT)}
    for mode, cell in killed.items():
        job_id = eval_ids[cell]
        out = exp / cell[0] / "eval" / f"slurm-{job_id}.out"
        wait_for(
            f"{mode} job {job_id} running with its progress printed",
            lambda job_id=job_id, out=out: (
                squeue_field(job_id, "%T") == "RUNNING"
                and out.is_file()
                and "Loading checkpoint shards" in out.read_text()
            ),
        )
        if mode == CANCEL:
            run("scancel", job_id)
        else:
            end_at_time_limit(job_id)

    ids = list(train_ids.values()) + list(eval_ids.values())
    acct = wait_for("sacct reports every job of the experiment ended", ended(ids), ALL_ENDED_S)
    # slurmstepd writes its CANCELLED line into the stdout about when the state changes
    for mode, cell in killed.items():
        out = exp / cell[0] / "eval" / f"slurm-{eval_ids[cell]}.out"
        wait_for(
            f"SLURM's CANCELLED line in the {mode} job's stdout",
            lambda out=out: "CANCELLED AT" in out.read_text(),
        )
    return Live(exp, output_base, train_ids, eval_ids, acct, losses)


@pytest.fixture(scope="module")
def status(live: Live) -> dict:
    """scripts/parse_status.py's document for the experiment (with sacct)."""
    return script("parse_status.py", str(live.exp))


@dataclass(frozen=True)
class Summary:
    """What one scripts/summarize.py run printed and wrote (read at once: later runs overwrite)."""

    result: dict
    markdown: str
    report: dict


@pytest.fixture(scope="module")
def no_sacct(live: Live) -> Summary:
    result = script("summarize.py", str(live.exp), "--no-sacct")
    return Summary(
        result,
        Path(result["summary"]).read_text(),
        json.loads(Path(result["summary_json"]).read_text()),
    )


def test_cluster_recorded_what_the_jobs_did(live: Live) -> None:
    """The premise of the other tests: SLURM's own record of the experiment's jobs."""
    states = {run_name: live.acct[i].state for run_name, i in live.train_ids.items()}
    assert states == {SHORT: "COMPLETED", LONG: "COMPLETED", OOM: "FAILED"}
    expected = {SUCCESS: "COMPLETED", FAIL: "FAILED", TIMEOUT: "TIMEOUT", CANCEL: "CANCELLED"}
    for cell, mode in CELL_PLAN.items():
        job = live.acct[live.eval_ids[cell]]
        assert (job.name, job.state) == (eval_job_name(*cell), expected[mode])
    for run_name, job_id in live.train_ids.items():
        assert live.acct[job_id].name == f"ft-{run_name}"
        assert live.acct[job_id].elapsed_seconds >= TRAIN_SLEEP_S[run_name]
        assert live.train_stdout(run_name).is_file()
    timeout = live.eval_stdout((LONG, 0)).read_text()
    assert re.search(r"\*\*\* JOB \d+ ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*", timeout)
    assert len(list((live.exp / LONG / "eval" / "logs").glob("*.eval"))) == 1


def test_parse_status_training_matches_sacct(live: Live, status: dict) -> None:
    document = status
    assert document["status"] == "success"
    assert document["experiment"]["layout"] == "A"
    slurm = document["slurm"]
    all_ids = len(live.train_ids) + len(live.eval_ids)
    assert slurm["available"] is True and slurm["source"] == "sacct", slurm
    assert (slurm["jobs_asked"], slurm["jobs_found"]) == (all_ids, all_ids)
    runs = {r["name"]: r for r in document["runs"]}
    for run_name, job_id in live.train_ids.items():
        finetune = runs[run_name]["finetune"]
        acct = live.acct[job_id]
        assert finetune["status"] == acct.state, run_name
        job = finetune["job"]
        assert job is not None, f"{run_name}: no job for {live.train_stdout(run_name)}"
        assert (job["job_id"], job["name"], job["state"]) == (job_id, acct.name, acct.state)
        assert job["elapsed_seconds"] == acct.elapsed_seconds, run_name
        assert finetune["stdout"] == str(live.train_stdout(run_name))
        assert finetune["expected_epochs"] == EPOCHS
        assert (finetune["duration_seconds"], finetune["duration_source"]) == (
            acct.elapsed_seconds,
            "sacct",
        )
    assert runs[SHORT]["finetune"]["checkpoints"] == list(range(EPOCHS))
    assert runs[OOM]["finetune"]["checkpoints"] == [0]
    assert runs[CONTROL]["finetune"]["status"] == "N/A"


def test_parse_status_cells_match_sacct(live: Live, status: dict) -> None:
    document = status
    runs = {r["name"]: r for r in document["runs"]}
    cells = {
        (run_name, c["epoch"]): c
        for run_name, r in runs.items()
        for c in r["cells"]
        if c["task"] == TASK
    }
    expected_keys = {(r, e) for r in (SHORT, LONG, OOM) for e in range(EPOCHS)} | {(CONTROL, None)}
    assert set(cells) == expected_keys  # no stray cell (e.g. an epoch-less log)
    for cell, mode in CELL_PLAN.items():
        got = cells[cell]
        acct = live.acct[live.eval_ids[cell]]
        assert got["status"] == acct.state, (cell, got)
        assert got["in_design"] is True
        assert got["job"] is not None, cell
        assert (got["job"]["job_id"], got["job"]["name"]) == (acct.job_id, acct.name)
        if mode == SUCCESS:
            logs = list((live.exp / cell[0] / "eval" / "logs").glob("*.eval"))
            assert got["log"] == str(logs[0])
            assert got["epoch"] == cell[1]
            expected_source = None if cell[1] is None else "sacct"
            assert got["epoch_source"] == expected_source, cell
            assert got["accuracy"] == pytest.approx(1 - WRONG[cell] / SAMPLES)
            assert got["model"] == f"hf/{cell[0]}"
        else:
            assert got["log"] is None
            assert got["check"] == str(live.eval_stdout(cell))
    assert cells[MISSING_CELL]["status"] == "MISSING"
    assert cells[MISSING_CELL]["job"] is None
    assert {cells[(OOM, e)]["status"] for e in range(EPOCHS)} == {"NOT_STARTED"}
    assert any(EVAL_FAILURE in n for n in cells[(SHORT, 1)]["notes"])
    assert any("DUE TO TIME LIMIT" in n for n in cells[(LONG, 0)]["notes"])
    assert document["notes"] == []  # every log mapped to its epoch, no disagreement


def test_summary_matches_what_the_cluster_recorded(live: Live) -> None:
    result = script("summarize.py", str(live.exp))
    assert result["status"] == "partial"  # failures are warnings, the summary is written
    assert result["counts"] == {
        "runs": 4,
        "complete_runs": 1,
        "evaluations": 3,
        "errors": 0,
        "incomplete": 6,
    }
    assert [(b["run"], b["epoch"]) for b in result["best"]] == [(LONG, 1)]
    markdown = Path(result["summary"]).read_text()

    status = {r["Run"]: r for r in md_table(markdown, "Run Status")}
    assert {name: (r["Type"], r["Fine-tuning"], r["Evaluation"]) for name, r in status.items()} == {
        SHORT: ("Fine-tuned", "COMPLETED", f"PARTIAL (1/{EPOCHS})"),
        LONG: ("Fine-tuned", "COMPLETED", f"PARTIAL (1/{EPOCHS})"),
        OOM: ("Fine-tuned", "FAILED", "NOT_STARTED"),
        CONTROL: ("Control", "N/A", "COMPLETED"),
    }

    training = {r["Run"]: r for r in md_table(markdown, "Training Results")}
    assert set(training) == {SHORT, LONG, OOM}
    for run_name, job_id in live.train_ids.items():
        row = training[run_name]
        assert row["Duration"] == duration(live.acct[job_id].elapsed_seconds), (run_name, row)
    for run_name in (SHORT, LONG):
        row = training[run_name]
        assert row["Final Loss"] == loss_text(live.losses[run_name][-1])
        assert (row["Total Steps"], row["Epochs"]) == (str(EPOCHS * STEPS_PER_EPOCH), str(EPOCHS))
    oom = training[OOM]
    # a run that stopped shows its last loss as such, with the state of its job: not a final loss
    last = loss_text(live.losses[OOM][OOM_STOP_STEP - 1])
    assert oom["Final Loss"] == f"{last} (stopped at step {OOM_STOP_STEP}, FAILED)"
    assert (oom["Total Steps"], oom["Epochs"]) == (str(OOM_STOP_STEP), "2")  # tqdm: 1-indexed

    evaluations = md_table(markdown, "Evaluation Results")
    assert {(r["Run"], r["Task"], r["Epoch"]) for r in evaluations} == {
        (SHORT, TASK, "0"),
        (LONG, TASK, "1"),
        (CONTROL, TASK, "-"),
    }
    for row in evaluations:
        cell = (row["Run"], None if row["Epoch"] == "-" else int(row["Epoch"]))
        accuracy = 1 - WRONG[cell] / SAMPLES
        assert row["Accuracy"].split()[0] == f"{accuracy:.3f}", row
        assert row["Samples"] == str(SAMPLES)

    incomplete = {(r["Run"], r["Stage"]): r for r in md_table(markdown, "Incomplete Runs")}
    stage = f"Evaluation: {TASK} epoch"
    assert {key: r["Status"] for key, r in incomplete.items()} == {
        (OOM, "Fine-tuning"): "FAILED",
        (OOM, "Evaluation"): "NOT_STARTED",
        (SHORT, f"{stage} 1"): "FAILED",
        (SHORT, f"{stage} 2"): "CANCELLED",
        (LONG, f"{stage} 0"): "TIMEOUT",
        (LONG, f"{stage} 2"): "MISSING",
    }

    def check(path: Path) -> str:
        return f"Check {path.relative_to(live.exp)}"

    notes = {key: r["Notes"] for key, r in incomplete.items()}
    assert "torch.OutOfMemoryError: CUDA out of memory" in notes[(OOM, "Fine-tuning")]
    assert notes[(OOM, "Fine-tuning")].endswith(check(live.train_stdout(OOM)))
    assert EVAL_FAILURE in notes[(SHORT, f"{stage} 1")]
    assert notes[(SHORT, f"{stage} 1")].endswith(check(live.eval_stdout((SHORT, 1))))
    cancelled = live.eval_ids[(SHORT, 2)]
    assert f"*** JOB {cancelled} ON localhost CANCELLED AT" in notes[(SHORT, f"{stage} 2")]
    assert notes[(SHORT, f"{stage} 2")].endswith(check(live.eval_stdout((SHORT, 2))))
    timed_out = live.eval_ids[(LONG, 0)]
    assert f"*** JOB {timed_out} ON localhost CANCELLED AT" in notes[(LONG, f"{stage} 0")]
    assert "DUE TO TIME LIMIT" in notes[(LONG, f"{stage} 0")]
    assert notes[(LONG, f"{stage} 0")].endswith(check(live.eval_stdout((LONG, 0))))
    assert "no evaluation log and no evaluation job found" in notes[(LONG, f"{stage} 2")]

    assert "## Notes" not in markdown  # accounting answered; every log has its epoch
    text = Path(result["log"]).read_text()
    log = text[text.rindex("] DISCOVER_EXPERIMENT: ") :]  # this run's entries
    jobs = len(live.train_ids) + len(live.eval_ids)
    assert "] PARSE_STATUS: SLURM accounting\n" in log
    assert f"Result: source sacct, {jobs} jobs known" in log
    for run_name, epoch in ((SHORT, 0), (LONG, 1)):
        entry = re.search(
            rf"\] EXTRACT_ACCURACY: {re.escape(run_name)} {TASK} epoch {epoch}\n"
            rf"Details: (.*)\nResult: accuracy",
            log,
        )
        assert entry and entry.group(1).endswith("(epoch from sacct, task from log)"), (
            run_name,
            entry,
        )


def test_no_sacct_does_not_guess_epochs(live: Live, no_sacct: Summary) -> None:
    """Without accounting, logs with no epoch of their own stay unmapped and say so."""
    assert no_sacct.result["status"] == "partial"
    markdown, report = no_sacct.markdown, no_sacct.report
    unmapped = {
        str(next((live.exp / run_name / "eval" / "logs").glob("*.eval")))
        for run_name in (SHORT, LONG)
    }
    notes_section = md_section(markdown, "Notes")
    for log in unmapped:
        assert any(log in note and "cannot tell which epoch" in note for note in report["notes"]), (
            log,
            report["notes"],
        )
        assert log in notes_section
    assert "SLURM accounting not used: sacct not used (--no-sacct)" in notes_section

    # nothing was placed in an epoch: not by file order, not by the design's free cells
    by_cell = {(r["run"], r["epoch"]): r for r in report["evaluations"]}
    for run_name in (SHORT, LONG):
        assert [r["epoch"] for r in report["evaluations"] if r["run"] == run_name] == [None]
        assert by_cell[(run_name, None)]["epoch_source"] is None
    rows = md_table(markdown, "Evaluation Results")
    # `?`: a fine-tuned run's evaluation whose epoch is unknown; `-`: the control (no epoch)
    assert {(r["Run"], r["Epoch"]) for r in rows} == {(SHORT, "?"), (LONG, "?"), (CONTROL, "-")}
    assert not [b for b in report["best"] if b["epoch"] is not None]

    files_only = script("parse_status.py", str(live.exp), "--no-sacct")
    assert files_only["slurm"]["available"] is False
    for entry in files_only["runs"]:
        for cell in entry["cells"]:
            if cell["epoch"] is not None:
                assert cell["status"] != "COMPLETED", (entry["name"], cell)
                assert cell["log"] is None and cell["epoch_source"] is None
    assert {r["run"]: r["duration_source"] for r in report["training"]} == dict.fromkeys(
        (SHORT, LONG, OOM), "tqdm"
    )


def test_when_done_with_nothing_running_submits_nothing(live: Live) -> None:
    before = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    result = script("summarize.py", str(live.exp), "--when-done")
    assert result["status"] == "nothing_to_wait_for", result
    assert result["job_id"] is None and result["waits_for"] == []
    assert not (live.exp / "logs" / "summarize-when-done.slurm").exists()
    name = f"summarize-{live.exp.name}"
    queued = run("squeue", "--me", "--noheader", "--format=%j").split()
    assert name not in queued
    submitted = run("sacct", "-X", "-n", "-P", f"--name={name}", "-S", before, "-o", "JobID")
    assert submitted.strip() == ""


def test_when_done_waits_for_running_and_pending_jobs(
    live_slurm, template_cache: Path, tmp_path: Path
) -> None:
    """A running evaluation and a pending (held) training: the summary job waits for both."""
    run_name = "rank8_lr3e-4"  # not a run of the module's experiment: no job name in common
    spec = ExperimentSpec(
        name="live_when_done",
        runs=[RunSpec(run_name, parameters={"lora_rank": 8}, training="not_started")],
        tasks=[TASK],
        evals=[],
        epochs=1,
    )
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    eval_dir = exp / run_name / "eval"
    # the scaffold's own scripts, made runnable here (no GPU, no conda): same names and outputs
    train_script = exp / run_name / "finetune.slurm"
    eval_script = eval_dir / f"{TASK}_epoch0.slurm"
    assert f"#SBATCH --job-name=ft-{run_name}\n" in train_script.read_text()
    assert f"#SBATCH --job-name={eval_job_name(run_name, 0)}\n" in eval_script.read_text()
    for path, name in ((train_script, f"ft-{run_name}"), (eval_script, eval_job_name(run_name, 0))):
        path.write_text(
            f"#!/bin/bash\n#SBATCH --job-name={name}\n#SBATCH --output=slurm-%j.out\nsleep 60\n"
        )
    evaluation = run("sbatch", "--parsable", str(eval_script), cwd=eval_dir).strip()
    training = run("sbatch", "--parsable", "--hold", str(train_script), cwd=exp / run_name).strip()
    sleepers = [evaluation, training]
    try:
        wait_for(
            "the evaluation running, the training held",
            lambda: (
                squeue_field(evaluation, "%T") == "RUNNING"
                and squeue_field(training, "%T") == "PENDING"
                and (eval_dir / f"slurm-{evaluation}.out").is_file()
            ),
        )
        result = script("summarize.py", str(exp), "--when-done")
        assert result["status"] == "submitted", result
        summary_job = result["job_id"]
        assert summary_job.isdigit()
        assert sorted(result["waits_for"], key=int) == sorted(sleepers, key=int)
        assert Path(result["script"]) == exp / "logs" / "summarize-when-done.slurm"
        wait_for(
            "the summary job pending on Dependency",
            lambda: (
                squeue_field(summary_job, "%T|%r|%j") == f"PENDING|Dependency|summarize-{exp.name}"
            ),
        )
        assert not (exp / "summary.md").exists()
    finally:
        for job_id in sleepers:
            subprocess.run(["scancel", job_id], timeout=COMMAND_TIMEOUT_S, check=False)

    acct = wait_for("the summary job ended", ended([*sleepers, summary_job]))
    assert acct[summary_job].state == "COMPLETED", acct[summary_job]
    assert acct[evaluation].state == acct[training].state == "CANCELLED"
    printed = (exp / "logs" / f"summarize-when-done-{summary_job}.out").read_text()
    assert json.loads(printed)["summary"] == str(exp / "summary.md")
    markdown = (exp / "summary.md").read_text()
    incomplete = {(r["Run"], r["Stage"]): r for r in md_table(markdown, "Incomplete Runs")}
    assert (run_name, f"Evaluation: {TASK} epoch 0") in incomplete, markdown
    cancelled = incomplete[(run_name, f"Evaluation: {TASK} epoch 0")]
    assert cancelled["Status"] == "CANCELLED"
    assert cancelled["Notes"].endswith(f"Check {run_name}/eval/slurm-{evaluation}.out")


# --- files only (--no-sacct): what the summary must still say ------------------------------
# Layout A without accounting cannot tell which cell a job stdout or an epoch-less log belongs
# to; the tests below check that the summary says what it found instead of what it did not.


def test_no_sacct_failed_evaluation_jobs_are_not_dropped(live: Live, no_sacct: Summary) -> None:
    """The stdout of an evaluation job that failed, was cancelled or timed out is evidence on
    disk: the summary names it (as it does with sacct), never "no evaluation job found"."""
    markdown = no_sacct.markdown
    dropped = [
        str(live.eval_stdout(cell).relative_to(live.exp))
        for cell, mode in CELL_PLAN.items()
        if mode != SUCCESS and live.eval_stdout(cell).name not in markdown
    ]
    assert dropped == [], (
        "failed evaluation jobs' stdout not mentioned in summary.md with --no-sacct: "
        f"{dropped}\n{md_section(markdown, 'Incomplete Runs')}"
    )
    incomplete = md_table(markdown, "Incomplete Runs")
    wrong = [
        (r["Run"], r["Stage"])
        for r in incomplete
        if r["Run"] == SHORT and "no evaluation job found" in r["Notes"]
    ]
    assert wrong == [], f"{SHORT} has three evaluation job stdouts on disk: {wrong}"


def test_no_sacct_unmapped_logs_are_described_truthfully(no_sacct: Summary) -> None:
    """A log whose epoch is unknown is reported as such, once: not as an evaluation outside
    the design's matrix (the matrix has every epoch of the run), and its run's evaluation is
    not NOT_STARTED (it ran and produced a result)."""
    report = no_sacct.report
    problems = [
        f"false note: {note}"
        for note in report["notes"]
        if "not in the design's evaluation.matrix" in note
    ]
    problems += [
        f"Run Status says {row['run']} evaluation {row['evaluation']} but it has a result log"
        for row in report["run_status"]
        if row["run"] in (SHORT, LONG) and row["evaluation"] == "NOT_STARTED"
    ]
    assert problems == [], "\n".join(problems)
