#!/usr/bin/env python3
"""`make bench`: time the summarizer on a sweep-sized synthetic experiment (and a quarter of it).

For each size (``full``: 162 logs of 2,000 samples + 16 x 13 MB training stdouts; ``quarter``:
42 logs + 4 x 13 MB), built once and cached under .bench/ by bench/generate.py:

(a) pipeline: ``python scripts/summarize.py EXP --no-sacct`` as a subprocess (wall time), its
    peak memory sampled every ~50 ms over its whole process tree (sum of VmRSS, and sum of Pss,
    which splits the pages forked workers share with their parent), and the largest single
    process's max RSS (``wait4`` rusage);
(b) the specification's method: per ``.eval`` file a fresh ``python`` running
    bench/baseline_parse_eval_log.py and another running bench/baseline_summary_binary.py (both
    read the full log with ``read_eval_log``), timed on a seeded random subset of files and
    scaled to the whole count;
(c) the floor: bench/floor.py, one process reading each log's header and sample summaries
    through inspect-ai and each training stdout once, timed as a subprocess.

(a) and (c) run alternately ``--repeats`` times on a warm page cache; the best (minimum) wall
time of each is used. Results go to .bench/results.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

PYTHON = sys.executable
SUMMARIZE = REPO / "scripts" / "summarize.py"
SAMPLE_EVERY_S = 0.05
MB = 1024 * 1024

TARGETS = {
    "spec_over_pipeline_min": 50.0,
    "pipeline_over_floor_max": 1.0,
    "peak_memory_mb_max": 300.0,
    "memory_growth_max": 0.20,
    "warm_over_cold_max": 0.10,
    "one_new_over_cold_max": 0.20,
    "figures_added_s_max": 1.5,
}


# ---------------------------------------------------------------------------
# Process-tree memory sampling
# ---------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found += [int(c) for c in handle.read().split()]
        except OSError:
            continue
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc/<pid>/task/<tid>/children)."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += _children(pid)
    return tree


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def wait_for_quiet(max_wait_s: float, threshold: float = 0.25) -> dict:
    """Wait (up to ``max_wait_s``) until the machine has been nearly idle for two 1 s windows:
    other users' jobs make timings noisy. Returns how long it waited and the last busy share."""
    start = time.perf_counter()
    streak, busy = 0, 1.0
    while True:
        b0, t0 = _cpu_jiffies()
        time.sleep(1.0)
        b1, t1 = _cpu_jiffies()
        busy = (b1 - b0) / max(t1 - t0, 1)
        streak = streak + 1 if busy < threshold else 0
        waited = time.perf_counter() - start
        if streak >= 2 or waited >= max_wait_s:
            return {
                "waited_s": round(waited, 1),
                "busy_share": round(busy, 3),
                "quiet": streak >= 2,
            }


NICE = 0
"""Nice value of the timed commands (set from --nice; negative needs root)."""


def _boost() -> None:
    if NICE:
        os.nice(NICE)


def usable_nice(requested: int) -> int:
    """``requested`` if this process may use it, else 0."""
    if requested >= 0:
        return requested
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, current + requested)
        os.setpriority(os.PRIO_PROCESS, 0, current)
    except OSError:
        return 0
    return requested


def run_measured(cmd: list[str], cwd: Path = REPO) -> dict:
    """Run ``cmd``; wall time, CPU time, and its process tree's memory sampled every 50 ms."""
    busy0, _ = _cpu_jiffies()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_boost
        )
        peak_rss = peak_pss = peak_procs = 0
        samples = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - start
                break
            pids = process_tree(proc.pid)
            peak_rss = max(peak_rss, sum(_status_kb(p, "VmRSS:") for p in pids))
            peak_pss = max(peak_pss, sum(_pss_kb(p) for p in pids))
            peak_procs = max(peak_procs, len(pids))
            samples += 1
            time.sleep(SAMPLE_EVERY_S)
        proc.returncode = os.waitstatus_to_exitcode(status)
        busy1, _ = _cpu_jiffies()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        # CPU the rest of the machine used meanwhile (other users' jobs): a noise indicator
        "foreign_cpu_s": max(
            0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK") - usage.ru_utime - usage.ru_stime
        ),
        "returncode": proc.returncode,
        "peak_rss_sum_mb": peak_rss / 1024,
        "peak_pss_sum_mb": peak_pss / 1024,
        "max_single_rss_mb": usage.ru_maxrss / 1024,
        "peak_processes": peak_procs,
        "memory_samples": samples,
        "stdout": stdout,
        "stderr": stderr[-2000:],
    }


def run_timed(cmd: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, stdin=subprocess.DEVNULL, preexec_fn=_boost
    )
    return time.perf_counter() - start, proc.returncode


# ---------------------------------------------------------------------------
# One size
# ---------------------------------------------------------------------------


def warm_cache(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(8 * MB):
                pass


def timed_run(which: str, cmd: list[str], args: argparse.Namespace) -> dict:
    """One measured run after the quiet gate; fails the benchmark when the command fails."""
    gate = wait_for_quiet(args.quiet_wait)
    result = run_measured(cmd)
    result["quiet_gate"] = gate
    if result["returncode"] != 0:
        raise SystemExit(f"{which} failed ({result['returncode']}):\n{result['stderr']}")
    print(
        f"   {which:19} {result['wall_s']:7.2f} s wall, {result['cpu_s']:6.1f} s CPU, "
        f"peak RSS sum {result['peak_rss_sum_mb']:5.0f} MB, "
        f"Pss sum {result['peak_pss_sum_mb']:5.0f} MB; others used "
        f"{result['foreign_cpu_s']:5.1f} s CPU meanwhile",
        file=sys.stderr,
        flush=True,
    )
    return result


def _evaluations(result: dict) -> int | None:
    return json.loads(result["stdout"]).get("counts", {}).get("evaluations")


def rerun_sequence(
    exp: Path, evals: list[str], pipeline_cmd: list[str], args: argparse.Namespace
) -> dict[str, list[dict]]:
    """Re-runs as users make them, ``--repeats`` times: a cold run with one log held back, a
    warm run (nothing changed: everything from logs/summarize-cache.json, figures kept), the
    same with summary-figures/ removed (the figures' own cost: matplotlib imported and every
    figure drawn, nothing else changed), then that log put back (an evaluation that finished
    since: one new log to read)."""
    held = random.Random(args.seed).choice(evals)
    aside = Path(args.bench_dir) / "held-back.eval"
    runs: dict[str, list[dict]] = {
        "cold_minus_one": [],
        "warm": [],
        "warm_figures_redrawn": [],
        "one_new_log": [],
    }
    for _ in range(args.repeats):
        generate.clean_outputs(exp)
        os.replace(held, aside)
        try:
            runs["cold_minus_one"].append(timed_run("cold, one log held", pipeline_cmd, args))
            runs["warm"].append(timed_run("warm (no change)", pipeline_cmd, args))
            shutil.rmtree(exp / "summary-figures")
            runs["warm_figures_redrawn"].append(
                timed_run("warm, figures drawn", pipeline_cmd, args)
            )
        finally:
            os.replace(aside, held)
        runs["one_new_log"].append(timed_run("one new log", pipeline_cmd, args))
        counts = [_evaluations(runs[name][-1]) for name in runs]
        expected = [len(evals) - 1] * 3 + [len(evals)]
        if counts != expected:
            raise SystemExit(f"re-runs counted {counts} evaluations, not {expected}")
    return runs


def bench_size(info: dict, args: argparse.Namespace) -> dict:
    exp = Path(info["experiment"])
    evals, training = info["eval_logs"], info["training_logs"]
    print(
        f"\n== {info['size']}: {len(evals)} logs x {info['samples_per_log']} samples, "
        f"{len(training)} training stdouts ({info['training_bytes'] / 1e6:.0f} MB)",
        file=sys.stderr,
        flush=True,
    )
    files_json = Path(args.bench_dir) / f"files-{info['size']}.json"
    files_json.write_text(json.dumps({"eval_logs": evals, "training_logs": training}))
    warm_cache(evals + training)

    pipeline_cmd = [PYTHON, str(SUMMARIZE), str(exp), "--no-sacct"]
    floor_cmd = [PYTHON, str(HERE / "floor.py"), str(files_json)]
    # every (a) run is cold: no read cache, no figures from an earlier run
    commands = {
        "pipeline": pipeline_cmd,
        "pipeline_no_figures": [*pipeline_cmd, "--no-figures"],
        "floor": floor_cmd,
    }
    if args.extras:
        commands["pipeline_jobs1"] = [*pipeline_cmd, "--jobs", "1"]
        commands["floor_gc_frozen"] = [*floor_cmd, "--freeze-gc"]
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    names = list(commands)
    for repeat in range(args.repeats):
        shift = repeat % len(names)  # rotate the order, so no command always runs first
        for which in names[shift:] + names[:shift]:
            generate.clean_outputs(exp)
            runs[which].append(timed_run(which, commands[which], args))
    summary = json.loads(runs["pipeline"][-1]["stdout"])
    if summary.get("counts", {}).get("evaluations") != len(evals):
        raise SystemExit(f"the summary does not count every log: {summary.get('counts')}")
    incremental = rerun_sequence(exp, evals, pipeline_cmd, args)

    baseline = []
    per_file_mean = None
    if args.baseline_files:
        wait_for_quiet(args.quiet_wait)
        chosen = random.Random(args.seed).sample(evals, min(args.baseline_files, len(evals)))
        for path in chosen:
            parse_s, parse_rc = run_timed([PYTHON, str(HERE / "baseline_parse_eval_log.py"), path])
            binary_s, binary_rc = run_timed(
                [PYTHON, str(HERE / "baseline_summary_binary.py"), path]
            )
            if parse_rc != 0 or binary_rc not in (0, 3):
                raise SystemExit(f"baseline failed on {path} ({parse_rc}, {binary_rc})")
            baseline.append({"path": path, "parse_s": parse_s, "binary_s": binary_s})
        pairs = [b["parse_s"] + b["binary_s"] for b in baseline]
        per_file, per_file_mean = statistics.median(pairs), statistics.mean(pairs)
        print(
            f"   spec     {per_file:7.2f} s per file (median; mean {per_file_mean:.2f}) on "
            f"{len(baseline)} files "
            f"-> {per_file * len(evals):.0f} s for {len(evals)}",
            file=sys.stderr,
            flush=True,
        )
    else:
        per_file = None

    pipeline_s = min(r["wall_s"] for r in runs["pipeline"])
    no_figures_s = min(r["wall_s"] for r in runs["pipeline_no_figures"])
    warm_s = min(r["wall_s"] for r in incremental["warm"])
    one_new_s = min(r["wall_s"] for r in incremental["one_new_log"])
    floor_s = min(r["wall_s"] for r in runs["floor"])
    pipeline_median = statistics.median(r["wall_s"] for r in runs["pipeline"])
    floor_median = statistics.median(r["wall_s"] for r in runs["floor"])
    spec_s = per_file * len(evals) if per_file is not None else None
    strip = ("stdout", "stderr")
    return {
        "size": info["size"],
        "experiment": str(exp),
        "eval_logs": len(evals),
        "samples_per_log": info["samples_per_log"],
        "eval_bytes": info["eval_bytes"],
        "training_logs": len(training),
        "training_bytes": info["training_bytes"],
        "pipeline_s": pipeline_s,
        "spec_method_s": spec_s,
        "floor_s": floor_s,
        "spec_over_pipeline": spec_s / pipeline_s if spec_s else None,
        "pipeline_over_floor": pipeline_s / floor_s,
        "pipeline_median_s": pipeline_median,
        "floor_median_s": floor_median,
        "pipeline_over_floor_median": pipeline_median / floor_median,
        "spec_over_pipeline_median": spec_s / pipeline_median if spec_s else None,
        "pipeline_no_figures_s": no_figures_s,
        "figures_added_s": pipeline_s - no_figures_s,
        "figures_drawn_s": min(r["wall_s"] for r in incremental["warm_figures_redrawn"]) - warm_s,
        "warm_s": warm_s,
        "one_new_log_s": one_new_s,
        "warm_over_cold": warm_s / pipeline_s,
        "one_new_over_cold": one_new_s / pipeline_s,
        "cold_minus_one_s": min(r["wall_s"] for r in incremental["cold_minus_one"]),
        "warm_peak_rss_sum_mb": max(r["peak_rss_sum_mb"] for r in incremental["warm"]),
        "pipeline_peak_rss_sum_mb": max(r["peak_rss_sum_mb"] for r in runs["pipeline"]),
        "pipeline_peak_pss_sum_mb": max(r["peak_pss_sum_mb"] for r in runs["pipeline"]),
        "pipeline_max_single_rss_mb": max(r["max_single_rss_mb"] for r in runs["pipeline"]),
        "pipeline_peak_processes": max(r["peak_processes"] for r in runs["pipeline"]),
        "floor_peak_rss_sum_mb": max(r["peak_rss_sum_mb"] for r in runs["floor"]),
        "runs": {
            name: [{k: v for k, v in r.items() if k not in strip} for r in results]
            for name, results in {**runs, **incremental}.items()
        },
        "extras": {
            name: min(r["wall_s"] for r in runs[name])
            for name in ("pipeline_jobs1", "floor_gc_frozen")
            if name in runs
        },
        "spec_method": {
            "files_timed": len(baseline),
            "seed": args.seed,
            "per_file_s": per_file,
            "per_file_mean_s": per_file_mean,
            "estimate": "median per file x number of files",
            "files": baseline,
        },
        "summary_counts": summary.get("counts"),
        "generated_seconds": info.get("generated_seconds"),
    }


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    rows = [
        "| Size | Logs (x 2,000 samples) | Training stdout | (a) pipeline | (b) spec method "
        "(est.) | (c) floor | (b)/(a) | (a)/(c) | Peak RSS, sum over tree | Peak Pss, sum "
        "over tree | Largest process max RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["sizes"]:
        rows.append(
            f"| {r['size']} | {r['eval_logs']} | {r['training_logs']} x "
            f"{r['training_bytes'] / r['training_logs'] / 1e6:.0f} MB = "
            f"{r['training_bytes'] / 1e6:.0f} MB | {_fmt(r['pipeline_s'])} s | "
            f"{_fmt(r['spec_method_s'], 0)} s | {_fmt(r['floor_s'])} s | "
            f"{_fmt(r['spec_over_pipeline'])} | {_fmt(r['pipeline_over_floor'], 2)} | "
            f"{r['pipeline_peak_rss_sum_mb']:.0f} MB | {r['pipeline_peak_pss_sum_mb']:.0f} MB | "
            f"{r['pipeline_max_single_rss_mb']:.0f} MB |"
        )
    lines = ["\n".join(rows), ""]
    for r in results["sizes"]:
        lines.append(
            f"- {r['size']}, medians instead of minimums: (a) {r['pipeline_median_s']:.1f} s, "
            f"(c) {r['floor_median_s']:.1f} s, (a)/(c) {r['pipeline_over_floor_median']:.2f}, "
            f"(b)/(a) {_fmt(r['spec_over_pipeline_median'])}"
        )
    lines += [
        "",
        "| Size | (a) cold | cold, --no-figures | difference | warm (nothing changed) | "
        "warm, figures drawn | figures add | warm/cold | one new log | one new/cold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["sizes"]:
        lines.append(
            f"| {r['size']} | {r['pipeline_s']:.2f} s | {r['pipeline_no_figures_s']:.2f} s | "
            f"{r['figures_added_s']:+.2f} s | {r['warm_s']:.2f} s | "
            f"{r['warm_s'] + r['figures_drawn_s']:.2f} s | {r['figures_drawn_s']:+.2f} s | "
            f"{r['warm_over_cold']:.3f} | {r['one_new_log_s']:.2f} s | "
            f"{r['one_new_over_cold']:.3f} |"
        )
    lines.append("")
    extras = [r for r in results["sizes"] if r.get("extras")]
    if extras:
        lines += [
            "| Size | (a1) summarizer --jobs 1 | (a1)/(c) | (c') floor, gc frozen | (a)/(c') |",
            "|---|---|---|---|---|",
        ]
        for r in extras:
            one, frozen = r["extras"].get("pipeline_jobs1"), r["extras"].get("floor_gc_frozen")
            lines.append(
                f"| {r['size']} | {_fmt(one)} s | {_fmt(one and one / r['floor_s'], 2)} | "
                f"{_fmt(frozen)} s | {_fmt(frozen and r['pipeline_s'] / frozen, 2)} |"
            )
        lines.append("")
    verdict = {True: "PASS", False: "FAIL", None: "shown"}
    for check in results["checks"]:
        lines.append(f"- {verdict[check['ok']]}: {check['what']}")
    return "\n".join(lines)


def checks(sizes: list[dict]) -> list[dict]:
    by = {r["size"]: r for r in sizes}
    out = []
    for r in sizes:
        if r["spec_over_pipeline"] is not None:
            out.append(
                {
                    "what": f"{r['size']}: (b)/(a) = {r['spec_over_pipeline']:.1f} >= "
                    f"{TARGETS['spec_over_pipeline_min']:.0f}",
                    "ok": r["spec_over_pipeline"] >= TARGETS["spec_over_pipeline_min"],
                }
            )
        out.append(
            {
                "what": f"{r['size']}: (a)/(c) = {r['pipeline_over_floor']:.2f} <= "
                f"{TARGETS['pipeline_over_floor_max']:.1f}",
                "ok": r["pipeline_over_floor"] <= TARGETS["pipeline_over_floor_max"],
            }
        )
    # the re-run and figure targets are the sweep's (full size); the quarter's are shown
    for r in sizes:
        sweep = r["size"] == "full"
        out += [
            {
                "what": f"{r['size']}: warm/cold = {r['warm_over_cold']:.3f} <= "
                f"{TARGETS['warm_over_cold_max']}",
                "ok": r["warm_over_cold"] <= TARGETS["warm_over_cold_max"] if sweep else None,
            },
            {
                "what": f"{r['size']}: one new log/cold = {r['one_new_over_cold']:.3f} <= "
                f"{TARGETS['one_new_over_cold_max']}",
                "ok": r["one_new_over_cold"] <= TARGETS["one_new_over_cold_max"] if sweep else None,
            },
            {
                "what": f"{r['size']}: figures add {r['figures_drawn_s']:+.2f} s (drawn alone; "
                f"cold minus --no-figures: {r['figures_added_s']:+.2f} s) <= "
                f"{TARGETS['figures_added_s_max']} s",
                "ok": r["figures_drawn_s"] <= TARGETS["figures_added_s_max"] if sweep else None,
            },
        ]
    if "full" in by:
        full = by["full"]
        for key, label in (
            ("pipeline_peak_rss_sum_mb", "sum of VmRSS"),
            ("pipeline_peak_pss_sum_mb", "sum of Pss"),
        ):
            out.append(
                {
                    "what": f"full: peak memory ({label}) {full[key]:.0f} MB < "
                    f"{TARGETS['peak_memory_mb_max']:.0f} MB",
                    "ok": full[key] < TARGETS["peak_memory_mb_max"],
                }
            )
    if "full" in by and "quarter" in by:
        for key, label in (
            ("pipeline_peak_rss_sum_mb", "sum of VmRSS"),
            ("pipeline_peak_pss_sum_mb", "sum of Pss"),
        ):
            growth = by["full"][key] / by["quarter"][key] - 1
            out.append(
                {
                    "what": f"memory growth quarter -> full ({label}): {growth:+.1%} within "
                    f"{TARGETS['memory_growth_max']:.0%}",
                    "ok": abs(growth) <= TARGETS["memory_growth_max"],
                }
            )
        time_ratio = by["full"]["pipeline_s"] / by["quarter"]["pipeline_s"]
        log_ratio = by["full"]["eval_logs"] / by["quarter"]["eval_logs"]
        out.append(
            {
                "what": f"pipeline time full/quarter = {time_ratio:.2f} for "
                f"{log_ratio:.2f}x the logs and "
                f"{by['full']['training_bytes'] / by['quarter']['training_bytes']:.2f}x the "
                "training bytes (linear: at most the size ratio)",
                "ok": time_ratio <= max(log_ratio, 4.0) * 1.1,
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bench-dir", type=Path, default=REPO / ".bench")
    parser.add_argument("--sizes", nargs="+", default=["full", "quarter"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of (a) and (c) per size")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait, before each timed run, for the machine to be idle (0: no wait)",
    )
    parser.add_argument(
        "--baseline-files", type=int, default=16, help="files timed for (b); 0 skips it"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the (b) subset")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="nice value of the timed commands, so other users' jobs on a shared machine "
        "disturb the timings less (negative values need root; ignored otherwise; default -10)",
    )
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument(
        "--no-extras",
        dest="extras",
        action="store_false",
        help="skip the extra references (summarizer with --jobs 1, floor with gc frozen)",
    )
    args = parser.parse_args()
    args.bench_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    infos = generate.ensure(args.bench_dir, tuple(args.sizes))
    ready_s = time.perf_counter() - t0
    if args.generate_only:
        return 0
    global NICE
    NICE = usable_nice(args.nice)
    load_before = os.getloadavg()
    sizes = [bench_size(infos[name], args) for name in args.sizes]
    results = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "method": {
            "repeats": args.repeats,
            "wall_time": "minimum over repeats, warm page cache",
            "memory_sampling_s": SAMPLE_EVERY_S,
            "nice": NICE,
            "spec_method": "median per file (parse + binary process) over a seeded subset x "
            "number of files",
            "quiet_gate": f"before each timed run, wait up to {args.quiet_wait:.0f} s for two 1 s "
            "windows with the machine < 25% busy",
        },
        "cache_ready_s": ready_s,
        "generation_cold_s": {name: infos[name]["generated_seconds"] for name in args.sizes},
        "targets": TARGETS,
        "sizes": sizes,
    }
    results["checks"] = checks(sizes)
    out = args.bench_dir / "results.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(markdown(results))
    print(f"\n(results: {out}; bench process max RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
