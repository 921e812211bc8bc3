"""Evidence to JSON and back, through pydantic's TypeAdapter on the frozen dataclasses.

Compact per-sample arrays (`Labels`: one byte per 0/1 label; `Numbers`: eight bytes per float)
stay `array.array` in memory and become plain lists in JSON (NaN as null). Non-finite floats
elsewhere are written as the strings "nan"/"inf" by `jsonio` and read back by pydantic.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import PlainSerializer, PlainValidator, TypeAdapter, WithJsonSchema

T = TypeVar("T")


def as_labels(values: Iterable[int]) -> array:
    """Labels as one byte each (0, 1 or `labels.OTHER`)."""
    return values if isinstance(values, array) and values.typecode == "b" else array("b", values)


def as_numbers(values: Iterable[float | None]) -> array:
    """Numbers as eight bytes each, None and non-numbers as NaN."""
    if isinstance(values, array) and values.typecode == "d":
        return values
    return array("d", (math.nan if v is None or isinstance(v, str) else float(v) for v in values))


def _numbers_out(values: array) -> list[float | None]:
    return [v if v == v else None for v in values]


Labels = Annotated[
    array,
    PlainValidator(as_labels),
    PlainSerializer(lambda values: values.tolist()),
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


def encode(value: Any, kind: Any = None) -> Any:
    """`value` (a dataclass of the evidence model, or a container of them) as plain Python data
    ready for `jsonio.dumps`."""
    return _adapter(kind if kind is not None else type(value)).dump_python(value)


def decode(kind: type[T] | Any, data: Any) -> T:
    """Rebuild a `kind` from what `encode` gave (after a JSON round trip); raises
    pydantic.ValidationError with the path of the field that is wrong."""
    return _adapter(kind).validate_python(data)
