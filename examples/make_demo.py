"""Rebuild the bundled demo experiment in ``examples/demo/``.

    python examples/make_demo.py [--out examples/demo] [--cache-dir DIR]

The demo is a layout-B experiment (the toolkit's layout today, ARTIFACTS.md "Layout B") with
relative paths, so it works wherever the repository is cloned. The YAML and stdout files come
out byte-identical on every run; the ``.eval`` files are real inspect-ai logs.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from testing.synthetic import (  # noqa: E402
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    build_experiment,
    remove_tree,
)

NAME = "cap_demo_lora_rank_comparison"
BASE = "Llama-3.2-1B-Instruct_base"
PRIOR = "rank8_prior_exp"
PRIOR_CHECKPOINT = "/scratch/gpfs/LAB/user/ck-projects/prior_exp/rank8_lr1e-5/artifacts/epoch_1"
CAP_SAMPLES, CAP_POSITIVE = 100, 62
SUM_SAMPLES = 50

# capitalization: (true positives, true negatives, off-label answers) per cell
CAPITALIZATION = {
    ("rank4_lr1e-5", 0): (56, 29, 2),
    ("rank4_lr1e-5", 1): (58, 30, 1),
    ("rank8_lr1e-5", 0): (55, 27, 3),
    ("rank8_lr1e-5", 1): (59, 32, 0),
    (BASE, None): (33, 12, 9),
    (PRIOR, None): (57, 31, 1),
}
# sum_digits: (correct answers, unparseable answers) per cell
SUM_DIGITS = {
    ("rank4_lr1e-5", 0): (20, 3),
    ("rank4_lr1e-5", 1): (23, 2),
    ("rank8_lr1e-5", 0): (26, 2),
    (BASE, None): (9, 6),
}
OFF_LABEL = ["yes", "Yes", "no", "1.", "True", "The word is capitalized."]
UNPARSEABLE = ["The sum is", "seventeen", "", "I cannot compute that.", "N/A"]
REGRESSION_SCORER = "continuous_scorer"
"""sum_digits is scored as a regression by the toolkit's continuous_scorer (ARTIFACTS.md
"Scorers"): MAE, RMSE, R² and parse rate, no accuracy."""
WORDS = [
    "Paris", "apple", "Monday", "river", "Einstein", "table", "Amazon", "cloud", "Tokyo",
    "garden", "Python", "window", "Nile", "pencil", "Beethoven", "orange", "Everest", "chair",
]  # fmt: skip


def capitalization_data(rng: random.Random) -> tuple[list[str], list[str]]:
    """100 words, 62 capitalized (target "1") and 38 not ("0"), in a shuffled order."""
    targets = ["1"] * CAP_POSITIVE + ["0"] * (CAP_SAMPLES - CAP_POSITIVE)
    rng.shuffle(targets)
    inputs = []
    for i, target in enumerate(targets):
        word = WORDS[i % len(WORDS)].lower()
        word = word.capitalize() if target == "1" else word
        inputs.append(f"Is the word '{word}' capitalized? Answer 1 for yes or 0 for no.")
    return inputs, targets


def capitalization_answers(
    targets: list[str], tp: int, tn: int, off: int, rng: random.Random
) -> list[str]:
    """Answers with exactly ``tp``/``tn`` correct and ``off`` answers outside {0, 1}."""
    positives = [i for i, t in enumerate(targets) if t == "1"]
    negatives = [i for i, t in enumerate(targets) if t == "0"]
    answers = ["1" if t == "0" else "0" for t in targets]
    for i in rng.sample(positives, tp):
        answers[i] = "1"
    for i in rng.sample(negatives, tn):
        answers[i] = "0"
    wrong = [i for i, (a, t) in enumerate(zip(answers, targets, strict=True)) if a != t]
    for k, i in enumerate(rng.sample(wrong, off)):
        answers[i] = OFF_LABEL[k % len(OFF_LABEL)]
    return answers


def sum_digits_data(rng: random.Random) -> tuple[list[str], list[str]]:
    """50 numbers and the sums of their digits (regression-like numeric targets)."""
    numbers = [rng.randrange(1000, 99999) for _ in range(SUM_SAMPLES)]
    inputs = [f"What is the sum of the digits of {n}? Answer with a number." for n in numbers]
    return inputs, [str(sum(int(d) for d in str(n))) for n in numbers]


def sum_digits_answers(
    targets: list[str], correct: int, unparseable: int, rng: random.Random
) -> list[str]:
    """Exactly ``correct`` right answers, ``unparseable`` non-numbers, the rest off by 1-3."""
    order = list(range(len(targets)))
    rng.shuffle(order)
    answers = list(targets)
    for k, i in enumerate(order[correct:]):
        if k < unparseable:
            answers[i] = UNPARSEABLE[k % len(UNPARSEABLE)]
        else:
            answers[i] = str(max(0, int(targets[i]) + rng.choice([-3, -2, -1, 1, 2, 3])))
    return answers


def demo_spec() -> ExperimentSpec:
    """The demo's design and outcomes (the evaluation matrix is derived: every run x task x
    epoch 0-1, controls without epochs)."""
    rng = random.Random(20260105)
    cap_inputs, cap_targets = capitalization_data(rng)
    sum_inputs, sum_targets = sum_digits_data(rng)
    runs = [
        RunSpec("rank4_lr1e-5", parameters={"lora_rank": 4, "lr": "1e-5"},
                steps_per_epoch=125, final_loss=0.234),
        RunSpec("rank8_lr1e-5", parameters={"lora_rank": 8, "lr": "1e-5"},
                steps_per_epoch=125, final_loss=0.198),
        RunSpec("rank16_lr1e-5", parameters={"lora_rank": 16, "lr": "1e-5"},
                steps_per_epoch=125, training="oom", oom_retries=1, batch_size=8),
        RunSpec(BASE, type="control"),
        RunSpec(PRIOR, type="eval-only", parameters={"checkpoint_path": PRIOR_CHECKPOINT}),
    ]  # fmt: skip
    evals = []
    for (run, epoch), (tp, tn, off) in CAPITALIZATION.items():
        answers = capitalization_answers(cap_targets, tp, tn, off, rng)
        evals.append(
            EvalSpec(run, "capitalization", epoch, cap_targets, answers, inputs=cap_inputs)
        )
    for (run, epoch), (correct, unparseable) in SUM_DIGITS.items():
        answers = sum_digits_answers(sum_targets, correct, unparseable, rng)
        evals.append(
            EvalSpec(
                run,
                "sum_digits",
                epoch,
                sum_targets,
                answers,
                inputs=sum_inputs,
                scorer=REGRESSION_SCORER,
            )
        )
    # killed at its time limit before inspect wrote a log (rank16 never trained: no cells ran)
    evals.append(
        EvalSpec("rank8_lr1e-5", "sum_digits", 1, sum_targets, sum_targets, status="timeout")
    )
    matrix = [
        {"run": run.name, "tasks": ["capitalization", "sum_digits"],
         "epochs": None if run.type == "control" else [0, 1]}
        for run in runs[:4]
    ] + [{"run": PRIOR, "tasks": ["capitalization"], "epochs": None}]  # fmt: skip
    return ExperimentSpec(
        name=NAME,
        runs=runs,
        tasks=["capitalization", "sum_digits"],
        evals=evals,
        epochs=2,
        matrix=matrix,
        dataset_condition="words_and_numbers",
        write_datasets=True,
        question="Does a higher LoRA rank improve capitalization and digit-sum accuracy?",
        task_descriptions={
            "capitalization": "Is the word capitalized? Binary 0/1 answers (62% positive).",
            "sum_digits": "Sum of the digits of a number; numeric answers scored exactly.",
        },
    )


README = """\
# Demo experiment: `cap_demo_lora_rank_comparison`

A small, complete experiment as the toolkit lays it out today (layout B: everything of a run
under `{{run}}/`, one folder per evaluation cell), generated by `python examples/make_demo.py`.
Paths in `experiment_summary.yaml` are relative to this folder, so it works wherever the
repository is cloned. Try it with the summarizer (`make summarize`, which writes
`summary.md`, `summary.json`, `summary-figures/` and `logs/summarize-*` here; all git-ignored).

## What's in it

Fine-tuning (2 epochs x 125 steps, torchtune stdout with tqdm carriage returns):

| Run | Type | Training | Final loss | Where the training stdout is |
|-----|------|----------|------------|------------------------------|
{training_rows}

`{prior}` is an eval-only run: it evaluates a checkpoint trained in another experiment
(`parameters.checkpoint_path`). The run logs (`logs/run-torchtune.log`, `logs/run-inspect.log`)
record every submission, and `rank16_lr1e-5`'s out-of-memory retry.

Evaluations (inspect-ai `.eval` logs in `{{run}}/eval/{{cell}}/logs/`; the jobs' stdout in
`{{run}}/artifacts/`):

{eval_header}
{eval_rows}

Designed but absent: `rank8_lr1e-5` / `sum_digits` / epoch 1 (its job hit the time limit
before writing a log) and every evaluation of `rank16_lr1e-5` (its training ran out of GPU
memory twice, so no checkpoints).

- `capitalization`: 100 samples, targets `0`/`1` (62 positive), scored by `match`; a few
  answers fall outside {{0, 1}} (`yes`, `True`, ...), which count as wrong.
- `sum_digits`: 50 samples with numeric targets (`17`), scored as a regression by the
  toolkit's `continuous_scorer`; wrong answers are near misses or unparseable text.
- The datasets are generated files (`ck-data/generated/{{condition}}_{{split}}_{{hash8}}.json`)
  with `.meta.json` sidecars holding their generation config's hash.

## How it was made

`examples/make_demo.py` describes the runs and every answer, and calls
`testing.synthetic.build_experiment`, which writes the design file, the torchtune/SLURM files,
the cells' `eval.yaml`/`cell.slurm`, the run logs and the evaluation job stdouts, and produces
each `.eval` with inspect-ai itself (a `mockllm/model` evaluation; `sum_digits` is evaluated for
real by a `continuous_scorer` registered under the toolkit's name). The models and task scripts
the design file mentions do not exist.

Rebuilding rewrites the folder (the YAML and stdout files byte for byte). File times are
not kept by git; on a fresh clone every file carries the checkout time.
"""


def _first_number(text: str) -> float | None:
    """The number continuous_scorer reads in a reply (its first one), None when none."""
    import re

    found = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(found.group()) if found else None


EVAL_COLUMNS = [
    "Run", "Task", "Epoch", "Scorer", "Accuracy", "Samples", "1 answered 1", "0 answered 0",
    "Off-label", "Exact", "Unparseable",
]  # fmt: skip


def readme(spec: ExperimentSpec) -> str:
    """The demo's README, with the tables computed from the spec."""
    training_rows = []
    for run in spec.runs:
        if run.type != "fine-tuned":
            training_rows.append(f"| {run.name} | {run.type} | - | - | - |")
        elif run.training == "completed":
            training_rows.append(
                f"| {run.name} | fine-tuned | completed | {run.final_loss} "
                f"| `{run.name}/artifacts/slurm-*.out` |"
            )
        else:
            attempts = run.oom_retries + 1
            training_rows.append(
                f"| {run.name} | fine-tuned | failed ({run.training.upper()}, {attempts} "
                f"attempts) | - | `{run.name}/artifacts/slurm-*.out` |"
            )
    eval_rows = []
    for cell in spec.evals:
        if cell.status != "success":
            continue
        pairs = list(zip(cell.answers, cell.targets, strict=True))
        correct = sum(a == t for a, t in pairs)
        epoch = "-" if cell.epoch is None else str(cell.epoch)
        if cell.task == "capitalization":
            tp = sum(a == t == "1" for a, t in pairs)
            tn = sum(a == t == "0" for a, t in pairs)
            off = sum(a not in ("0", "1") for a, _ in pairs)
            counts = (
                f"| match | {correct / len(pairs):.2f} | {len(pairs)} | {tp} of {CAP_POSITIVE} "
                f"| {tn} of {CAP_SAMPLES - CAP_POSITIVE} | {off} | - | - |"
            )
        else:
            unparsed = sum(_first_number(a) is None for a, _ in pairs)
            counts = (
                f"| {REGRESSION_SCORER} | - | {len(pairs)} | - | - | - | {correct} | {unparsed} |"
            )
        eval_rows.append(f"| {cell.run} | {cell.task} | {epoch} {counts}")
    return README.format(
        training_rows="\n".join(training_rows),
        eval_header="| "
        + " | ".join(EVAL_COLUMNS)
        + " |\n|"
        + "|".join("-" * (len(c) + 2) for c in EVAL_COLUMNS)
        + "|",
        eval_rows="\n".join(eval_rows),
        prior=PRIOR,
    )


def build_demo(out: Path, cache_dir: Path | None = None) -> Path:
    """(Re)build the demo into ``out`` and return it."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        remove_tree(out)
    spec = demo_spec()
    exp = build_experiment(
        out, spec, layout="B", experiment_dir=out, relative_paths=True, cache_dir=cache_dir
    )
    (exp / "README.md").write_text(readme(spec), encoding="utf-8")
    return exp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "examples" / "demo")
    parser.add_argument("--cache-dir", type=Path, default=None, help="keep the template log")
    args = parser.parse_args(argv)
    exp = build_demo(args.out, args.cache_dir)
    print(exp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
