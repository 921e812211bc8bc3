"""Evidence to JSON and back, through pydantic's TypeAdapter on the frozen dataclasses.

Compact per-sample arrays (`Labels`: one byte per 0/1 label; `Numbers`: eight bytes per float)
stay `array.array` in memory and become plain lists in JSON (NaN as null), or, for the read
cache (`compact=True`), their little-endian bytes deflated (zlib) in base64 (`{"deflate":
...}`), as are the sample ids (`Ids`, their JSON list): a re-run decodes them in a fraction of
the time, and a 2,000-sample log takes ~4 KB of the cache instead of ~85 KB. What is inflated
is bounded by the `InflateBudget` passed to `decode` (a cache is a file an attacker can write).
Non-finite floats elsewhere are written as the strings "nan"/"inf" by `jsonio` and read back by
pydantic.
"""

from __future__ import annotations

import base64
import json
import math
import sys
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
)

T = TypeVar("T")

DEFLATE_LEVEL = 1
"""zlib's fastest level: sample arrays of 0/1 values shrink 50-fold at it already."""


@dataclass
class InflateBudget:
    """How many bytes `decode` may still inflate from `{"deflate": ...}` fields; a field
    that would take more is refused (ValueError), and so is everything after it."""

    remaining: int


def _deflated(raw: bytes) -> dict[str, str]:
    return {"deflate": base64.b64encode(zlib.compress(raw, DEFLATE_LEVEL)).decode("ascii")}


def _inflated(data: dict, info: ValidationInfo | None) -> bytes:
    """The bytes of a `{"deflate": ...}` field, within the context's `InflateBudget`."""
    budget = info.context.get("inflate") if info and info.context else None
    if not isinstance(budget, InflateBudget):
        raise ValueError("a deflated field is read only within an inflate budget")
    inflater = zlib.decompressobj()
    deflated = base64.b64decode(data["deflate"], validate=True)
    raw = inflater.decompress(deflated, budget.remaining + 1)
    if len(raw) > budget.remaining or not inflater.eof:
        budget.remaining = 0
        raise ValueError("a deflated field inflates beyond the budget left")
    budget.remaining -= len(raw)
    return raw


def _from_deflated(data: dict, typecode: str, info: ValidationInfo | None) -> array:
    values = array(typecode, _inflated(data, info))
    if sys.byteorder == "big":
        values.byteswap()
    return values


def _to_deflated(values: array) -> dict[str, str]:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return _deflated(values.tobytes())


def as_labels(values: Iterable[int] | dict, info: ValidationInfo | None = None) -> array:
    """Labels as one byte each (0, 1 or `labels.OTHER`)."""
    if isinstance(values, dict):
        return _from_deflated(values, "b", info)
    return values if isinstance(values, array) and values.typecode == "b" else array("b", values)


def as_numbers(values: Iterable[float | None] | dict, info: ValidationInfo | None = None) -> array:
    """Numbers as eight bytes each, None and non-numbers as NaN."""
    if isinstance(values, dict):
        return _from_deflated(values, "d", info)
    if isinstance(values, array) and values.typecode == "d":
        return values
    return array("d", (_number(v) for v in values))


def as_ids(values: Iterable[str] | dict, info: ValidationInfo | None = None) -> tuple[str, ...]:
    """Sample ids as a tuple of strings (from a list, or the read cache's deflated JSON list)."""
    if isinstance(values, dict):
        try:
            values = json.loads(_inflated(values, info))
        except RecursionError:
            raise ValueError("sample ids nested too deep") from None
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError("sample ids must be a list of strings")
    ids = tuple(values)
    if not all(isinstance(one, str) for one in ids):
        raise ValueError("sample ids must be strings")
    return ids


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


def _labels_in(values: Iterable[int] | dict, info: ValidationInfo) -> array:
    return as_labels(values, info)


def _numbers_in(values: Iterable[float | None] | dict, info: ValidationInfo) -> array:
    return as_numbers(values, info)


def _ids_in(values: Iterable[str] | dict, info: ValidationInfo) -> tuple[str, ...]:
    return as_ids(values, info)


def _labels_out(values: array, info: SerializationInfo) -> list[int] | dict[str, str]:
    return _to_deflated(values) if _compact(info) else values.tolist()


def _numbers_out(values: array, info: SerializationInfo) -> list[float | None] | dict[str, str]:
    return _to_deflated(values) if _compact(info) else [v if v == v else None for v in values]


def _ids_out(values: tuple[str, ...], info: SerializationInfo) -> list[str] | dict[str, str]:
    if _compact(info):
        return _deflated(json.dumps(values, separators=(",", ":")).encode("utf-8"))
    return list(values)


Labels = Annotated[
    array,
    PlainValidator(_labels_in),
    PlainSerializer(_labels_out),
    WithJsonSchema({"type": "array", "items": {"type": "integer"}}),
]
Numbers = Annotated[
    array,
    PlainValidator(_numbers_in),
    PlainSerializer(_numbers_out),
    WithJsonSchema({"type": "array", "items": {"type": ["number", "null"]}}),
]
Ids = Annotated[
    tuple[str, ...],
    PlainValidator(_ids_in),
    PlainSerializer(_ids_out),
    WithJsonSchema({"type": "array", "items": {"type": "string"}}),
]


@cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def encode(value: Any, kind: Any = None, *, compact: bool = False) -> Any:
    """`value` (a dataclass of the evidence model, or a container of them) as plain Python data
    ready for `jsonio.dumps`; `compact`: sample ids and arrays deflated (for the read cache)."""
    adapter = _adapter(kind if kind is not None else type(value))
    return adapter.dump_python(value, context={"compact": compact})


def decode(kind: type[T] | Any, data: Any, *, inflate: InflateBudget | None = None) -> T:
    """Rebuild a `kind` from what `encode` gave (after a JSON round trip); raises
    pydantic.ValidationError with the path of the field that is wrong. Deflated fields are
    read only with an `inflate` budget, and refused beyond it."""
    return _adapter(kind).validate_python(data, context={"inflate": inflate})
