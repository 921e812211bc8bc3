"""Synthetic experiments: realistic experiment directories with real inspect-ai logs.

Used by the test suite, the bundled demo (``examples/make_demo.py``) and the benchmark.

Every ``.eval`` / ``.json`` log is written by inspect-ai itself. One tiny template
evaluation is run once per process with inspect's ``mockllm/model`` provider (three
samples: one scored ``C``, one scored ``I``, one that errors). Each requested log is
derived from it: the template samples are re-instantiated with the requested targets,
answers, ids and timestamps, the header is edited (task, model, args, status, ...),
metrics are recomputed with ``inspect_ai.log.recompute_metrics`` and the log is
written by inspect's own ``.eval`` recorder (or ``write_eval_log`` for ``.json``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import posixpath
import random
import re
import shlex
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from inspect_ai.log import EvalError, EvalLog, EvalSample

__all__ = [
    "EvalSpec",
    "ExperimentSpec",
    "RunSpec",
    "build_experiment",
    "default_losses",
    "eval_stdout_text",
    "inspect_log_name",
    "remove_tree",
    "reset_template_cache",
    "sacct_rows",
    "training_stdout_text",
    "write_inspect_log",
    "write_training_stdout",
]

NODE = "della-l01g3"
"""Compute node named in SLURM messages."""

CANCELLING_USER = 1234
"""Uid in ``CANCELLED by 1234`` (sacct) for evaluations cancelled by hand."""

SCRATCH = "/scratch/gpfs/LAB/user"
"""Fictional cluster prefix for paths that only appear as recorded text (models, data)."""

_SHORTUUID = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# ---------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------

TRAINING_ENDINGS = ("completed", "oom", "timeout", "traceback", "diverged", "not_started")
EVAL_STATUSES = ("success", "error", "cancelled", "started", "timeout", "missing", "job_failed")
EPOCH_EVIDENCE = ("task_args", "model_name", "model_path")
RUN_TYPES = ("fine-tuned", "control", "eval-only")
"""ARTIFACTS.md "Run types": ``runs[].type`` is ``fine-tuned``, ``control`` or ``eval-only``."""
MAX_OOM_RETRIES = 3
"""ARTIFACTS.md "Run logs": an out-of-memory fine-tune is resubmitted up to 3 times."""


@dataclass
class RunSpec:
    """One run of the experiment design (a fine-tuned configuration, a control or eval-only).

    ``training``: completed | oom | timeout | traceback | diverged | not_started (ignored
    for controls and eval-only runs). ``epochs_trained`` is the number of checkpoints
    written: all epochs by default, none for a failed training (which then stops in the
    following epoch). ``losses`` (one per global step) defaults to a decreasing curve
    ending at ``final_loss``.

    ``type="eval-only"`` (layout B) evaluates ``parameters["checkpoint_path"]``, a checkpoint
    trained elsewhere: no training, no ``setup_finetune.yaml``. ``oom_retries`` (0-3) is how
    often the fine-tune ran out of GPU memory first and was resubmitted with half the batch
    size: ``batch_size`` is the first submission's, and ``training`` is how the last
    submission (the one that counts) ended. ``train_job_id`` is the last submission's id
    (earlier ones sit just below it). ``vis_label`` is the run's label in the default matrix.
    """

    name: str
    type: str = "fine-tuned"
    model: str = "Llama-3.2-1B-Instruct"
    parameters: dict = field(default_factory=dict)
    training: str = "completed"
    epochs_trained: int | None = None
    losses: Sequence[float] | None = None
    train_job_id: int | None = None
    steps_per_epoch: int = 25
    final_loss: float | None = None
    oom_retries: int = 0
    batch_size: int = 4
    vis_label: str | None = None


@dataclass
class EvalSpec:
    """One evaluation cell: a run evaluated on a task at an epoch (None for controls).

    ``status``: success | error | cancelled | started (log left unfinished, job killed at
    its time limit) | timeout (job killed at its time limit before inspect wrote a log) |
    missing (nothing: no job, no log) | job_failed (job stdout with a failure, no log).
    ``answers`` entries that are None are errored samples in a ``success`` log and samples
    not yet logged in the other statuses; for error, cancelled and started the builder also
    cuts the log short (``completed_fraction``). ``variant`` (layout B) names one of several
    cells of the same task: folder ``{task}_{variant}_epoch{N}`` (control: ``{task}_{variant}``).
    """

    run: str
    task: str
    epoch: int | None
    targets: Sequence[str]
    answers: Sequence[str | None]
    status: str = "success"
    job_id: int | None = None
    epoch_evidence: tuple[str, ...] = ("model_name", "model_path")
    extra_logs: int = 0
    inputs: Sequence[str] | None = None
    completed_fraction: float = 0.6
    variant: str | None = None
    scorer: str | None = None
    risks: Sequence[float] | None = None
    match_location: str = "end"


SCORED_SCORERS = ("match", "match_numeric", "includes", "risk_scorer", "continuous_scorer")
"""Scorers an ``EvalSpec`` may name; its log is then a real evaluation run by
``testing.scored_logs.write_scored_log`` (``match`` there matches at ``match_location``, by
default the end of the reply, as inspect's own default does)."""


@dataclass
class ExperimentSpec:
    """A whole experiment: its design plus what happened to each run and evaluation.

    ``matrix`` defaults to every run x task at the epochs its cells name (all epochs when
    it has none; ``None`` for controls and eval-only runs); an entry may carry a
    ``vis_label``. ``output_key`` spells layout A's output root (``base_directory`` as real
    files do, or the specification's ``output_dir_base``). Jobs without a given id get ids
    counting up from ``job_id_base``. ``scorer`` names the scorer (``match`` or ``includes``).

    Datasets (layout B): with ``dataset_condition`` the training and evaluation data are
    generated files ``{condition}_{split}_{hash8}.json`` (with a ``.meta.json`` sidecar when
    ``dataset_sidecar``); ``write_datasets`` writes them under ``{root}/ck-data/`` (else they
    are only named, on the fictional cluster).
    """

    name: str
    runs: list[RunSpec]
    tasks: list[str]
    evals: list[EvalSpec]
    epochs: int = 2
    matrix: list[dict] | None = None
    output_key: str = "base_directory"
    date: str = "2026-01-05"
    question: str = "Which fine-tuning configuration performs best on the evaluation tasks?"
    job_id_base: int = 2773000
    task_descriptions: dict[str, str] = field(default_factory=dict)
    scorer: str = "match"
    dataset_condition: str | None = None
    dataset_sidecar: bool = True
    write_datasets: bool = False


# ---------------------------------------------------------------------------
# Training stdout (torchtune under SLURM, tqdm progress bar)
# ---------------------------------------------------------------------------

_BAR_PARTIALS = " ▏▎▍▌▋▊▉"
_SPARKS = "▁▂▃▄▅▆▇█"


def _float32(value: float) -> float:
    """Round a float through float32, as a torch loss ``.item()`` is."""
    return struct.unpack("f", struct.pack("f", value))[0]


def default_losses(total_steps: int, *, seed: int = 0, final: float | None = None) -> list[float]:
    """A noisy decreasing loss curve ending exactly at ``final`` (float32 values)."""
    rng = random.Random(seed)
    start = 2.6 + rng.random()
    end = final if final is not None else 0.2 + 0.1 * rng.random()
    losses = []
    for step in range(1, total_steps + 1):
        trend = end + (start - end) * math.exp(-6.0 * step / max(total_steps, 1))
        losses.append(_float32(max(1e-6, trend * (1 + rng.gauss(0, 0.08)))))
    if losses:
        losses[-1] = _float32(end)
    return losses


def _clock(seconds: float) -> str:
    """tqdm's ``MM:SS`` / ``H:MM:SS`` clock."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _bar(n: int, total: int, width: int = 10) -> str:
    """tqdm's unicode bar."""
    filled = n / total * width if total else width
    full = int(filled)
    if full >= width:
        return "█" * width
    return "█" * full + _BAR_PARTIALS[int((filled - full) * 8)] + " " * (width - full - 1)


def _tqdm(desc: str, n: int, total: int, elapsed: float, rate: float | None) -> str:
    pct = int(n / total * 100) if total else 100
    if rate is None:
        timing = f"[{_clock(elapsed)}<?, ?it/s]"
    else:
        timing = f"[{_clock(elapsed)}<{_clock((total - n) / rate)}, {rate:5.2f}it/s]"
    prefix = f"{desc}: " if desc else ""
    return f"{prefix}{pct:3d}%|{_bar(n, total)}| {n}/{total} {timing}"


def _spark(values: Sequence[float], width: int = 40) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return " " * min(width, len(values))
    lo, hi = min(finite), max(finite)
    picks = [values[int(i * len(values) / width)] for i in range(min(width, len(values)))]
    out = []
    for v in picks:
        if not math.isfinite(v):
            out.append(" ")
        else:
            level = 0 if hi == lo else int((v - lo) / (hi - lo) * (len(_SPARKS) - 1))
            out.append(_SPARKS[level])
    return "".join(out)


def _training_header(
    epochs: int, steps_per_epoch: int, output_dir: str, seed: int, batch_size: int = 4
) -> str:
    return (
        "Running LoRAFinetuneRecipeSingleDevice with resolved config:\n"
        "\n"
        f"batch_size: {batch_size}\n"
        "checkpointer:\n"
        "  _component_: torchtune.training.FullModelHFCheckpointer\n"
        f"  checkpoint_dir: {SCRATCH}/models/Llama-3.2-1B-Instruct\n"
        f"  output_dir: {output_dir}\n"
        "dataset:\n"
        "  _component_: torchtune.datasets.instruct_dataset\n"
        "  source: json\n"
        f"  split: train[:{steps_per_epoch * batch_size}]\n"
        "device: cuda\n"
        "dtype: bf16\n"
        f"epochs: {epochs}\n"
        "gradient_accumulation_steps: 1\n"
        "model:\n"
        "  _component_: torchtune.models.llama3_2.lora_llama3_2_1b\n"
        "  lora_alpha: 16\n"
        "  lora_attn_modules:\n"
        "  - q_proj\n"
        "  - v_proj\n"
        "optimizer:\n"
        "  _component_: torch.optim.AdamW\n"
        f"output_dir: {output_dir}\n"
        f"seed: {seed}\n"
        "\n"
        f"Setting manual seed to local seed {seed}. Local seed is seed + rank = {seed} + 0\n"
        "wandb: Tracking run with wandb version 0.19.8\n"
        "wandb: W&B syncing is set to `offline` in this directory.\n"
        "wandb: Run `wandb online` or set WANDB_MODE=online to enable cloud syncing.\n"
        "Model is initialized with precision torch.bfloat16.\n"
        "Memory stats after model init:\n"
        "\tGPU peak memory active: 2.41 GiB\n"
        "\tGPU peak memory alloc: 2.41 GiB\n"
        "\tGPU peak memory reserved: 2.44 GiB\n"
        "Tokenizer is initialized from file.\n"
        "Optimizer and loss are initialized.\n"
        "Loss is initialized.\n"
        "Dataset and Sampler are initialized.\n"
        "Learning rate scheduler is initialized.\n"
        " Profiling disabled.\n"
        " Profiler config after instantiation: {'enabled': False}\n"
    )


_TUNE_FRAMES = (
    '  File "/home/user/.conda/envs/cruijff/bin/tune", line 8, in <module>\n'
    "    sys.exit(main())\n"
    "             ^^^^^^\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torchtune/_cli/tune.py",'
    " line 52, in main\n"
    "    parser.run(args)\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torchtune/_cli/run.py",'
    " line 214, in _run_cmd\n"
    "    self._run_single_device(args, is_builtin=is_builtin)\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torchtune/_cli/run.py",'
    " line 108, in _run_single_device\n"
    '    runpy.run_path(str(args.recipe), run_name="__main__")\n'
    '  File "<frozen runpy>", line 291, in run_path\n'
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/recipes/'
    'lora_finetune_single_device.py", line 803, in recipe_main\n'
    "    recipe.train()\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/recipes/'
    'lora_finetune_single_device.py", line 717, in train\n'
)

TORCH_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
    "capacity of 79.19 GiB of which 1.43 GiB is free. Including non-PyTorch memory, this process "
    "has 77.75 GiB memory in use. Of the allocated memory 74.02 GiB is allocated by PyTorch, and "
    "3.21 GiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large "
    "try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
    "documentation for Memory Management  "
    "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
)


def _training_traceback(kind: str) -> str:
    if kind == "oom":
        return (
            "Traceback (most recent call last):\n" + _TUNE_FRAMES + "    current_loss.backward()\n"
            '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torch/_tensor.py",'
            " line 648, in backward\n"
            "    torch.autograd.backward(\n"
            '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torch/autograd/'
            '__init__.py", line 353, in backward\n'
            "    _engine_run_backward(\n" + TORCH_OOM + "\n"
        )
    return (
        "Traceback (most recent call last):\n"
        + _TUNE_FRAMES
        + "    batch = next(self._dataloader_iter)\n"
        '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/torch/utils/data/'
        'dataloader.py", line 1465, in _next_data\n'
        "    return self._process_data(data)\n"
        "RuntimeError: DataLoader worker (pid 48213) is killed by signal: Bus error. "
        "It is possible that dataloader's workers are out of shared memory. "
        "Please try to raise your shared memory limit.\n"
    )


def _slurm_time_limit(job_id: int, when: datetime) -> str:
    return (
        f"slurmstepd: error: *** JOB {job_id} ON {NODE} CANCELLED AT "
        f"{when:%Y-%m-%dT%H:%M:%S} DUE TO TIME LIMIT ***\n"
    )


def _training_chunks(
    *,
    epochs: int,
    steps_per_epoch: int,
    losses: Sequence[float] | None,
    ending: str,
    seed: int,
    batch_repeat: int,
    output_dir: str,
    stop_step: int | None,
    diverge_step: int | None,
    job_id: int,
    end_time: datetime,
    batch_size: int = 4,
) -> Iterator[str]:
    """Yield the training stdout in pieces (so huge logs stream to disk)."""
    if ending not in TRAINING_ENDINGS or ending == "not_started":
        raise ValueError(f"ending must be one of {TRAINING_ENDINGS[:-1]}, got {ending!r}")
    total = epochs * steps_per_epoch
    if losses is None:
        losses = default_losses(total, seed=seed)
    if len(losses) != total:
        raise ValueError(f"losses has {len(losses)} values, expected epochs*steps = {total}")
    losses = list(losses)
    if ending == "diverged":
        start = diverge_step if diverge_step is not None else max(1, int(total * 0.6))
        for i in range(start - 1, total):
            losses[i] = math.nan
    last_step = total
    if ending in ("oom", "timeout", "traceback"):
        last_step = stop_step if stop_step is not None else max(1, int(total * 0.4))
        if not 1 <= last_step <= total:
            raise ValueError(f"stop_step must be within 1..{total}")

    rng = random.Random(seed)
    yield _training_header(epochs, steps_per_epoch, output_dir, seed, batch_size)
    base_rate = 2.0 + rng.random() * 0.4
    step = 0
    for epoch in range(epochs):
        pending = [_tqdm("", 0, steps_per_epoch, 0, None)]
        elapsed = 0.0
        for n in range(1, steps_per_epoch + 1):
            step += 1
            elapsed += 1 / (base_rate * (0.9 + rng.random() * 0.2))
            rate = n / elapsed
            desc = f"{epoch + 1}|{step}|Loss: {losses[step - 1]!r}"
            pending.append(_tqdm(desc, n, steps_per_epoch, elapsed, rate))
            if len(pending) >= batch_repeat:
                yield "\r".join(pending) + "\n"
                pending = []
            if step == last_step and ending in ("oom", "timeout", "traceback"):
                if pending:
                    yield "\r".join(pending) + "\n"
                if ending == "timeout":
                    yield _slurm_time_limit(job_id, end_time)
                else:
                    yield _training_traceback(ending)
                return
        if pending:
            yield "\r".join(pending) + "\n"
        save = 10 + rng.random() * 25
        yield (
            f"Starting checkpoint save for epoch {epoch}...\n"
            f"Model checkpoint saved to {output_dir}/epoch_{epoch}\n"
            f"Adapter checkpoint of size 0.01 GiB saved to "
            f"{output_dir}/epoch_{epoch}/adapter_model.pt\n"
            f"Checkpoint saved in {save:.2f} seconds.\n"
        )
        slower = steps_per_epoch / (elapsed + save)
        desc = f"{epoch + 1}|{step}|Loss: {losses[step - 1]!r}"
        yield _tqdm(desc, steps_per_epoch, steps_per_epoch, elapsed + save, slower) + "\n"

    final = losses[-1]
    run_id = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=8))
    lr_curve = [math.sin(math.pi * i / max(total - 1, 1)) for i in range(total)]
    yield (
        "wandb:\n"
        "wandb: Run history:\n"
        f"wandb:               global_step {_spark([float(i) for i in range(total)])}\n"
        f"wandb:                      loss {_spark(losses)}\n"
        f"wandb:                        lr {_spark(lr_curve)}\n"
        "wandb:\n"
        "wandb: Run summary:\n"
        f"wandb:               global_step {total}\n"
        f"wandb:                      loss {final:.5g}\n"
        "wandb:                        lr 0\n"
        f"wandb:        peak_memory_active {9 + rng.random():.5f}\n"
        "wandb:\n"
        "wandb: You can sync this run to the cloud by running:\n"
        f"wandb: wandb sync {output_dir}/logs/wandb/offline-run-"
        f"{end_time:%Y%m%d_%H%M%S}-{run_id}\n"
        f"wandb: Find logs at: {output_dir}/logs/wandb/offline-run-"
        f"{end_time:%Y%m%d_%H%M%S}-{run_id}/logs\n"
    )


def training_stdout_text(
    *,
    epochs: int,
    steps_per_epoch: int,
    losses: Sequence[float] | None = None,
    ending: str = "completed",
    seed: int = 0,
    batch_repeat: int = 3,
    output_dir: str = f"{SCRATCH}/ck-outputs/experiment/ck-out-run",
    stop_step: int | None = None,
    diverge_step: int | None = None,
    job_id: int = 123,
    end_time: datetime = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
    batch_size: int = 4,
) -> str:
    """torchtune training stdout as SLURM captures it (tqdm updates joined by ``\\r``).

    Bars read ``{epoch}|{global_step}|Loss: {repr(loss)}:  16%|█▌   | 40/250 [...]`` with a
    1-indexed epoch and a global step running on across epochs; ``batch_repeat`` updates
    share each physical line. ``losses`` holds one value per global step (default: a
    decreasing curve). ``ending``: completed, oom, timeout, traceback (stop after global
    step ``stop_step``, default 40% of training) or diverged (nan from ``diverge_step``,
    default 60%, and training completes). ``batch_size`` is the one the config shows.
    """
    return "".join(
        _training_chunks(
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            losses=losses,
            ending=ending,
            seed=seed,
            batch_repeat=batch_repeat,
            output_dir=output_dir,
            stop_step=stop_step,
            diverge_step=diverge_step,
            job_id=job_id,
            end_time=end_time,
            batch_size=batch_size,
        )
    )


def write_training_stdout(path: Path, **kwargs: Any) -> Path:
    """Stream :func:`training_stdout_text` output to ``path`` (fine for very long runs)."""
    defaults = {
        "losses": None,
        "ending": "completed",
        "seed": 0,
        "batch_repeat": 3,
        "output_dir": f"{SCRATCH}/ck-outputs/experiment/ck-out-run",
        "stop_step": None,
        "diverge_step": None,
        "job_id": 123,
        "end_time": datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
        "batch_size": 4,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        for chunk in _training_chunks(**{**defaults, **kwargs}):
            out.write(chunk)
    return path


# ---------------------------------------------------------------------------
# Evaluation job stdout (inspect eval --display plain under SLURM)
# ---------------------------------------------------------------------------

_EVAL_FAILURES = ("error", "cancelled", "timeout", "oom", "traceback")
_RULE = "-" * 57


def _metric_text(value: float) -> str:
    """Format a metric as inspect's task summary does (``.3g``, 1 as ``1.0``)."""
    return "1.0" if value == 1 else f"{value:.3g}"


def _inspect_traceback(message: str) -> str:
    """A task failure as inspect prints it (a CUDA error inside generation)."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/inspect_ai/_eval/'
        'task/run.py", line 1874, in task_run\n'
        "    keyed_results = await sample_scheduler.run(seed_plan, run_sample)\n"
        '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/inspect_ai/model/'
        '_providers/hf.py", line 312, in generate\n'
        "    output = self.model.generate(**input_ids, **kwargs)\n"
        f"RuntimeError: {message}\n"
    )


def _model_load_traceback(last_line: str) -> str:
    """A failure while the hf provider loads the checkpoint (before any log exists)."""
    return (
        "Traceback (most recent call last):\n"
        '  File "/home/user/.conda/envs/cruijff/bin/inspect", line 8, in <module>\n'
        "    sys.exit(main())\n"
        "             ^^^^^^\n"
        '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/inspect_ai/model/'
        '_providers/hf.py", line 104, in __init__\n'
        "    self.model = AutoModelForCausalLM.from_pretrained(\n"
        "                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/transformers/'
        'modeling_utils.py", line 4401, in _load_pretrained_model\n'
        "    new_error_msgs, offload_index = load_shard_file(args)\n"
        f"{last_line}\n"
    )


def eval_stdout_text(
    *,
    log_path: Path | None,
    task: str,
    accuracy: float | None,
    scorer: str = "match",
    failed: str | None = None,
    model: str = "hf/model",
    samples: int = 100,
    completed: int | None = None,
    task_args: dict | None = None,
    job_id: int = 123,
    end_time: datetime = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC),
    total_time: float | None = None,
    wall_time: float | None = None,
    dataset: str | None = None,
) -> str:
    """What an ``inspect eval`` SLURM job prints (inspect's plain display).

    A success ends with the task summary: ``total time:`` (``total_time`` seconds, else a
    duration from the sample count), a ``{scorer}/accuracy: 0.85  {scorer}/stderr: ...``
    metric line and ``Log: {log_path}``. ``failed``: error (traceback, then the Log line of
    the error log), cancelled (scancel; a cancelled log), timeout (killed at the time limit:
    log left unfinished, or with ``log_path`` None killed while loading the model, before
    any log), oom (the model never loaded: CUDA OOM traceback, no log) or traceback
    (generic failure before any log). ``wall_time`` adds what ``/usr/bin/time -p`` prints
    when the evaluation process ends by itself (ARTIFACTS.md "Layout B": ``real <seconds>``).
    ``dataset`` is the dataset name shown (default ``task``).
    """
    if failed is not None and failed not in _EVAL_FAILURES:
        raise ValueError(f"failed must be None or one of {_EVAL_FAILURES}, got {failed!r}")
    text = _inspect_output(
        log_path=log_path,
        task=task,
        accuracy=accuracy,
        scorer=scorer,
        failed=failed,
        model=model,
        samples=samples,
        completed=completed,
        task_args=task_args,
        job_id=job_id,
        end_time=end_time,
        total_time=total_time,
        dataset=dataset or task,
    )
    if wall_time is None or failed in ("cancelled", "timeout"):
        return text  # killed by SLURM: time dies with it and prints nothing
    return text + _time_p(wall_time, exit_code=0 if failed is None else 1)


def _time_p(real: float, exit_code: int) -> str:
    """GNU ``/usr/bin/time -p`` output (stderr, which the job's output file also holds)."""
    status = f"Command exited with non-zero status {exit_code}\n" if exit_code else ""
    return f"{status}real {real:.2f}\nuser {real * 0.83:.2f}\nsys {real * 0.07:.2f}\n"


def _inspect_output(
    *,
    log_path: Path | None,
    task: str,
    accuracy: float | None,
    scorer: str,
    failed: str | None,
    model: str,
    samples: int,
    completed: int | None,
    task_args: dict | None,
    job_id: int,
    end_time: datetime,
    total_time: float | None,
    dataset: str,
) -> str:
    """The ``inspect eval`` part of an evaluation job's output (see :func:`eval_stdout_text`)."""
    if failed == "timeout" and log_path is None:
        return (
            "Loading checkpoint shards:   0%|          | 0/2 [00:00<?, ?it/s]\n"
            + _slurm_time_limit(job_id, end_time)
        )
    args = ", ".join(f"{k}: {v}" for k, v in (task_args or {}).items())
    dataset_line = f"{args}, dataset: {dataset}" if args else f"dataset: {dataset}"
    if failed == "oom":
        return _model_load_traceback(TORCH_OOM)
    if failed == "traceback":
        return _model_load_traceback(
            "RuntimeError: Error(s) in loading state_dict for PeftModelForCausalLM: size mismatch"
        )
    lines = ["Loading checkpoint shards: 100%|██████████| 1/1 [00:02<00:00,  2.31s/it]"]
    lines += [
        f"Running 1 tasks...\n{_RULE}",
        f"{task} ({samples} samples): {model}",
        dataset_line,
        _RULE,
        "",
    ]
    done = samples if completed is None else completed
    resource = model.split("/", 1)[0]
    progress = sorted({max(1, done // 2), done} - {0}) if done else []
    for n in progress:
        shown = "n/a" if accuracy is None or n < done else f"{accuracy:.2f}"
        lines.append(
            f"generate     | Steps: {n:3d}/{samples} {int(n / samples * 100):3d}% | "
            f"Samples: {n:3d}/{samples:3d} | accuracy: {shown:>4} | {resource}: "
            f"{0 if n == samples else 8:2d}/32 | HTTP retries: 0"
        )
    lines.append("")
    if failed == "timeout":
        return "\n".join(lines) + "\n" + _slurm_time_limit(job_id, end_time)
    if failed == "cancelled":
        lines += [
            f"slurmstepd: error: *** JOB {job_id} ON {NODE} CANCELLED AT "
            f"{end_time:%Y-%m-%dT%H:%M:%S} ***",
            _RULE,
            f"{task} ({samples} samples): {model}",
            dataset_line,
            "",
            f"Task interrupted ({done} of {samples} samples completed)",
            "",
            f"Log: {log_path}",
            _RULE,
        ]
        return "\n".join(lines) + "\n"
    if failed == "error":
        lines += [
            _RULE,
            f"{task} ({samples} samples): {model}",
            dataset_line,
            "",
            _inspect_traceback("CUDA error: an illegal memory access was encountered").rstrip(),
            "",
            f"Log: {log_path}",
            _RULE,
        ]
        return "\n".join(lines) + "\n"
    if accuracy is None:
        raise ValueError("a successful evaluation needs an accuracy")
    stderr = math.sqrt(accuracy * (1 - accuracy) / max(done - 1, 1))
    tokens_in, tokens_out = 12 * done, done
    column = max(28, len(model) + 2)
    duration = f"0:{done // 60 + 1:02d}:{(done * 7) % 60:02d}"
    if total_time is not None:
        minutes, secs = divmod(int(total_time), 60)
        duration = f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    lines += [
        _RULE,
        f"{task} ({samples} samples): {model}",
        dataset_line,
        "",
        f"{'total time:'.ljust(column)}{duration}",
        f"{model.ljust(column)}{tokens_in + tokens_out:,} tokens "
        f"[I: {tokens_in:,}, O: {tokens_out:,}]",
        "",
        f"{scorer}/accuracy: {_metric_text(accuracy)}  {scorer}/stderr: {_metric_text(stderr)}",
        "",
        f"Log: {log_path}",
        _RULE,
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# inspect-ai logs
# ---------------------------------------------------------------------------

_TEMPLATE_VERSION = 1
_PH_TARGET = "__synthetic_target__"
_PH_ANSWER = "__synthetic_answer__"
_PH_INPUT = {
    "C": "__synthetic_input_c__",
    "I": "__synthetic_input_i__",
    "E": "__synthetic_input_e__",
}
_MOCK_MODEL = "mockllm/model"
_FLUSH_EVERY = 250
"""Samples per recorder flush: inspect flushes periodically too; bounds its O(n^2) buffering."""

_SAMPLE_ERROR_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/inspect_ai/_eval/task/'
    'run.py", line 2871, in task_run_sample\n'
    "    state = await plan(state, generate)\n"
    '  File "/home/user/.conda/envs/cruijff/lib/python3.11/site-packages/inspect_ai/model/'
    '_providers/hf.py", line 312, in generate\n'
    "    output = self.model.generate(**input_ids, **kwargs)\n"
    "RuntimeError: CUDA error: out of memory\n"
)

_SLOT_RE = re.compile(
    r'"(?P<id>[2-9A-HJ-NP-Za-km-z]{22})"'
    r'|"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?\+00:00)"'
    r'|"(?P<ph>__synthetic_[a-z_]+__|mockllm/model)"'
    r'|(?P<key>"(?:id|sample_id)":)(?P<sid>\d+)(?=[,}])'
)


@dataclass
class _CompiledSample:
    """A template sample's JSON split into literal chunks and per-sample slots."""

    chunks: list[str]
    slots: list[tuple[str, Any]]
    id_count: int


@dataclass
class _Template:
    header: EvalLog
    created: datetime
    samples: dict[str, _CompiledSample]
    raw: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Each kind's sample JSON and id, to derive the samples of other scorers from."""


SCORERS = {"match": {"location": "exact", "ignore_case": False}, "includes": {"ignore_case": False}}
"""The C/I scorers a log can be written for, with the options the task scripts pass.

ARTIFACTS.md "Scorers": ``match`` and ``includes`` (inspect's own) score ``C``/``I``.
"""


def _scorer_sample(template: _Template, kind: str, scorer: str) -> _CompiledSample:
    """The template sample of ``kind`` scored by ``scorer``.

    ``kind`` is C, I or E, or ``IC``: a reply other than the target that the scorer still
    counts correct (``includes`` finds the target inside a verbose reply).
    """
    key = f"{kind}:{scorer}"
    if key in template.samples:
        return template.samples[key]
    text, sample_id = template.raw["I" if kind == "IC" else kind]
    if kind == "IC":
        text = text.replace('"value":"I"', '"value":"C"')
    options = json.dumps(SCORERS[scorer], separators=(",", ":"))
    text = (
        text.replace('"scores":{"match":', f'"scores":{{{json.dumps(scorer)}:')
        .replace('"type":"scorer","name":"match"', f'"type":"scorer","name":{json.dumps(scorer)}')
        .replace(
            '"scorer":"match","scorer_args":{"location":"exact","ignore_case":false}',
            f'"scorer":{json.dumps(scorer)},"scorer_args":{options}',
        )
    )
    if scorer != "match" and '"match"' in text:
        raise RuntimeError("template sample names the match scorer in an unexpected place")
    compiled = _compile(text, sample_id)
    template.samples[key] = compiled
    return compiled


_TEMPLATES: dict[str, _Template] = {}


def _compile(sample_json: str, sample_id: int) -> _CompiledSample:
    chunks: list[str] = []
    slots: list[tuple[str, Any]] = []
    ids: dict[str, int] = {}
    pos = 0
    for m in _SLOT_RE.finditer(sample_json):
        if m.group("sid") is not None:
            if int(m.group("sid")) != sample_id:
                continue
            chunks.append(sample_json[pos : m.start()] + m.group("key"))
            slots.append(("sid", None))
        elif m.group("id") is not None:
            chunks.append(sample_json[pos : m.start()])
            slots.append(("id", ids.setdefault(m.group("id"), len(ids))))
        elif m.group("ts") is not None:
            chunks.append(sample_json[pos : m.start()])
            slots.append(("ts", datetime.fromisoformat(m.group("ts"))))
        else:
            ph = m.group("ph")
            kind = {_PH_TARGET: "target", _PH_ANSWER: "answer", _MOCK_MODEL: "model"}.get(
                ph, "input"
            )
            chunks.append(sample_json[pos : m.start()])
            slots.append((kind, None))
        pos = m.end()
    chunks.append(sample_json[pos:])
    leftover = [c for c in chunks if "__synthetic_" in c or _MOCK_MODEL in c]
    if leftover:
        raise RuntimeError(f"template placeholder left in sample JSON: {leftover[0][:200]}")
    return _CompiledSample(chunks=chunks, slots=slots, id_count=len(ids))


def _template_task() -> Any:
    from inspect_ai import Task, task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    @task(name="synthetic_template")
    def synthetic_template() -> Task:
        samples = [
            Sample(input=_PH_INPUT[kind], target=_PH_TARGET, id=i)
            for i, kind in enumerate(("C", "I", "E"), start=1)
        ]
        return Task(
            dataset=MemoryDataset(samples),
            solver=generate(),
            scorer=match(location="exact", ignore_case=False),
        )

    return synthetic_template()


def _mock_respond(input: list, tools: list, tool_choice: Any, config: Any) -> Any:
    """mockllm callable: echo the target, answer wrongly, or fail, by the input marker."""
    from inspect_ai.model import ModelOutput, ModelUsage

    text = input[-1].text
    if text == _PH_INPUT["E"]:
        raise RuntimeError("CUDA error: out of memory")
    content = _PH_TARGET if text == _PH_INPUT["C"] else _PH_ANSWER
    output = ModelOutput.from_content(model=_MOCK_MODEL, content=content)
    # without usage mockllm counts tokens with tiktoken, which downloads its data file
    output.usage = ModelUsage(input_tokens=12, output_tokens=1, total_tokens=13)
    return output


def _run_template_eval(log_dir: Path) -> EvalLog:
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    logs = inspect_eval(
        _template_task(),
        model=get_model(_MOCK_MODEL, custom_outputs=_mock_respond),
        log_dir=str(log_dir),
        display="none",
        fail_on_error=False,
    )
    log = logs[0]
    if log.status != "success" or not log.samples or len(log.samples) != 3:
        raise RuntimeError(f"template evaluation failed: {log.status} {log.error}")
    return log


def _sample_error() -> EvalError:
    from inspect_ai.log import EvalError

    return EvalError(
        message="RuntimeError('CUDA error: out of memory')",
        traceback=_SAMPLE_ERROR_TRACEBACK,
        traceback_ansi=_SAMPLE_ERROR_TRACEBACK,
    )


def _scrub_errored(sample: EvalSample) -> EvalSample:
    """Replace the template run's local tracebacks with a short cluster-like one."""
    error = _sample_error()
    events = []
    for event in sample.events:
        kind = getattr(event, "event", None)
        if kind == "model" and getattr(event, "error", None):
            event = event.model_copy(
                update={
                    "error": "CUDA error: out of memory",
                    "traceback": _SAMPLE_ERROR_TRACEBACK,
                    "traceback_ansi": _SAMPLE_ERROR_TRACEBACK,
                }
            )
        elif kind == "error":
            event = event.model_copy(update={"error": error})
        elif kind == "logger":
            continue
        events.append(event)
    return sample.model_copy(update={"error": error, "events": events})


def _load_template(cache_dir: Path | None) -> _Template:
    """The template log: in-process cache, then ``cache_dir``, else a fresh mockllm eval."""
    import inspect_ai
    from inspect_ai.log import read_eval_log, write_eval_log

    key = f"v{_TEMPLATE_VERSION}-inspect-{inspect_ai.__version__}"
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    cached = Path(cache_dir) / f"synthetic-template-{key}.eval" if cache_dir else None
    if cached is not None and cached.exists():
        log = read_eval_log(str(cached))
    else:
        with tempfile.TemporaryDirectory(prefix="synthetic-template-") as tmp:
            log = _run_template_eval(Path(tmp))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp.eval")
            write_eval_log(log, str(partial))
            partial.replace(cached)
    by_kind: dict[str, _CompiledSample] = {}
    raw: dict[str, tuple[str, int]] = {}
    for sample in log.samples or []:
        if sample.error is not None:
            kind, sample = "E", _scrub_errored(sample)
        else:
            kind = str(sample.scores["match"].value)
        raw[kind] = (sample.model_dump_json(exclude_none=True), int(sample.id))
        by_kind[kind] = _compile(*raw[kind])
    if set(by_kind) != {"C", "I", "E"}:
        raise RuntimeError(f"template samples incomplete: {sorted(by_kind)}")
    header = log.model_copy(update={"samples": None, "location": ""})
    template = _Template(
        header=header, created=datetime.fromisoformat(log.eval.created), samples=by_kind, raw=raw
    )
    _TEMPLATES[key] = template
    return template


_ID_TABLE = bytes(ord(_SHORTUUID[b % len(_SHORTUUID)]) for b in range(256))


def _short_ids(rng: random.Random, count: int) -> list[str]:
    """``count`` shortuuid-alphabet ids of 22 characters, as inspect's ids look."""
    text = rng.randbytes(22 * count).translate(_ID_TABLE).decode("ascii")
    return [text[i : i + 22] for i in range(0, 22 * count, 22)]


def _clean_component(text: str) -> str:
    """inspect's filename cleaning (``_``, ``/``, ``:``, ``+`` become ``-``)."""
    return text.replace("_", "-").replace("/", "-").replace(":", "-").replace("+", "-")


def inspect_log_name(task: str, task_id: str, created: datetime, ext: str = "eval") -> str:
    """The file name inspect gives a log: ``2026-01-05T12-00-30-00-00_sum-digits_<id>.eval``.

    As inspect-ai's ``eval_log_name`` (``inspect_ai/_util/log_layout.py``): ``{created}_{task}_
    {id}``, the task without a registry package prefix (``pkg/name``; ``hf/...`` kept), each
    component through ``clean_filename_component`` (``_ / : +`` become ``-``; spaces and
    parentheses stay, as in ARTIFACTS.md "Layout B": ``…_acs-income-rank4 (acs-income)_{id}``).
    """
    iso = created.astimezone(UTC).isoformat(timespec="seconds")
    name = task if task.startswith("hf/") else task.split("/", 1)[-1]
    return f"{_clean_component(iso)}_{_clean_component(name)}_{_clean_component(task_id)}.{ext}"


def _fast_recorder() -> Any:
    """inspect's own ``.eval`` recorder internals, or None when this inspect lacks them."""
    try:
        import inspect_ai._util.zipfile as inspect_zipfile
        from inspect_ai._util._async import run_coroutine
        from inspect_ai.log._recorders.eval import EvalRecorder
    except ImportError:
        return None
    if not hasattr(inspect_zipfile, "_ZSTD_THREADS"):
        return None
    return EvalRecorder, run_coroutine, inspect_zipfile


def _write_eval(log: EvalLog, path: Path, finish: bool) -> None:
    """Write a ``.eval`` with inspect's recorder, flushing as a live eval does.

    ``write_eval_log`` buffers every sample before writing (quadratic in inspect
    0.3.285) and compresses each member with a fresh 12-thread zstd context; driving the
    same recorder with periodic flushes and single-threaded zstd writes the same format
    several times faster. Falls back to ``write_eval_log`` if the internals moved.
    """
    from inspect_ai.log import write_eval_log

    fast = _fast_recorder()
    if fast is None:
        write_eval_log(log, str(path))
        return
    recorder_cls, run_coroutine, inspect_zipfile = fast

    async def record() -> None:
        recorder = recorder_cls(str(path.parent))
        await recorder.log_init(log.eval, str(path), clean=True)
        await recorder.log_start(log.eval, log.plan)
        for i, sample in enumerate(log.samples or [], start=1):
            await recorder.log_sample(log.eval, sample)
            if i % _FLUSH_EVERY == 0:
                await recorder.flush(log.eval)
        if finish:
            await recorder.log_finish(
                log.eval, log.status, log.stats, log.results, log.reductions, log.error
            )
        else:
            await recorder.flush(log.eval)
            await recorder.log_discard(log.eval, keep_destination=True)

    threads = inspect_zipfile._ZSTD_THREADS
    inspect_zipfile._ZSTD_THREADS = 0
    try:
        run_coroutine(record())
    finally:
        inspect_zipfile._ZSTD_THREADS = threads


def _eval_error() -> EvalError:
    """The task-level error of an ``error`` log."""
    from inspect_ai.log import EvalError

    text = _inspect_traceback("CUDA error: an illegal memory access was encountered")
    return EvalError(
        message="RuntimeError('CUDA error: an illegal memory access was encountered')",
        traceback=text,
        traceback_ansi=text,
    )


def write_inspect_log(
    directory: Path,
    *,
    task: str,
    model: str,
    targets: Sequence[str],
    answers: Sequence[str | None],
    task_args: dict | None = None,
    model_args: dict | None = None,
    status: str = "success",
    created: datetime | None = None,
    filename: str | None = None,
    log_format: str = "eval",
    inputs: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    seconds_per_sample: float = 0.25,
    metadata: dict | None = None,
    task_file: str | None = None,
    scorer: str = "match",
    dataset: str | None = None,
) -> Path:
    """Write a real inspect-ai log of a ``match`` (or ``includes``) scorer and return its path.

    Sample i has ``targets[i]`` and the model answered ``answers[i]`` (recorded as the
    completion and the score's answer); its score is ``C`` when the two are equal (for
    ``includes``: when the target occurs in the answer), else ``I``. A None answer is an
    errored sample in a ``success`` log (no score, counted out of ``completed_samples``) and
    an unlogged sample otherwise. ``status``: success, error (``results`` None, an
    ``EvalError``), cancelled (results over the logged samples) or started (the log of a
    killed process: no header, no results). The file name is inspect's own unless
    ``filename`` is given; ``log_format="json"`` writes an old-style ``.json`` log.
    ``cache_dir`` keeps the mockllm template log across processes. ``metadata`` is the
    eval's ``eval.metadata`` (what ``inspect eval --metadata k=v`` stores), ``task_file``
    the task script recorded (default one named after ``task``) and ``dataset`` the dataset
    name (default ``task``).
    """
    from inspect_ai.log import EvalSample, recompute_metrics, write_eval_log
    from inspect_ai.model import ModelUsage

    if status not in ("success", "error", "cancelled", "started"):
        raise ValueError(f"status must be success, error, cancelled or started, got {status!r}")
    if log_format not in ("eval", "json"):
        raise ValueError(f"log_format must be 'eval' or 'json', got {log_format!r}")
    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {sorted(SCORERS)}, got {scorer!r}")
    if len(targets) != len(answers) or (inputs is not None and len(inputs) != len(targets)):
        raise ValueError("targets, answers (and inputs) must have the same length")
    template = _load_template(cache_dir)
    created = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    task_args = dict(task_args or {})
    model_args = dict(model_args or {})
    digest = hashlib.sha256(
        json.dumps(
            [task, model, created.isoformat(), list(targets), list(answers), status, filename],
            default=str,
        ).encode()
    ).digest()
    rng = random.Random(digest)
    task_id, eval_id, run_id = _short_ids(rng, 3)

    shift = created - template.created + timedelta(seconds=30)
    model_json = json.dumps(model)
    samples: list[EvalSample] = []
    errored = 0
    for i, (target, answer) in enumerate(zip(targets, answers, strict=True)):
        if answer is None:
            if status != "success":
                continue
            kind, errored = "E", errored + 1
        elif answer == target:
            kind = "C"
        else:
            kind = "IC" if scorer == "includes" and target in answer else "I"
        compiled = (
            template.samples[kind] if scorer == "match" else _scorer_sample(template, kind, scorer)
        )
        text = inputs[i] if inputs is not None else f"{task} item {i + 1}"
        values = {
            "target": json.dumps(target),
            "answer": json.dumps(answer),
            "input": json.dumps(text),
            "model": model_json,
            "sid": str(i + 1),
        }
        new_ids = _short_ids(rng, compiled.id_count)
        offset = shift + timedelta(seconds=i * seconds_per_sample)
        parts = []
        for chunk, (kind, arg) in zip(compiled.chunks, compiled.slots, strict=False):
            parts.append(chunk)
            if kind == "id":
                parts.append(f'"{new_ids[arg]}"')
            elif kind == "ts":
                parts.append(f'"{(arg + offset).isoformat()}"')
            else:
                parts.append(values[kind])
        parts.append(compiled.chunks[-1])
        sample = EvalSample.model_validate_json("".join(parts))
        if max(len(text), len(target), len(answer or "")) > 100:
            from inspect_ai.log import condense_sample

            sample = condense_sample(sample)
        samples.append(sample)

    n = len(targets)
    finished = created + timedelta(seconds=30 + n * seconds_per_sample)
    header = template.header
    spec = header.eval.model_copy(
        update={
            "eval_id": eval_id,
            "run_id": run_id,
            "created": created.isoformat(),
            "task": task,
            "task_id": task_id,
            "task_file": task_file or f"{SCRATCH}/tasks/{task}/inspect_task_{task}.py",
            "task_display_name": task,
            "task_registry_name": task,
            "task_args": task_args,
            "task_args_passed": dict(task_args),
            "dataset": header.eval.dataset.model_copy(
                update={
                    "name": dataset or task,
                    "samples": n,
                    "sample_ids": list(range(1, n + 1)),
                }
            ),
            "model": model,
            "model_args": model_args,
            "model_base_url": None,
            "revision": None,
            "config": header.eval.config.model_copy(update={"fail_on_error": errored == 0}),
            "metadata": dict(metadata) if metadata else None,
            "scorers": [
                s.model_copy(update={"name": scorer, "options": dict(SCORERS[scorer])})
                for s in header.eval.scorers or []
            ],
        }
    )
    tokens = len(samples) - errored
    stats = header.stats.model_copy(
        update={
            "started_at": created.isoformat(),
            "completed_at": finished.isoformat(),
            "model_usage": {
                model: ModelUsage(
                    input_tokens=12 * tokens, output_tokens=tokens, total_tokens=13 * tokens
                )
            },
            "role_usage": {},
            "connection_limit_history": [],
        }
    )
    log = header.model_copy(
        update={"eval": spec, "stats": stats, "samples": samples, "status": status}
    )
    if status in ("success", "cancelled") and any(s.scores for s in samples):
        recompute_metrics(log)
        if log.results is not None:
            log.results.total_samples = n
    else:
        log.results, log.reductions = None, None
    log.error = _eval_error() if status == "error" else None

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = filename or inspect_log_name(task, task_id, created, log_format)
    path = directory / name
    if log_format == "json":
        write_eval_log(log, str(path), format="json")
    else:
        _write_eval(log, path, finish=status != "started")
    return path


# ---------------------------------------------------------------------------
# Experiment directories
# ---------------------------------------------------------------------------

_HOUR = 3600
TRAIN_TIME = "04:00:00"
"""Time limit of the training jobs (a timed-out training ran this long)."""
EVAL_TIME = "01:00:00"
"""Time limit of the evaluation jobs (a timed-out evaluation ran this long)."""


@dataclass
class _Job:
    """One SLURM job the experiment ran (a training submission or one evaluation attempt)."""

    job_id: int
    kind: str
    run: RunSpec
    cell: EvalSpec | None = None
    attempt: int = 0
    outcome: str = ""
    names: dict[str, str] = field(default_factory=dict)
    elapsed: int = 0
    slot: int = 0


def _cell_label(task: str, epoch: int | None) -> str:
    return f"{task}_base" if epoch is None else f"{task}_epoch{epoch}"


def _eval_job_name(task: str, run: str, epoch: int | None, layout: str) -> str:
    if layout == "A":
        return f"eval-{task}-{run}" if epoch is None else f"eval-{task}-{run}-ep{epoch}"
    # ARTIFACTS.md "Layout B", job names: eval-{task}-ep{N} (control and eval-only: eval-{task})
    return f"eval-{task}" if epoch is None else f"eval-{task}-ep{epoch}"


def _early_oom_step(attempt: int, total: int) -> int:
    """The global step at which an out-of-memory submission died (early in epoch 1)."""
    return min(total, 2 + attempt)


def _check_spec(spec: ExperimentSpec, layout: str) -> None:
    """Reject what the requested layout cannot hold."""
    if spec.scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {sorted(SCORERS)}, got {spec.scorer!r}")
    if layout == "A" and (spec.dataset_condition or spec.write_datasets):
        raise ValueError("dataset_condition and write_datasets are layout B options")
    for run in spec.runs:
        if run.type not in RUN_TYPES:
            raise ValueError(f"run {run.name}: type must be one of {RUN_TYPES}")
        if run.type == "eval-only":
            if layout == "A":
                raise ValueError(f"run {run.name}: eval-only runs belong to layout B")
            if not run.parameters.get("checkpoint_path"):
                raise ValueError(f"eval-only run {run.name} needs parameters.checkpoint_path")
        if not 0 <= run.oom_retries <= MAX_OOM_RETRIES:
            raise ValueError(f"run {run.name}: oom_retries must be within 0..{MAX_OOM_RETRIES}")
        if run.oom_retries and (run.type != "fine-tuned" or run.training == "not_started"):
            raise ValueError(f"run {run.name}: only a fine-tune that ran can be resubmitted")
        if run.batch_size >> run.oom_retries < 1:
            raise ValueError(f"run {run.name}: batch_size too small to halve {run.oom_retries}x")
    if layout == "A" and any(cell.variant is not None for cell in spec.evals):
        raise ValueError("variant cells belong to layout B")


def _plan_jobs(spec: ExperimentSpec) -> list[_Job]:
    """Every job of the experiment with its id, in submission order."""
    runs = {r.name: r for r in spec.runs}
    planned: list[_Job] = []
    for run in spec.runs:
        if run.type != "fine-tuned" or run.training == "not_started":
            continue
        if run.training not in TRAINING_ENDINGS:
            raise ValueError(f"run {run.name}: training must be one of {TRAINING_ENDINGS}")
        for attempt in range(run.oom_retries):
            planned.append(_Job(0, "train", run, attempt=attempt, outcome="oom"))
        planned.append(_Job(0, "train", run, attempt=run.oom_retries, outcome=run.training))
    for cell in spec.evals:
        if cell.status not in EVAL_STATUSES:
            raise ValueError(f"eval {cell.run}/{cell.task}: status must be one of {EVAL_STATUSES}")
        if cell.run not in runs:
            raise ValueError(f"eval cell names unknown run {cell.run!r}")
        for attempt in range(cell.extra_logs):
            planned.append(_Job(0, "eval", runs[cell.run], cell, attempt, "error"))
        if cell.status != "missing":
            planned.append(_Job(0, "eval", runs[cell.run], cell, cell.extra_logs, cell.status))

    def explicit(job: _Job) -> int | None:
        """A given id; earlier attempts of a run or cell with a given id sit just below it."""
        if job.kind == "train":
            if job.run.train_job_id is None:
                return None
            return job.run.train_job_id - (job.run.oom_retries - job.attempt)
        if job.cell.job_id is None:
            return None
        return job.cell.job_id - (job.cell.extra_logs - job.attempt)

    used = {explicit(j) for j in planned} - {None}
    next_id = spec.job_id_base
    for job in planned:
        job_id = explicit(job)
        if job_id is None:
            while next_id in used:
                next_id += 1
            job_id = next_id
            next_id += 1
        job.job_id = job_id
    if len({j.job_id for j in planned}) != len(planned):
        raise ValueError("duplicate job ids in the experiment spec")
    for slot, job in enumerate(sorted(planned, key=lambda j: j.job_id)):
        job.slot = slot
        if job.kind == "train":
            # the toolkit names a fine-tune's job after its run (layout A here: ft-{run})
            job.names = {"A": f"ft-{job.run.name}", "B": job.run.name}
            total = spec.epochs * job.run.steps_per_epoch
            if job.attempt < job.run.oom_retries:
                job.elapsed = 60 + int(_early_oom_step(job.attempt, total) * 0.48)
            else:
                job.elapsed = 60 + int(total * 0.48)
            if job.outcome == "timeout":
                job.elapsed = 4 * _HOUR  # TRAIN_TIME
        else:
            cell = job.cell
            job.names = {
                layout: _eval_job_name(cell.task, cell.run, cell.epoch, layout)
                for layout in ("A", "B")
            }
            job.elapsed = 45 + int(len(cell.targets) * 0.25)
            if job.outcome in ("started", "timeout"):
                job.elapsed = _HOUR  # EVAL_TIME
    return planned


_STATES = {
    "completed": ("COMPLETED", "0:0"),
    "diverged": ("COMPLETED", "0:0"),
    "oom": ("FAILED", "1:0"),
    "traceback": ("FAILED", "1:0"),
    "timeout": ("TIMEOUT", "0:0"),
    "success": ("COMPLETED", "0:0"),
    "error": ("FAILED", "1:0"),
    "cancelled": (f"CANCELLED by {CANCELLING_USER}", "0:15"),
    "started": ("TIMEOUT", "0:0"),
    "job_failed": ("FAILED", "1:0"),
}


def _elapsed(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def sacct_rows(spec: ExperimentSpec, layout: str = "A") -> list[tuple[str, str, str, str, str]]:
    """(JobID, JobName, State, Elapsed, ExitCode) of every job ``build_experiment`` wrote."""
    rows = []
    for job in sorted(_plan_jobs(spec), key=lambda j: j.job_id):
        state, code = _STATES[job.outcome]
        rows.append((str(job.job_id), job.names[layout], state, _elapsed(job.elapsed), code))
    return rows


class _Tree:
    """Writes files and remembers the mtime each should end up with."""

    def __init__(self, default_time: float) -> None:
        self.default_time = default_time
        self.times: dict[Path, float] = {}

    def write(self, path: Path, text: str, when: float | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        self.times[path] = self.default_time if when is None else when
        return path

    def mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def mark(self, path: Path, when: float) -> None:
        self.times[path] = when

    def apply(self, roots: Sequence[Path]) -> None:
        """Set every file's mtime (default for unmarked), and each dir's to its newest child."""
        for root in roots:
            if not root.exists():
                continue
            for dirpath, _dirnames, filenames in os.walk(root, topdown=False):
                here = Path(dirpath)
                newest = self.times.get(here, self.default_time)
                for name in filenames:
                    child = here / name
                    when = self.times.get(child, self.default_time)
                    os.utime(child, (when, when))
                    newest = max(newest, when)
                for name in _dirnames:
                    newest = max(newest, (here / name).stat().st_mtime)
                os.utime(here, (newest, newest))


class _Dumper(yaml.SafeDumper):
    """Block style, except short lists of scalars in flow style (``epochs: [0, 1]``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = bool(data) and all(isinstance(x, str | int | float | bool) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _dump_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _default_matrix(spec: ExperimentSpec) -> list[dict]:
    matrix = []
    for run in spec.runs:
        label = {"vis_label": run.vis_label} if run.vis_label is not None else {}
        if run.type != "fine-tuned":
            # ARTIFACTS.md "Run types": controls and eval-only runs have `epochs: null`
            matrix.append({"run": run.name, **label, "tasks": list(spec.tasks), "epochs": None})
            continue
        epochs = sorted({c.epoch for c in spec.evals if c.run == run.name and c.epoch is not None})
        matrix.append(
            {
                "run": run.name,
                **label,
                "tasks": list(spec.tasks),
                "epochs": epochs or list(range(spec.epochs)),
            }
        )
    return matrix


# --- datasets (layout B) -------------------------------------------------------------


@dataclass
class _Datasets:
    """The training and evaluation data as recorded, and the files to write (if any)."""

    train: str
    test: str
    files: dict[Path, str]
    generation: dict | None
    splits: dict[str, int]


_FEATURES = ["AGEP", "COW", "SCHL", "WKHP"]
_TRAIN_ROWS, _VALIDATION_ROWS = 40, 10


def _dataset_rows(rng: random.Random, count: int) -> list[dict[str, str]]:
    """Tabular rows rendered as the dictionary template does, with a binary target."""
    rows = []
    for _ in range(count):
        age, school, hours = rng.randint(18, 70), rng.randint(16, 24), rng.choice([20, 40, 50])
        text = f"AGEP: {age}\nCOW: {rng.randint(1, 8)}\nSCHL: {school}\nWKHP: {hours}"
        rows.append({"input": text, "output": "1" if school + hours / 10 > 24 else "0"})
    return rows


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _generation_config(spec: ExperimentSpec) -> dict:
    """A plausible canonical generation config (what the ``{hash8}`` of the file names hashes)."""
    condition = spec.dataset_condition or ""
    return {
        "context": "",
        "context_placement": "preamble",
        "features": list(_FEATURES),
        "missing_value_handling": "skip",
        "one_to_many": None,
        "perturbations": ["reorder"] if "reorder" in condition else [],
        "question": "Is this person's income above $50,000? Answer 1 or 0.",
        "schema_sha256": _sha(f"{spec.name}/schema"),
        "seed": 42,
        "source_sha256": _sha(f"{spec.name}/source"),
        "split_ratio": 0.8,
        "style_guidance": None,
        "subsampling_ratio": 1.0,
        "target": {"column": "PINCP", "threshold": 50000.0},
        "template": "dictionary",
        "template_file_sha256": None,
        "validation_ratio": 0.1,
    }


def _plan_datasets(spec: ExperimentSpec, root: Path, shown: Any, day: datetime) -> _Datasets:
    """ARTIFACTS.md "Layout B": generated datasets ``{condition}_{split}_{hash8}.json``.

    With a sidecar ``{condition}_{split}_{hash8}.meta.json`` holding ``config_hash_short``.
    Without a condition the evaluations read the training file, as the scaffolding does.
    """
    rng = random.Random(_sha(spec.name))
    test_rows = max((len(c.targets) for c in spec.evals), default=10)
    content = {
        "train": _dataset_rows(rng, _TRAIN_ROWS),
        "validation": _dataset_rows(rng, _VALIDATION_ROWS),
        "test": _dataset_rows(rng, test_rows),
    }
    splits = {split: len(rows) for split, rows in content.items()}
    where = root / "ck-data" if spec.write_datasets else None
    condition = spec.dataset_condition
    if condition is None:
        name = f"{spec.name}_train.json"
        if where is None:
            return _Datasets(f"{SCRATCH}/data/{name}", f"{SCRATCH}/data/{name}", {}, None, splits)
        text = json.dumps(content, indent=2) + "\n"
        return _Datasets(
            shown(where / name), shown(where / name), {where / name: text}, None, splits
        )
    config = _generation_config(spec)
    config_hash = _sha(json.dumps(config, sort_keys=True, separators=(",", ":")))
    source = f"{SCRATCH}/ck-data/source/{spec.name}.csv"
    schema = f"{SCRATCH}/ck-data/source/{spec.name}_schema.yaml"
    files: dict[Path, str] = {}
    paths: dict[str, str] = {}
    # the train file bundles the validation rows, as the generator does (extra_splits)
    for split, data in (("train", ["train", "validation"]), ("test", ["test"])):
        name = f"{condition}_{split}_{config_hash[:8]}.json"
        if where is None:
            paths[split] = f"{SCRATCH}/ck-data/generated/{name}"
            continue
        path = where / "generated" / name
        text = json.dumps({key: content[key] for key in data}, indent=2) + "\n"
        files[path] = text
        paths[split] = shown(path)
        if spec.dataset_sidecar:
            meta = {
                "condition_name": condition,
                "split": split,
                "seed": config["seed"],
                "split_ratio": config["split_ratio"],
                "row_count": sum(splits[key] for key in data),
                "size_bytes": len(text.encode()),
                "source": {"path": source, "sha256": config["source_sha256"]},
                "source_rows_total": 1000,
                "schema": {"path": schema, "sha256": config["schema_sha256"]},
                "features": config["features"],
                "template": config["template"],
                "perturbations": config["perturbations"],
                "target": config["target"],
                "context": config["context"],
                "context_placement": config["context_placement"],
                "question": config["question"],
                "generated_at": (day - timedelta(hours=3)).isoformat(),
                "non_deterministic": False,
                "config_hash": config_hash,
                "config_hash_short": config_hash[:8],
                "config": config,
            }
            if len(data) > 1:
                meta["extra_splits"] = {key: splits[key] for key in data[1:]}
            files[path.with_name(f"{path.stem}.meta.json")] = json.dumps(meta, indent=2) + "\n"
    generation = {
        "source": source,
        "schema": schema,
        "template": config["template"],
        "features": config["features"],
        "target": config["target"],
        "question": config["question"],
        "seed": config["seed"],
        "split_ratio": config["split_ratio"],
        "validation_ratio": config["validation_ratio"],
        "conditions": [{"name": condition, "perturbations": config["perturbations"]}],
    }
    return _Datasets(paths["train"], paths["test"], files, generation, splits)


def _design_yaml(
    spec: ExperimentSpec,
    layout: str,
    directory: str,
    output_base: str,
    matrix: list[dict],
    data: _Datasets | None = None,
) -> str:
    variables: dict[str, list] = {}
    for run in spec.runs:
        for key, value in run.parameters.items():
            if key == "checkpoint_path":
                continue
            variables.setdefault(key, [])
            if value not in variables[key]:
                variables[key].append(value)
    models = []
    for run in spec.runs:
        if run.model not in [m["name"] for m in models]:
            models.append(
                {"name": run.model, "path": f"{SCRATCH}/models/{run.model}", "size_gb": 2.5}
            )
    experiment = {
        "name": spec.name,
        "question": spec.question,
        "date": spec.date,
        ("directory" if layout == "A" else "dir"): directory,
    }
    training: dict[str, Any] = {
        "path": f"{SCRATCH}/data/{spec.name}_train.json",
        "label": f"{spec.name}_train",
        "format": "json",
        "size_kb": 412,
        "splits": {"train": 1000, "validation": 100, "test": 100},
    }
    if data is not None:
        training["path"] = data.train
        training["label"] = posixpath.splitext(posixpath.basename(data.train))[0]
        training["splits"] = dict(data.splits)
    design: dict[str, Any] = {
        "experiment": experiment,
        "tools": {"preparation": "torchtune", "evaluation": "inspect-ai"},
        "variables": variables,
        "controls": {
            "system_prompt": "",
            "prompt": "{input}",
            "base_recipe": "llama3_2/1B_lora_single_device",
            "epochs": spec.epochs,
            "batch_size": 4,
            "validation_during_training": False,
        },
        "models": {"base": models},
        "data": {"training": training},
    }
    if data is not None and data.generation is not None:
        design["data"]["data_generation"] = data.generation
    if layout == "A":
        design["output"] = {
            spec.output_key: output_base,
            "checkpoint_pattern": "ck-out-{run_name}/epoch_{N}",
            "wandb_project": spec.name,
        }
    design["runs"] = [
        {"name": r.name, "type": r.type, "model": r.model, "parameters": dict(r.parameters)}
        for r in spec.runs
    ]
    tasks = []
    for t in spec.tasks:
        task: dict[str, Any] = {
            "name": t,
            "script": f"{SCRATCH}/tasks/{t}/inspect_task_{t}.py",
            "description": spec.task_descriptions.get(t, f"{t} evaluation"),
        }
        if layout == "B" and spec.dataset_condition is not None:
            task["eval_condition"] = spec.dataset_condition
        tasks.append(task)
    evaluation: dict[str, Any] = {"system_prompt": "", "temperature": 0.0}
    if layout == "A":
        evaluation["scorer"] = spec.scorer
    else:
        # ARTIFACTS.md "Scorers": the design's evaluation.scorers names the scorer
        evaluation["scorers"] = [{"name": spec.scorer}]
    design["evaluation"] = {**evaluation, "tasks": tasks, "matrix": matrix}
    header = f"# Experiment design for {spec.name} (written by the design-experiment skill)\n"
    return header + _dump_yaml(design)


def _finetune_config(
    run: RunSpec, spec: ExperimentSpec, output_dir: str, data_file: str, batch_size: int
) -> dict:
    """torchtune's ``finetune.yaml`` of a run."""
    params = dict(run.parameters)
    return {
        "output_dir": output_dir,
        "model": {
            "_component_": "torchtune.models.llama3_2.lora_llama3_2_1b",
            "lora_attn_modules": ["q_proj", "v_proj"],
            "lora_rank": params.get("lora_rank", 8),
            "lora_alpha": 2 * int(params.get("lora_rank", 8)),
        },
        "tokenizer": {
            "_component_": "torchtune.models.llama3.llama3_tokenizer",
            "path": f"{SCRATCH}/models/{run.model}/original/tokenizer.model",
        },
        "checkpointer": {
            "_component_": "torchtune.training.FullModelHFCheckpointer",
            "checkpoint_dir": f"{SCRATCH}/models/{run.model}",
            "output_dir": output_dir,
            "model_type": "LLAMA3_2",
        },
        "dataset": {
            "_component_": "torchtune.datasets.instruct_dataset",
            "source": "json",
            "data_files": data_file,
        },
        "seed": 42,
        "epochs": spec.epochs,
        "batch_size": batch_size,
        "optimizer": {"_component_": "torch.optim.AdamW", "lr": params.get("lr", "3e-4")},
        "metric_logger": {
            "_component_": "torchtune.training.metric_logging.WandBLogger",
            "project": spec.name,
            "mode": "offline",
            "log_dir": f"{output_dir}/logs",
        },
        "device": "cuda",
        "dtype": "bf16",
    }


def _finetune_files(run: RunSpec, spec: ExperimentSpec, output_dir: str) -> dict[str, str]:
    """Layout A's training files: the job moves its stdout beside the checkpoints on success."""
    finetune = _finetune_config(run, spec, output_dir, f"{SCRATCH}/data/{spec.name}_train.json", 4)
    setup = {
        "input_dir_base": f"{SCRATCH}/data/",
        "dataset_label": f"{spec.name}_train",
        "dataset_ext": ".json",
        "run_name": run.name,
        "model": run.model,
        "output_dir_base": str(Path(output_dir).parent) + "/",
        "my_wandb_project": spec.name,
        "epochs": spec.epochs,
        "batch_size": 4,
        **run.parameters,
    }
    slurm = (
        _sbatch_preamble(f"ft-{run.name}", TRAIN_TIME)
        + "tune run lora_finetune_single_device --config finetune.yaml\n"
        "status=$?\n"
        "# keep the training log next to the checkpoints once training succeeded\n"
        'if [ "$status" -eq 0 ]; then\n'
        f'  mv "slurm-${{SLURM_JOB_ID}}.out" "{output_dir}/"\n'
        "fi\n"
        'exit "$status"\n'
    )
    return {
        "finetune.yaml": _dump_yaml(finetune),
        "setup_finetune.yaml": _dump_yaml(setup),
        "finetune.slurm": slurm,
    }


_GPU_QUERY = (
    "timestamp,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,"
    "temperature.gpu"
)


def _gpu_monitor(directory: str) -> str:
    """Shell lines that sample the GPU every 30 s into ``{directory}/gpu_metrics.csv``."""
    return (
        f"mkdir -p {shlex.quote(directory)}\n"
        f"nvidia-smi --query-gpu={_GPU_QUERY} --format=csv -l 30 \\\n"
        f"    > {shlex.quote(directory + '/gpu_metrics.csv')} 2>/dev/null &\n"
        "monitor=$!\n"
        "\n"
    )


def _finetune_files_b(
    run: RunSpec, spec: ExperimentSpec, artifacts: str, data: _Datasets
) -> dict[str, str]:
    """Layout B's training files: the job writes its stdout into ``{run}/artifacts/``.

    ARTIFACTS.md "Layout B": training stdout ``{run}/artifacts/slurm-{jobid}.out``;
    ``setup_finetune.yaml`` holds ``input_dir_base`` + ``dataset_label`` + ``dataset_ext``
    (the training data loaded), ``batch_size``, ``epochs``, ``lora_rank``, ``lr``, ``time``.
    ``finetune.yaml`` shows the last submission's batch size (an OOM retry halves it there).
    """
    params = dict(run.parameters)
    final_batch = run.batch_size >> run.oom_retries
    finetune = _finetune_config(run, spec, artifacts, data.train, final_batch)
    directory, file = posixpath.split(data.train)
    label, ext = posixpath.splitext(file)
    setup = {
        "torchtune_model_name": run.model,
        "my_wandb_run_name": run.name,
        "my_wandb_project": spec.name,
        "experiment_name": spec.name,
        "input_dir_base": directory + "/",
        "dataset_label": label,
        "dataset_ext": ext,
        "models_dir": f"{SCRATCH}/models",
        "batch_size": run.batch_size,
        "epochs": spec.epochs,
        "lora_rank": params.pop("lora_rank", 8),
        "lr": params.pop("lr", 1e-4),
        "time": TRAIN_TIME,
        "gpus": 1,
        "conda_env": "cruijff",
        "system_prompt": "",
        "prompt": "{input}",
        **params,
    }
    slurm = (
        _sbatch_preamble(run.name, TRAIN_TIME, output=f"{artifacts}/slurm-%j.out")
        + _gpu_monitor(artifacts)
        + "tune run lora_finetune_single_device --config finetune.yaml\n"
        "status=$?\n"
        "\n"
        "kill $monitor 2>/dev/null\n"
        "wait $monitor 2>/dev/null\n"
        'exit "$status"\n'
    )
    return {
        "finetune.yaml": _dump_yaml(finetune),
        "setup_finetune.yaml": _dump_yaml(setup),
        "finetune.slurm": slurm,
    }


def _sbatch_preamble(job_name: str, time_limit: str, output: str = "slurm-%j.out") -> str:
    """The `#SBATCH` header and environment set-up the scaffolding's batch scripts share."""
    return (
        "#!/bin/bash\n"
        f"#SBATCH --job-name={job_name}\n"
        "#SBATCH --nodes=1\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --cpus-per-task=4\n"
        "#SBATCH --mem=32G\n"
        "#SBATCH --gres=gpu:1\n"
        f"#SBATCH --time={time_limit}\n"
        f"#SBATCH --output={output}\n"
        "\n"
        "module purge\n"
        "module load anaconda3/2024.6\n"
        "conda activate cruijff\n"
        "\n"
    )


def _eval_slurm(
    job_name: str, script: str, model: str, model_path: str | None, task_args: dict
) -> str:
    args = f" -M model_path={model_path}" if model_path else ""
    args += "".join(f" -T {k}={v}" for k, v in task_args.items())
    return (
        _sbatch_preamble(job_name, EVAL_TIME)
        + f"inspect eval {script} --model {model}{args} --log-dir logs --display plain\n"
    )


# --- evaluation cells (layout B) -----------------------------------------------------


@dataclass
class _CellB:
    """One scaffolded evaluation cell of layout B and everything its evaluation records."""

    dir: Path
    stdout_dir: Path
    model: str
    model_path: str
    task_args: dict
    metadata: dict
    log_task: str
    task_file: str
    subject: str
    eval_yaml: dict
    slurm: str


def _cli_value(value: object) -> str:
    """A value as written after ``-T key=`` / ``--metadata key=`` (inspect YAML-parses it)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return shlex.quote(text)


def _cell_b(
    spec: ExperimentSpec,
    run: RunSpec,
    task: str,
    epoch: int | None,
    variant: str | None,
    vis_label: str,
    evidence: Sequence[str],
    exp: Path,
    shown: Any,
    data: _Datasets,
) -> _CellB:
    """A layout-B cell, following ARTIFACTS.md "Layout B" and "inspect-ai logs"."""
    unknown = set(evidence) - set(EPOCH_EVIDENCE)
    if unknown:
        raise ValueError(f"unknown epoch evidence {sorted(unknown)}; use {EPOCH_EVIDENCE}")
    finetuned = run.type == "fine-tuned"
    if finetuned != (epoch is not None):
        raise ValueError(f"{run.name}/{task}: only fine-tuned cells (all of them) have an epoch")
    # cell folder {task}_epoch{N} (control, eval-only: {task}); variants {task}_{variant}_epoch{N}
    stem = task if variant is None else f"{task}_{variant}"
    name = stem if epoch is None else f"{stem}_epoch{epoch}"
    artifacts = exp / run.name / "artifacts"
    cell_dir = exp / run.name / "eval" / name
    if finetuned:
        # "inspect-ai logs": the model is hf/{run}_epoch_{N}, -M model_path= the checkpoint;
        # "Layout B": the job writes --output={run}/artifacts/epoch_{N}/slurm-%j.out
        model = f"hf/{run.name}_epoch_{epoch}" if "model_name" in evidence else f"hf/{run.name}"
        model_path = shown(artifacts / f"epoch_{epoch}")
        stdout_dir = artifacts / f"epoch_{epoch}"
    elif run.type == "control":
        # "inspect-ai logs": control model hf/{run}_base; "Layout B": --output={run}/artifacts/
        model, model_path = f"hf/{run.name}_base", f"{SCRATCH}/models/{run.model}"
        stdout_dir = artifacts
    else:
        # "Run types": an eval-only run's model path is parameters.checkpoint_path verbatim
        model, model_path = f"hf/{run.name}", str(run.parameters["checkpoint_path"])
        stdout_dir = artifacts
    script = f"{SCRATCH}/tasks/{task}/inspect_task_{task}.py"
    # "Layout B": -T vis_label=...; the task scripts name the task {task}_{vis_label}
    task_args: dict[str, Any] = {
        "data_path": data.test,
        "config_path": shown(cell_dir / "eval.yaml"),
        "vis_label": vis_label,
        "use_chat_template": True,
    }
    if finetuned and "task_args" in evidence:
        task_args["epoch"] = epoch  # "inspect-ai logs": newer task scripts record -T epoch=N
    # "Layout B": --metadata epoch=N (fine-tuned only) is_finetuned=... source_model=NAME
    metadata: dict[str, Any] = {"epoch": epoch} if finetuned else {}
    metadata |= {"is_finetuned": run.type != "control", "source_model": run.model}
    eval_yaml: dict[str, Any] = {
        "task_script": f"{script}@{task}",
        "task_name": task,
        "model_path": model_path,
        "model_hf_name": model,
        "output_dir": shown(artifacts) + "/",
        "data_path": data.test,
        "vis_label": vis_label,
        "use_chat_template": True,
    }
    if finetuned:
        eval_yaml["epoch"] = epoch
    eval_yaml |= {
        "is_finetuned": metadata["is_finetuned"],
        "source_model": run.model,
        "scorers": [{"name": spec.scorer}],
    }
    job_name = _eval_job_name(task, run.name, epoch, "B")
    command = [
        f"/usr/bin/time -p inspect eval {shlex.quote(script + '@' + task)}",
        f"--model {model}",
        f"-M model_path={shlex.quote(model_path)}",
        "-M do_sample=false",
        *(f"-T {key}={_cli_value(value)}" for key, value in task_args.items()),
        *(f"--metadata {key}={_cli_value(value)}" for key, value in metadata.items()),
        "--max-connections 32",
        "--seed 14",
        "--log-dir ./logs",
    ]
    slurm = (
        _sbatch_preamble(job_name, EVAL_TIME, output=f"{shown(stdout_dir)}/slurm-%j.out")
        + _gpu_monitor(shown(stdout_dir))
        + "export HF_HUB_OFFLINE=1\n"
        + f"cd {shlex.quote(shown(cell_dir))}\n"
        + "\n"
        + " \\\n  ".join(command)
        + "\nstatus=$?\n\nkill $monitor 2>/dev/null\nwait $monitor 2>/dev/null\n"
        + 'exit "$status"\n'
    )
    # "Run logs": SUBMIT_EVAL run/task/epochN (control, eval-only: run/task)
    subject = f"{run.name}/{stem}" if epoch is None else f"{run.name}/{stem}/epoch{epoch}"
    return _CellB(
        dir=cell_dir,
        stdout_dir=stdout_dir,
        model=model,
        model_path=model_path,
        task_args=task_args,
        metadata=metadata,
        log_task=f"{task}_{vis_label}",
        task_file=script,
        subject=subject,
        eval_yaml=eval_yaml,
        slurm=slurm,
    )


def _scaffold_b(
    spec: ExperimentSpec,
    exp: Path,
    shown: Any,
    tree: _Tree,
    matrix: list[dict],
    data: _Datasets,
) -> dict[tuple, _CellB]:
    """Training files of the fine-tuned runs and every designed cell (before anything ran)."""
    runs = {r.name: r for r in spec.runs}
    for run in spec.runs:
        if run.type == "fine-tuned":
            artifacts = shown(exp / run.name / "artifacts")
            for name, text in _finetune_files_b(run, spec, artifacts, data).items():
                tree.write(exp / run.name / name, text)
    evidence = {(c.run, c.task, c.epoch, c.variant): c.epoch_evidence for c in spec.evals}
    variants: dict[tuple[str, str], list[str | None]] = {}
    for c in spec.evals:
        names = variants.setdefault((c.run, c.task), [])
        if c.variant not in names:
            names.append(c.variant)
    labels: dict[tuple[str, str], str] = {}
    planned: list[tuple[str, str, int | None, str | None]] = []
    for entry in matrix:
        # ARTIFACTS.md "Layout B": vis_label defaults to the run name; "{label} ({task})"
        # for an entry with several tasks
        label = entry.get("vis_label") or entry["run"]
        for task in entry["tasks"]:
            several = len(entry["tasks"]) > 1
            labels[(entry["run"], task)] = f"{label} ({task})" if several else label
            for epoch in entry["epochs"] if entry["epochs"] is not None else [None]:
                for variant in variants.get((entry["run"], task), [None]):
                    planned.append((entry["run"], task, epoch, variant))
    planned += [k for k in evidence if k not in planned]  # cells outside the matrix
    cells: dict[tuple, _CellB] = {}
    for key in planned:
        run_name, task, epoch, variant = key
        run = runs[run_name]
        label = labels.get((run_name, task), run.vis_label or run.name)
        cell = _cell_b(
            spec,
            run,
            task,
            epoch,
            variant,
            label,
            evidence.get(key, EvalSpec.epoch_evidence),
            exp,
            shown,
            data,
        )
        if cell.dir in {c.dir for c in cells.values()}:
            raise ValueError(f"two cells share the folder {cell.dir}")
        tree.write(cell.dir / "eval.yaml", _dump_yaml(cell.eval_yaml))
        tree.write(cell.dir / "cell.slurm", cell.slurm)
        tree.mkdir(cell.dir / "logs")
        cells[key] = cell
    return cells


def _scaffold_a(
    spec: ExperimentSpec, exp: Path, ckpt_root: Any, shown: Any, tree: _Tree, matrix: list[dict]
) -> None:
    """Layout A's training files and one evaluation script per designed cell."""
    runs = {r.name: r for r in spec.runs}
    for run in spec.runs:
        if run.type == "control":
            continue
        for name, text in _finetune_files(run, spec, shown(ckpt_root(run))).items():
            tree.write(exp / run.name / name, text)
    cells = {(c.run, c.task, c.epoch): c for c in spec.evals}
    for entry in matrix:
        run = runs[entry["run"]]
        for task in entry["tasks"]:
            for epoch in entry["epochs"] if entry["epochs"] is not None else [None]:
                cell = cells.get((run.name, task, epoch))
                evidence = cell.epoch_evidence if cell else EvalSpec.epoch_evidence
                model, model_args, task_args = _cell_identity(
                    run, epoch, evidence, ckpt_root(run), shown
                )
                script = f"{SCRATCH}/tasks/{task}/inspect_task_{task}.py"
                name = _eval_job_name(task, run.name, epoch, "A")
                slurm = _eval_slurm(name, script, model, model_args.get("model_path"), task_args)
                tree.write(exp / run.name / "eval" / f"{_cell_label(task, epoch)}.slurm", slurm)


def build_experiment(
    root: Path,
    spec: ExperimentSpec,
    *,
    layout: str = "A",
    output_base: Path | None = None,
    relative_paths: bool = False,
    experiment_dir: Path | None = None,
    cache_dir: Path | None = None,
    workers: int = 1,
) -> Path:
    """Write a complete experiment (layout A or B of ARTIFACTS.md) and return its directory.

    The experiment goes to ``experiment_dir`` (default ``root / spec.name``); layout A's
    checkpoints and successful training logs go to ``output_base`` (default
    ``root / "ck-outputs" / spec.name``), layout B's datasets (when written) to
    ``root / "ck-data"``. ``relative_paths`` records the experiment and output directories
    (and the logs' ``model_path``) relative to the experiment, so the tree can be moved.
    Job ids and mtimes are deterministic; :func:`sacct_rows` gives the matching accounting
    table. ``workers`` > 1 writes the inspect logs in that many processes (worth it for
    thousands of samples); ``cache_dir`` keeps the template log.
    """
    if layout not in ("A", "B"):
        raise ValueError(f"layout must be 'A' or 'B', got {layout!r}")
    if spec.output_key not in ("base_directory", "output_dir_base"):
        raise ValueError("output_key must be 'base_directory' or 'output_dir_base'")
    _check_spec(spec, layout)
    root = Path(root)
    exp = Path(experiment_dir) if experiment_dir is not None else root / spec.name
    base = Path(output_base) if output_base is not None else root / "ck-outputs" / spec.name
    exp, base = exp.absolute(), base.absolute()
    jobs = _plan_jobs(spec)
    day = datetime.fromisoformat(spec.date).replace(hour=9, tzinfo=UTC)
    tree = _Tree(default_time=(day - timedelta(hours=1)).timestamp())

    def shown(path: Path) -> str:
        return os.path.relpath(path, exp) if relative_paths else str(path)

    def end_of(job: _Job) -> datetime:
        """Jobs end an hour apart in job-id order, the first 5 h after the scaffold."""
        return day + timedelta(hours=job.slot + 5)

    def ckpt_root(run: RunSpec) -> Path:
        return base / f"ck-out-{run.name}" if layout == "A" else exp / run.name / "artifacts"

    matrix = spec.matrix if spec.matrix is not None else _default_matrix(spec)
    data = _plan_datasets(spec, root.absolute(), shown, day) if layout == "B" else None
    tree.write(
        exp / "experiment_summary.yaml",
        _design_yaml(spec, layout, shown(exp), shown(base), matrix, data),
        (day - timedelta(hours=2)).timestamp(),
    )
    cells: dict[tuple, _CellB] = {}
    if data is None:
        _scaffold_a(spec, exp, ckpt_root, shown, tree, matrix)
    else:
        for path, text in data.files.items():
            tree.write(path, text, (day - timedelta(hours=3)).timestamp())
        cells = _scaffold_b(spec, exp, shown, tree, matrix, data)

    for job in jobs:
        if job.kind == "train":
            _write_training(job, spec, layout, exp, ckpt_root(job.run), shown, tree, end_of(job))
    evals = [
        _plan_eval_job(
            job,
            layout,
            exp,
            ckpt_root(job.run),
            shown,
            end_of(job),
            spec.scorer,
            cells.get((job.cell.run, job.cell.task, job.cell.epoch, job.cell.variant)),
        )
        for job in jobs
        if job.kind == "eval"
    ]
    requests = [e.log_request for e in evals if e.log_request is not None]
    paths = iter(_write_logs(requests, cache_dir, workers))
    for planned in evals:
        log_path = next(paths) if planned.log_request is not None else None
        _write_eval_stdout(planned, log_path, tree)
    if layout == "B":
        _write_eval_gpu_metrics(evals, tree)
        _write_run_logs(jobs, cells, end_of, exp, tree)

    tree.apply([exp, base] if layout == "A" else [exp, root.absolute() / "ck-data"])
    return exp


def _cell_identity(
    run: RunSpec, epoch: int | None, evidence: Sequence[str], ckpt: Path, shown: Any
) -> tuple[str, dict, dict]:
    """(model name, model_args, task_args) a layout-A cell's evaluation records."""
    unknown = set(evidence) - set(EPOCH_EVIDENCE)
    if unknown:
        raise ValueError(f"unknown epoch evidence {sorted(unknown)}; use {EPOCH_EVIDENCE}")
    if epoch is None:
        name = run.name if run.name.endswith("_base") else f"{run.name}_base"
        return f"hf/{name}", {"model_path": f"{SCRATCH}/models/{run.model}"}, {}
    model = f"hf/{run.name}_epoch_{epoch}" if "model_name" in evidence else f"hf/{run.name}"
    model_args = {"model_path": shown(ckpt / f"epoch_{epoch}")} if "model_path" in evidence else {}
    task_args = {"epoch": epoch} if "task_args" in evidence else {}
    return model, model_args, task_args


def _gpu_metrics(job_id: int, start: datetime, end: datetime) -> str:
    """``nvidia-smi --format=csv -l 30`` output over a job: a header, then a row per 30 s."""
    rng = random.Random(job_id)
    lines = [
        "timestamp, utilization.gpu [%], utilization.memory [%], memory.used [MiB], "
        "memory.total [MiB], power.draw [W], temperature.gpu"
    ]
    seconds = max(0, int((end - start).total_seconds()))
    for i, offset in enumerate(range(0, seconds, 30)):
        when = start + timedelta(seconds=offset, milliseconds=rng.randint(0, 999))
        busy = i > 0  # the first sample is taken before the model is on the GPU
        gpu = rng.randint(82, 99) if busy else 0
        memory = rng.randint(18000, 21000) if busy else 1
        power = 240 + rng.random() * 60 if busy else 61 + rng.random() * 3
        lines.append(
            f"{when:%Y/%m/%d %H:%M:%S}.{when.microsecond // 1000:03d}, {gpu} %, "
            f"{gpu // 2 if busy else 0} %, {memory} MiB, 81559 MiB, {power:.2f} W, "
            f"{rng.randint(55, 68) if busy else 33}"
        )
        if i >= 999:
            break
    return "\n".join(lines) + "\n"


def _write_training(
    job: _Job,
    spec: ExperimentSpec,
    layout: str,
    exp: Path,
    ckpt: Path,
    shown: Any,
    tree: _Tree,
    end: datetime,
) -> None:
    """One training submission's stdout; the last submission also writes the checkpoints."""
    run = job.run
    spe = run.steps_per_epoch
    last = job.attempt == run.oom_retries
    failed = job.outcome in ("oom", "timeout", "traceback")
    if last:
        trained = run.epochs_trained
        if trained is None:
            trained = 0 if failed else spec.epochs
        if failed and trained >= spec.epochs:
            raise ValueError(f"run {run.name}: a failed training cannot have written every epoch")
        stop_step = trained * spe + max(1, spe * 3 // 10) if failed else None
    else:
        # ARTIFACTS.md "Run logs": an earlier submission that ran out of GPU memory
        trained, stop_step = 0, _early_oom_step(job.attempt, spec.epochs * spe)
    seed = int.from_bytes(hashlib.sha256(run.name.encode()).digest()[:4], "big")
    losses = run.losses
    if losses is None:
        losses = default_losses(spec.epochs * spe, seed=seed, final=run.final_loss)
    # layout A moves the log next to the checkpoints only when training succeeded;
    # ARTIFACTS.md "Layout B": every submission's stdout is {run}/artifacts/slurm-{jobid}.out
    where = exp / run.name if layout == "A" and failed else ckpt
    path = where / f"slurm-{job.job_id}.out"
    write_training_stdout(
        path,
        epochs=spec.epochs,
        steps_per_epoch=spe,
        losses=losses,
        ending=job.outcome,
        seed=seed,
        output_dir=shown(ckpt),
        stop_step=stop_step,
        job_id=job.job_id,
        end_time=end,
        batch_size=run.batch_size >> job.attempt,
    )
    tree.mark(path, end.timestamp())
    start = end - timedelta(seconds=job.elapsed)
    if not last:
        return
    if layout == "B":
        tree.write(ckpt / "gpu_metrics.csv", _gpu_metrics(job.job_id, start, end), end.timestamp())
    tree.write(
        ckpt / "logs" / "wandb" / "debug.log",
        f"{start:%Y-%m-%d %H:%M:%S} INFO wandb offline run started for {run.name}\n",
        start.timestamp(),
    )
    for epoch in range(trained):
        when = start + timedelta(seconds=job.elapsed * (epoch + 1) / (spec.epochs + 0.2))
        adapter = {
            "base_model_name_or_path": f"{SCRATCH}/models/{run.model}",
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "r": run.parameters.get("lora_rank", 8),
            "lora_alpha": 2 * int(run.parameters.get("lora_rank", 8)),
            "target_modules": ["q_proj", "v_proj"],
        }
        tree.write(
            ckpt / f"epoch_{epoch}" / "adapter_config.json",
            json.dumps(adapter, indent=2) + "\n",
            when.timestamp(),
        )


@dataclass
class _PlannedEval:
    """An evaluation job ready to write: its log request and what its stdout shows."""

    job: _Job
    job_dir: Path
    log_request: dict | None
    stdout: dict
    end: datetime
    stdout_dir: Path


def _plan_eval_job(
    job: _Job,
    layout: str,
    exp: Path,
    ckpt: Path,
    shown: Any,
    end: datetime,
    scorer: str = "match",
    cell_b: _CellB | None = None,
) -> _PlannedEval:
    """The log and stdout of one evaluation job (``cell_b``: its layout-B cell)."""
    cell, run = job.cell, job.run
    extra: dict[str, Any] = {}
    if cell_b is None:
        job_dir = stdout_dir = exp / run.name / "eval"
        model, model_args, task_args = _cell_identity(
            run, cell.epoch, cell.epoch_evidence, ckpt, shown
        )
        task = cell.task
    else:
        # ARTIFACTS.md "Layout B": logs in the cell folder, the job's stdout in artifacts/
        job_dir, stdout_dir = cell_b.dir, cell_b.stdout_dir
        model, model_args = cell_b.model, {"model_path": cell_b.model_path}
        task_args, task = cell_b.task_args, cell_b.log_task
        inputs = cell.inputs
        if inputs is None:
            inputs = [f"{cell.task} item {i + 1}" for i in range(len(cell.targets))]
        extra = {
            "metadata": cell_b.metadata,
            "task_file": cell_b.task_file,
            "dataset": posixpath.splitext(posixpath.basename(task_args["data_path"]))[0],
            "inputs": inputs,
        }
    n = len(cell.targets)
    status = job.outcome
    answers = list(cell.answers)
    if status in ("error", "cancelled", "started"):
        fraction = 0.5 if job.attempt < cell.extra_logs else cell.completed_fraction
        keep = int(n * fraction)
        answers = answers[:keep] + [None] * (n - keep)
    request = None
    if cell.scorer is not None and status not in ("job_failed", "timeout"):
        if cell.scorer not in SCORED_SCORERS or status != "success":
            raise ValueError(
                f"eval {cell.run}/{cell.task}: scorer {cell.scorer!r} needs status success and "
                f"one of {SCORED_SCORERS}"
            )
        request = {
            "writer": "scored",
            "directory": job_dir / "logs",
            "scorer": cell.scorer,
            "task": task,
            "model": model,
            "samples": _scored_samples(cell, extra.get("inputs")),
            "task_args": task_args,
            "model_args": model_args,
            "metadata": extra.get("metadata"),
            "created": end - timedelta(seconds=job.elapsed - 30),
            "match_location": cell.match_location,
        }
    elif status not in ("job_failed", "timeout"):
        request = {
            "directory": job_dir / "logs",
            "task": task,
            "model": model,
            "targets": list(cell.targets),
            "answers": answers,
            "task_args": task_args,
            "model_args": model_args,
            "status": status,
            "created": end - timedelta(seconds=job.elapsed - 30),
            "inputs": cell.inputs,
            "scorer": scorer,
            **extra,
        }
    scored = [(a, t) for a, t in zip(answers, cell.targets, strict=True) if a is not None]
    correct = (a == t or (scorer == "includes" and t in a) for a, t in scored)
    stdout = {
        "task": task,
        "accuracy": sum(correct) / len(scored) if scored else None,
        "scorer": scorer,
        "failed": {
            "success": None,
            "error": "error",
            "cancelled": "cancelled",
            "started": "timeout",
            "timeout": "timeout",
            "job_failed": "oom",
        }[status],
        "model": model,
        "samples": n,
        "completed": len(scored) if status != "success" else None,
        "task_args": task_args,
        "job_id": job.job_id,
        "end_time": end,
    }
    if cell_b is not None:
        # the evaluation runs inside /usr/bin/time -p, after the environment set-up
        wall = max(job.elapsed - 12, 2)
        stdout |= {
            "wall_time": wall + 0.37,
            "total_time": max(wall - 25, 1),
            "dataset": extra["dataset"],
        }
    return _PlannedEval(
        job=job,
        job_dir=job_dir,
        log_request=request,
        stdout=stdout,
        end=end,
        stdout_dir=stdout_dir,
    )


def _scored_samples(cell: EvalSpec, inputs: Sequence[str] | None) -> list[Any]:
    """The cell's samples for ``write_scored_log``: ids 1..n, each answer as the reply."""
    from .scored_logs import ScoredSample

    texts = inputs or [f"{cell.task} item {i + 1}" for i in range(len(cell.targets))]
    risks = list(cell.risks) if cell.risks is not None else [None] * len(cell.targets)
    return [
        ScoredSample(i + 1, text, target, answer, risk)
        for i, (text, target, answer, risk) in enumerate(
            zip(texts, cell.targets, cell.answers, risks, strict=True)
        )
    ]


def _write_log_request(request: dict, cache_dir: Path | None) -> Path:
    if request.get("writer") == "scored":
        from .scored_logs import write_scored_log

        fields = {k: v for k, v in request.items() if k != "writer"}
        digest = hashlib.sha256(
            json.dumps([fields["task"], fields["model"], str(fields["created"])]).encode()
        ).digest()
        (task_id,) = _short_ids(random.Random(digest), 1)
        name = inspect_log_name(fields["task"], task_id, fields["created"])
        return write_scored_log(**fields, filename=name)
    return write_inspect_log(cache_dir=cache_dir, **request)


def _write_logs(requests: list[dict], cache_dir: Path | None, workers: int) -> list[Path]:
    """Write the inspect logs, in ``workers`` forked processes when asked."""
    if workers <= 1 or len(requests) <= 1:
        return [_write_log_request(r, cache_dir) for r in requests]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    _load_template(cache_dir)  # forked workers inherit it
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(partial(_write_log_request, cache_dir=cache_dir), requests))


def _write_eval_stdout(planned: _PlannedEval, log_path: Path | None, tree: _Tree) -> None:
    log_rel = None
    if log_path is not None:
        tree.mark(log_path, (planned.end - timedelta(seconds=5)).timestamp())
        log_rel = Path("logs") / log_path.name
    text = eval_stdout_text(log_path=log_rel, **planned.stdout)
    path = planned.stdout_dir / f"slurm-{planned.job.job_id}.out"
    tree.write(path, text, planned.end.timestamp())


def _write_eval_gpu_metrics(evals: list[_PlannedEval], tree: _Tree) -> None:
    """ARTIFACTS.md "Layout B": ``gpu_metrics.csv`` beside the evaluation stdouts.

    Every evaluation job writing into a folder rewrites it; the last one to end stays.
    """
    last: dict[Path, _PlannedEval] = {}
    for planned in evals:
        held = last.get(planned.stdout_dir)
        if held is None or planned.end >= held.end:
            last[planned.stdout_dir] = planned
    for directory, planned in last.items():
        start = planned.end - timedelta(seconds=planned.job.elapsed)
        text = _gpu_metrics(planned.job.job_id, start, planned.end)
        tree.write(directory / "gpu_metrics.csv", text, planned.end.timestamp())


_STATE_RESULTS = {
    "COMPLETED": "{} finished",
    "FAILED": "{} failed",
    "TIMEOUT": "{} hit its time limit",
    "CANCELLED": "{} cancelled",
}


def _log_entry(when: datetime, action: str, subject: str, details: str, result: str) -> str:
    """ARTIFACTS.md "Run logs": ``[YYYY-MM-DD HH:MM:SS] ACTION_TYPE: subject``, Details, Result."""
    return f"[{when:%Y-%m-%d %H:%M:%S}] {action}: {subject}\nDetails: {details}\nResult: {result}\n"


def _write_run_logs(
    jobs: list[_Job], cells: dict[tuple, _CellB], end_of: Any, exp: Path, tree: _Tree
) -> None:
    """ARTIFACTS.md "Run logs": every submission in ``logs/run-torchtune.log`` (SUBMIT_JOB,
    OOM_RETRY) and ``logs/run-inspect.log`` (SUBMIT_EVAL), with STATE_CHANGE entries."""
    entries: dict[str, list[tuple[datetime, str]]] = {
        "run-torchtune.log": [],
        "run-inspect.log": [],
    }
    attempts = {(j.run.name, j.attempt): j for j in jobs if j.kind == "train"}
    for job in sorted(jobs, key=lambda j: j.job_id):
        run, end = job.run, end_of(job)
        start = end - timedelta(seconds=job.elapsed)
        submitted = start - timedelta(minutes=2)
        if job.kind == "train":
            log, action, what = "run-torchtune.log", "SUBMIT_JOB", "Training"
            subject, details = run.name, f"cd {run.name} && sbatch finetune.slurm"
            if job.attempt:  # resubmitted once the monitor saw the earlier one run out of memory
                submitted = end_of(attempts[(run.name, job.attempt - 1)]) + timedelta(seconds=60)
        else:
            cell = cells[(job.cell.run, job.cell.task, job.cell.epoch, job.cell.variant)]
            log, action, what = "run-inspect.log", "SUBMIT_EVAL", "Evaluation"
            folder = Path(os.path.relpath(cell.dir, exp)).as_posix()
            subject, details = cell.subject, f"cd {folder} && sbatch cell.slurm"
        running = max(start, submitted + timedelta(seconds=30))
        state = _STATES[job.outcome][0].split(" ")[0]
        added = entries[log]
        result = f"Job ID {job.job_id} submitted at {submitted:%Y-%m-%d %H:%M:%S}"
        added.append((submitted, _log_entry(submitted, action, subject, details, result)))
        started = _log_entry(
            running, "STATE_CHANGE", subject, "PENDING → RUNNING", f"{what} started"
        )
        added.append((running, started))
        result = _STATE_RESULTS[state].format(what)
        added.append((end, _log_entry(end, "STATE_CHANGE", subject, f"RUNNING → {state}", result)))
        if job.kind != "train":
            continue
        noticed = end + timedelta(seconds=60)
        batch = run.batch_size >> job.attempt
        if job.attempt < run.oom_retries:
            details = (
                f"batch_size {batch} -> {batch // 2} (attempt {job.attempt + 1}/"
                f"{MAX_OOM_RETRIES}); finetune.yaml updated"
            )
            result = f"resubmitted as job {attempts[(run.name, job.attempt + 1)].job_id}"
            added.append((noticed, _log_entry(noticed, "OOM_RETRY", subject, details, result)))
        elif job.outcome == "oom" and run.oom_retries == MAX_OOM_RETRIES:
            retries = range(1, run.oom_retries + 1)
            tried = json.dumps([{"batch_size": run.batch_size >> k} for k in retries])
            details = f"tried {tried} across {MAX_OOM_RETRIES} retries"
            result = "manual intervention required"
            added.append((noticed, _log_entry(noticed, "OOM_EXHAUSTED", subject, details, result)))
    for name, items in entries.items():
        if items:
            items.sort(key=lambda item: item[0])
            text = "".join(block + "\n" for _, block in items)
            tree.write(exp / "logs" / name, text, items[-1][0].timestamp())


def reset_template_cache() -> None:
    """Forget the in-process template (tests use it to exercise the on-disk cache)."""
    _TEMPLATES.clear()


def remove_tree(path: Path) -> None:
    """Delete a generated experiment tree (refuses anything without a design file)."""
    path = Path(path)
    if not path.exists():
        return
    if not (path / "experiment_summary.yaml").exists():
        raise ValueError(f"{path} does not look like a generated experiment; not deleting it")
    shutil.rmtree(path)
