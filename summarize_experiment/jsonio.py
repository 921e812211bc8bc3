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
    """`document` as JSON; the copy with names for non-finite floats is made only when there
    is one (a large document without any is written in one pass)."""
    try:
        return json.dumps(document, indent=indent, default=str, allow_nan=False)
    except ValueError:
        return json.dumps(json_safe(document), indent=indent, default=str, allow_nan=False)
