"""A layout-B experiment (ARTIFACTS.md "Layout B") whose jobs really ran on the live SLURM testbed.

`testing.synthetic.build_experiment(layout="B")` writes the design, every cell's `eval.yaml` and
`cell.slurm`, the real inspect-ai logs (task `{task}_{vis_label}`, `--metadata epoch=N`), the
stdouts and the run logs. The module fixture then moves every stdout and log aside and has
SLURM produce them again: each run's `finetune.slurm` and each cell's `cell.slurm`, made runnable
here (no GPU, no conda) but keeping the toolkit's job name, `--output` and time limit, is
submitted as the generator's run log says (`cd {cell} && sbatch cell.slurm`). So SLURM writes
each evaluation's stdout into `{run}/artifacts/epoch_N/` (fine-tuned) or `{run}/artifacts/`
(control, eval-only), never into the cell folder, under its real job id; and every submission is
recorded with that id in `logs/run-torchtune.log` or `logs/run-inspect.log` ("Run logs").

Two fine-tuned runs x 2 epochs, a control and an eval-only run, one task. Of the evaluation jobs,
three succeed (each copies its pre-written log into its cell's `logs/`), one is killed at its
time limit (TIMEOUT, no log), one fails (exit 1 after a CUDA out-of-memory traceback), one is
held (PENDING: no stdout, known only from the run log); the stdout of one successful job is
deleted afterwards, so only the run log and sacct know it.

The tests compare scripts/parse_status.py and scripts/summarize.py with what sacct itself
recorded, and check that each asked sacct once about every job id.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

from .live import (
    COMMAND_TIMEOUT_S,
    ENDED,
    Acct,
    duration,
    end_at_time_limit,
    md_table,
    run,
    sacct,
    squeue_field,
    wait_for,
)

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable).absolute()  # the venv's python: it has inspect-ai and PyYAML

TASK = "acs_income"
EPOCHS = 2
R4, R8 = "rank4_lr1e-5", "rank8_lr1e-5"
CONTROL = "Llama-3.2-1B-Instruct_base"
EVAL_ONLY = "income_rank8"
CHECKPOINT = "/scratch/gpfs/LAB/user/ck-projects/prior_exp/income_rank8/artifacts/epoch_1"
# ARTIFACTS.md "Layout B": vis_label is the matrix entry's, by default the run name
VIS_LABEL = {R4: "rank4", R8: R8, CONTROL: CONTROL, EVAL_ONLY: EVAL_ONLY}

Cell = tuple[str, int | None]  # (run, epoch); None: control and eval-only
SUCCESS, TIMEOUT, FAIL, HELD = "success", "timeout", "fail", "held"
PLAN: dict[Cell, str] = {
    (R4, 0): SUCCESS,
    (R4, 1): TIMEOUT,
    (R8, 0): FAIL,
    (R8, 1): HELD,
    (CONTROL, None): SUCCESS,
    (EVAL_ONLY, None): SUCCESS,
}
STDOUT_DELETED: Cell = (R4, 0)
TIMED_OUT: Cell = (R4, 1)
FAILED: Cell = (R8, 0)
PENDING: Cell = (R8, 1)
# what the generator writes for each: a log and its stdout, the stdout of a job killed while
# loading the model, or one whose model never loaded (CUDA out of memory)
GENERATED = {SUCCESS: "success", HELD: "success", TIMEOUT: "timeout", FAIL: "job_failed"}
STATE = {SUCCESS: "COMPLETED", TIMEOUT: "TIMEOUT", FAIL: "FAILED", HELD: "PENDING"}
SAMPLES = 20
WRONG = {(R4, 0): 5, (R8, 1): 2, (CONTROL, None): 9, (EVAL_ONLY, None): 3}  # of 20
# the generator's job ids (replaced by the real ones): training 11, 12; evaluations 101...
FAKE_TRAIN = {R4: 11, R8: 12}
FAKE_EVAL = {cell: 101 + index for index, cell in enumerate(PLAN)}
TRAIN_SLEEP_S = {R4: 2, R8: 3}  # Elapsed > 0, and not the same for every job
EVAL_SLEEP_S = {(R4, 0): 1, (R8, 0): 2, (CONTROL, None): 3, (EVAL_ONLY, None): 2, (R8, 1): 1}
CUDA_OOM = "torch.OutOfMemoryError: CUDA out of memory"

# slurmctld checks time limits every 30 s and then kills within KillWait (2 s).
ALL_ENDED_S = 75
SCRIPT_TIMEOUT_S = 120


def settled(ended: list[str], held: str) -> Callable[[], dict[str, Acct] | None]:
    """A probe: sacct's records once every job but `held` ended and `held` is PENDING."""

    def probe() -> dict[str, Acct] | None:
        jobs = sacct([*ended, held])
        done = all(i in jobs and jobs[i].state in ENDED for i in ended)
        return jobs if done and held in jobs and jobs[held].state == "PENDING" else None

    return probe


def eval_job_name(cell: Cell) -> str:
    """ARTIFACTS.md "Layout B": `eval-{task}-ep{N}` (control and eval-only: `eval-{task}`)."""
    return f"eval-{TASK}" if cell[1] is None else f"eval-{TASK}-ep{cell[1]}"


def stdout_dir(exp: Path, cell: Cell) -> Path:
    """Where an evaluation job writes its stdout (ARTIFACTS.md "Layout B")."""
    artifacts = exp / cell[0] / "artifacts"
    return artifacts if cell[1] is None else artifacts / f"epoch_{cell[1]}"


def answers_for(cell: Cell) -> tuple[list[str], list[str]]:
    targets = ["1" if i % 2 == 0 else "0" for i in range(SAMPLES)]
    wrong = WRONG.get(cell, 0)
    answers = [t if i >= wrong else ("0" if t == "1" else "1") for i, t in enumerate(targets)]
    return targets, answers


def experiment_spec() -> ExperimentSpec:
    runs = [
        RunSpec(R4, parameters={"lora_rank": 4, "lr": "1e-5"}, steps_per_epoch=4,
                train_job_id=FAKE_TRAIN[R4]),
        RunSpec(R8, parameters={"lora_rank": 8, "lr": "1e-5"}, steps_per_epoch=4,
                train_job_id=FAKE_TRAIN[R8]),
        RunSpec(CONTROL, type="control"),
        RunSpec(EVAL_ONLY, type="eval-only", parameters={"checkpoint_path": CHECKPOINT}),
    ]  # fmt: skip
    evals = [
        EvalSpec(run_name, TASK, epoch, *answers_for((run_name, epoch)),
                 status=GENERATED[mode], job_id=FAKE_EVAL[(run_name, epoch)])
        for (run_name, epoch), mode in PLAN.items()
    ]  # fmt: skip
    matrix = [
        {"run": R4, "vis_label": VIS_LABEL[R4], "tasks": [TASK], "epochs": [0, 1]},
        {"run": R8, "tasks": [TASK], "epochs": [0, 1]},
        {"run": CONTROL, "tasks": [TASK], "epochs": None},
        {"run": EVAL_ONLY, "tasks": [TASK], "epochs": None},
    ]
    return ExperimentSpec("live_layout_b", runs, [TASK], evals, epochs=EPOCHS, matrix=matrix)


# --- the run logs ------------------------------------------------------------------------------

_SUBMISSION = re.compile(
    r"^\[[^\]]+\] (SUBMIT_JOB|SUBMIT_EVAL): (.+)\nDetails: (.+)\nResult: Job ID (\d+) submitted",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Submission:
    """A submission entry the generator wrote: what the toolkit's run step records."""

    action: str
    subject: str
    details: str

    @property
    def folder(self) -> str:
        """The folder the entry's `cd {folder} && sbatch {script}` submits from."""
        match = re.fullmatch(r"cd (\S+) && sbatch (finetune|cell)\.slurm", self.details)
        assert match, self.details
        return match.group(1)


def generated_submissions(exp: Path) -> dict[int, Submission]:
    """The generator's SUBMIT_JOB / SUBMIT_EVAL entries by (fictional) job id; its run logs are
    then removed: the module writes them again with the real ids as it submits."""
    found: dict[int, Submission] = {}
    for name in ("run-torchtune.log", "run-inspect.log"):
        path = exp / "logs" / name
        for action, subject, details, job_id in _SUBMISSION.findall(path.read_text()):
            found[int(job_id)] = Submission(action, subject, details)
        path.unlink()
    return found


def record(exp: Path, log_name: str, entry: Submission, job_id: str) -> None:
    """Append a submission in the toolkit's format (ARTIFACTS.md "Run logs")."""
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    with (exp / "logs" / log_name).open("a", encoding="utf-8") as log:
        log.write(
            f"[{now}] {entry.action}: {entry.subject}\nDetails: {entry.details}\n"
            f"Result: Job ID {job_id} submitted at {now}\n\n"
        )


def make_runnable(script: Path, body: str) -> dict[str, str]:
    """Replace a scaffolded batch script's body (GPU, conda, inspect or tune) with `body`,
    keeping its `#SBATCH` job name, output and time limit; return those three."""
    kept: dict[str, str] = {}
    for line in script.read_text().splitlines():
        match = re.fullmatch(r"#SBATCH --(job-name|output|time)=(.+)", line)
        if match:
            kept[match.group(1)] = match.group(2)
    assert set(kept) == {"job-name", "output", "time"}, (script, kept)
    header = "".join(f"#SBATCH --{key}={value}\n" for key, value in kept.items())
    script.write_text(f"#!/bin/bash\n{header}\nset -e\n{body}")
    return kept


# --- the experiment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The experiment the module's jobs produced, and what sacct recorded for them."""

    exp: Path
    train_ids: dict[str, str]  # run -> job id
    eval_ids: dict[Cell, str]
    logs: dict[Cell, Path]  # the pre-written log of each evaluation that succeeded
    acct: dict[str, Acct]

    @property
    def job_ids(self) -> list[str]:
        return [*self.train_ids.values(), *self.eval_ids.values()]

    def eval_stdout(self, cell: Cell) -> Path:
        return stdout_dir(self.exp, cell) / f"slurm-{self.eval_ids[cell]}.out"

    def train_stdout(self, run_name: str) -> Path:
        return self.exp / run_name / "artifacts" / f"slurm-{self.train_ids[run_name]}.out"


@pytest.fixture(scope="module")
def live(
    live_slurm: object, template_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    submitted: list[str] = []
    try:
        yield _run_experiment(template_cache, tmp_path_factory, submitted)
    finally:  # the held job, and on a failure half-way the sleeping one, must not stay behind
        if submitted:
            subprocess.run(["scancel", *submitted], timeout=COMMAND_TIMEOUT_S, check=False)


def _run_experiment(
    template_cache: Path, tmp_path_factory: pytest.TempPathFactory, submitted: list[str]
) -> Live:
    root = tmp_path_factory.mktemp("live-layout-b")
    exp = build_experiment(root, experiment_spec(), layout="B", cache_dir=template_cache)
    entries = generated_submissions(exp)
    staged = root / "staged"  # what the jobs print and copy, outside the experiment
    staged.mkdir()

    def stage(path: Path) -> Path:
        assert path.is_file(), path
        place = staged / str(len(list(staged.iterdir())))  # a folder each: names are kept
        place.mkdir()
        return Path(shutil.move(path, place / path.name))

    def sbatch(folder: Path, script: str, *extra: str) -> str:
        job_id = run("sbatch", "--parsable", *extra, script, cwd=folder).strip()
        submitted.append(job_id)
        return job_id

    train_ids: dict[str, str] = {}
    for run_name, fake in FAKE_TRAIN.items():
        entry = entries[fake]
        assert (entry.action, entry.subject, entry.folder) == ("SUBMIT_JOB", run_name, run_name)
        text = stage(exp / run_name / "artifacts" / f"slurm-{fake}.out")
        body = f"cat {shlex.quote(str(text))}\nsleep {TRAIN_SLEEP_S[run_name]}\n"
        header = make_runnable(exp / run_name / "finetune.slurm", body)
        # ARTIFACTS.md "Layout B": training stdout {run}/artifacts/slurm-{jobid}.out
        assert header["output"] == f"{exp / run_name / 'artifacts'}/slurm-%j.out"
        train_ids[run_name] = sbatch(exp / run_name, "finetune.slurm")
        record(exp, "run-torchtune.log", entry, train_ids[run_name])

    eval_ids: dict[Cell, str] = {}
    logs: dict[Cell, Path] = {}
    for cell, mode in PLAN.items():
        run_name, epoch = cell
        entry = entries[FAKE_EVAL[cell]]
        subject = f"{run_name}/{TASK}" + ("" if epoch is None else f"/epoch{epoch}")
        assert (entry.action, entry.subject) == ("SUBMIT_EVAL", subject)
        folder = exp / entry.folder
        text = stage(stdout_dir(exp, cell) / f"slurm-{FAKE_EVAL[cell]}.out")
        body = f"sleep {EVAL_SLEEP_S.get(cell, 0)}\n"
        if mode in (SUCCESS, HELD):
            (log,) = (folder / "logs").glob("*.eval")
            logs[cell] = log
            body += f"cp {shlex.quote(str(stage(log)))} logs/\ncat {shlex.quote(str(text))}\n"
        elif mode == FAIL:
            body += f"cat {shlex.quote(str(text))}\nexit 1\n"
        else:  # killed while loading the model: SLURM writes its own time-limit line
            lines = text.read_text().splitlines(keepends=True)
            text.write_text("".join(line for line in lines if "slurmstepd" not in line))
            body += f"cat {shlex.quote(str(text))}\nsleep 600\n"
        header = make_runnable(folder / "cell.slurm", body)
        assert header["job-name"] == eval_job_name(cell), header
        assert header["output"] == f"{stdout_dir(exp, cell)}/slurm-%j.out", header
        extra = {TIMEOUT: ("--time=5",), HELD: ("--hold",)}.get(mode, ())
        eval_ids[cell] = sbatch(folder, "cell.slurm", *extra)
        record(exp, "run-inspect.log", entry, eval_ids[cell])
    assert not list(exp.rglob("slurm-*.out")) and not list(exp.rglob("*.eval"))

    # A real TIMEOUT, fast (see test_live_slurm.py): `--time=5` and, once running,
    # `scontrol update JobId=N EndTime=<now + 5 s>`; slurmctld kills it at its next check (< 30 s).
    timed_out = eval_ids[TIMED_OUT]
    out = stdout_dir(exp, TIMED_OUT) / f"slurm-{timed_out}.out"
    wait_for(
        f"timeout job {timed_out} running with its first line printed",
        lambda: (
            squeue_field(timed_out, "%T") == "RUNNING"
            and out.is_file()
            and "Loading checkpoint shards" in out.read_text()
        ),
    )
    end_at_time_limit(timed_out)
    held = eval_ids[PENDING]
    ended = [job_id for job_id in [*train_ids.values(), *eval_ids.values()] if job_id != held]
    acct = wait_for("sacct: every job ended but the held one", settled(ended, held), ALL_ENDED_S)
    wait_for("SLURM's time-limit line", lambda: "DUE TO TIME LIMIT" in out.read_text())
    assert squeue_field(held, "%T|%r") == "PENDING|JobHeldUser"
    (stdout_dir(exp, STDOUT_DELETED) / f"slurm-{eval_ids[STDOUT_DELETED]}.out").unlink()
    return Live(exp, train_ids, eval_ids, logs, acct)


# --- the scripts, with sacct and squeue watched ------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """One step script's JSON output and the SLURM commands it ran (argv after the name)."""

    output: dict
    sacct_calls: list[list[str]]
    squeue_calls: list[list[str]]


def script(name: str, experiment: Path, watch: Path) -> Ran:
    """Run scripts/{name} on the experiment with `sacct` and `squeue` on PATH wrapped so that
    each call is written to `watch`/calls before it runs the real command."""
    assert os.environ.get("SLURM_CONF"), "live_slurm sets SLURM_CONF for the subprocesses"
    watch.mkdir()
    calls = watch / "calls"
    for command in ("sacct", "squeue"):
        real = shutil.which(command)
        assert real, command
        wrapper = watch / command
        wrapper.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "{command} $*" >> {shlex.quote(str(calls))}\n'
            f'exec {shlex.quote(real)} "$@"\n'
        )
        wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{watch}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(PYTHON), str(REPO / "scripts" / name), str(experiment)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
        env=env,
    )
    assert result.returncode == 0, f"{name}: exit {result.returncode}: {result.stderr}"
    lines = calls.read_text().splitlines() if calls.exists() else []
    split = [line.split(" ") for line in lines]
    return Ran(
        json.loads(result.stdout),
        [argv[1:] for argv in split if argv[0] == "sacct"],
        [argv[1:] for argv in split if argv[0] == "squeue"],
    )


def sacct_ids(argv: list[str]) -> set[str]:
    """The job ids a `sacct -j ID,ID ...` call asked about."""
    return set(argv[argv.index("-j") + 1].split(","))


def squeue_ids(argv: list[str]) -> set[str]:
    (jobs,) = [arg for arg in argv if arg.startswith("--jobs=")]
    return set(jobs.removeprefix("--jobs=").split(","))


@pytest.fixture(scope="module")
def status(live: Live, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """scripts/parse_status.py on the experiment (with SLURM)."""
    return script("parse_status.py", live.exp, tmp_path_factory.mktemp("watch") / "status")


@dataclass(frozen=True)
class Summary:
    """What scripts/summarize.py printed and wrote."""

    ran: Ran
    markdown: str
    report: dict


@pytest.fixture(scope="module")
def summary(live: Live, status: Ran, tmp_path_factory: pytest.TempPathFactory) -> Summary:
    ran = script("summarize.py", live.exp, tmp_path_factory.mktemp("watch") / "summary")
    result = ran.output
    return Summary(
        ran,
        Path(result["summary"]).read_text(),
        json.loads(Path(result["summary_json"]).read_text()),
    )


def cells_of(document: dict) -> dict[Cell, dict]:
    """parse_status.py's cells by (run, epoch)."""
    return {(r["name"], c["epoch"]): c for r in document["runs"] for c in r["cells"]}


# --- the tests ---------------------------------------------------------------------------------


def test_cluster_recorded_what_the_jobs_did(live: Live) -> None:
    """The premise of the other tests: SLURM's own record, and the files where layout B has
    them (no stdout in a cell folder; none for the held job; one deleted)."""
    for run_name, job_id in live.train_ids.items():
        acct = live.acct[job_id]
        assert (acct.name, acct.state) == (run_name, "COMPLETED")
        assert acct.elapsed_seconds >= TRAIN_SLEEP_S[run_name]
        assert live.train_stdout(run_name).is_file()
    for cell, mode in PLAN.items():
        acct = live.acct[live.eval_ids[cell]]
        assert (acct.name, acct.state) == (eval_job_name(cell), STATE[mode]), cell
        has_stdout = mode != HELD and cell != STDOUT_DELETED
        assert live.eval_stdout(cell).is_file() == has_stdout, cell
        copied = (live.exp / cell[0] / "eval").glob("*/logs/*.eval")
        if mode == SUCCESS:
            assert live.logs[cell] in list(copied), cell
    assert live.acct[live.eval_ids[PENDING]].elapsed_seconds == 0
    assert not list(live.exp.glob("*/eval/*/slurm-*.out"))
    text = live.eval_stdout(TIMED_OUT).read_text()
    job_id = live.eval_ids[TIMED_OUT]
    assert re.search(rf"\*\*\* JOB {job_id} ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*", text)
    assert CUDA_OOM in live.eval_stdout(FAILED).read_text()
    inspect_log = (live.exp / "logs" / "run-inspect.log").read_text()
    assert f"] SUBMIT_EVAL: {R8}/{TASK}/epoch1\n" in inspect_log
    assert f"Result: Job ID {live.eval_ids[PENDING]} submitted at " in inspect_log


def test_parse_status_asks_sacct_once_about_every_job(live: Live, status: Ran) -> None:
    """Job ids from stdout names (artifacts/) and from the run logs, in one sacct call."""
    document = status.output
    assert document["status"] == "success"
    assert document["experiment"]["layout"] == "B"
    every = set(live.job_ids)
    assert [sacct_ids(argv) for argv in status.sacct_calls] == [every]
    for argv in status.squeue_calls:  # only what sacct did not report as ended
        assert squeue_ids(argv) <= {live.eval_ids[PENDING]}, argv
    slurm = document["slurm"]
    assert slurm["available"] is True and slurm["error"] is None, slurm
    assert (slurm["jobs_asked"], slurm["jobs_found"]) == (len(every), len(every))


def test_every_evaluation_job_has_its_sacct_state_and_duration(live: Live, status: Ran) -> None:
    cells = cells_of(status.output)
    assert set(cells) == set(PLAN)  # no stray cell, no job read as a training
    for cell, mode in PLAN.items():
        got, acct = cells[cell], live.acct[live.eval_ids[cell]]
        assert got["task"] == TASK and got["in_design"] is True, (cell, got)
        assert got["job"] is not None, f"{cell}: no job for {live.eval_ids[cell]}"
        job = got["job"]
        assert (job["job_id"], job["name"], job["state"]) == (acct.job_id, acct.name, acct.state)
        assert job["elapsed_seconds"] == acct.elapsed_seconds, (cell, job)
        assert got["status"] == STATE[mode], (cell, got)
        known_by_file = mode != HELD and cell != STDOUT_DELETED
        assert got["stdout"] == (str(live.eval_stdout(cell)) if known_by_file else None), cell


def test_training_jobs_match_sacct(live: Live, status: Ran) -> None:
    runs = {r["name"]: r for r in status.output["runs"]}
    for run_name, job_id in live.train_ids.items():
        finetune, acct = runs[run_name]["finetune"], live.acct[job_id]
        assert finetune["status"] == "COMPLETED"
        assert (finetune["job"]["job_id"], finetune["job"]["state"]) == (job_id, acct.state)
        assert finetune["stdout"] == str(live.train_stdout(run_name))
        assert (finetune["duration_seconds"], finetune["duration_source"]) == (
            acct.elapsed_seconds,
            "sacct",
        )
    for run_name in (CONTROL, EVAL_ONLY):  # their artifacts/slurm-*.out are evaluations
        assert runs[run_name]["finetune"]["status"] == "N/A"
        assert runs[run_name]["finetune"]["job"] is None
    assert all(r["unplaced_jobs"] == [] for r in runs.values())


def test_logs_with_vis_label_task_names_land_in_their_cells(live: Live, status: Ran) -> None:
    cells = cells_of(status.output)
    for cell, mode in PLAN.items():
        if mode != SUCCESS:
            continue
        log = live.logs[cell]
        header = read_eval_log(str(log), header_only=True)
        assert header.eval.task == f"{TASK}_{VIS_LABEL[cell[0]]}"  # as the toolkit's scripts do
        got = cells[cell]
        assert (got["status"], got["log"]) == ("COMPLETED", str(log)), cell
        assert got["task_source"] == "eval.yaml"
        assert got["epoch_source"] == (None if cell[1] is None else "metadata"), cell
        assert got["accuracy"] == pytest.approx(1 - WRONG[cell] / SAMPLES), cell
    assert status.output["notes"] == []


def test_timed_out_evaluation_is_timeout_with_its_stdout_line(
    live: Live, status: Ran, summary: Summary
) -> None:
    job_id = live.eval_ids[TIMED_OUT]
    line = re.compile(rf"\*\*\* JOB {job_id} ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*")
    cell = cells_of(status.output)[TIMED_OUT]
    assert (cell["status"], cell["log"]) == ("TIMEOUT", None)
    assert any(line.search(note) for note in cell["notes"]), cell
    assert cell["check"] == str(live.eval_stdout(TIMED_OUT))
    rows = {(r["Run"], r["Stage"]): r for r in md_table(summary.markdown, "Incomplete Runs")}
    row = rows[(R4, f"Evaluation: {TASK} epoch 1")]
    assert row["Status"] == "TIMEOUT"
    assert line.search(row["Notes"]), row
    assert row["Notes"].endswith(f"; Check {R4}/artifacts/epoch_1/slurm-{job_id}.out"), row


def test_failed_evaluation_shows_its_cuda_error(live: Live, summary: Summary) -> None:
    rows = {(r["Run"], r["Stage"]): r for r in md_table(summary.markdown, "Incomplete Runs")}
    row = rows[(R8, f"Evaluation: {TASK} epoch 0")]
    assert row["Status"] == "FAILED"
    assert row["Notes"].startswith(CUDA_OOM), row
    check = f"Check {R8}/artifacts/epoch_0/slurm-{live.eval_ids[FAILED]}.out"
    assert row["Notes"].endswith(f"; {check}"), row


def test_jobs_known_only_from_the_run_log_have_their_slurm_state(
    live: Live, summary: Summary
) -> None:
    """The held job (no stdout yet) is PENDING, not MISSING; the job whose stdout was deleted
    is still the COMPLETED job of its cell."""
    rows = {(r["Run"], r["Stage"]): r for r in md_table(summary.markdown, "Incomplete Runs")}
    held = rows[(R8, f"Evaluation: {TASK} epoch 1")]
    assert held["Status"] == "PENDING"
    # squeue's reason (the test held the job with --hold), said plainly
    job = live.eval_ids[PENDING]
    assert held["Notes"] == (
        f"job {job} is PENDING (JobHeldUser: held by its owner; scontrol release {job} lets it run)"
    ), held
    assert set(rows) == {
        (R4, f"Evaluation: {TASK} epoch 1"),
        (R8, f"Evaluation: {TASK} epoch 0"),
        (R8, f"Evaluation: {TASK} epoch 1"),
    }  # nothing MISSING, no job without its cell
    evaluations = {(r["run"], r["epoch"]): r for r in summary.report["evaluations"]}
    assert evaluations[STDOUT_DELETED]["status"] == "COMPLETED"
    assert evaluations[STDOUT_DELETED]["log"] == str(live.logs[STDOUT_DELETED])


def test_summary_counts_control_and_eval_only_as_complete(live: Live, summary: Summary) -> None:
    report, markdown = summary.report, summary.markdown
    complete = {row["run"]: row["complete"] for row in report["run_status"]}
    assert complete == {R4: False, R8: False, CONTROL: True, EVAL_ONLY: True}
    assert report["complete_runs"] == 2 and summary.ran.output["counts"]["complete_runs"] == 2
    assert "| **Status:** 2/4 complete\n" in markdown
    status = {r["Run"]: r for r in md_table(markdown, "Run Status")}
    assert {name: (r["Type"], r["Fine-tuning"]) for name, r in status.items()} == {
        R4: ("Fine-tuned", "COMPLETED"),
        R8: ("Fine-tuned", "COMPLETED"),
        CONTROL: ("Control", "N/A"),
        EVAL_ONLY: ("Eval-only", f"N/A (evaluates {CHECKPOINT})"),
    }
    assert status[R4]["Evaluation"] == "PARTIAL (1/2)"
    # the FAILED cell is not hidden behind the held one
    assert status[R8]["Evaluation"] == "PENDING (1/2), 1 FAILED"
    assert status[CONTROL]["Evaluation"] == status[EVAL_ONLY]["Evaluation"] == "COMPLETED"

    evaluations = md_table(markdown, "Evaluation Results")
    assert {(r["Run"], r["Task"], r["Epoch"]) for r in evaluations} == {
        (R4, TASK, "0"),
        (CONTROL, TASK, "-"),
        (EVAL_ONLY, TASK, "-"),
    }
    for row in evaluations:
        cell = (row["Run"], None if row["Epoch"] == "-" else int(row["Epoch"]))
        assert row["Accuracy"].split()[0] == f"{1 - WRONG[cell] / SAMPLES:.3f}", row
        assert row["Samples"] == str(SAMPLES)
    training = {r["Run"]: r for r in md_table(markdown, "Training Results")}
    for run_name, job_id in live.train_ids.items():
        assert training[run_name]["Duration"] == duration(live.acct[job_id].elapsed_seconds)


def test_summary_asked_sacct_once_about_every_job(live: Live, summary: Summary) -> None:
    every = set(live.job_ids)
    assert [sacct_ids(argv) for argv in summary.ran.sacct_calls] == [every]
    for argv in summary.ran.squeue_calls:
        assert squeue_ids(argv) <= {live.eval_ids[PENDING]}, argv
    slurm = summary.report["slurm"]
    assert (slurm["jobs_asked"], slurm["jobs_found"]) == (len(every), len(every))
    text = Path(summary.ran.output["log"]).read_text()
    log = text[text.rindex("] DISCOVER_EXPERIMENT: ") :]  # this run's entries
    assert f"Details: {len(every)} job ids from slurm-*.out file names and the run logs\n" in log
    assert "## Notes" not in summary.markdown  # SLURM answered; every log has its cell
