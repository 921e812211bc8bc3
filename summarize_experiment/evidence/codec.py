"""Evidence to JSON and back, through pydantic's TypeAdapter on the frozen dataclasses.

Compact per-sample arrays (`Labels`: one byte per 0/1 label; `Numbers`: eight bytes per float)
stay `array.array` in memory and become plain lists in JSON (NaN as null), or, for the read
cache (`compact=True`), their little-endian bytes in base64 (`{"base64": ...}`), which a re-run
decodes in a fraction of the time. Non-finite floats elsewhere are written as the strings
"nan"/"inf" by `jsonio` and read back by pydantic.
"""

from __future__ import annotations

import base64
import math
import sys
from array import array
from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import PlainSerializer, PlainValidator, SerializationInfo, TypeAdapter, WithJsonSchema

T = TypeVar("T")


def _from_base64(data: dict, typecode: str) -> array:
    values = array(typecode, base64.b64decode(data["base64"], validate=True))
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _to_base64(values: array) -> dict[str, str]:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return {"base64": base64.b64encode(values.tobytes()).decode("ascii")}


def as_labels(values: Iterable[int] | dict) -> array:
    """Labels as one byte each (0, 1 or `labels.OTHER`)."""
    if isinstance(values, dict):
        return _from_base64(values, "b")
    return values if isinstance(values, array) and values.typecode == "b" else array("b", values)


def as_numbers(values: Iterable[float | None] | dict) -> array:
    """Numbers as eight bytes each, None and non-numbers as NaN."""
    if isinstance(values, dict):
        return _from_base64(values, "d")
    if isinstance(values, array) and values.typecode == "d":
        return values
    return array("d", (_number(v) for v in values))


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
"""How `jsonio` writes non-finite floats."""


def _number(value: object) -> float:
    """A float, NaN for None; a string only as `jsonio` names a non-finite one (else NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return _NON_FINITE.get(value, math.nan)
    return float(value)  # type: ignore[arg-type]


def _compact(info: SerializationInfo) -> bool:
    return bool(info.context and info.context.get("compact"))


def _labels_out(values: array, info: SerializationInfo) -> list[int] | dict[str, str]:
    return _to_base64(values) if _compact(info) else values.tolist()


def _numbers_out(values: array, info: SerializationInfo) -> list[float | None] | dict[str, str]:
    return _to_base64(values) if _compact(info) else [v if v == v else None for v in values]


Labels = Annotated[
    array,
    PlainValidator(as_labels),
    PlainSerializer(_labels_out),
    WithJsonSchema({"type": "array", "items": {"type": "integer"}}),
]
Numbers = Annotated[
    array,
    PlainValidator(as_numbers),
    PlainSerializer(_numbers_out),
    WithJsonSchema({"type": "array", "items": {"type": ["number", "null"]}}),
]


@cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def encode(value: Any, kind: Any = None, *, compact: bool = False) -> Any:
    """`value` (a dataclass of the evidence model, or a container of them) as plain Python data
    ready for `jsonio.dumps`; `compact`: sample arrays as base64 (for the read cache)."""
    adapter = _adapter(kind if kind is not None else type(value))
    return adapter.dump_python(value, context={"compact": compact})


def decode(kind: type[T] | Any, data: Any) -> T:
    """Rebuild a `kind` from what `encode` gave (after a JSON round trip); raises
    pydantic.ValidationError with the path of the field that is wrong."""
    return _adapter(kind).validate_python(data)
