"""The package installs (`pip install .`) with a `summarize-experiment` command that does what
`scripts/summarize.py` does, and its public face names what a notebook user calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import summarize_experiment
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["1", "0"] * 5


def small_spec() -> ExperimentSpec:
    return ExperimentSpec(
        name="installed",
        runs=[RunSpec("r1", steps_per_epoch=3), RunSpec("base", type="control")],
        tasks=["cap"],
        evals=[
            EvalSpec("r1", "cap", 0, TARGETS, TARGETS),
            EvalSpec("base", "cap", None, TARGETS, ["1"] * 10),
        ],
        epochs=1,
    )


def test_public_face() -> None:
    assert set(summarize_experiment.__all__) >= {"assess_experiment", "summarize", "Results"}
    for name in summarize_experiment.__all__:
        assert getattr(summarize_experiment, name) is not None


def test_assess_experiment_gives_typed_results(tmp_path: Path, template_cache: Path) -> None:
    exp = build_experiment(tmp_path, small_spec(), cache_dir=template_cache)
    results = summarize_experiment.assess_experiment(exp, use_sacct=False)
    assert isinstance(results, summarize_experiment.Results)
    runs = {run.name: run for run in results.runs}
    assert runs["r1"].finetune.status == "COMPLETED" and runs["r1"].complete
    (cell,) = runs["base"].cells
    assert (cell.task, cell.epoch, cell.status) == ("cap", None, "COMPLETED")
    assert cell.metrics is not None and cell.metrics.accuracy == pytest.approx(0.5)
    assert not (exp / "summary.md").exists()  # nothing written


def test_pip_install_gives_the_command(tmp_path: Path, template_cache: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "summarize_experiment",
        source / "summarize_experiment",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    target = tmp_path / "installed"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    command = target / "bin" / "summarize-experiment"
    assert command.is_file()
    exp = build_experiment(tmp_path / "exp", small_spec(), cache_dir=template_cache)
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run(
        [sys.executable, str(command), str(exp), "--no-sacct"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert (result["status"], result["experiment"]) == ("success", "installed")
    assert result["counts"]["complete_runs"] == 2
    assert Path(result["summary"]).read_text().startswith("# Experiment Summary\n")
    installed = subprocess.run(
        [sys.executable, "-c", "import summarize_experiment; print(summarize_experiment.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert installed.stdout.strip().startswith(str(target))
