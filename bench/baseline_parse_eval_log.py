#!/usr/bin/env python3
"""Baseline (the specification's method), step 3: accuracy of one log, read in full.

What the seed's ``parse_eval_log.py`` does, one fresh process per ``.eval`` file: import
inspect-ai, ``read_eval_log(path)`` with every sample, print the accuracy as JSON. Our product's
``tools/inspect/parse_eval_log.py`` deliberately does not read full samples, so the benchmark
keeps its own copy of the specification's method here.

Usage: python bench/baseline_parse_eval_log.py LOG.eval
"""

from __future__ import annotations

import json
import sys

from inspect_ai.log import read_eval_log


def main(path: str) -> int:
    try:
        log = read_eval_log(path)
    except Exception as exc:
        print(json.dumps({"status": "error", "path": path, "message": str(exc)}))
        return 1
    if log.status != "success" or log.results is None:
        print(json.dumps({"status": "error", "path": path, "message": f"status {log.status}"}))
        return 1
    score = log.results.scores[0]
    accuracy = score.metrics["accuracy"].value if "accuracy" in score.metrics else None
    print(
        json.dumps(
            {
                "status": "success",
                "task": log.eval.task,
                "accuracy": accuracy,
                "samples": len(log.samples or []),
                "scorer": score.name,
                "model": log.eval.model,
                "metrics": {f"{score.name}/{k}": m.value for k, m in score.metrics.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
