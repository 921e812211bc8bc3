"""Render the report (see report.py) as summary.md, in the specification's structure."""

from __future__ import annotations

import html
import math
import re
import shlex
from collections.abc import Sequence
from typing import Any

from ..text import visible
from .tables import variant_label

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24  # characters: enough to show the curve's shape, narrow enough for a table
SLURM_ERROR_CHARS = 200
FAR_BELOW = 0.8  # show the minimum loss when it is below 80% of the final loss


def format_number(value: Any, digits: int = 4) -> str:
    """A number with at least 3 significant digits; scientific notation where it needs it."""
    if value is None:
        return "N/A"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if abs(value) < 1e-3 or abs(value) >= 1e6:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def format_metric(value: float | None) -> str:
    """A metric (accuracy, F1, a rate, an interval's bound, MAE, RMSE, R²) with 3 decimals, so
    that a column of them lines up (`0.850`, `0.889`, `1.840`), and more below 0.1 to keep 3
    significant digits (`0.0500`); scientific notation where decimals would hide or stretch the
    value (below 0.001, or a million and above)."""
    if value is None:
        return "N/A"
    if not math.isfinite(value) or (value != 0 and not 1e-3 <= abs(value) < 1e6):
        return format_number(value)
    decimals = 3 if value == 0 else max(3, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def cell_text(value: Any) -> str:
    """Make any text safe inside a markdown table cell or a line (pipes, backticks, HTML), every
    character visible: newlines, control, zero-width and bidi characters as escapes (`\\n`,
    `\\u200b`, `\\u202e`), runs of spaces as one."""
    text = " ".join(visible(value).split())
    text = html.escape(text, quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def line_text(value: Any) -> str:
    """A message of this tool (which may quote a path or a name) safe on a markdown line of its
    own: every character visible, on one line, HTML shown as text; its own `code` kept."""
    return html.escape(" ".join(visible(value).split()), quote=False)


def code_span(value: Any) -> str:
    """`value` as a markdown code span, every character visible (see `cell_text`): a span is
    fenced by more backticks than it holds in a row, so a backtick shows as itself and HTML as
    text."""
    text = " ".join(visible(value).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or fence != "`" else text
    return f"{fence}{padded}{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("-" * (len(h) + 2) for h in headers) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell_text(v) for v in row) + " |")
    return lines


def _resample(values: Sequence[float | None], width: int) -> list[float | None]:
    if len(values) <= width:
        return list(values)
    return [
        values[min(len(values) - 1, round(i * (len(values) - 1) / (width - 1)))]
        for i in range(width)
    ]


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """A text picture of a loss curve (× marks a non-finite value)."""
    values = _resample(values, width)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    chars = []
    for v in values:
        if v is None or not math.isfinite(v):
            chars.append("×")
        else:
            chars.append(SPARK_BLOCKS[min(7, int((v - low) / span * 7 + 0.5))])
    return "".join(chars)


def _title(value: str) -> str:
    return {"fine-tuned": "Fine-tuned", "control": "Control", "eval-only": "Eval-only"}.get(
        value, value
    )


def _epoch(value: Any) -> str:
    return "-" if value is None else str(value)


def _row_epoch(row: dict[str, Any]) -> str:
    """`-` for a run without training; `?` for a fine-tuned run's evaluation whose epoch is
    unknown."""
    if row["epoch"] is None and row.get("run_type") == "fine-tuned":
        return "?"
    return _epoch(row["epoch"])


def _task(row: dict[str, Any]) -> str:
    """The task, and the cell folder when the task has several variants at one epoch."""
    task = row["task"] or "?"
    return f"{task} ({row['variant']})" if row.get("variant") else task


def _samples(row: dict[str, Any]) -> str:
    """Samples behind the metrics, and how many more errored (left out, as inspect does)."""
    text = _count(row["samples"])
    errored = row.get("errored_samples") or 0
    return f"{text} (+{errored} errored)" if errored else text


def _count(value: Any) -> str:
    return "-" if value is None else format_number(value)


def _metric_value(value: float | None) -> str:
    return "-" if value is None else format_metric(value)


def _with_ci(value: float | None, ci: Sequence[float] | None) -> str:
    if value is None:
        return "-"
    if not ci:
        return format_metric(value)
    return f"{format_metric(value)} [{format_metric(ci[0])}, {format_metric(ci[1])}]"


def _loss(row: dict[str, Any]) -> str:
    """The final loss; a run that did not complete shows its last loss marked as such."""
    if row.get("final_loss_repr") and row.get("final_loss") is None:
        text = row["final_loss_repr"]
    else:
        text = format_number(row.get("final_loss"))
    if row.get("diverged"):
        text = f"{text} (diverged)"
    if not row.get("finished") and row.get("total_steps") is not None:
        text = f"{text} (stopped at step {row['total_steps']}, {row['status']})"
    return text


def _training_section(report: dict[str, Any]) -> list[str]:
    rows = report["training"]
    lines = ["## Training Results", ""]
    if not rows:
        return [*lines, "No fine-tuned runs in this experiment.", ""]
    body = []
    for row in rows:
        minimum = row.get("min_loss") or {}
        final = row.get("final_loss")
        low = minimum.get("loss")
        note = ""
        if (
            low is not None
            and final is not None
            and math.isfinite(final)
            and low < FAR_BELOW * final
        ) or (low is not None and row.get("diverged")):
            note = f"min {format_number(low)} @ step {minimum.get('step')}"
        duration = row["duration"]
        if row.get("duration_source") == "tqdm":
            duration = f"≈{duration}"
        body.append(
            [
                row["run"],
                _loss(row),
                _count(row.get("total_steps")),
                _count(row.get("epochs")),
                duration,
                sparkline([p["loss"] for p in row.get("curve") or []]) or "-",
                note or "-",
            ]
        )
    lines += table(
        ["Run", "Final Loss", "Total Steps", "Epochs", "Duration", "Loss Curve", "Min Loss"], body
    )
    lines += [
        "",
        "**Notes:**",
        "- Base model and eval-only runs have no training loss",
        "- Duration from SLURM elapsed time (≈: from the progress bar's timings when SLURM "
        "accounting was not available)",
        "- A run that did not complete shows its last loss marked `stopped at step N`: it is "
        "not a final loss",
    ]
    for row in rows:
        if row.get("warning"):
            lines.append(f"- {cell_text(row['run'])}: {line_text(row['warning'])}")
    lines.append("")
    return [*lines, *_figure_lines(report, "training-loss")]


def _figure_lines(report: dict[str, Any], kind: str) -> list[str]:
    """The markdown of the figures of one kind, each a paragraph of its own."""
    return [
        line
        for figure in report.get("figures") or []
        if figure["kind"] == kind
        for line in (figure["markdown"], "")
    ]


def _where(row: dict[str, Any]) -> str:
    epoch = "" if row["epoch"] is None else f" epoch {row['epoch']}"
    return f"{cell_text(row['run'])} {cell_text(_task(row))}{epoch}"


def _eval_section(report: dict[str, Any]) -> list[str]:
    lines = ["## Evaluation Results", ""]
    if not report["evaluations"]:
        return [*lines, "No evaluation results yet.", ""]
    rows = [
        r
        for r in report["evaluations"]
        if r["family"] != "regression" or r["status"] != "COMPLETED"
    ]
    body = []
    flags = []
    for row in rows:
        if row["status"] == "COMPLETED":
            accuracy = _with_ci(row["accuracy"], row.get("accuracy_ci"))
            balanced = _with_ci(row["balanced_accuracy"], row.get("balanced_accuracy_ci"))
            f1 = _metric_value(row["f1"])
            sat = "✓" if row["saturated"] else ""
            samples = _samples(row)
            flags += [f"- {_where(row)}: {line_text(n)}" for n in row.get("metric_notes") or []]
        else:
            accuracy, balanced, f1, sat, samples = "ERROR", "-", "-", "", "-"
        body.append([row["run"], _task(row), _row_epoch(row), accuracy, balanced, f1, sat, samples])
    if body:
        lines += table(
            ["Run", "Task", "Epoch", "Accuracy", "Bal. Acc", "F1", "Sat.", "Samples"], body
        )
        lines.append("")
        lines += [
            "Accuracy and its 95% interval come from the scorer's per-sample scores; Bal. Acc "
            "and F1 from each answer's 0/1 label (binary tasks only; `-` otherwise). "
            "**Sat.**: ✓ when accuracy ≥ 0.95 (no headroom left to measure).",
            "",
        ]
    if flags:
        lines += ["**Flags:**", *flags, ""]
    lines += _risk_section(report)
    lines += _regression_section(report)
    lines += _best_lines(report)
    return [*lines, *_figure_lines(report, "task-metric")]


RISK_COLUMNS = (
    ("auc_score", "AUC"),
    ("brier_score", "Brier"),
    ("expected_calibration_error", "ECE"),
    ("risk_calibration_error", "Risk Cal. Err."),
    ("mean_risk_score", "Mean Risk"),
)


def _risk_section(report: dict[str, Any]) -> list[str]:
    rows = [
        r for r in report["evaluations"] if r["family"] == "risk" and r["status"] == "COMPLETED"
    ]
    if not rows:
        return []
    body = [
        [row["run"], _task(row), _row_epoch(row)]
        + [_metric_value(row["header_metrics"].get(key)) for key, _ in RISK_COLUMNS]
        for row in rows
    ]
    lines = ["### Risk scorer metrics (from the scorer, as logged)", ""]
    lines += table(["Run", "Task", "Epoch", *(label for _, label in RISK_COLUMNS)], body)
    return [*lines, ""]


def _regression_section(report: dict[str, Any]) -> list[str]:
    rows = [
        r
        for r in report["evaluations"]
        if r["family"] == "regression" and r["status"] == "COMPLETED"
    ]
    if not rows:
        return []
    body = []
    flags = []
    for row in rows:
        reg = row["regression"] or {}
        body.append(
            [
                row["run"],
                _task(row),
                _row_epoch(row),
                _metric_value(reg.get("mae")),
                _metric_value(reg.get("rmse")),
                _metric_value(reg.get("r2")),
                _metric_value(reg.get("parse_rate")),
                _samples(row),
            ]
        )
        if reg.get("parse_rate") is not None and reg["parse_rate"] < 1.0:
            flags.append(
                f"- {_where(row)}: only {format_number(reg['parse_rate'] * 100, 3)}% of answers "
                "parse as a number"
            )
        if reg.get("constant_predictions"):
            flags.append(f"- {_where(row)}: every prediction is the same value")
    lines = ["### Regression tasks", ""]
    lines += table(["Run", "Task", "Epoch", "MAE", "RMSE", "R²", "Parse Rate", "Samples"], body)
    lines.append("")
    if flags:
        lines += ["**Flags:**", *flags, ""]
    return lines


def _percent(value: float) -> str:
    return f"{format_number(value * 100, 3)}%"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + format_metric(value)


def _p_value(value: float | None) -> str:
    if value is None:
        return "no p-value"
    return "p < 0.001" if value < 0.001 else f"p = {value:.2g}"


def _difference(found: dict[str, Any]) -> str:
    """`+0.034 [-0.021, 0.092] (p = 0.21, paired, n = 100)`: the difference, its 95% interval,
    the p-value, whether the two evaluated the same samples, and how many."""
    interval = ""
    if found["ci_low"] is not None and found["ci_high"] is not None:
        interval = f" [{format_metric(found['ci_low'])}, {format_metric(found['ci_high'])}]"
    pairing = "paired" if found["paired"] else "unpaired: different samples"
    return (
        f"{_signed(found['difference'])}{interval} ({_p_value(found['p_value'])}, {pairing}, "
        f"n = {found['n']})"
    )


def _who(run: str, epoch: int | None, variant: str | None, task: str | None) -> str:
    text = cell_text(run)
    if epoch is not None:
        text += f" epoch {epoch}"
    if variant:
        text += f" ({cell_text(variant_label(task, variant))})"
    return text


def _better(found: dict[str, Any], higher: bool) -> bool:
    """True when the comparison's interval says a is clearly better than b."""
    if not found["clearly_different"]:
        return False
    return found["ci_low"] > 0 if higher else found["ci_high"] < 0


def _best_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for best in report["best"]:
        where = [f"epoch {best['epoch']}"] if best["epoch"] is not None else []
        where += [best["variant"]] if best.get("variant") else []
        epoch = f" ({', '.join(where)})" if where else ""
        value = best["value"]
        shown = format_metric(value) if best["metric"] == "RMSE" else _percent(value)
        task = f" on {cell_text(best['task'])}" if len(report["best"]) > 1 else ""
        run = cell_text(best["run"])
        line = f"**Best performing{task}:** {run}{epoch} with {shown} {best['metric']}"
        runner = best.get("runner_up")
        too_small = False
        if runner:
            other = _who(runner["b"], runner["b_epoch"], runner["b_variant"], best["task"])
            clearly = _better(runner, best["higher_is_better"])
            verdict = "clearly better than" if clearly else "not clearly better than"
            line += f" — {verdict} {other}: {_difference(runner)}"
            detectable = best.get("detectable")
            too_small = bool(not clearly and detectable and abs(runner["difference"]) < detectable)
        lines += [line, ""]
        control = best.get("versus_control")
        if control:
            change = "improved" if _better(control, best["higher_is_better"]) else "changed"
            if not control["clearly_different"]:
                change = "did not clearly change"
            lines += [
                f"- Fine-tuning {change} {best['metric']} over the base model "
                f"{cell_text(control['b'])}: {_difference(control)}.",
            ]
        if best.get("detectable"):
            lines += [
                f"- With n = {best['n']}, differences in accuracy under "
                f"~{best['detectable'] * 100:.0f} points are not detectable (80% power, 5% "
                "level)"
                + (
                    "; this evaluation is too small to tell the best and the runner-up apart."
                    if too_small
                    else "."
                ),
            ]
        if control or best.get("detectable"):
            lines.append("")
    if not lines and report["evaluations"]:
        lines = ["**Best performing:** none (no evaluation produced a usable result)", ""]
    return lines + _overfitting_lines(report)


def _overfitting_lines(report: dict[str, Any]) -> list[str]:
    """Every fine-tuned run's later epoch that is clearly worse than the one before."""
    worse = [
        found
        for found in report.get("epoch_trends") or []
        if found["clearly_different"] and found["ci_high"] is not None and found["ci_high"] < 0
    ]
    if not worse:
        return []
    lines = ["**Later epochs clearly worse (overfitting?):**"]
    for found in worse:
        task = cell_text(found["task"] or "?")
        run = _who(found["a"], None, found["a_variant"], found["task"])
        lines.append(
            f"- {run} on {task}: epoch {found['a_epoch']} against epoch {found['b_epoch']}, "
            f"accuracy {_difference(found)}"
        )
    return [*lines, ""]


def _incomplete_section(report: dict[str, Any]) -> list[str]:
    lines = ["## Incomplete Runs", ""]
    rows = report["incomplete"]
    if not rows:
        return [*lines, "None: every run and evaluation in the design completed.", ""]
    lines += table(
        ["Run", "Stage", "Status", "Notes"],
        [[r["run"], r["stage"], r["status"], "; ".join(r["notes"]) or "-"] for r in rows],
    )
    if report["complete_runs"] == 0:
        lines += [
            "",
            "**No run completed.** Troubleshooting:",
            "1. Read the last lines of each failed job's stdout (the files named above).",
            "2. `sacct -j <jobid> --format=JobID,JobName%50,State,Elapsed,ExitCode` shows "
            "how SLURM ended each job.",
            "3. Out of memory: lower the batch size; time limit: raise `--time` in the "
            ".slurm script; then resubmit and run summarize-experiment again.",
        ]
    return [*lines, ""]


def _split(balance: dict[str, Any] | None, samples: Any) -> str:
    if not balance or balance.get("frac_1") is None:
        return f"n={_count(samples)}" if samples is not None else "-"
    ones = balance["frac_1"]
    total = balance["n_1"] + balance["n_0"]
    return f"{ones:.0%} / {1 - ones:.0%} (n={total})"


def _datasets_section(report: dict[str, Any]) -> list[str]:
    datasets = report.get("datasets") or []
    if not datasets:
        return []
    lines = ["## Datasets Used", ""]
    training = [d for d in datasets if d["role"] == "training"]
    evaluation = [d for d in datasets if d["role"] == "evaluation"]
    if training:
        body = [[", ".join(d["runs"]), d["path"], d["config_hash_short"] or "-"] for d in training]
        lines += table(["Run", "Training dataset", "Config hash"], body)
        lines.append("")
    if evaluation:
        body = [
            [
                ", ".join(d["tasks"]) or "?",
                d["path"],
                d["config_hash_short"] or "-",
                _split(d["class_balance"], d["samples"]),
                ", ".join(d["runs"]),
            ]
            for d in evaluation
        ]
        lines += table(["Task", "Eval dataset", "Config hash", "Labels 1 / 0", "Runs"], body)
        lines.append("")
    return lines


def _notes_section(report: dict[str, Any]) -> list[str]:
    notes = list(report["notes"])
    slurm = report.get("slurm") or {}
    error = slurm.get("error") if slurm else None
    if error and len(error) > SLURM_ERROR_CHARS:
        error = error[:SLURM_ERROR_CHARS].rstrip() + "…"
    if error and not slurm.get("available"):
        notes.append(
            f"SLURM accounting not used: {error}. Job states come from the "
            "files on disk; durations from the progress bar where shown."
        )
    elif error:
        notes.append(f"SLURM: {error}. Nothing was guessed from what could not be read.")
    if not notes:
        return []
    return ["## Notes", "", *[f"- {cell_text(n)}" for n in notes], ""]


def _run_status_section(report: dict[str, Any]) -> list[str]:
    rows = []
    for row in report["run_status"]:
        finetune = row["finetune_text"]
        if row.get("checkpoint_path"):
            finetune = f"{finetune} (evaluates {row['checkpoint_path']})"
        rows.append([row["run"], _title(row["type"]), finetune, row["evaluation"]])
    return ["## Run Status", "", *table(["Run", "Type", "Fine-tuning", "Evaluation"], rows), ""]


def render_markdown(report: dict[str, Any]) -> str:
    """summary.md's full text."""
    experiment = report["experiment"]
    lines = [
        "# Experiment Summary",
        "",
        f"**Experiment:** {code_span(experiment['name'])} | **Generated:** "
        f"{report['generated_at']} | **Status:** {report['complete_runs']}/{report['total_runs']} "
        "complete",
        "",
    ]
    lines += _run_status_section(report)
    lines += _training_section(report)
    lines += _eval_section(report)
    lines += _incomplete_section(report)
    lines += _datasets_section(report)
    lines += _notes_section(report)
    logs = "eval/*/logs" if experiment.get("layout") == "B" else "eval/logs"
    run_dir = shlex.quote(visible(experiment["directory"])) + "/*"
    export = f"inspect log export {run_dir}/{logs}/*.eval --format csv"
    lines += [
        "## Next Steps",
        "",
        "1. View detailed evaluation results: `inspect view --port=$(get_free_port)`",
        f"2. Export raw data: {code_span(export)}",
        "3. Full analysis: `explore-experiment`",
        "",
        "---",
        "*Generated by summarize-experiment skill*",
        "",
    ]
    return "\n".join(lines)
