"""What a target or an answer is: a 0/1 label, a number, or neither (pure functions).

Kept apart from `metrics` so that reading logs needs numpy only, not scikit-learn or scipy:
the readers forked to read logs in parallel then stay small (see `readers`).
"""

from __future__ import annotations

import math
import numbers
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
