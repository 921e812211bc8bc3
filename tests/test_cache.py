"""Warm re-runs: what an earlier run read is taken from `logs/summarize-cache.json` for every
input whose size, modification time and inode did not change; each way an input can change
invalidates exactly its own entry, and a cache that cannot be trusted is ignored with a note."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from summarize_experiment.evidence import gather as gather_module
from summarize_experiment.evidence.cache import CACHE_FILE
from summarize_experiment.pipeline import summarize
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment, write_inspect_log

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["1", "0"] * 6


def spec() -> ExperimentSpec:
    return ExperimentSpec(
        name="cached",
        runs=[RunSpec("r1", steps_per_epoch=4), RunSpec("r2", steps_per_epoch=4)],
        tasks=["cap"],
        evals=[
            EvalSpec(run, "cap", epoch, TARGETS, TARGETS[:right] + ["1"] * (12 - right))
            for run, right in (("r1", 8), ("r2", 10))
            for epoch in (0, 1)
        ],
        epochs=2,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Path:
    root = tmp_path_factory.mktemp("cache")
    return build_experiment(root, spec(), cache_dir=template_cache, relative_paths=True)


@pytest.fixture
def exp(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the experiment (with its output root), summarized once, so its cache
    is there."""
    shutil.copytree(pristine.parent, tmp_path / "root", symlinks=True)
    copy = tmp_path / "root" / pristine.name
    assert summarize(copy, use_sacct=False)[0] == 0
    assert (copy / CACHE_FILE).is_file()
    return copy


class Reads:
    """Every file the gatherer asked the readers to read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.logs: list[str] = []
        self.stdouts: list[str] = []
        real = gather_module.read_all

        def spy(logs, stdouts, **kwargs):  # type: ignore[no-untyped-def]
            self.logs += list(logs)
            self.stdouts += list(stdouts)
            return real(logs, stdouts, **kwargs)

        monkeypatch.setattr(gather_module, "read_all", spy)


def rerun(exp: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> tuple[Reads, dict]:
    reads = Reads(monkeypatch)
    code, result = summarize(exp, use_sacct=False, **kwargs)
    assert code == 0, result
    return reads, json.loads((exp / "summary.json").read_text())


def logs_of(exp: Path) -> list[Path]:
    return sorted(exp.glob("*/eval/logs/*.eval"))


def accuracies(report: dict) -> dict[tuple[str, int], float]:
    return {(r["run"], r["epoch"]): r["accuracy"] for r in report["evaluations"]}


def test_nothing_changed_nothing_is_read(exp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (exp / "summary.json").read_text()
    reads, report = rerun(exp, monkeypatch)
    assert (reads.logs, reads.stdouts) == ([], [])

    def strip(text: str) -> str:  # the time, and the digest of summary.md, which holds it
        document = json.loads(text)
        return text.replace(document["generated_at"], "").replace(document["summary_md_sha256"], "")

    assert strip((exp / "summary.json").read_text()) == strip(before)
    assert accuracies(report)[("r2", 1)] == pytest.approx(11 / 12)  # 10 right + 1 of the rest


HEAVY = ("inspect_ai", "matplotlib", "sklearn", "scipy.stats")


def modules_loaded_by_a_run(exp: Path) -> list[str]:
    """Run the summarizer in a fresh interpreter; which of HEAVY it imported."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from summarize_experiment.pipeline import "
            f"summarize; code, _ = summarize(Path({str(exp)!r}), use_sacct=False); "
            f"print(code, *[name for name in {HEAVY!r} if name in sys.modules])",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    code, *loaded = done.stdout.split()
    assert code == "0", done.stderr
    return loaded


def test_a_warm_run_imports_no_reader_metrics_or_plotting_library(exp: Path) -> None:
    """Nothing changed: the reads come from the cache, the metrics and comparisons from the
    judge's memo in it, and the figures are the ones on disk."""
    assert modules_loaded_by_a_run(exp) == []


def test_a_warm_run_leaves_the_cache_file_as_it_was(exp: Path) -> None:
    cache = exp / CACHE_FILE
    before = cache.stat()
    assert summarize(exp, use_sacct=False)[0] == 0
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )


def report_without_time(exp: Path) -> dict:
    report = json.loads((exp / "summary.json").read_text())
    return {k: v for k, v in report.items() if k not in ("generated_at", "summary_md_sha256")}


def test_results_from_the_memo_are_the_results_computed_afresh(exp: Path) -> None:
    cache = json.loads((exp / CACHE_FILE).read_text())
    kinds = len(cache["derived"])
    assert kinds >= 4 + 2  # the metrics of each log, and at least the best's comparisons
    assert summarize(exp, use_sacct=False)[0] == 0
    from_memo = report_without_time(exp)
    assert summarize(exp, use_sacct=False, use_cache=False)[0] == 0
    assert report_without_time(exp) == from_memo
    assert from_memo["best"][0]["runner_up"]["paired"] is True


def test_one_new_log_is_read_beside_the_imports_judging_it_takes(
    exp: Path, monkeypatch: pytest.MonkeyPatch, template_cache: Path
) -> None:
    """With a few logs to read and more than one job, a worker reads them while the parent
    imports what judging them takes; the summary is the one a fresh run gives."""
    import summarize_experiment.pipeline as pipeline

    calls: list[bool] = []
    real = pipeline.import_for_judging
    monkeypatch.setattr(
        pipeline, "import_for_judging", lambda figures: calls.append(figures) or real(figures)
    )
    gone = logs_of(exp)[3]
    aside = exp.parent / "aside.eval"
    os.replace(gone, aside)
    assert summarize(exp, use_sacct=False, jobs=2)[0] == 0
    assert calls == []  # a log gone: nothing to read
    os.replace(aside, gone)
    reads, _ = rerun(exp, monkeypatch, jobs=2)
    assert reads.logs == [str(gone)] and reads.stdouts == []
    assert calls == [True]
    incremental = report_without_time(exp)
    assert summarize(exp, use_sacct=False, use_cache=False)[0] == 0
    assert report_without_time(exp) == incremental


def test_a_log_rewritten_in_place_with_the_same_size(
    exp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = logs_of(exp)[0]
    data = target.read_bytes()
    target.write_bytes(data)  # same bytes, same size, a new modification time
    reads, _ = rerun(exp, monkeypatch)
    assert reads.logs == [str(target)] and reads.stdouts == []


def test_a_log_replaced_by_another_file(exp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = logs_of(exp)[1]
    info = target.stat()
    replacement = target.with_name("replacement.tmp")
    shutil.copy2(target, replacement)
    os.replace(replacement, target)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))  # same size and time: a new inode
    assert target.stat().st_ino != info.st_ino
    reads, _ = rerun(exp, monkeypatch)
    assert reads.logs == [str(target)]


def test_a_touched_stdout(exp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (stdout,) = (exp.parent / "ck-outputs" / "cached" / "ck-out-r1").glob("slurm-*.out")
    os.utime(stdout)
    reads, _ = rerun(exp, monkeypatch)
    assert (reads.logs, reads.stdouts) == ([], [str(stdout)])


def test_a_deleted_log_and_a_new_log_beside(
    exp: Path, monkeypatch: pytest.MonkeyPatch, template_cache: Path
) -> None:
    gone, kept = logs_of(exp)[:2]
    gone.unlink()
    new = write_inspect_log(
        kept.parent,
        task="cap",
        model="hf/r1_epoch_1",
        targets=TARGETS,
        answers=TARGETS,
        cache_dir=template_cache,
    )
    reads, report = rerun(exp, monkeypatch)
    assert reads.logs == [str(new)] and reads.stdouts == []
    cache = json.loads((exp / CACHE_FILE).read_text())
    assert str(gone) not in cache["logs"] and str(new) in cache["logs"]
    assert str(gone) not in {r["log"] for r in report["evaluations"]}


@pytest.mark.parametrize("damage", ["corrupt", "other version", "folder"])
def test_a_cache_that_cannot_be_trusted_is_ignored_with_a_note(
    exp: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    cache = exp / CACHE_FILE
    if damage == "corrupt":
        cache.write_text('{"version": ')
    elif damage == "other version":
        data = json.loads(cache.read_text())
        cache.write_text(json.dumps({**data, "version": "0.0.1/1"}))
    else:
        cache.unlink()
        cache.mkdir()
    reads, report = rerun(exp, monkeypatch)
    assert len(reads.logs) == 4 and len(reads.stdouts) == len(report["training"]) + 4
    assert any(str(cache) in note and "read again" in note for note in report["notes"])
    assert accuracies(report)[("r1", 0)] == pytest.approx(10 / 12)  # 8 right + 2 of the rest


def test_no_cache_reads_everything(exp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads, _ = rerun(exp, monkeypatch, use_cache=False)
    assert len(reads.logs) == 4
