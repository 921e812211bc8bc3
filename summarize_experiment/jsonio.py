"""JSON text that every parser accepts: NaN and infinities become the strings "nan"/"inf"."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """A copy of `value` with non-finite floats replaced by their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(document: Any, *, indent: int | None = None) -> str:
    return json.dumps(json_safe(document), indent=indent, default=str, allow_nan=False)
