"""The judge's costly pure computations, kept by a digest of their inputs.

The metrics of a log's samples and the paired comparisons between two logs take scikit-learn
and scipy (their import alone is most of a re-run's time). A `Memo` holds their results under a
SHA-256 of every input (the samples' ids and values, byte for byte; the header; the metric)
and of this tool's version, so it can only ever give back what the computation gives for the
same inputs. The pipeline keeps the entries a summary used in its read cache; without a memo
(or with an empty one) everything is computed, with the same results.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..evidence import codec
from ..evidence.model import LogHeader, LogSamples
from ..vocabulary import VERSION

T = TypeVar("T")

_ARRAYS = ("values", "target_labels", "answer_labels", "target_numbers", "answer_numbers")


class Memo:
    """Results by the digest of their inputs: `stored` from an earlier run, and the ones this
    summary used or computed (`entries()`, what is worth keeping)."""

    def __init__(self, stored: Mapping[str, Any] | None = None) -> None:
        self._stored = dict(stored or {})
        self._used: dict[str, Any] = {}
        self._samples: dict[int, tuple[LogSamples, str]] = {}
        self.computed = 0

    def key(self, kind: str, *parts: object) -> str:
        """The digest naming one computation: its kind, its inputs and the tool's version."""
        text = json.dumps([VERSION, sys.byteorder, kind, *parts], default=str, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def samples_digest(self, samples: LogSamples) -> str:
        """The digest of a log's samples: ids, scorer, errored count and every array's bytes."""
        known = self._samples.get(id(samples))
        if known is not None and known[0] is samples:
            return known[1]
        digest = hashlib.sha256()
        digest.update(json.dumps([samples.score, samples.errored, len(samples.ids)]).encode())
        digest.update("\0".join(samples.ids).encode("utf-8", "surrogatepass"))
        for name in _ARRAYS:
            digest.update(getattr(samples, name).tobytes())
        self._samples[id(samples)] = (samples, digest.hexdigest())
        return digest.hexdigest()

    def header_digest(self, header: LogHeader) -> str:
        encoded = json.dumps(codec.encode(header), default=str, sort_keys=True)
        return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], T],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> T:
        """The stored result of `key` when there is one that decodes, else `compute()`."""
        if key in self._stored:
            try:
                value = decode(self._stored[key])
            except (ValueError, TypeError, KeyError):
                value = None
            if value is not None:
                self._used[key] = self._stored[key]
                return value
        value = compute()
        self._used[key] = encode(value)
        self.computed += 1
        return value

    def entries(self) -> dict[str, Any]:
        """The results this summary used or computed, encoded."""
        return dict(self._used)

    @property
    def changed(self) -> bool:
        """Whether the entries differ from the stored ones (something computed or dropped)."""
        return self.computed > 0 or set(self._used) != set(self._stored)


def number(value: object) -> float | None:
    """A float back from JSON, where non-finite numbers are the strings "nan", "inf"."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"not a number: {value!r}")
