"""Which training epoch each evaluation log belongs to: from evidence only, never file order.

One layout-A experiment holds a run per kind of evidence (task_args only, model name only,
model path only, nothing at all but the SLURM job name, two sources that disagree) and a
control run. It is read by ``scripts/parse_status.py`` (the cells' ``epoch`` and
``epoch_source``) and summarized by ``summarize()``, twice:

* with a test-double ``sacct`` first on PATH that answers ``--parsable2 --noheader`` lines for
  the ids it is asked (the jobs of three runs are "purged" from its accounting, so those
  runs fall back to the logs' own evidence), and
* with no ``sacct`` (nor ``squeue``) on PATH at all, while still asking for SLURM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from summarize_experiment.pipeline import summarize
from testing.synthetic import (
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    build_experiment,
    sacct_rows,
    write_inspect_log,
)

pytestmark = pytest.mark.xdist_group("epoch_mapping")

REPO = Path(__file__).resolve().parents[1]
TASK = "capitalization"
TASK_ARGS_ONLY = "ta.only-run_1"
MODEL_NAME_ONLY = "mn-only_run"
MODEL_PATH_ONLY = "mp_only.run"
NO_EVIDENCE = "Llama-3.2-1B-Instruct_rank16_lr1e-5_alpha.32-dropout_0.05-no.evidence"
CONFLICT = "conflict_run"
KILLED = "killed.eval-run"  # epoch 0: killed at its time limit (log left "started"); 1: OOM
CONTROL = "Llama-3.2-1B-Instruct_base"
EVIDENCE_RUNS = {
    TASK_ARGS_ONLY: ("task_args",),
    MODEL_NAME_ONLY: ("model_name",),
    MODEL_PATH_ONLY: ("model_path",),
    NO_EVIDENCE: (),
}
# the no-evidence run's jobs: epoch 1 was submitted (and ran) BEFORE epoch 0, so a mapping by
# job id, file name or time order would swap them
NO_EVIDENCE_JOBS = {0: 2900020, 1: 2900010}

TARGETS = ["1", "0"] * 10
WRONG = {0: 8, 1: 2}  # wrong answers per epoch: accuracy 0.6 at epoch 0, 0.9 at epoch 1
CONFLICT_WRONG = 4  # the hand-made conflicting log: accuracy 0.8
CONTROL_WRONG = 10


def answers(wrong: int) -> list[str]:
    out = list(TARGETS)
    for i in range(wrong):
        out[i] = "0" if TARGETS[i] == "1" else "1"
    return out


def accuracy(wrong: int) -> float:
    return (len(TARGETS) - wrong) / len(TARGETS)


def spec() -> ExperimentSpec:
    runs = [RunSpec(name, steps_per_epoch=5) for name in EVIDENCE_RUNS]
    runs += [
        RunSpec(CONFLICT, steps_per_epoch=5),
        RunSpec(KILLED, steps_per_epoch=5),
        RunSpec(CONTROL, type="control"),
    ]
    evals = []
    for run, evidence in EVIDENCE_RUNS.items():
        for epoch in (0, 1):
            evals.append(
                EvalSpec(
                    run,
                    TASK,
                    epoch,
                    TARGETS,
                    answers(WRONG[epoch]),
                    epoch_evidence=evidence,
                    job_id=NO_EVIDENCE_JOBS[epoch] if run == NO_EVIDENCE else None,
                )
            )
    evals.append(EvalSpec(CONFLICT, TASK, 0, TARGETS, answers(WRONG[0])))
    evals.append(EvalSpec(CONFLICT, TASK, 1, TARGETS, TARGETS, status="missing"))
    evals.append(EvalSpec(KILLED, TASK, 0, TARGETS, answers(WRONG[0]), status="started"))
    evals.append(EvalSpec(KILLED, TASK, 1, TARGETS, answers(WRONG[1]), status="job_failed"))
    evals.append(EvalSpec(CONTROL, TASK, None, TARGETS, answers(CONTROL_WRONG)))
    return ExperimentSpec(name="epoch_mapping", runs=runs, tasks=[TASK], evals=evals, epochs=2)


SACCT_DOUBLE = """\
#!{python}
# Test double of `sacct -j ID,ID --format=... --parsable2 --noheader --allocations`: prints one
# `JobID|JobName|State|Elapsed|ExitCode|Start|End` line per job it knows among the ids asked.
import json, sys
from pathlib import Path

here = Path(__file__).resolve().parent
args = sys.argv[1:]
with open(here / "sacct-calls.jsonl", "a", encoding="utf-8") as calls:
    calls.write(json.dumps(args) + "\\n")
if "-j" not in args or "--parsable2" not in args or "--noheader" not in args:
    print("sacct double: unexpected arguments", args, file=sys.stderr)
    sys.exit(1)
asked = args[args.index("-j") + 1].split(",")
rows = json.loads((here / "sacct-rows.json").read_text(encoding="utf-8"))
for row in rows:
    if row[0] in asked:
        print("|".join(row))
"""
SQUEUE_DOUBLE = """\
#!{python}
# Test double of squeue: none of the jobs is queued or running any more.
import sys
sys.exit(0)
"""


@dataclass
class Reading:
    """parse_status.py's document and summarize()'s summary.md for one PATH setting."""

    status: dict
    markdown: str
    code: int
    result: dict
    report: dict

    def cells(self, run: str) -> dict[int | str | None, dict]:
        """The run's cells by epoch; a fine-tuned run's logs whose epoch is unknown each get a
        cell of their own, keyed `?{log path}`."""
        entry = next(r for r in self.status["runs"] if r["name"] == run)
        cells: dict[int | str | None, dict] = {}
        for cell in entry["cells"]:
            assert cell["task"] == TASK, cell
            key = cell["epoch"]
            if key is None and entry["type"] != "control":
                key = f"?{cell['log']}"
            assert key not in cells, f"two cells for epoch {key}"
            cells[key] = cell
        return cells

    def notes_section(self) -> str:
        text = self.markdown.split("\n## Notes\n", 1)
        assert len(text) == 2, "summary.md has no Notes section"
        return text[1].split("\n## ", 1)[0]


@dataclass
class Setup:
    experiment: Path
    conflict_log: Path
    fake_bin: Path
    purged_runs: tuple[str, ...]
    rows: list[list[str]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Setup:
    assert len(NO_EVIDENCE) > 50 and {"-", ".", "_"} <= set(NO_EVIDENCE)
    the_spec = spec()
    root = tmp_path_factory.mktemp("epoch-mapping")
    experiment = build_experiment(root, the_spec, cache_dir=template_cache)
    # a re-run of the conflict run's epoch-1 evaluation by hand: `-T epoch=1` was passed, but
    # the model was named after epoch 0 (a copy-pasted command line); no job stdout, no sacct
    conflict_log = write_inspect_log(
        experiment / CONFLICT / "eval" / "logs",
        task=TASK,
        model=f"hf/{CONFLICT}_epoch_0",
        targets=TARGETS,
        answers=answers(CONFLICT_WRONG),
        task_args={"epoch": 1},
        created=datetime(2026, 1, 7, 12, 0, 0, tzinfo=UTC),
        cache_dir=template_cache,
    )
    purged = (TASK_ARGS_ONLY, MODEL_NAME_ONLY, MODEL_PATH_ONLY)
    rows = [
        [*row, "2026-01-05T10:00:00", "2026-01-05T10:05:00"]
        for row in sacct_rows(the_spec, "A")
        if not any(row[1].startswith(f"eval-{TASK}-{run}-ep") for run in purged)
    ]
    fake_bin = tmp_path_factory.mktemp("fake-slurm-bin")
    (fake_bin / "sacct-rows.json").write_text(json.dumps(rows), encoding="utf-8")
    for name, text in (("sacct", SACCT_DOUBLE), ("squeue", SQUEUE_DOUBLE)):
        path = fake_bin / name
        path.write_text(text.format(python=sys.executable), encoding="utf-8")
        path.chmod(0o755)
    return Setup(experiment, conflict_log, fake_bin, purged, rows)


def _read(setup: Setup) -> Reading:
    """parse_status.py in a subprocess (started first) and summarize() in this process, both
    with the PATH the caller set."""
    process = subprocess.Popen(
        [sys.executable, "scripts/parse_status.py", str(setup.experiment)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    code, result = summarize(setup.experiment, use_sacct=True)
    markdown = (setup.experiment / "summary.md").read_text(encoding="utf-8")
    report = json.loads((setup.experiment / "summary.json").read_text(encoding="utf-8"))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return Reading(json.loads(stdout), markdown, code, result, report)


@pytest.fixture(scope="module")
def with_sacct(setup: Setup) -> Reading:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{setup.fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        assert shutil.which("sacct") == str(setup.fake_bin / "sacct")
        return _read(setup)


@pytest.fixture(scope="module")
def without_sacct(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Reading:
    empty = tmp_path_factory.mktemp("empty-bin")
    kept = [
        d
        for d in os.environ.get("PATH", "").split(os.pathsep)
        if d and not any(os.path.exists(os.path.join(d, x)) for x in ("sacct", "squeue"))
    ]
    path = os.pathsep.join([str(empty), *kept])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", path)
        assert shutil.which("sacct") is None and shutil.which("squeue") is None
        return _read(setup)


@pytest.fixture(params=["with_sacct", "without_sacct"])
def reading(request: pytest.FixtureRequest) -> Reading:
    return request.getfixturevalue(request.param)


# ---------------------------------------------------------------------------------------------


def test_the_sacct_double_is_asked_once_per_run_for_every_job(
    setup: Setup, with_sacct: Reading
) -> None:
    calls = [
        json.loads(line) for line in (setup.fake_bin / "sacct-calls.jsonl").read_text().splitlines()
    ]
    assert len(calls) == 2  # parse_status.py, then summarize(): one call each
    on_disk = {
        p.name.removeprefix("slurm-").removesuffix(".out")
        for p in [*setup.experiment.parent.rglob("slurm-*.out")]
    }
    for args in calls:
        assert args[0] == "-j"
        assert sorted(args[1].split(",")) == sorted(on_disk)
        assert {"--parsable2", "--noheader", "--allocations"} <= set(args)
        fmt = next(a for a in args if a.startswith("--format="))
        fields = [f.split("%")[0] for f in fmt.removeprefix("--format=").split(",")]
        assert fields == ["JobID", "JobName", "State", "Elapsed", "ExitCode", "Start", "End"]
    slurm = with_sacct.status["slurm"]
    assert slurm["available"] is True and "sacct" in slurm["source"]
    assert slurm["jobs_asked"] == len(on_disk)
    assert slurm["jobs_found"] == len(setup.rows)


@pytest.mark.parametrize(
    ("run", "source"),
    [
        (TASK_ARGS_ONLY, "task_args"),
        (MODEL_NAME_ONLY, "model_name"),
        (MODEL_PATH_ONLY, "model_path"),
    ],
)
def test_epoch_from_the_log_own_evidence(reading: Reading, run: str, source: str) -> None:
    """Without a job name (no sacct, or its accounting purged) the log's evidence is used."""
    cells = reading.cells(run)
    assert sorted(cells) == [0, 1]
    for epoch in (0, 1):
        cell = cells[epoch]
        assert (cell["status"], cell["epoch_source"]) == ("COMPLETED", source), cell
        assert cell["accuracy"] == pytest.approx(accuracy(WRONG[epoch]))
        assert cell["other_logs"] == []


def test_epoch_only_from_the_sacct_job_name(with_sacct: Reading) -> None:
    """Logs with no epoch anywhere, mapped through `eval-{task}-{run}-ep{N}` job names of a
    run name longer than 50 characters holding '-', '.' and '_'."""
    cells = with_sacct.cells(NO_EVIDENCE)
    assert sorted(cells, key=str) == [0, 1]
    for epoch in (0, 1):
        cell = cells[epoch]
        assert (cell["status"], cell["epoch_source"]) == ("COMPLETED", "sacct"), cell
        assert cell["accuracy"] == pytest.approx(accuracy(WRONG[epoch]))
        assert cell["job"]["job_id"] == str(NO_EVIDENCE_JOBS[epoch])
        assert cell["job"]["name"] == f"eval-{TASK}-{NO_EVIDENCE}-ep{epoch}"
    entry = next(r for r in with_sacct.status["runs"] if r["name"] == NO_EVIDENCE)
    assert entry["complete"] is True


def test_with_sacct_the_job_name_outranks_the_log_evidence(with_sacct: Reading) -> None:
    """The conflict run's epoch-0 log names its epoch in the model name and path too, but
    sacct knows its job: the job name is the most authoritative source."""
    cell = with_sacct.cells(CONFLICT)[0]
    assert (cell["status"], cell["epoch_source"]) == ("COMPLETED", "sacct")
    assert cell["job"]["name"] == f"eval-{TASK}-{CONFLICT}-ep0"


def training_durations(markdown: str) -> dict[str, str]:
    section = markdown.split("\n## Training Results\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip()[1:-1].split("|")] for line in section.splitlines()]
    rows = [row for row in rows if len(row) > 1]
    header = rows[0]
    return {row[0]: row[header.index("Duration")] for row in rows[2:]}


def test_training_duration_is_the_sacct_elapsed_time(setup: Setup, with_sacct: Reading) -> None:
    durations = training_durations(with_sacct.markdown)
    elapsed = {row[1].removeprefix("ft-"): row[3] for row in setup.rows if row[1].startswith("ft-")}
    assert set(durations) == set(elapsed) == {*EVIDENCE_RUNS, CONFLICT, KILLED}
    for run, text in elapsed.items():
        hours, minutes, seconds = map(int, text.split(":"))
        assert hours == 0
        assert durations[run] == f"{minutes}m {seconds:02d}s", (run, durations[run], text)
    runs = {r["name"]: r for r in with_sacct.status["runs"]}
    for run, text in elapsed.items():
        hours, minutes, seconds = map(int, text.split(":"))
        assert runs[run]["finetune"]["job"]["elapsed_seconds"] == minutes * 60 + seconds
        assert runs[run]["finetune"]["status"] == "COMPLETED"


def test_sacct_states_of_killed_evaluations(setup: Setup, with_sacct: Reading) -> None:
    """sacct says the epoch-0 evaluation job hit its time limit (its log was left `started`)
    and the epoch-1 job failed before writing a log: the cells say so; nothing is RUNNING."""
    states = {row[1]: row[2] for row in setup.rows}
    assert states[f"eval-{TASK}-{KILLED}-ep0"] == "TIMEOUT"
    assert states[f"eval-{TASK}-{KILLED}-ep1"] == "FAILED"
    cells = with_sacct.cells(KILLED)
    assert cells[1]["status"] == "FAILED", cells[1]
    assert cells[0]["log"] is not None
    assert cells[0]["status"] == "TIMEOUT", cells[0]
    (line,) = [ln for ln in with_sacct.markdown.splitlines() if ln.startswith(f"| {KILLED} | Fine")]
    evaluation = [cell.strip() for cell in line.strip()[1:-1].split("|")][3]
    assert evaluation not in ("RUNNING", "PENDING", "COMPLETED"), line


def test_no_evidence_and_no_sacct_is_not_counted_in_any_epoch(
    setup: Setup, without_sacct: Reading
) -> None:
    cells = without_sacct.cells(NO_EVIDENCE)
    for epoch in (0, 1):
        assert epoch in cells, "the designed cells are still reported"
        assert cells[epoch]["status"] != "COMPLETED", cells[epoch]
        assert cells[epoch]["log"] is None and cells[epoch]["accuracy"] is None
        assert cells[epoch]["epoch_source"] is None
    entry = next(r for r in without_sacct.status["runs"] if r["name"] == NO_EVIDENCE)
    assert entry["complete"] is False
    logs = sorted((setup.experiment / NO_EVIDENCE / "eval" / "logs").glob("*.eval"))
    assert len(logs) == 2
    notes = without_sacct.status["notes"]
    summary_notes = without_sacct.notes_section()
    for log in logs:
        saying = [n for n in notes if str(log) in n and "epoch" in n]
        assert saying, f"no note about {log.name}: {notes}"
        assert any("not counted" in n or "cannot tell" in n for n in saying), saying
        assert log.name in summary_notes
    # and nothing of it reaches an epoch row of the Evaluation Results table
    rows = [
        line
        for line in without_sacct.markdown.splitlines()
        if line.startswith(f"| {NO_EVIDENCE} | {TASK} |")
    ]
    assert not [row for row in rows if re.match(rf"^\| [^|]+ \| {TASK} \| [01] \|", row)], rows


def test_two_unmapped_logs_are_not_taken_for_reruns_of_one_evaluation(
    setup: Setup, without_sacct: Reading
) -> None:
    """The two epoch-less logs are two different evaluations (epoch 0: 0.6, epoch 1: 0.9).
    Whether or not the summary lists evaluations it cannot place, it must treat both alike:
    not show one and drop the other as "other log ignored", nor count them as 1 unmapped."""
    logs = {str(p) for p in (setup.experiment / NO_EVIDENCE / "eval" / "logs").glob("*.eval")}
    shown = {row["log"] for row in without_sacct.report["evaluations"] if row["run"] == NO_EVIDENCE}
    assert shown & logs in (set(), logs), f"only {len(shown & logs)} of the 2 logs is shown"
    for cell in without_sacct.cells(NO_EVIDENCE).values():
        assert not set(cell["other_logs"]) & logs, cell
    (line,) = [
        ln for ln in without_sacct.markdown.splitlines() if ln.startswith(f"| {NO_EVIDENCE} | Fine")
    ]
    status = [cell.strip() for cell in line.strip()[1:-1].split("|")][3]
    counted = re.search(r"(\d+) unmapped", status)
    assert counted is None or counted[1] == "2", status


def test_disagreeing_sources_follow_the_documented_priority(setup: Setup, reading: Reading) -> None:
    """task_args (epoch 1) outranks the model name (epoch 0); the disagreement is noted."""
    cells = reading.cells(CONFLICT)
    assert cells[1]["status"] == "COMPLETED"
    assert cells[1]["epoch_source"] == "task_args"
    assert cells[1]["log"] == str(setup.conflict_log)
    assert cells[1]["accuracy"] == pytest.approx(accuracy(CONFLICT_WRONG))
    # the scaffold's own epoch-0 log stays in epoch 0
    assert cells[0]["status"] == "COMPLETED"
    assert cells[0]["accuracy"] == pytest.approx(accuracy(WRONG[0]))
    assert str(setup.conflict_log) not in [cells[0]["log"], *cells[0]["other_logs"]]
    notes = [n for n in reading.status["notes"] if str(setup.conflict_log) in n]
    assert len(notes) == 1, reading.status["notes"]
    assert re.search(r"task_args\D*1", notes[0]) and re.search(r"model_name\D*0", notes[0])
    summary_notes = reading.notes_section()
    line = [ln for ln in summary_notes.splitlines() if setup.conflict_log.name in ln]
    assert line and "task_args" in line[0] and "model_name" in line[0], summary_notes


def test_control_runs_have_no_epoch(reading: Reading) -> None:
    cells = reading.cells(CONTROL)
    assert list(cells) == [None]
    assert cells[None]["status"] == "COMPLETED"
    assert cells[None]["epoch_source"] is None
    assert cells[None]["accuracy"] == pytest.approx(accuracy(CONTROL_WRONG))
    rows = [ln for ln in reading.markdown.splitlines() if ln.startswith(f"| {CONTROL} | {TASK} |")]
    assert len(rows) == 1
    assert [c.strip() for c in rows[0].strip("|").split("|")][2] == "-"


def test_without_sacct_the_summary_still_comes_out(without_sacct: Reading) -> None:
    assert without_sacct.code == 0
    assert without_sacct.result["status"] in ("success", "partial")
    slurm = without_sacct.status["slurm"]
    assert slurm["available"] is False and "sacct" in (slurm["error"] or "")
    assert "SLURM" in without_sacct.notes_section()
    assert without_sacct.markdown.startswith("# Experiment Summary\n")
    # the runs with evidence of their own are complete; their epochs came from the logs
    complete = {r["name"] for r in without_sacct.status["runs"] if r["complete"]}
    assert complete == {TASK_ARGS_ONLY, MODEL_NAME_ONLY, MODEL_PATH_ONLY, CONFLICT, CONTROL}
