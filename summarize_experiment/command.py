"""summarize-experiment: the whole pipeline in one process (what `scripts/summarize.py`, the
`summarize-experiment` command and `python -m summarize_experiment` run): writes summary.md,
summary.json and the process log.

Examples:
  python scripts/summarize.py /scratch/me/cap_4L_lora_rank_comparison
  python scripts/summarize.py        # the current folder, if it holds experiment_summary.yaml
  python scripts/summarize.py EXP --jobs 4 --no-sacct
  summarize-experiment EXP           # the same, from an installed package

Prints one JSON object on stdout: status ("success", "partial" when some inputs had problems, or
"error"), the paths written (summary, summary_json, log), counts, best and warnings (reference.md).
With --when-done: submits the summarizer as a SLURM job with --dependency=afterany on every
training and evaluation job of the experiment not yet finished, and prints {"status": "submitted",
"job_id": ..., "waits_for": [...], "script": ...}, or {"status": "nothing_to_wait_for"} when all
have ended (nothing is submitted then).

Exit codes: 0 summary written (also with partial results) or job submitted; 2 no summary could
be made (no usable experiment_summary.yaml; summary.md is left as it was) or sbatch failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from .cli import add_jobs_argument, exit_now, experiment_argument, print_json
from .progress import progress_reporter
from .vocabulary import EXIT_OK, EXIT_USAGE


def _when_done(experiment: Path) -> int:
    from .evidence.design import DesignError
    from .evidence.slurm import SlurmError
    from .when_done import submit_when_done

    try:
        result = submit_when_done(experiment)
    except (DesignError, SlurmError) as exc:
        print_json({"status": "error", "message": str(exc)})
        return EXIT_USAGE
    except OSError as exc:  # the job script cannot be written (a link leading out, a full disk)
        from .pipeline import write_problem

        print_json({"status": "error", "message": write_problem(experiment, exc)})
        return EXIT_USAGE
    print_json(result)
    return EXIT_OK


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the command line, summarize (or submit with --when-done), print the JSON result."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("experiment", nargs="?", help="experiment folder (default: current)")
    add_jobs_argument(parser)
    parser.add_argument(
        "--no-sacct",
        action="store_true",
        help="do not ask SLURM accounting; use only the files on disk",
    )
    parser.add_argument(
        "--sacct-timeout",
        type=float,
        default=None,
        help="seconds to wait for sacct before going on without it",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="read every input again, ignoring (and then replacing) logs/summarize-cache.json",
    )
    parser.add_argument(
        "--no-figures",
        action="store_true",
        help="write no figures (summary-figures/*.svg) and embed none in summary.md",
    )
    parser.add_argument(
        "--when-done",
        action="store_true",
        help="submit the summary as a SLURM job that starts when every "
        "unfinished job of the experiment has ended; print its job id",
    )
    args = parser.parse_args(argv)
    if args.when_done:
        return _when_done(experiment_argument(args.experiment))
    from .pipeline import summarize

    with progress_reporter() as on_progress:
        code, result = summarize(
            experiment_argument(args.experiment),
            jobs=args.jobs,
            use_sacct=not args.no_sacct,
            sacct_timeout_s=args.sacct_timeout,
            on_progress=on_progress,
            figures=not args.no_figures,
            use_cache=not args.no_cache,
        )
    print_json(result)
    return code


def console_main() -> NoReturn:
    """The `summarize-experiment` command of an installed package."""
    exit_now(main(prog="summarize-experiment"))
