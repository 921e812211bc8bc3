"""The synthetic experiment builder writes what it claims (read back through inspect-ai)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries, write_eval_log

from testing import synthetic
from testing.synthetic import (
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    eval_stdout_text,
    sacct_rows,
    training_stdout_text,
    write_inspect_log,
)

REPO = Path(__file__).resolve().parent.parent
LOSS_RE = re.compile(r"(\d+)\|(\d+)\|Loss: ([^:]+):")
CREATED = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def header(path: Path):
    return read_eval_log(str(path), header_only=True)


def accuracy(path: Path) -> float:
    return header(path).results.scores[0].metrics["accuracy"].value


# --- write_inspect_log --------------------------------------------------------------


def test_binary_log_reads_back_exactly(tmp_path: Path, template_cache: Path) -> None:
    targets = ["1", "0", "1", "1", "0", "0", "1", "0"]
    answers = ["1", "0", "0", "yes", "0", "1", "1", " 0 "]
    path = write_inspect_log(
        tmp_path,
        task="capitalization",
        model="hf/rank4_lr1e-5_epoch_1",
        targets=targets,
        answers=answers,
        task_args={"epoch": 1},
        model_args={"model_path": "/x/ck-out-rank4_lr1e-5/epoch_1"},
        created=CREATED,
        cache_dir=template_cache,
    )
    assert re.fullmatch(
        r"2026-02-03T04-05-06-00-00_capitalization_[0-9A-Za-z]{22}\.eval", path.name
    )
    log = header(path)
    assert log.status == "success"
    assert log.eval.task == "capitalization"
    assert log.eval.model == "hf/rank4_lr1e-5_epoch_1"
    assert log.eval.model_args == {"model_path": "/x/ck-out-rank4_lr1e-5/epoch_1"}
    assert log.eval.task_args == {"epoch": 1}
    assert datetime.fromisoformat(log.eval.created) == CREATED
    assert log.results.total_samples == log.results.completed_samples == len(targets)
    assert accuracy(path) == pytest.approx(4 / 8)
    summaries = read_eval_log_sample_summaries(str(path))
    assert [s.target for s in summaries] == targets
    # summaries.json holds inspect's "thinned" text (textwrap.shorten: whitespace collapsed)
    assert [s.scores["match"].answer for s in summaries] == [a.strip() for a in answers]
    assert [s.scores["match"].value for s in summaries] == [
        "C" if a == t else "I" for a, t in zip(answers, targets, strict=True)
    ]
    samples = read_eval_log(str(path)).samples
    assert [s.scores["match"].answer for s in samples] == answers  # verbatim in the samples
    assert samples[2].output.completion == "0"
    assert samples[2].output.model == "hf/rank4_lr1e-5_epoch_1"


def test_numeric_targets_and_errored_samples(tmp_path: Path, template_cache: Path) -> None:
    targets = ["3.5", "17", "4", "2.25"]
    answers = ["3.4", "17", None, "The sum is"]
    path = write_inspect_log(
        tmp_path,
        task="sum_digits",
        model="hf/m",
        targets=targets,
        answers=answers,
        cache_dir=template_cache,
    )
    log = header(path)
    assert log.status == "success"
    assert log.results.total_samples == 4
    assert log.results.completed_samples == 3
    assert accuracy(path) == pytest.approx(1 / 3)
    summaries = read_eval_log_sample_summaries(str(path))
    assert [s.scores["match"].value for s in summaries if s.scores] == ["I", "C", "I"]
    assert summaries[2].error is not None and not summaries[2].scores
    dump = read_eval_log(str(path)).model_dump_json()
    for leftover in ("mockllm", "__synthetic", sys.prefix, str(REPO)):
        assert leftover not in dump  # nothing of the template run or this machine
    assert path.name.split("_")[1] == "sum-digits"  # inspect's own file naming


@pytest.mark.parametrize("status", ["error", "cancelled", "started"])
def test_unfinished_statuses(tmp_path: Path, template_cache: Path, status: str) -> None:
    targets = ["1", "0", "1", "0", "1"]
    answers = ["1", "0", "0", None, None]
    path = write_inspect_log(
        tmp_path,
        task="capitalization",
        model="hf/m",
        targets=targets,
        answers=answers,
        status=status,
        cache_dir=template_cache,
    )
    log = header(path)
    assert log.status == status
    assert len(read_eval_log_sample_summaries(str(path))) == 3
    if status == "cancelled":
        assert log.results.total_samples == 5
        assert log.results.completed_samples == 3
        assert accuracy(path) == pytest.approx(2 / 3)
    else:
        assert log.results is None
    assert (log.error is not None) == (status == "error")


def test_json_log_and_fixed_filename(tmp_path: Path, template_cache: Path) -> None:
    path = write_inspect_log(
        tmp_path,
        task="capitalization",
        model="hf/m",
        targets=["1", "0"],
        answers=["1", "1"],
        filename="old.json",
        log_format="json",
        cache_dir=template_cache,
    )
    assert path.name == "old.json"
    assert accuracy(path) == 0.5


def test_fast_writer_matches_write_eval_log(tmp_path: Path, template_cache: Path) -> None:
    fast = write_inspect_log(
        tmp_path / "fast",
        task="t",
        model="hf/m",
        targets=["1", "0", "1"],
        answers=["1", "x", None],
        cache_dir=template_cache,
    )
    slow = tmp_path / "slow.eval"
    write_eval_log(read_eval_log(str(fast)), str(slow))
    assert header(fast).model_dump() == header(slow).model_dump()
    assert read_eval_log_sample_summaries(str(fast)) == read_eval_log_sample_summaries(str(slow))
    assert read_eval_log(str(fast)).samples == read_eval_log(str(slow)).samples


def test_metadata_task_file_and_vis_label_task(tmp_path: Path, template_cache: Path) -> None:
    path = write_inspect_log(
        tmp_path,
        task="acs_income_rank4 (acs_income)",
        model="hf/rank4_epoch_0",
        targets=["1", "0"],
        answers=["1", "1"],
        task_args={"vis_label": "rank4 (acs_income)"},
        metadata={"epoch": 0, "is_finetuned": True, "source_model": "Llama-3.2-1B-Instruct"},
        task_file="/x/inspect_task.py",
        dataset="income_test",
        created=CREATED,
        cache_dir=template_cache,
    )
    # inspect's naming: '_' becomes '-', the space and the parentheses stay
    assert re.fullmatch(
        r"2026-02-03T04-05-06-00-00_acs-income-rank4 \(acs-income\)_[0-9A-Za-z]{22}\.eval",
        path.name,
    )
    log = header(path)
    assert log.eval.task == "acs_income_rank4 (acs_income)"
    assert log.eval.metadata == {
        "epoch": 0,
        "is_finetuned": True,
        "source_model": "Llama-3.2-1B-Instruct",
    }
    assert log.eval.task_file == "/x/inspect_task.py"
    assert log.eval.dataset.name == "income_test"
    assert log.eval.task_args == {"vis_label": "rank4 (acs_income)"}


@pytest.mark.parametrize(
    "task", ["capitalization", "acs_income_rank4 (acs_income)", "pkg/sum_digits", "a:b+c/d"]
)
def test_inspect_log_name_matches_inspect(task: str) -> None:
    layout = pytest.importorskip("inspect_ai._util.log_layout")
    ours = synthetic.inspect_log_name(task, "Abc_123", CREATED)
    theirs = layout.eval_log_name(
        task=task, task_id="Abc_123", created=CREATED.isoformat(), model="hf/m"
    )
    assert ours == theirs + ".eval"


def test_includes_scorer(tmp_path: Path, template_cache: Path) -> None:
    path = write_inspect_log(
        tmp_path,
        task="t",
        model="hf/m",
        targets=["1", "0", "1"],
        answers=["The answer is 1", "0", "0"],
        scorer="includes",
        cache_dir=template_cache,
    )
    log = header(path)
    assert [s.name for s in log.results.scores] == ["includes"]
    assert [s.name for s in log.eval.scorers] == ["includes"]
    assert accuracy(path) == pytest.approx(2 / 3)
    summaries = read_eval_log_sample_summaries(str(path))
    assert [s.scores["includes"].value for s in summaries] == ["C", "C", "I"]
    assert summaries[0].scores["includes"].answer == "The answer is 1"
    with pytest.raises(ValueError, match="scorer must be one of"):
        write_inspect_log(tmp_path, task="t", model="m", targets=["1"], answers=["1"],
                          scorer="risk_scorer", cache_dir=template_cache)  # fmt: skip


def test_template_disk_cache(tmp_path: Path, template_cache: Path) -> None:
    write_inspect_log(tmp_path, task="t", model="m", targets=["1"], answers=["1"],
                      cache_dir=template_cache)  # fmt: skip
    assert list(template_cache.glob("synthetic-template-*.eval"))
    synthetic.reset_template_cache()
    path = write_inspect_log(
        tmp_path, task="t", model="m", targets=["1"], answers=["0"], cache_dir=template_cache
    )
    assert accuracy(path) == 0


# --- stdout texts --------------------------------------------------------------------


def last_loss(text: str) -> tuple[int, int, str]:
    epoch, step, loss = LOSS_RE.findall(text)[-1]
    return int(epoch), int(step), loss


def test_training_stdout_completed() -> None:
    losses = [2.0, 1.5, 1.0, 0.5, 0.25, 6.0498432503663935e-06]
    text = training_stdout_text(epochs=2, steps_per_epoch=3, losses=losses, batch_repeat=2)
    assert "\r" in text
    assert last_loss(text) == (2, 6, "6.0498432503663935e-06")
    assert text.count("Starting checkpoint save for epoch") == 2
    assert "Model checkpoint saved to " in text and text.rstrip().count("/epoch_1") >= 1
    after_checkpoint = text.split("Starting checkpoint save for epoch 0...")[1]
    assert "1|3|Loss: 1.0:" in after_checkpoint.split("  0%|")[0]  # last bar printed again
    assert "wandb: Run summary:" in text
    updates = [u for line in text.splitlines() for u in line.split("\r") if "|Loss: " in u]
    assert [int(u.split("|")[1]) for u in updates] == [1, 2, 3, 3, 4, 5, 6, 6]


def test_training_stdout_endings() -> None:
    oom = training_stdout_text(epochs=2, steps_per_epoch=10, ending="oom", stop_step=13)
    assert last_loss(oom)[:2] == (2, 13)
    assert oom.rstrip().splitlines()[-1].startswith("torch.OutOfMemoryError: CUDA out of memory.")
    assert "Tried to allocate 2.00 GiB" in oom and "wandb: Run summary" not in oom
    timeout = training_stdout_text(epochs=2, steps_per_epoch=10, ending="timeout", job_id=42)
    assert re.search(r"\*\*\* JOB 42 ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT \*\*\*", timeout)
    assert last_loss(timeout)[1] == 8
    generic = training_stdout_text(epochs=1, steps_per_epoch=10, ending="traceback")
    assert "Traceback (most recent call last):" in generic and "RuntimeError: " in generic
    diverged = training_stdout_text(epochs=2, steps_per_epoch=10, ending="diverged")
    assert last_loss(diverged) == (2, 20, "nan")
    assert "|12|Loss: nan:" in diverged and "|11|Loss: nan:" not in diverged
    assert "wandb:                      loss nan" in diverged


def test_training_stdout_default_losses_decrease() -> None:
    text = training_stdout_text(epochs=2, steps_per_epoch=50, seed=3)
    values = [float(v) for _, _, v in LOSS_RE.findall(text)]
    assert values[0] > 1.5 > 0.5 > values[-1]
    assert all(math.isfinite(v) for v in values)


def test_eval_stdout_text() -> None:
    text = eval_stdout_text(
        log_path=Path("logs/x.eval"), task="capitalization", accuracy=0.85, samples=100
    )
    assert re.findall(r"match/accuracy: ([0-9.]+)", text) == ["0.85"]
    assert "Log: logs/x.eval" in text.splitlines()
    failed = eval_stdout_text(log_path=None, task="t", accuracy=None, failed="oom")
    assert "match/accuracy" not in failed and "torch.OutOfMemoryError" in failed


# --- build_experiment ----------------------------------------------------------------

BIN_T = ["1", "1", "0", "1", "0", "1", "1", "0", "1", "0"]


def answers_with(correct: int, targets: list[str]) -> list[str]:
    return [t if i < correct else ("0" if t == "1" else "1") for i, t in enumerate(targets)]


def small_spec() -> ExperimentSpec:
    runs = [
        RunSpec("r4", parameters={"lora_rank": 4}, steps_per_epoch=6, final_loss=0.25),
        RunSpec("r8", parameters={"lora_rank": 8}, steps_per_epoch=6, training="diverged"),
        RunSpec("r16", parameters={"lora_rank": 16}, steps_per_epoch=6, training="oom"),
        RunSpec("r32", parameters={"lora_rank": 32}, steps_per_epoch=6, training="timeout",
                epochs_trained=1, train_job_id=900),
        RunSpec("r64", parameters={"lora_rank": 64}, training="not_started"),
        RunSpec("Llama-3.2-1B-Instruct_base", type="control"),
    ]  # fmt: skip
    nums = ["17", "3.5", "9", "12"]
    evals = [
        EvalSpec("r4", "cap", 0, BIN_T, answers_with(7, BIN_T)),
        EvalSpec("r4", "cap", 1, BIN_T, answers_with(9, BIN_T), extra_logs=1, job_id=950,
                 epoch_evidence=("task_args",)),
        EvalSpec("r4", "sum", 0, nums, ["17", "3.4", "x", "12"]),
        EvalSpec("r4", "sum", 1, nums, nums, status="missing"),
        EvalSpec("r8", "cap", 0, BIN_T, answers_with(5, BIN_T), status="error"),
        EvalSpec("r8", "cap", 1, BIN_T, answers_with(5, BIN_T), status="cancelled"),
        EvalSpec("r8", "sum", 0, nums, nums, status="job_failed"),
        EvalSpec("r8", "sum", 1, nums, nums, status="started"),
        EvalSpec("r32", "cap", 0, BIN_T, answers_with(6, BIN_T),
                 epoch_evidence=("model_path",)),
        EvalSpec("Llama-3.2-1B-Instruct_base", "cap", None, BIN_T, answers_with(4, BIN_T)),
        EvalSpec("Llama-3.2-1B-Instruct_base", "sum", None, nums, ["1", "2", "9", "4"]),
    ]  # fmt: skip
    return ExperimentSpec("exp_small", runs, ["cap", "sum"], evals, epochs=2)


def rel_files(*roots: Path) -> set[str]:
    return {
        str(p.relative_to(root.parent)) for root in roots for p in root.rglob("*") if p.is_file()
    }


def logs_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eval"), key=lambda p: p.name)


def test_layout_a_tree_and_logs(build, tmp_path: Path) -> None:
    spec = small_spec()
    exp = build(spec, "A")
    out = tmp_path / "layoutA" / "ck-outputs" / "exp_small"
    rows = sacct_rows(spec, "A")
    jobs = {row[1]: row for row in rows}
    files = rel_files(exp, out)
    train = {name[3:]: row[0] for name, row in jobs.items() if name.startswith("ft-")}
    assert set(train) == {"r4", "r8", "r16", "r32"} and train["r32"] == "900"
    # training stdout: next to checkpoints on success, in the run dir on failure
    assert f"exp_small/r4/slurm-{train['r4']}.out" not in files
    assert f"exp_small/ck-out-r4/slurm-{train['r4']}.out" in files
    assert f"exp_small/ck-out-r8/slurm-{train['r8']}.out" in files
    assert f"exp_small/r16/slurm-{train['r16']}.out" in files
    assert f"exp_small/r32/slurm-{train['r32']}.out" in files
    assert {f for f in files if "/epoch_" in f} == {
        f"exp_small/ck-out-{r}/epoch_{n}/adapter_config.json"
        for r, n in [("r4", 0), ("r4", 1), ("r8", 0), ("r8", 1), ("r32", 0)]
    }
    assert not any(f.startswith("exp_small/r64/slurm") or "ck-out-r64" in f for f in files)
    for run in ("r4", "r8", "r16", "r32", "r64"):
        for name in ("finetune.yaml", "finetune.slurm", "setup_finetune.yaml"):
            assert f"exp_small/{run}/{name}" in files
    setup = yaml.safe_load((exp / "r4" / "setup_finetune.yaml").read_text())
    assert {"input_dir_base", "dataset_label", "dataset_ext"} <= set(setup)
    # eval scripts for every designed cell, with the scaffold's job names
    script = (exp / "r4" / "eval" / "cap_epoch1.slurm").read_text()
    assert "#SBATCH --job-name=eval-cap-r4-ep1\n" in script
    base_script = (exp / "Llama-3.2-1B-Instruct_base" / "eval" / "sum_base.slurm").read_text()
    assert "#SBATCH --job-name=eval-sum-Llama-3.2-1B-Instruct_base\n" in base_script
    assert (exp / "r64" / "eval" / "cap_epoch1.slurm").exists()
    # one stdout per eval job, named by its job id
    eval_jobs = {row[0] for row in rows if row[1].startswith("eval-")}
    outs = {p.name for p in exp.glob("*/eval/slurm-*.out")}
    assert outs == {f"slurm-{j}.out" for j in eval_jobs}
    assert [row[1] for row in rows].count("eval-cap-r4-ep1") == 2  # resubmitted
    assert "eval-sum-r4-ep1" not in jobs  # missing: no job at all
    assert [row[0] for row in rows if row[1] == "eval-cap-r4-ep1"] == ["949", "950"]
    # logs: r4 epoch 1 has an older failed attempt and the successful one
    r4_logs = logs_in(exp / "r4" / "eval" / "logs")
    assert len(r4_logs) == 4
    by_model = {}
    for path in r4_logs:
        log = header(path)
        by_model.setdefault((log.eval.model, log.eval.task, str(log.eval.task_args)), []).append(
            log
        )
    cap1 = by_model[("hf/r4", "cap", "{'epoch': 1}")]
    assert sorted(log.status for log in cap1) == ["error", "success"]
    good = next(log for log in cap1 if log.status == "success")
    assert good.eval.model_args == {}
    assert good.results.scores[0].metrics["accuracy"].value == pytest.approx(0.9)
    cap0 = by_model[("hf/r4_epoch_0", "cap", "{}")][0]
    assert cap0.eval.model_args["model_path"] == str(out / "ck-out-r4" / "epoch_0")
    assert cap0.results.scores[0].metrics["accuracy"].value == pytest.approx(0.7)
    sum0 = by_model[("hf/r4_epoch_0", "sum", "{}")][0]
    assert sum0.results.scores[0].metrics["accuracy"].value == pytest.approx(0.5)
    statuses = sorted(header(p).status for p in logs_in(exp / "r8" / "eval" / "logs"))
    assert statuses == ["cancelled", "error", "started"]  # job_failed wrote no log
    r32 = header(logs_in(exp / "r32" / "eval" / "logs")[0])
    assert r32.eval.model == "hf/r32" and r32.eval.model_args["model_path"].endswith("/epoch_0")
    base = [header(p) for p in logs_in(exp / "Llama-3.2-1B-Instruct_base" / "eval" / "logs")]
    assert {b.eval.model for b in base} == {"hf/Llama-3.2-1B-Instruct_base"}
    # the eval stdout quotes its log and the accuracy the seed greps for
    stdout = (exp / "r4" / "eval" / f"slurm-{jobs['eval-cap-r4-ep0'][0]}.out").read_text()
    assert re.findall(r"match/accuracy: ([0-9.]+)", stdout) == ["0.7"]
    log_line = next(line for line in stdout.splitlines() if line.startswith("Log: "))
    assert (exp / "r4" / "eval" / log_line[5:]).is_file()


def test_layout_a_yaml(build, tmp_path: Path) -> None:
    spec = small_spec()
    spec.output_key = "output_dir_base"
    exp = build(spec, "A")
    design = yaml.safe_load((exp / "experiment_summary.yaml").read_text())
    assert design["experiment"]["name"] == "exp_small"
    assert design["experiment"]["directory"] == str(exp)
    assert {"question", "date"} <= set(design["experiment"])
    assert design["tools"] == {"preparation": "torchtune", "evaluation": "inspect-ai"}
    assert design["controls"]["epochs"] == 2
    assert design["output"]["output_dir_base"] == str(tmp_path / "layoutA/ck-outputs/exp_small")
    assert design["output"]["checkpoint_pattern"] == "ck-out-{run_name}/epoch_{N}"
    assert [r["name"] for r in design["runs"]][-1] == "Llama-3.2-1B-Instruct_base"
    assert design["runs"][0]["parameters"] == {"lora_rank": 4}
    assert [t["name"] for t in design["evaluation"]["tasks"]] == ["cap", "sum"]
    matrix = {m["run"]: m for m in design["evaluation"]["matrix"]}
    assert matrix["r4"]["epochs"] == [0, 1] and matrix["r32"]["epochs"] == [0]
    assert matrix["r64"]["epochs"] == [0, 1]
    assert matrix["Llama-3.2-1B-Instruct_base"]["epochs"] is None


def stdout_job(path: Path) -> int:
    return int(path.stem.split("-")[1])


def test_layout_b_tree(build) -> None:
    spec = small_spec()
    exp = build(spec, "B")
    design = yaml.safe_load((exp / "experiment_summary.yaml").read_text())
    assert design["experiment"]["dir"] == str(exp) and "output" not in design
    assert "directory" not in design["experiment"]
    assert design["evaluation"]["scorers"] == [{"name": "match"}]
    rows = sacct_rows(spec, "B")
    names = {row[0]: row[1] for row in rows}
    train = {row[1]: row[0] for row in rows if not row[1].startswith("eval-")}
    assert set(train) == {"r4", "r8", "r16", "r32"}  # a fine-tune's job is named after its run
    # training stdout: {run}/artifacts/slurm-{jobid}.out, whatever the outcome
    for run, job in train.items():
        assert (exp / run / "artifacts" / f"slurm-{job}.out").is_file()
    assert (exp / "r4" / "artifacts" / "epoch_1" / "adapter_config.json").is_file()
    assert not (exp.parent / "ck-outputs").exists()
    # no job stdout inside any cell folder
    assert not list(exp.glob("*/eval/**/slurm-*.out"))
    cell = exp / "r4" / "eval" / "cap_epoch0"
    assert {p.name for p in cell.iterdir()} == {"eval.yaml", "cell.slurm", "logs"}
    slurm = (cell / "cell.slurm").read_text()
    assert "#SBATCH --job-name=eval-cap-ep0\n" in slurm
    assert f"#SBATCH --output={exp}/r4/artifacts/epoch_0/slurm-%j.out\n" in slurm
    assert "/usr/bin/time -p inspect eval " in slurm
    assert "--metadata epoch=0 " in slurm and "--metadata is_finetuned=true " in slurm
    assert "--metadata source_model=Llama-3.2-1B-Instruct " in slurm
    assert (
        "-T vis_label='r4 (cap)' " in slurm
        and f"-M model_path={exp}/r4/artifacts/epoch_0 " in slurm
    )
    assert yaml.safe_load((cell / "eval.yaml").read_text())["epoch"] == 0
    log = header(logs_in(cell / "logs")[0])
    assert log.eval.model == "hf/r4_epoch_0"
    assert log.eval.model_args["model_path"] == str(exp / "r4" / "artifacts" / "epoch_0")
    # every evaluation stdout sits in artifacts/epoch_N (fine-tuned) or artifacts/ (control),
    # carries its cell's job name, and quotes a log of that cell
    eval_outs = sorted(exp.glob("*/artifacts/epoch_*/slurm-*.out")) + sorted(
        exp.glob("Llama-3.2-1B-Instruct_base/artifacts/slurm-*.out")
    )
    assert {stdout_job(p) for p in eval_outs} == {
        int(job) for job, name in names.items() if name.startswith("eval-")
    }
    quoted_logs = 0
    for out in eval_outs:
        name = names[str(stdout_job(out))]
        if out.parent.name.startswith("epoch_"):
            run_dir, epoch = out.parent.parent.parent, int(out.parent.name[6:])
            task = name.split("-")[1]
            assert name == f"eval-{task}-ep{epoch}"
            cell_dir = run_dir / "eval" / f"{task}_epoch{epoch}"
        else:
            task = name[5:]
            cell_dir = out.parent.parent / "eval" / task
        quoted = [line[5:] for line in out.read_text().splitlines() if line.startswith("Log: ")]
        assert all((cell_dir / q).is_file() for q in quoted)
        quoted_logs += len(quoted)
    assert quoted_logs == 9  # every log but the one left unfinished at the time limit
    assert len(list(exp.glob("*/eval/*/logs/*.eval"))) == 10
    control = exp / "Llama-3.2-1B-Instruct_base" / "eval" / "cap"
    control_slurm = (control / "cell.slurm").read_text()
    assert "#SBATCH --job-name=eval-cap\n" in control_slurm
    assert f"#SBATCH --output={exp}/Llama-3.2-1B-Instruct_base/artifacts/slurm-%j.out" in (
        control_slurm
    )
    assert "--metadata epoch" not in control_slurm
    assert "--metadata is_finetuned=false " in control_slurm
    assert len(logs_in(control / "logs")) == 1
    # a cell that never ran: scaffolded, with an empty logs/ folder
    missing = exp / "r4" / "eval" / "sum_epoch1"
    assert (missing / "cell.slurm").is_file() and not list((missing / "logs").iterdir())
    assert {row[1] for row in rows} >= {"eval-cap-ep1", "eval-sum"}


# --- layout B: the toolkit today ----------------------------------------------------

CONTROL = "Llama-3.2-1B-Instruct_base"
CHECKPOINT = "/scratch/gpfs/LAB/user/ck-projects/prior_exp/income_rank8/artifacts/epoch_1"
EVAL_YAML_KEYS = [
    "task_script", "task_name", "model_path", "model_hf_name", "output_dir", "data_path",
    "vis_label", "use_chat_template", "epoch", "is_finetuned", "source_model", "scorers",
]  # fmt: skip
ENTRY_RE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] ([A-Z_]+): (.+)\nDetails: (.+)\nResult: (.+)$",
    re.MULTILINE,
)


def b_spec() -> ExperimentSpec:
    runs = [
        RunSpec(
            "rank4_lr1e-5",
            parameters={"lora_rank": 4, "lr": "1e-5"},
            steps_per_epoch=6,
            vis_label="rank4",
            oom_retries=2,
            batch_size=16,
            train_job_id=500,
        ),
        RunSpec(
            "rank8_lr1e-5",
            parameters={"lora_rank": 8, "lr": "1e-5"},
            steps_per_epoch=6,
            oom_retries=3,
            batch_size=16,
            training="oom",
        ),
        RunSpec(CONTROL, type="control"),
        RunSpec("income_rank8", type="eval-only", parameters={"checkpoint_path": CHECKPOINT}),
    ]
    evals = [
        EvalSpec("rank4_lr1e-5", "capitalization", 0, BIN_T, answers_with(8, BIN_T),
                 variant="with_cue"),
        EvalSpec("rank4_lr1e-5", "capitalization", 0, BIN_T, answers_with(6, BIN_T),
                 variant="no_cue"),
        EvalSpec("rank4_lr1e-5", "acs_income", 0, BIN_T, answers_with(7, BIN_T)),
        EvalSpec("rank4_lr1e-5", "acs_income", 1, BIN_T, BIN_T, status="timeout", job_id=700),
        EvalSpec(CONTROL, "capitalization", None, BIN_T, answers_with(5, BIN_T), job_id=710),
        EvalSpec("income_rank8", "acs_income", None, BIN_T, answers_with(9, BIN_T),
                 job_id=720),
    ]  # fmt: skip
    return ExperimentSpec(
        "exp_b",
        runs,
        ["capitalization", "acs_income"],
        evals,
        epochs=2,
        dataset_condition="dict_full",
        write_datasets=True,
    )


@pytest.fixture(scope="module")
def built_b(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Path:
    root = tmp_path_factory.mktemp("layoutB")
    return synthetic.build_experiment(root, b_spec(), layout="B", cache_dir=template_cache)


def log_entries(path: Path) -> list[tuple[str, str, str, str, str]]:
    text = path.read_text()
    entries = ENTRY_RE.findall(text)
    assert len(entries) == text.count("\n\n")  # every block parses; a blank line after each
    return entries


def test_layout_b_eval_yaml(built_b: Path) -> None:
    exp = built_b
    data = str(exp.parent / "ck-data" / "generated")
    cells = {
        "rank4_lr1e-5/eval/capitalization_with_cue_epoch0": ("capitalization", 0),
        "rank4_lr1e-5/eval/capitalization_no_cue_epoch0": ("capitalization", 0),
        "rank4_lr1e-5/eval/acs_income_epoch1": ("acs_income", 1),
        f"{CONTROL}/eval/capitalization": ("capitalization", None),
        "income_rank8/eval/acs_income": ("acs_income", None),
    }
    for folder, (task, epoch) in cells.items():
        config = yaml.safe_load((exp / folder / "eval.yaml").read_text())
        keys = [k for k in EVAL_YAML_KEYS if k != "epoch" or epoch is not None]
        assert list(config) == keys
        assert config["task_name"] == task  # the design's task, not the folder name
        assert config.get("epoch") == epoch
        assert config["task_script"].endswith(f"/inspect_task_{task}.py@{task}")
        assert config["scorers"] == [{"name": "match"}]
        assert config["use_chat_template"] is True
        assert config["source_model"] == "Llama-3.2-1B-Instruct"
        assert re.fullmatch(
            re.escape(data) + r"/dict_full_test_[0-9a-f]{8}\.json", config["data_path"]
        )
    ft = yaml.safe_load((exp / "rank4_lr1e-5/eval/acs_income_epoch1/eval.yaml").read_text())
    assert ft["model_path"] == str(exp / "rank4_lr1e-5" / "artifacts" / "epoch_1")
    assert ft["model_hf_name"] == "hf/rank4_lr1e-5_epoch_1"
    assert ft["output_dir"] == str(exp / "rank4_lr1e-5" / "artifacts") + "/"
    assert ft["vis_label"] == "rank4 (acs_income)" and ft["is_finetuned"] is True
    control = yaml.safe_load((exp / CONTROL / "eval/capitalization/eval.yaml").read_text())
    assert control["model_hf_name"] == f"hf/{CONTROL}_base"
    assert control["model_path"] == "/scratch/gpfs/LAB/user/models/Llama-3.2-1B-Instruct"
    assert control["is_finetuned"] is False
    assert control["vis_label"] == f"{CONTROL} (capitalization)"
    only = yaml.safe_load((exp / "income_rank8/eval/acs_income/eval.yaml").read_text())
    assert only["model_path"] == CHECKPOINT and only["model_hf_name"] == "hf/income_rank8"
    assert only["is_finetuned"] is True


def test_layout_b_log_headers(built_b: Path) -> None:
    exp = built_b
    ft = exp / "rank4_lr1e-5" / "eval"
    with_cue = header(logs_in(ft / "capitalization_with_cue_epoch0" / "logs")[0])
    no_cue = header(logs_in(ft / "capitalization_no_cue_epoch0" / "logs")[0])
    for log in (with_cue, no_cue):
        assert log.eval.task == "capitalization_rank4 (capitalization)"
        assert log.eval.model == "hf/rank4_lr1e-5_epoch_0"
        assert log.eval.model_args == {"model_path": str(exp / "rank4_lr1e-5/artifacts/epoch_0")}
        assert log.eval.metadata == {
            "epoch": 0,
            "is_finetuned": True,
            "source_model": "Llama-3.2-1B-Instruct",
        }
        assert type(log.eval.metadata["epoch"]) is int  # inspect YAML-parses --metadata epoch=0
        assert log.eval.task_args["vis_label"] == "rank4 (capitalization)"
        assert log.eval.task_args["data_path"].endswith(".json")
        assert log.eval.task_args["use_chat_template"] is True
    assert with_cue.results.scores[0].metrics["accuracy"].value == pytest.approx(0.8)
    assert no_cue.results.scores[0].metrics["accuracy"].value == pytest.approx(0.6)
    assert with_cue.results.scores[0].name == "match"
    name = logs_in(ft / "capitalization_with_cue_epoch0" / "logs")[0].name
    assert re.fullmatch(r"[0-9T-]+_capitalization-rank4 \(capitalization\)_\w{22}\.eval", name)
    acs = logs_in(ft / "acs_income_epoch0" / "logs")[0]
    assert "_acs-income-rank4 (acs-income)_" in acs.name
    assert header(acs).eval.task == "acs_income_rank4 (acs_income)"
    control_path = logs_in(exp / CONTROL / "eval" / "capitalization" / "logs")[0]
    control = header(control_path)
    assert control.eval.model == f"hf/{CONTROL}_base"
    assert control.eval.metadata == {"is_finetuned": False, "source_model": "Llama-3.2-1B-Instruct"}
    assert control.eval.task == f"capitalization_{CONTROL} (capitalization)"
    assert f"_capitalization-{CONTROL.replace('_', '-')} (capitalization)_" in control_path.name
    only = header(logs_in(exp / "income_rank8" / "eval" / "acs_income" / "logs")[0])
    assert only.eval.model == "hf/income_rank8"
    assert only.eval.model_args == {"model_path": CHECKPOINT}
    assert only.eval.metadata == {"is_finetuned": True, "source_model": "Llama-3.2-1B-Instruct"}
    assert only.results.scores[0].metrics["accuracy"].value == pytest.approx(0.9)


def test_layout_b_eval_stdout(built_b: Path) -> None:
    exp = built_b
    art = exp / "rank4_lr1e-5" / "artifacts"
    outs = sorted((art / "epoch_0").glob("slurm-*.out"))
    assert len(outs) == 3  # with_cue, no_cue and acs_income of epoch 0
    for out in outs:
        lines = out.read_text().splitlines()
        assert re.fullmatch(r"real \d+\.\d\d", lines[-3])
        assert lines[-2].startswith("user ") and lines[-1].startswith("sys ")
        assert any(re.fullmatch(r"total time: +\d:\d\d:\d\d", line) for line in lines)
        assert any(line.startswith("match/accuracy: ") for line in lines)
    # the evaluation killed at its time limit before inspect wrote a log
    timeout = (art / "epoch_1" / "slurm-700.out").read_text()
    assert timeout.splitlines()[-1].startswith("slurmstepd: error: *** JOB 700 ON ")
    assert timeout.rstrip().endswith("DUE TO TIME LIMIT ***")
    assert "real " not in timeout and "Log: " not in timeout
    assert not list((exp / "rank4_lr1e-5" / "eval" / "acs_income_epoch1").rglob("*.eval"))
    assert not list((exp / "rank4_lr1e-5" / "eval").glob("*epoch1/logs/*"))
    # control and eval-only evaluations write into {run}/artifacts/
    assert (exp / CONTROL / "artifacts" / "slurm-710.out").is_file()
    assert (exp / "income_rank8" / "artifacts" / "slurm-720.out").is_file()
    assert "hf/income_rank8" in (exp / "income_rank8" / "artifacts" / "slurm-720.out").read_text()
    for folder in (art / "epoch_0", art / "epoch_1", exp / CONTROL / "artifacts"):
        metrics = (folder / "gpu_metrics.csv").read_text().splitlines()
        assert metrics[0].startswith("timestamp, utilization.gpu [%], utilization.memory [%]")
        assert len(metrics) >= 3
        assert re.fullmatch(
            r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}, \d+ %, .* MiB, .* W, \d+", metrics[2]
        )


def test_layout_b_run_logs(built_b: Path) -> None:
    exp, spec = built_b, b_spec()
    rows = sacct_rows(spec, "B")
    torchtune = log_entries(exp / "logs" / "run-torchtune.log")
    submits = [(subject, result) for _, action, subject, _, result in torchtune
               if action == "SUBMIT_JOB"]  # fmt: skip
    train_rows = [row for row in rows if not row[1].startswith("eval-")]
    assert [(s, r.split()[2]) for s, r in submits] == [(row[1], row[0]) for row in train_rows]
    first = next(e for e in torchtune if e[1] == "SUBMIT_JOB")
    assert first[3] == "cd rank4_lr1e-5 && sbatch finetune.slurm"
    assert first[4] == f"Job ID 498 submitted at {first[0]}"
    retries = [(s, d, r) for _, a, s, d, r in torchtune if a == "OOM_RETRY"]
    assert retries[:2] == [
        ("rank4_lr1e-5", "batch_size 16 -> 8 (attempt 1/3); finetune.yaml updated",
         "resubmitted as job 499"),
        ("rank4_lr1e-5", "batch_size 8 -> 4 (attempt 2/3); finetune.yaml updated",
         "resubmitted as job 500"),
    ]  # fmt: skip
    assert [d for s, d, _ in retries if s == "rank8_lr1e-5"] == [
        "batch_size 16 -> 8 (attempt 1/3); finetune.yaml updated",
        "batch_size 8 -> 4 (attempt 2/3); finetune.yaml updated",
        "batch_size 4 -> 2 (attempt 3/3); finetune.yaml updated",
    ]
    exhausted = [e for e in torchtune if e[1] == "OOM_EXHAUSTED"]
    assert [e[2] for e in exhausted] == ["rank8_lr1e-5"]
    states = [(s, d) for _, a, s, d, _ in torchtune if a == "STATE_CHANGE"]
    assert states.count(("rank4_lr1e-5", "RUNNING → FAILED")) == 2
    assert states.count(("rank4_lr1e-5", "RUNNING → COMPLETED")) == 1
    assert states.count(("rank8_lr1e-5", "PENDING → RUNNING")) == 4
    stamps = [e[0] for e in torchtune]
    assert stamps == sorted(stamps)
    inspect_log = log_entries(exp / "logs" / "run-inspect.log")
    evals = {s: (d, r) for _, a, s, d, r in inspect_log if a == "SUBMIT_EVAL"}
    assert evals["rank4_lr1e-5/capitalization_with_cue/epoch0"][0] == (
        "cd rank4_lr1e-5/eval/capitalization_with_cue_epoch0 && sbatch cell.slurm"
    )
    assert evals["rank4_lr1e-5/acs_income/epoch1"][1].startswith("Job ID 700 submitted at ")
    assert evals[f"{CONTROL}/capitalization"] == (
        f"cd {CONTROL}/eval/capitalization && sbatch cell.slurm",
        evals[f"{CONTROL}/capitalization"][1],
    )
    assert evals[f"{CONTROL}/capitalization"][1].startswith("Job ID 710 submitted at ")
    assert evals["income_rank8/acs_income"][1].startswith("Job ID 720 submitted at ")
    assert len(evals) == len([row for row in rows if row[1].startswith("eval-")])
    assert ("rank4_lr1e-5/acs_income/epoch1", "RUNNING → TIMEOUT") in [
        (s, d) for _, a, s, d, _ in inspect_log if a == "STATE_CHANGE"
    ]


def test_layout_b_oom_retries(built_b: Path) -> None:
    exp, spec = built_b, b_spec()
    rows = {row[0]: row for row in sacct_rows(spec, "B")}
    assert [rows[j][1:3] for j in ("498", "499", "500")] == [
        ("rank4_lr1e-5", "FAILED"), ("rank4_lr1e-5", "FAILED"), ("rank4_lr1e-5", "COMPLETED"),
    ]  # fmt: skip
    art = exp / "rank4_lr1e-5" / "artifacts"
    assert sorted(p.name for p in art.glob("slurm-*.out")) == [
        "slurm-498.out", "slurm-499.out", "slurm-500.out",
    ]  # fmt: skip
    for job, batch in (("498", 16), ("499", 8)):
        text = (art / f"slurm-{job}.out").read_text()
        assert f"\nbatch_size: {batch}\n" in text
        assert text.rstrip().splitlines()[-1].startswith("torch.OutOfMemoryError: CUDA out of")
        assert last_loss(text)[0] == 1  # died in the first epoch
    last = (art / "slurm-500.out").read_text()
    assert "\nbatch_size: 4\n" in last and "wandb: Run summary:" in last
    assert last_loss(last)[:2] == (2, 12)
    assert yaml.safe_load((exp / "rank4_lr1e-5" / "finetune.yaml").read_text())["batch_size"] == 4
    setup = yaml.safe_load((exp / "rank4_lr1e-5" / "setup_finetune.yaml").read_text())
    assert setup["batch_size"] == 16
    failed = sorted((exp / "rank8_lr1e-5" / "artifacts").glob("slurm-*.out"))
    assert len(failed) == 4
    assert all("torch.OutOfMemoryError" in p.read_text() for p in failed)
    assert not list((exp / "rank8_lr1e-5" / "artifacts").glob("epoch_*"))
    finetune = (exp / "rank4_lr1e-5" / "finetune.slurm").read_text()
    assert "#SBATCH --job-name=rank4_lr1e-5\n" in finetune
    assert f"#SBATCH --output={art}/slurm-%j.out\n" in finetune


def test_layout_b_eval_only_and_control(built_b: Path) -> None:
    exp = built_b
    design = yaml.safe_load((exp / "experiment_summary.yaml").read_text())
    runs = {r["name"]: r for r in design["runs"]}
    assert runs["income_rank8"]["type"] == "eval-only"
    assert runs["income_rank8"]["parameters"] == {"checkpoint_path": CHECKPOINT}
    matrix = {m["run"]: m for m in design["evaluation"]["matrix"]}
    assert matrix["income_rank8"]["epochs"] is None and matrix[CONTROL]["epochs"] is None
    assert matrix["rank4_lr1e-5"]["vis_label"] == "rank4"
    assert matrix["rank4_lr1e-5"]["epochs"] == [0, 1]
    for run in ("income_rank8", CONTROL):
        files = {str(p.relative_to(exp / run)) for p in (exp / run).rglob("*") if p.is_file()}
        assert not files & {"setup_finetune.yaml", "finetune.yaml", "finetune.slurm"}
        assert not list((exp / run / "artifacts").glob("epoch_*"))
    slurm = (exp / "income_rank8" / "eval" / "acs_income" / "cell.slurm").read_text()
    assert "#SBATCH --job-name=eval-acs_income\n" in slurm
    assert f"#SBATCH --output={exp}/income_rank8/artifacts/slurm-%j.out\n" in slurm
    assert f"-M model_path={CHECKPOINT} " in slurm
    assert "--metadata is_finetuned=true " in slurm and "--metadata epoch" not in slurm
    assert not any(row[1] == "income_rank8" for row in sacct_rows(b_spec(), "B"))


def test_layout_b_datasets(built_b: Path) -> None:
    exp = built_b
    design = yaml.safe_load((exp / "experiment_summary.yaml").read_text())
    setup = yaml.safe_load((exp / "rank4_lr1e-5" / "setup_finetune.yaml").read_text())
    assert {"input_dir_base", "dataset_label", "dataset_ext", "batch_size", "epochs",
            "lora_rank", "lr", "time"} <= set(setup)  # fmt: skip
    assert (setup["epochs"], setup["lora_rank"], setup["lr"]) == (2, 4, "1e-5")
    loaded = setup["input_dir_base"] + setup["dataset_label"] + setup["dataset_ext"]
    assert loaded == design["data"]["training"]["path"]
    train = Path(loaded)
    match = re.fullmatch(r"dict_full_train_([0-9a-f]{8})\.json", train.name)
    assert match and train.is_file()
    assert set(json.loads(train.read_text())) == {"train", "validation"}
    meta = json.loads(train.with_name(f"{train.stem}.meta.json").read_text())
    assert meta["config_hash_short"] == match.group(1)
    assert meta["config_hash"].startswith(match.group(1)) and meta["split"] == "train"
    assert meta["row_count"] == sum(len(v) for v in json.loads(train.read_text()).values())
    test_file = train.with_name(f"dict_full_test_{match.group(1)}.json")
    assert json.loads(test_file.read_text())["test"][0].keys() == {"input", "output"}
    config = yaml.safe_load((exp / "income_rank8/eval/acs_income/eval.yaml").read_text())
    assert config["data_path"] == str(test_file)
    assert design["evaluation"]["tasks"][0]["eval_condition"] == "dict_full"


def test_layout_b_datasets_not_written(build) -> None:
    spec = small_spec()
    spec.dataset_condition = "dict_full"
    exp = build(spec, "B")
    setup = yaml.safe_load((exp / "r4" / "setup_finetune.yaml").read_text())
    assert setup["input_dir_base"] == "/scratch/gpfs/LAB/user/ck-data/generated/"
    assert re.fullmatch(r"dict_full_train_[0-9a-f]{8}", setup["dataset_label"])
    assert not (exp.parent / "ck-data").exists()
    assert not list(exp.parent.rglob("*.meta.json"))


def test_layout_b_includes_scorer(build) -> None:
    spec = ExperimentSpec(
        "exp_inc",
        [RunSpec("r4", steps_per_epoch=3)],
        ["cap"],
        [EvalSpec("r4", "cap", 0, ["1", "0"], ["The answer is 1", "1"])],
        epochs=1,
        scorer="includes",
    )
    exp = build(spec, "B")
    cell = exp / "r4" / "eval" / "cap_epoch0"
    assert yaml.safe_load((cell / "eval.yaml").read_text())["scorers"] == [{"name": "includes"}]
    log = header(logs_in(cell / "logs")[0])
    assert log.results.scores[0].name == "includes"
    assert log.results.scores[0].metrics["accuracy"].value == 0.5
    out = next((exp / "r4" / "artifacts" / "epoch_0").glob("slurm-*.out")).read_text()
    assert re.findall(r"includes/accuracy: ([0-9.]+)", out) == ["0.5"]


@pytest.mark.parametrize(
    ("change", "layout", "message"),
    [
        (lambda s: s.runs.append(RunSpec("x", type="eval-only",
                                         parameters={"checkpoint_path": "/c"})),
         "A", "eval-only runs belong to layout B"),
        (lambda s: s.runs.append(RunSpec("x", type="eval-only")), "B", "checkpoint_path"),
        (lambda s: setattr(s.runs[0], "oom_retries", 4), "B", "oom_retries"),
        (lambda s: setattr(s.runs[-1], "oom_retries", 1), "B", "only a fine-tune"),
        (lambda s: setattr(s.evals[0], "variant", "cue"), "A", "variant cells"),
        (lambda s: setattr(s, "scorer", "risk_scorer"), "B", "scorer"),
    ],
)  # fmt: skip
def test_layout_rejections(tmp_path: Path, change, layout: str, message: str) -> None:
    spec = small_spec()
    change(spec)
    with pytest.raises(ValueError, match=message):
        synthetic.build_experiment(tmp_path, spec, layout=layout)


def test_training_stdout_in_experiment(build, tmp_path: Path) -> None:
    spec = small_spec()
    exp = build(spec, "A")
    out = tmp_path / "layoutA" / "ck-outputs" / "exp_small"
    text = next((out / "ck-out-r4").glob("slurm-*.out")).read_text()
    assert last_loss(text) == (2, 12, repr(synthetic._float32(0.25)))
    assert last_loss(next((out / "ck-out-r8").glob("slurm-*.out")).read_text())[2] == "nan"
    oom = next((exp / "r16").glob("slurm-*.out")).read_text()
    assert "torch.OutOfMemoryError" in oom and last_loss(oom)[0] == 1
    timeout = next((exp / "r32").glob("slurm-*.out")).read_text()
    assert "CANCELLED AT" in timeout and "JOB 900 " in timeout and last_loss(timeout)[0] == 2


def test_sacct_rows_and_mtimes(build) -> None:
    spec = small_spec()
    exp = build(spec, "A")
    rows = sacct_rows(spec, "A")
    assert rows == sacct_rows(spec, "A")
    states = {name: (state, code) for _, name, state, _, code in rows}
    assert states["ft-r4"] == ("COMPLETED", "0:0")
    assert states["ft-r16"] == ("FAILED", "1:0")
    assert states["ft-r32"][0] == "TIMEOUT"
    assert states["eval-cap-r8-ep1"][0] == "CANCELLED by 1234"
    assert all(re.fullmatch(r"(\d+-)?\d\d:\d\d:\d\d", row[3]) for row in rows)
    ids = [int(row[0]) for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    outs = {int(p.stem.split("-")[1]): p for p in exp.parent.rglob("slurm-*.out")}
    assert set(outs) == set(ids)
    times = [os.stat(outs[i]).st_mtime for i in ids]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_relative_paths_and_workers(build) -> None:
    spec = small_spec()
    exp = build(spec, "A", relative_paths=True, workers=2)
    design = yaml.safe_load((exp / "experiment_summary.yaml").read_text())
    assert design["experiment"]["directory"] == "."
    assert design["output"]["base_directory"] == "../ck-outputs/exp_small"
    assert (exp / design["output"]["base_directory"] / "ck-out-r4" / "epoch_1").is_dir()
    logs = [header(p) for p in logs_in(exp / "r4" / "eval" / "logs")]
    paths = {log.eval.model_args.get("model_path") for log in logs}
    assert paths == {None, "../ck-outputs/exp_small/ck-out-r4/epoch_0"}


# --- the bundled demo ------------------------------------------------------------------


def load_make_demo():
    module_spec = importlib.util.spec_from_file_location(
        "make_demo", REPO / "examples" / "make_demo.py"
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_demo_is_deterministic(tmp_path: Path, template_cache: Path) -> None:
    make_demo = load_make_demo()
    first = make_demo.build_demo(tmp_path / "one" / "demo", template_cache)
    second = make_demo.build_demo(tmp_path / "two" / "demo", template_cache)

    def text_files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix != ".eval"
        }

    assert text_files(first) == text_files(second)
    assert sorted(p.name for p in first.rglob("*.eval")) == sorted(
        p.name for p in second.rglob("*.eval")
    )
    design = yaml.safe_load((first / "experiment_summary.yaml").read_text())
    assert design["experiment"]["dir"] == "."  # layout B, relative: works wherever it is cloned
    cap = [header(p) for p in first.glob("rank8_lr1e-5/eval/*/logs/*capitalization*.eval")]
    assert sorted(h.results.scores[0].metrics["accuracy"].value for h in cap) == [0.82, 0.91]
    assert len(list(first.glob("rank8_lr1e-5/eval/*/logs/*sum-digits*"))) == 1
    assert len(list((first / "rank16_lr1e-5" / "artifacts").glob("slurm-*.out"))) == 2
