"""Turn the collected document into the summary's tables, as data (this is also summary.json).

Pure functions: the same collected document always gives the same tables.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..evidence import slurm

SATURATED = 0.95
NOT_CLEARLY_BETTER = "not clearly better than"


def _training_row(run: dict[str, Any]) -> dict[str, Any]:
    training = run.get("training") or {}
    final = training.get("final") or {}
    # the epoch of the last loss update, as torchtune prints it (1-indexed), as the seed says
    epochs = final.get("epoch")
    return {
        "run": run["name"],
        "status": run["finetune"]["status"],
        "final_loss": final.get("loss"),
        "final_loss_repr": final.get("loss_repr"),
        "diverged": bool(training.get("diverged")),
        "total_steps": final.get("step"),
        "epochs": epochs,
        "duration_seconds": training.get("duration_seconds"),
        "duration_source": training.get("duration_source"),
        "duration": slurm.format_duration(
            None
            if training.get("duration_seconds") is None
            else round(training["duration_seconds"])
        ),
        "min_loss": training.get("min_finite"),
        "curve": [
            {"step": p.get("step"), "loss": p.get("loss")} for p in training.get("curve") or []
        ],
        "stdout": training.get("stdout"),
        "warning": training.get("warning"),
    }


def _eval_row(run: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    result = cell.get("result") or {}
    accuracy = result.get("accuracy")
    return {
        "run": run["name"],
        "run_type": run["type"],
        "task": cell.get("task"),
        "epoch": cell.get("epoch"),
        "status": cell["status"],
        "accuracy": accuracy,
        "accuracy_ci": result.get("accuracy_ci"),
        "balanced_accuracy": result.get("balanced_accuracy"),
        "balanced_accuracy_ci": result.get("balanced_accuracy_ci"),
        "f1": result.get("f1"),
        "samples": result.get("samples"),
        "errored_samples": result.get("errored_samples") or 0,
        "kind": result.get("kind"),
        "saturated": accuracy is not None and accuracy >= SATURATED,
        "regression": result.get("regression"),
        "binary": result.get("binary"),
        "label_counts": result.get("label_counts"),
        "log": cell.get("log"),
        "epoch_source": cell.get("epoch_source"),
        "notes": cell.get("notes") or [],
    }


def _check_hint(path: str | None, experiment_dir: Path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).relative_to(experiment_dir))
    except ValueError:
        return path


def _incomplete_rows(runs: list[dict[str, Any]], experiment_dir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for run in runs:
        finetune = run["finetune"]
        if finetune["status"] not in ("COMPLETED", "N/A"):
            notes = list(finetune.get("notes") or [])
            check = finetune.get("stdout")
            if check:
                notes.append(f"Check {_check_hint(check, experiment_dir)}")
            elif finetune["status"] == "NOT_STARTED":
                notes.append("no checkpoints and no training stdout found")
            rows.append(
                {
                    "run": run["name"],
                    "stage": "Fine-tuning",
                    "status": finetune["status"],
                    "notes": notes,
                }
            )
        waiting = [c for c in run["cells"] if c["in_design"] and c["status"] == "NOT_STARTED"]
        if waiting:
            rows.append(
                {
                    "run": run["name"],
                    "stage": "Evaluation",
                    "status": "NOT_STARTED",
                    "notes": [
                        f"{len(waiting)} evaluation(s) waiting on fine-tuning "
                        f"({finetune['status']})"
                    ],
                }
            )
        for cell in run["cells"]:
            if cell["status"] in ("COMPLETED", "NOT_STARTED"):
                continue
            epoch = "" if cell.get("epoch") is None else f" epoch {cell['epoch']}"
            notes = list(cell.get("notes") or [])
            check = cell.get("check")
            if check:
                notes.append(f"Check {_check_hint(check, experiment_dir)}")
            rows.append(
                {
                    "run": run["name"],
                    "stage": f"Evaluation: {cell.get('task')}{epoch}",
                    "status": cell["status"],
                    "notes": notes,
                }
            )
        for job in run.get("unassigned_jobs") or []:
            notes = [job["failure_line"]] if job.get("failure_line") else []
            notes.append("no log and no SLURM job name to tell which evaluation this job ran")
            notes.append(f"Check {_check_hint(job['stdout'], experiment_dir)}")
            rows.append(
                {
                    "run": run["name"],
                    "stage": "Evaluation: cell unknown",
                    "status": job["status"],
                    "notes": notes,
                }
            )
    return rows


def _score(row: dict[str, Any]) -> tuple[str, float, bool] | None:
    """(metric name, value, higher is better) used to rank an evaluation row."""
    regression = row.get("regression") or {}
    if row["kind"] == "binary" and row.get("balanced_accuracy") is not None:
        return "balanced accuracy", row["balanced_accuracy"], True
    if row["kind"] == "numeric" and regression.get("rmse") is not None:
        return "RMSE", regression["rmse"], False
    if row.get("accuracy") is not None:
        return "accuracy", row["accuracy"], True
    return None


def _interval_for(row: dict[str, Any], metric: str) -> Any:
    return {
        "balanced accuracy": row.get("balanced_accuracy_ci"),
        "accuracy": row.get("accuracy_ci"),
    }.get(metric)


def best_rows(eval_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best evaluation per task, and whether the runner-up is within its interval."""
    best: list[dict[str, Any]] = []
    tasks = list(dict.fromkeys(r["task"] for r in eval_rows if r["status"] == "COMPLETED"))
    for task in tasks:
        scored = [
            (r, _score(r)) for r in eval_rows if r["task"] == task and r["status"] == "COMPLETED"
        ]
        scored = [(r, s) for r, s in scored if s is not None and not math.isnan(s[1])]
        if not scored:
            continue
        metric = scored[0][1][0]
        scored = [(r, s) for r, s in scored if s[0] == metric]
        higher = scored[0][1][2]
        ranked = sorted(scored, key=lambda rs: rs[1][1], reverse=higher)
        top, (_, value, _) = ranked[0]
        entry = {
            "task": task,
            "run": top["run"],
            "epoch": top["epoch"],
            "metric": metric,
            "value": value,
            "runner_up": None,
            "clearly_better": None,
        }
        if len(ranked) > 1:
            second, (_, second_value, _) = ranked[1]
            entry["runner_up"] = {
                "run": second["run"],
                "epoch": second["epoch"],
                "value": second_value,
            }
            top_ci, second_ci = _interval_for(top, metric), _interval_for(second, metric)
            if top_ci and second_ci:
                entry["clearly_better"] = not (second_ci[1] >= top_ci[0])
        best.append(entry)
    return best


def _label_split(counts: dict[str, int] | None) -> str | None:
    if not counts:
        return None
    total = counts.get("0", 0) + counts.get("1", 0)
    if not total:
        return None
    ones = counts.get("1", 0) / total
    return f"{ones:.0%} / {1 - ones:.0%} (n={total})"


def dataset_rows(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Training data per run, and each distinct evaluation set once with its label split."""
    training = [
        {"run": r["name"], "dataset": r.get("training_dataset")}
        for r in runs
        if r["type"] != "control"
    ]
    evaluation: dict[tuple, dict[str, Any]] = {}
    for run in runs:
        for cell in run["cells"]:
            result = cell.get("result") or {}
            if cell["status"] != "COMPLETED":
                continue
            dataset = result.get("dataset") or {}
            counts = result.get("label_counts")
            key = (
                cell.get("task"),
                dataset.get("name"),
                dataset.get("location"),
                result.get("samples"),
                tuple(sorted((counts or {}).items())),
            )
            entry = evaluation.setdefault(
                key,
                {
                    "task": cell.get("task"),
                    "dataset": dataset.get("location") or dataset.get("name"),
                    "samples": result.get("samples"),
                    "kind": result.get("kind"),
                    "label_counts": counts,
                    "split": _label_split(counts),
                    "used_by": 0,
                },
            )
            entry["used_by"] += 1
    return {"training": training, "evaluation": list(evaluation.values())}


def build_report(collected: dict[str, Any], generated_at: str) -> dict[str, Any]:
    """The summary as data: every table of summary.md."""
    runs = collected["runs"]
    experiment_dir = Path(collected["experiment"]["directory"])
    eval_rows = [
        _eval_row(run, cell)
        for run in runs
        for cell in run["cells"]
        if cell["status"] in ("COMPLETED", "ERROR")
        or (cell["status"] != "MISSING" and cell.get("log"))
    ]
    complete = sum(1 for r in runs if r["complete"])
    return {
        "schema_version": collected.get("schema_version", 1),
        "experiment": collected["experiment"],
        "generated_at": generated_at,
        "complete_runs": complete,
        "total_runs": len(runs),
        "run_status": [
            {
                "run": r["name"],
                "type": r["type"],
                "finetune": r["finetune"]["status"],
                "diverged": r["finetune"]["diverged"],
                "evaluation": r["evaluation_status"],
                "complete": r["complete"],
            }
            for r in runs
        ],
        "training": [_training_row(r) for r in runs if r["type"] != "control"],
        "evaluations": eval_rows,
        "best": best_rows(eval_rows),
        "incomplete": _incomplete_rows(runs, experiment_dir),
        "datasets": dataset_rows(runs),
        "slurm": collected.get("slurm"),
        "notes": list(collected.get("design_problems") or []) + list(collected.get("notes") or []),
        "rejected_runs": collected.get("rejected_runs") or {},
    }
