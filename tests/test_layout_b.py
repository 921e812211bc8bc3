"""A layout-B experiment as the toolkit scaffolds it today (ARTIFACTS.md "Layout B"), summarized
without SLURM, as issue 10's "done when" reads:

- evaluation job stdouts in `{run}/artifacts/epoch_N/` (fine-tuned) and `{run}/artifacts/`
  (control, eval-only), never in the cell folder ("Where an evaluation job writes its stdout");
- logs whose task carries the `_{vis_label}` suffix, the composed `"{label} ({task})"` form
  for an entry with several tasks ("Task names in logs are not the design's");
- `--metadata epoch=N` in every fine-tuned log ("Epoch in the log itself");
- per-task variant cells `{task}_with_cue_epoch0` ("Cell folder names");
- an eval-only run ("Run types"); an OOM-retried fine-tune and every job id in the run logs
  ("Run logs"); a timed-out evaluation with no log; generated datasets with `.meta.json`
  sidecars ("Generated datasets").

The experiment is written by the test-support generator (`testing.synthetic`), which follows
ARTIFACTS.md, with real inspect-ai logs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from summarize_experiment.pipeline import summarize
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

CONTROL = "Llama-3.2-1B-Instruct_base"
CHECKPOINT = "/scratch/gpfs/LAB/user/ck-projects/prior_exp/income_rank8/artifacts/epoch_1"
TARGETS = ["1", "1", "0", "1", "0", "1", "1", "0", "1", "0"]
CAP, INCOME = "capitalization", "acs_income"


def answers(correct: int) -> list[str]:
    return [t if i < correct else ("0" if t == "1" else "1") for i, t in enumerate(TARGETS)]


def spec() -> ExperimentSpec:
    runs = [
        RunSpec("rank4_lr1e-5", parameters={"lora_rank": 4, "lr": "1e-5"}, steps_per_epoch=6,
                vis_label="rank4", oom_retries=1, batch_size=4, train_job_id=500),
        RunSpec("rank8_lr1e-5", parameters={"lora_rank": 8, "lr": "1e-5"}, steps_per_epoch=6),
        RunSpec(CONTROL, type="control"),
        RunSpec("income_rank8", type="eval-only", parameters={"checkpoint_path": CHECKPOINT}),
    ]  # fmt: skip
    evals = [
        EvalSpec("rank4_lr1e-5", CAP, 0, TARGETS, answers(8), variant="with_cue"),
        EvalSpec("rank4_lr1e-5", CAP, 0, TARGETS, answers(6), variant="no_cue"),
        EvalSpec("rank4_lr1e-5", INCOME, 0, TARGETS, answers(7)),
        EvalSpec("rank4_lr1e-5", INCOME, 1, TARGETS, TARGETS, status="timeout", job_id=700),
        EvalSpec("rank8_lr1e-5", INCOME, 0, TARGETS, answers(5)),
        EvalSpec("rank8_lr1e-5", INCOME, 1, TARGETS, answers(9)),
        EvalSpec(CONTROL, INCOME, None, TARGETS, answers(5), job_id=710),
        EvalSpec("income_rank8", INCOME, None, TARGETS, answers(9), job_id=720),
    ]  # fmt: skip
    matrix = [
        {"run": "rank4_lr1e-5", "vis_label": "rank4", "tasks": [CAP, INCOME], "epochs": [0, 1]},
        {"run": "rank8_lr1e-5", "tasks": [INCOME], "epochs": [0, 1]},
        {"run": CONTROL, "tasks": [INCOME], "epochs": None},
        {"run": "income_rank8", "tasks": [INCOME], "epochs": None},
    ]
    return ExperimentSpec(
        "exp_b",
        runs,
        [CAP, INCOME],
        evals,
        epochs=2,
        matrix=matrix,
        dataset_condition="dict_full",
        write_datasets=True,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Path:
    return build_experiment(
        tmp_path_factory.mktemp("layout-b"), spec(), layout="B", cache_dir=template_cache
    )


@pytest.fixture(scope="module")
def summary(built: Path) -> dict:
    code, result = summarize(built, use_sacct=False)
    assert code == 0, result
    return json.loads((built / "summary.json").read_text())


def by_cell(report: dict) -> dict[tuple[str, str, int | None, str | None], dict]:
    return {(r["run"], r["task"], r["epoch"], r["variant"]): r for r in report["evaluations"]}


def test_the_fixture_is_what_artifacts_md_describes(built: Path) -> None:
    """No evaluation stdout in a cell folder; logs name the task with its vis_label."""
    assert not list(built.glob("*/eval/*/slurm-*.out"))
    assert (built / "rank4_lr1e-5" / "artifacts" / "epoch_1" / "slurm-700.out").is_file()
    assert (built / CONTROL / "artifacts" / "slurm-710.out").is_file()
    logs = [p.name for p in built.glob("rank4_lr1e-5/eval/*/logs/*.eval")]
    assert any("capitalization-rank4 (capitalization)" in name for name in logs), logs


def test_logs_with_vis_label_task_names_land_in_their_cells(summary: dict) -> None:
    cells = by_cell(summary)
    assert set(cells) == {
        ("rank4_lr1e-5", CAP, 0, "with_cue"),
        ("rank4_lr1e-5", CAP, 0, "no_cue"),
        ("rank4_lr1e-5", INCOME, 0, None),
        ("rank8_lr1e-5", INCOME, 0, None),
        ("rank8_lr1e-5", INCOME, 1, None),
        (CONTROL, INCOME, None, None),
        ("income_rank8", INCOME, None, None),
    }
    expected = {
        ("rank4_lr1e-5", CAP, 0, "with_cue"): 0.8,
        ("rank4_lr1e-5", CAP, 0, "no_cue"): 0.6,
        ("rank4_lr1e-5", INCOME, 0, None): 0.7,
        ("rank8_lr1e-5", INCOME, 0, None): 0.5,
        ("rank8_lr1e-5", INCOME, 1, None): 0.9,
        (CONTROL, INCOME, None, None): 0.5,
        ("income_rank8", INCOME, None, None): 0.9,
    }
    for key, accuracy in expected.items():
        row = cells[key]
        assert row["status"] == "COMPLETED" and row["in_design"], row
        assert row["accuracy"] == pytest.approx(accuracy), key
        assert row["task_source"] == "eval.yaml"
        assert row["epoch_source"] == (None if key[2] is None else "metadata"), row


def test_a_timed_out_evaluation_shows_timeout_with_its_stdout_line(summary: dict) -> None:
    (incomplete,) = [
        r for r in summary["incomplete"] if r["stage"] == f"Evaluation: {INCOME} epoch 1"
    ]
    assert (incomplete["run"], incomplete["status"]) == ("rank4_lr1e-5", "TIMEOUT")
    assert "DUE TO TIME LIMIT" in incomplete["notes"][0]
    assert incomplete["notes"][-1] == "Check rank4_lr1e-5/artifacts/epoch_1/slurm-700.out"


def test_an_eval_only_run_counts_as_complete(summary: dict, built: Path) -> None:
    status = {row["run"]: row for row in summary["run_status"]}
    eval_only = status["income_rank8"]
    assert (eval_only["type"], eval_only["finetune"], eval_only["complete"]) == (
        "eval-only",
        "N/A",
        True,
    )
    assert eval_only["checkpoint_path"] == CHECKPOINT
    assert "income_rank8" not in {row["run"] for row in summary["training"]}
    markdown = (built / "summary.md").read_text()
    assert f"| income_rank8 | Eval-only | N/A (evaluates {CHECKPOINT}) | COMPLETED |" in markdown
    assert summary["complete_runs"] == 3  # rank8, the control and the eval-only run


def test_the_oom_retry_is_told_and_the_last_attempt_counts(summary: dict) -> None:
    status = {row["run"]: row for row in summary["run_status"]}
    assert status["rank4_lr1e-5"]["finetune"] == "COMPLETED"
    assert status["rank4_lr1e-5"]["finetune_text"] == (
        "OUT_OF_MEMORY, retried with batch size 2 (retry 1 of 3), COMPLETED"
    )
    training = {row["run"]: row for row in summary["training"]}["rank4_lr1e-5"]
    assert training["stdout"].endswith("/rank4_lr1e-5/artifacts/slurm-500.out")
    assert training["finished"] is True and training["total_steps"] == 12
    assert [a["job_id"] for a in training["attempts"]] == ["499", "500"]


def test_datasets_used_list_the_right_files(summary: dict, built: Path) -> None:
    datasets = {(d["role"], Path(d["path"]).name): d for d in summary["datasets"]}
    generated = built.parent / "ck-data" / "generated"
    (train,) = [p for p in generated.glob("dict_full_train_*.json") if "meta" not in p.name]
    (test,) = [p for p in generated.glob("dict_full_test_*.json") if "meta" not in p.name]
    hash8 = train.stem.rsplit("_", 1)[1]
    assert set(datasets) == {("training", train.name), ("evaluation", test.name)}
    training = datasets[("training", train.name)]
    assert training["runs"] == ["rank4_lr1e-5", "rank8_lr1e-5"]
    assert training["config_hash_short"] == hash8 and training["exists"] is True
    evaluation = datasets[("evaluation", test.name)]
    assert evaluation["class_balance"] == {"frac_1": 0.6, "frac_0": 0.4, "n_1": 6, "n_0": 4}
    assert evaluation["runs"] == ["rank4_lr1e-5", "rank8_lr1e-5", CONTROL, "income_rank8"]
    markdown = (built / "summary.md").read_text()
    assert "## Datasets Used" in markdown and f"| {hash8} | 60% / 40% (n=10) |" in markdown


def test_without_eval_yaml_the_task_comes_from_the_log_and_its_vis_label(
    built: Path, tmp_path: Path
) -> None:
    """An older scaffold without eval.yaml: the log's task minus its `_{vis_label}` suffix
    names the design's task; the epoch comes from the log's metadata."""
    copy = tmp_path / "exp_b"
    shutil.copytree(built, copy, symlinks=True)
    for config in copy.glob("*/eval/*/eval.yaml"):
        config.unlink()
    assert summarize(copy, use_sacct=False)[0] == 0
    report = json.loads((copy / "summary.json").read_text())
    rows = {
        (r["run"], r["task"], r["epoch"]): r
        for r in report["evaluations"]
        if r["variant"] is None and r["status"] == "COMPLETED"
    }
    assert rows[("rank4_lr1e-5", INCOME, 0)]["task_source"] == "log"
    assert rows[("rank4_lr1e-5", INCOME, 0)]["accuracy"] == pytest.approx(0.7)
    assert rows[("rank8_lr1e-5", INCOME, 1)]["epoch_source"] == "metadata"
    assert rows[("income_rank8", INCOME, None)]["accuracy"] == pytest.approx(0.9)
    assert "None" not in (copy / "summary.md").read_text()


def test_run_logs_give_submitted_jobs_their_cell(built: Path, tmp_path: Path) -> None:
    """A job the run log names, with no stdout left and no SLURM to ask, is reported as
    submitted with nothing known since, not as MISSING."""
    copy = tmp_path / "exp_b"
    shutil.copytree(built, copy, symlinks=True)
    (copy / "rank4_lr1e-5" / "artifacts" / "epoch_1" / "slurm-700.out").unlink()
    assert summarize(copy, use_sacct=False)[0] == 0
    report = json.loads((copy / "summary.json").read_text())
    (row,) = [r for r in report["incomplete"] if r["stage"] == f"Evaluation: {INCOME} epoch 1"]
    assert row["status"] == "SUBMITTED"
    assert any("run log says this evaluation was submitted" in n for n in row["notes"])
