"""Build, once, the benchmark's large synthetic experiments (layout A) and cache them in .bench/.

Two experiments, same shape, different sizes:

* ``full``: 16 fine-tuned runs x 5 epochs x 2 tasks + a control on both tasks = 162 inspect-ai
  ``.eval`` logs of 2,000 samples each, and 16 torchtune training stdouts of ~13 MB (tqdm
  carriage returns), ~209 MB in all.
* ``quarter``: 4 runs (42 logs, ~52 MB of training stdout).

Tasks: ``capitalization`` (binary, targets 0/1, some off-label answers) and ``sum_digits``
(numeric targets, some unparseable answers).

Writing a 2,000-sample log with inspect-ai takes ~3 s, so only a handful of distinct logs
(``VARIANTS`` per task, with different accuracies) are written by inspect-ai
(``synthetic.write_inspect_log``). The experiment itself is built by
``synthetic.build_experiment`` with tiny (8-sample) logs, which gives every file of layout A
(design YAML, training and evaluation job stdouts, checkpoints, deterministic mtimes) and each
cell's own header (task, model ``hf/{run}_epoch_{N}``, ``model_args.model_path``,
``task_args``, ``created``, ids). Each tiny log is then replaced by a copy of a 2,000-sample
variant whose header is rewritten through inspect-ai's own API: read the variant's header with
``read_eval_log(header_only=True)``, put the cell's identity into it, and
``write_eval_log(log, path, header_only=True)`` (appends the new ``header.json`` without
rewriting the samples). The file keeps its name and mtime. Every copy is checked to read back
with the new header; a few are checked to give the variant's sample summaries.

The cache is valid when its manifest (written last) matches the parameters and every file it
lists exists with the recorded size; otherwise that experiment is rebuilt from scratch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from testing.synthetic import (  # noqa: E402
    EvalSpec,
    ExperimentSpec,
    RunSpec,
    build_experiment,
    write_inspect_log,
)

FORMAT_VERSION = 3
SAMPLES = 2000
TASKS = ("capitalization", "sum_digits")
VARIANTS = 6  # distinct 2,000-sample logs written by inspect-ai per task
EPOCHS = 5
STEPS_PER_EPOCH = 26_000  # ~100 bytes per tqdm update: 5 x 26,000 updates ~ 13 MB per run
SMALL_SAMPLES = 8  # the logs build_experiment writes before they are replaced
CONTROL = "Llama-3.2-1B-Instruct_base"


@dataclass(frozen=True)
class Size:
    """One benchmark experiment's shape."""

    name: str
    runs: int
    epochs: int = EPOCHS
    steps_per_epoch: int = STEPS_PER_EPOCH
    samples: int = SAMPLES

    @property
    def experiment(self) -> str:
        return f"bench_{self.name}_lora_sweep"


SIZES = {"full": Size("full", runs=16), "quarter": Size("quarter", runs=4)}


# ---------------------------------------------------------------------------
# The distinct 2,000-sample logs
# ---------------------------------------------------------------------------


def _variant_data(task: str, k: int) -> tuple[list[str], list[str]]:
    """Targets and answers of variant ``k`` of ``task`` (accuracy grows with k)."""
    rng = random.Random(f"{task}-{k}")
    if task == "capitalization":
        targets = ["1" if rng.random() < 0.6 else "0" for _ in range(SAMPLES)]
        right = 0.70 + 0.04 * k
        answers = []
        for target in targets:
            roll = rng.random()
            if roll < right:
                answers.append(target)
            elif roll < right + 0.01:
                answers.append(rng.choice(["yes", "no", "True", "1."]))
            else:
                answers.append("0" if target == "1" else "1")
        return targets, answers
    targets = [str(rng.randint(2, 40)) for _ in range(SAMPLES)]
    right = 0.40 + 0.07 * k
    answers = []
    for target in targets:
        roll = rng.random()
        if roll < right:
            answers.append(target)
        elif roll < right + 0.03:
            answers.append(rng.choice(["The sum is", "seventeen", "N/A"]))
        else:
            answers.append(str(max(0, int(target) + rng.choice([-3, -2, -1, 1, 2, 3]))))
    return targets, answers


def _write_variant(task: str, k: int, directory: Path, cache_dir: Path) -> Path:
    targets, answers = _variant_data(task, k)
    inputs = [f"{task} question {i + 1}: answer with a number." for i in range(SAMPLES)]
    return write_inspect_log(
        directory,
        task=task,
        model="hf/variant",
        targets=targets,
        answers=answers,
        inputs=inputs,
        created=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        filename=f"{task}-{k}.eval",
        cache_dir=cache_dir,
    )


# ---------------------------------------------------------------------------
# The experiment with small logs
# ---------------------------------------------------------------------------


def _spec(size: Size) -> ExperimentSpec:
    runs = [
        RunSpec(
            f"rank{4 * (1 + i % 4)}_lr{['1e-5', '3e-5', '1e-4', '3e-4'][i // 4 % 4]}_s{i // 16}",
            parameters={
                "lora_rank": 4 * (1 + i % 4),
                "lr": ["1e-5", "3e-5", "1e-4", "3e-4"][i // 4 % 4],
            },
            steps_per_epoch=size.steps_per_epoch,
            final_loss=round(0.15 + 0.01 * i, 3),
        )
        for i in range(size.runs)
    ]
    runs.append(RunSpec(CONTROL, type="control"))
    targets = ["1", "0"] * (SMALL_SAMPLES // 2)
    evals = []
    for run in runs:
        epochs = [None] if run.type == "control" else list(range(size.epochs))
        for task in TASKS:
            small = targets if task == "capitalization" else [str(7 + i) for i in range(8)]
            for epoch in epochs:
                evals.append(EvalSpec(run.name, task, epoch, small, list(small)))
    return ExperimentSpec(
        name=size.experiment,
        runs=runs,
        tasks=list(TASKS),
        evals=evals,
        epochs=size.epochs,
        question="Which LoRA rank and learning rate work best? (benchmark sweep)",
    )


def _build_small(size: Size, root: Path, cache_dir: Path) -> Path:
    return build_experiment(root, _spec(size), layout="A", cache_dir=cache_dir)


# ---------------------------------------------------------------------------
# Replacing the small logs
# ---------------------------------------------------------------------------

IDENTITY = (
    "eval_id",
    "run_id",
    "created",
    "task",
    "task_id",
    "task_file",
    "task_display_name",
    "task_registry_name",
    "task_args",
    "task_args_passed",
    "model",
    "model_args",
)


def _variant_index(run_index: int, epoch: int | None) -> int:
    if epoch is None:
        return 0
    return (3 * run_index + epoch) % VARIANTS


def _replace_logs(exp: Path, variants: dict[tuple[str, int], Path]) -> list[tuple[Path, Path]]:
    """Copy a variant over every log of ``exp``, with the cell's identity in its header."""
    from inspect_ai.log import read_eval_log, write_eval_log

    headers = {key: read_eval_log(str(path), header_only=True) for key, path in variants.items()}
    runs = sorted(p.name for p in exp.iterdir() if (p / "eval" / "logs").is_dir())
    fine_tuned = [r for r in runs if r != CONTROL]
    replaced = []
    for run in runs:
        for path in sorted((exp / run / "eval" / "logs").glob("*.eval")):
            small = read_eval_log(str(path), header_only=True)
            epoch = (small.eval.task_args or {}).get("epoch")
            if epoch is None and run != CONTROL:
                epoch = int(small.eval.model.rsplit("_epoch_", 1)[1])
            index = -1 if run == CONTROL else fine_tuned.index(run)
            key = (small.eval.task, _variant_index(index, epoch))
            variant = headers[key]
            spec = variant.eval.model_copy(
                update={name: getattr(small.eval, name) for name in IDENTITY}
            )
            usage = dict(variant.stats.model_usage)
            stats = variant.stats.model_copy(
                update={
                    "started_at": small.stats.started_at,
                    "completed_at": small.stats.completed_at,
                    "model_usage": {small.eval.model: next(iter(usage.values()))},
                }
            )
            header = variant.model_copy(update={"eval": spec, "stats": stats, "location": ""})
            times = path.stat()
            shutil.copyfile(variants[key], path)
            write_eval_log(header, str(path), header_only=True)
            os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
            back = read_eval_log(str(path), header_only=True)
            if (back.eval.task, back.eval.model, back.eval.created, back.eval.model_args) != (
                small.eval.task,
                small.eval.model,
                small.eval.created,
                small.eval.model_args,
            ) or back.results.total_samples != SAMPLES:
                raise RuntimeError(f"{path}: the rewritten header does not read back")
            replaced.append((path, variants[key]))
    return replaced


def _check_summaries(copies: list[tuple[Path, Path]]) -> None:
    """A few copies give exactly their variant's sample summaries."""
    from inspect_ai.log import read_eval_log_sample_summaries

    for path, source in random.Random(0).sample(copies, min(4, len(copies))):
        mine = [s.model_dump() for s in read_eval_log_sample_summaries(str(path))]
        theirs = [s.model_dump() for s in read_eval_log_sample_summaries(str(source))]
        if mine != theirs or len(mine) != SAMPLES:
            raise RuntimeError(f"{path}: sample summaries differ from {source}'s")


# ---------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------


def _inspect_version() -> str:
    from importlib.metadata import version

    return version("inspect_ai")


def _params(size: Size) -> dict:
    return {
        "format": FORMAT_VERSION,
        "inspect_ai": _inspect_version(),
        "size": asdict(size),
        "tasks": list(TASKS),
        "variants": VARIANTS,
    }


def _files(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _valid(root: Path, params: dict) -> dict | None:
    manifest_path = root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("params") != params:
        return None
    for rel, size in manifest.get("files", {}).items():
        try:
            if (root / rel).stat().st_size != size:
                return None
        except OSError:
            return None
    return manifest


def _outputs(exp: Path) -> list[Path]:
    """What the summarizer writes into the experiment (excluded from the manifest)."""
    logs = exp / "logs"
    written = [logs / "summarize-experiment.log", logs / "summarize-cache.json"]
    return [exp / "summary.md", exp / "summary.json", exp / "summary-figures", *written]


def clean_outputs(exp: Path) -> None:
    """Remove what the summarizer wrote, so the next run is cold."""
    for path in _outputs(exp):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _describe(root: Path, size: Size, manifest: dict) -> dict:
    exp = root / size.experiment
    evals = sorted(exp.glob("*/eval/logs/*.eval"))
    training = sorted((root / "ck-outputs" / size.experiment).glob("ck-out-*/slurm-*.out"))
    return {
        "size": size.name,
        "experiment": str(exp),
        "eval_logs": [str(p) for p in evals],
        "training_logs": [str(p) for p in training],
        "eval_log_count": len(evals),
        "eval_bytes": sum(p.stat().st_size for p in evals),
        "samples_per_log": size.samples,
        "training_log_count": len(training),
        "training_bytes": sum(p.stat().st_size for p in training),
        "generated_seconds": manifest.get("generated_seconds"),
        "generated_at": manifest.get("generated_at"),
    }


def ensure(
    bench_dir: Path, names: tuple[str, ...] = ("full", "quarter"), workers: int = 2
) -> dict[str, dict]:
    """The benchmark experiments, built first if the cache is missing or stale.

    Returns {size name: description} with the experiment directory, the log lists and sizes,
    and how long the cold generation took (recorded when it was built).
    """
    bench_dir = Path(bench_dir).resolve()
    out: dict[str, dict] = {}
    stale = []
    for name in names:
        size = SIZES[name]
        root = bench_dir / name
        manifest = _valid(root, _params(size))
        if manifest is None:
            stale.append(size)
        else:
            clean_outputs(root / size.experiment)
            out[name] = _describe(root, size, manifest)
    if stale:
        for size, manifest in _generate(bench_dir, stale, workers).items():
            out[size.name] = _describe(bench_dir / size.name, size, manifest)
    return {name: out[name] for name in names}


def _generate(bench_dir: Path, sizes: list[Size], workers: int) -> dict[Size, dict]:
    started = time.perf_counter()
    cache_dir = bench_dir / "cache"
    variants_dir = bench_dir / "variants"
    variant_params = {"format": FORMAT_VERSION, "inspect_ai": _inspect_version(), "n": VARIANTS}
    keys = [(task, k) for task in TASKS for k in range(VARIANTS)]
    have_variants = _valid(variants_dir, variant_params) is not None
    for size in sizes:
        root = bench_dir / size.name
        if root.exists():
            shutil.rmtree(root)
    if not have_variants and variants_dir.exists():
        shutil.rmtree(variants_dir)
    print(
        f"bench: generating {', '.join(s.name for s in sizes)} experiment(s) in {bench_dir} "
        f"(once; cached)...",
        file=sys.stderr,
        flush=True,
    )
    # the mockllm template, once, before forking (inherited by the workers)
    warm = bench_dir / "warm"
    write_inspect_log(
        warm, task="warm", model="hf/warm", targets=["1"], answers=["1"], cache_dir=cache_dir
    )
    shutil.rmtree(warm)
    timings: dict[str, float] = {}
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        builds = {
            size: pool.submit(_timed, _build_small, size, bench_dir / size.name, cache_dir)
            for size in sizes
        }
        written = {}
        if not have_variants:
            written = {
                key: pool.submit(_timed, _write_variant, *key, variants_dir, cache_dir)
                for key in keys
            }
        for key, future in written.items():
            _, seconds = future.result()
            timings[f"variant {key[0]}-{key[1]}"] = seconds
        built = {}
        for size, future in builds.items():
            built[size], seconds = future.result()
            timings[f"build {size.name} (small logs, training stdout)"] = seconds
    if not have_variants:
        _write_manifest(variants_dir, variant_params, 0.0)
    variants = {key: variants_dir / f"{key[0]}-{key[1]}.eval" for key in keys}
    manifests = {}
    for size in sizes:
        t0 = time.perf_counter()
        replaced = _replace_logs(built[size], variants)
        _check_summaries(replaced)
        timings[f"replace {size.name} logs"] = time.perf_counter() - t0
        elapsed = time.perf_counter() - started
        manifests[size] = _write_manifest(bench_dir / size.name, _params(size), elapsed, timings)
    print(
        f"bench: generated in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return manifests


def _timed(function, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - t0


def _write_manifest(
    root: Path, params: dict, elapsed: float, timings: dict[str, float] | None = None
) -> dict:
    manifest = {
        "params": params,
        "generated_seconds": round(elapsed, 2),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings": {k: round(v, 2) for k, v in (timings or {}).items()},
        "files": _files(root),
    }
    partial = root / "manifest.json.tmp"
    partial.write_text(json.dumps(manifest, indent=1) + "\n")
    partial.replace(root / "manifest.json")
    return manifest


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-dir", type=Path, default=REPO / ".bench")
    parser.add_argument("sizes", nargs="*", default=["full", "quarter"], choices=list(SIZES))
    args = parser.parse_args()
    for name, info in ensure(args.bench_dir, tuple(args.sizes)).items():
        print(
            name,
            info["experiment"],
            info["eval_log_count"],
            "logs",
            info["training_bytes"] // 1_000_000,
            "MB training",
        )
