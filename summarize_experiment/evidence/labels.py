"""What a target or an answer is: a 0/1 label, a number, or neither (pure functions).

Kept apart from `metrics` so that reading logs needs numpy only, not scikit-learn or scipy:
the readers forked to read logs in parallel then stay small (see `readers`).
"""

from __future__ import annotations

import math
import numbers
import re
from array import array
from collections.abc import Iterable, Sequence

import numpy as np

OTHER = -1
"""Label standing for a prediction that is neither 0 nor 1."""

# the usual spellings, looked up before parsing (1 == 1.0 == True hash alike)
_COMMON_LABELS: dict[object, int] = {0: 0, 1: 1, "0": 0, "1": 1, "0.0": 0, "1.0": 1}


def normalize_label(value: object) -> int | None:
    """0 or 1 for a binary label (``"1"``, ``" 1 "``, ``"1.0"``, ``1``, ``True``), else None."""
    try:
        return _COMMON_LABELS[value]
    except (KeyError, TypeError):
        pass
    if isinstance(value, bool | np.bool_):
        return int(value)
    number = parse_number(value)
    if number == 0.0:
        return 0
    if number == 1.0:
        return 1
    return None


def is_binary_task(targets: Sequence[object]) -> bool:
    """True when there is at least one target and every target is a 0/1 label."""
    return len(targets) > 0 and all(normalize_label(target) is not None for target in targets)


def parse_number(value: object) -> float | None:
    """A finite float from a number or numeric text (``" 42 "``, ``"1e3"``), else None."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, numbers.Real):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def is_numeric_task(targets: Sequence[object]) -> bool:
    """True when every target is a finite number and the task is not binary."""
    return (
        len(targets) > 0
        and all(parse_number(target) is not None for target in targets)
        and not is_binary_task(targets)
    )


def label_array(values: Iterable[object]) -> array:
    """Each value as a 0/1 label, `OTHER` where it is not one: one byte per value."""
    return array("b", (OTHER if (label := normalize_label(v)) is None else label for v in values))


def number_array(values: Iterable[object]) -> array:
    """Each value as a finite float, NaN where it is not a number: eight bytes per value."""
    return array("d", (math.nan if (number := parse_number(v)) is None else number for v in values))


# a 0 or 1 standing alone in a reply ("The answer is 1.", "0", "label: 1.0"), not part of a
# longer number or word ("10", "1.5", "v1")
_LABEL_TOKEN = re.compile(r"(?<![\w.])([01])(?:\.0+)?(?!\.?\w)")
_NUMBER_TOKEN = re.compile(r"(?<![\w.])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")


def _token(pattern: re.Pattern[str], text: str, location: str) -> str | None:
    """The token a scorer matching at `location` would read: the last one for `end` (inspect's
    default) and `any`, the first for `begin`, none for `exact` (the whole reply must be it)."""
    if location == "exact":
        return None
    found = pattern.findall(text) if location != "begin" else pattern.findall(text)[:1]
    return found[-1] if found else None


def answer_label(answer: object, location: str = "end") -> int:
    """The 0/1 label of a reply: the reply itself when it is one (``"1"``, ``" 0 "``,
    ``"1.0"``), else the 0/1 token standing alone where the scorer looks (the last one for
    ``location="end"``: ``"The answer is 1."`` → 1); `OTHER` when there is none."""
    label = normalize_label(answer)
    if label is not None:
        return label
    if not isinstance(answer, str):
        return OTHER
    token = _token(_LABEL_TOKEN, answer, location)
    return int(token) if token is not None else OTHER


def answer_number(answer: object, location: str = "end") -> float | None:
    """The number in a reply: the reply itself when it is one, else the number standing alone
    where the scorer looks (the last one for ``location="end"``); None when there is none."""
    number = parse_number(answer)
    if number is not None or not isinstance(answer, str):
        return number
    token = _token(_NUMBER_TOKEN, answer, location)
    return parse_number(token) if token is not None else None


def sample_key(sample_id: object, epoch: int = 1) -> str:
    """The key that pairs a sample across logs: its id, and its inspect epoch when above 1."""
    return str(sample_id) if epoch in (None, 1) else f"{sample_id}#{epoch}"
