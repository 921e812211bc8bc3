#!/usr/bin/env python3
"""The floor: one process that reads only what must be read, sequentially.

For every ``.eval`` log: its header (``read_eval_log(header_only=True)``) and its sample
summaries (``read_eval_log_sample_summaries``), through inspect-ai; for every training stdout:
the whole file once, in 1 MiB binary chunks. No metrics, no report. The benchmark times it as a
subprocess, so its interpreter start and the inspect-ai import are counted.

Usage: python bench/floor.py FILES_JSON [--freeze-gc]
(FILES_JSON: {"eval_logs": [...], "training_logs": [...]})

``--freeze-gc`` (a stricter reference, not the floor the targets use): ``gc.freeze()`` after the
import, as the summarizer does while it reads, so the garbage collector skips inspect-ai's own
objects. Prints one JSON object: counts of logs, samples and bytes read.
"""

from __future__ import annotations

import gc
import json
import sys

from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries


def main(files_json: str) -> None:
    with open(files_json, encoding="utf-8") as handle:
        files = json.load(handle)
    samples = 0
    for path in files["eval_logs"]:
        header = read_eval_log(path, header_only=True)
        summaries = read_eval_log_sample_summaries(path)
        samples += len(summaries)
        assert header.eval.task
    training_bytes = 0
    for path in files["training_logs"]:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                training_bytes += len(chunk)
    print(
        json.dumps(
            {
                "eval_logs": len(files["eval_logs"]),
                "samples": samples,
                "training_logs": len(files["training_logs"]),
                "training_bytes": training_bytes,
            }
        )
    )


if __name__ == "__main__":
    if "--freeze-gc" in sys.argv[2:]:
        gc.freeze()
    main(sys.argv[1])
