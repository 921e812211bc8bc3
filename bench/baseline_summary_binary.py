#!/usr/bin/env python3
"""Baseline (the specification's method), step 4: binary metrics of one log, read in full.

What the seed's ``summary_binary.py`` does, one fresh process per ``.eval`` file: import
inspect-ai and scikit-learn, ``read_eval_log(path)`` with every sample, take each sample's
target and the answer its scorer extracted, and compute accuracy, balanced accuracy, F1,
precision, recall and the confusion matrix; a task whose targets are not all 0/1 is reported
``not_binary`` (exit 3) after the same full read.

Usage: python bench/baseline_summary_binary.py LOG.eval
"""

from __future__ import annotations

import json
import sys

from inspect_ai.log import read_eval_log
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)


def _label(value: object, target: int) -> int:
    """0/1, or for an answer outside {0, 1} the wrong class (it is always wrong)."""
    text = str(value).strip()
    return int(text) if text in ("0", "1") else 1 - target


def main(path: str) -> int:
    try:
        log = read_eval_log(path)
    except Exception as exc:
        print(json.dumps({"status": "error", "path": path, "message": str(exc)}))
        return 1
    targets, answers = [], []
    for sample in log.samples or []:
        score = next(iter((sample.scores or {}).values()), None)
        answer = score.answer if score is not None else sample.output.completion
        target = sample.target if isinstance(sample.target, str) else ",".join(sample.target)
        targets.append(target)
        answers.append(answer)
    if not targets or any(t.strip() not in ("0", "1") for t in targets):
        print(json.dumps({"status": "not_binary", "path": path, "samples": len(targets)}))
        return 3
    y_true = [int(t.strip()) for t in targets]
    y_pred = [_label(a, t) for a, t in zip(answers, y_true, strict=True)]
    matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
    print(
        json.dumps(
            {
                "status": "success",
                "path": path,
                "samples": len(y_true),
                "accuracy": accuracy_score(y_true, y_pred),
                "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
                "f1": f1_score(y_true, y_pred, zero_division=0),
                "precision_1": precision_score(y_true, y_pred, zero_division=0),
                "recall_1": recall_score(y_true, y_pred, zero_division=0),
                "confusion_matrix": matrix.tolist(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
