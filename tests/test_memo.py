"""The judge's memo gives back only what the computation gives for the same inputs, and the read
cache's compact arrays read back exactly."""

from __future__ import annotations

import base64
import json
import math
import zlib
from array import array

import pytest
from pydantic import ValidationError

from summarize_experiment.evidence import codec
from summarize_experiment.evidence.model import LogSamples
from summarize_experiment.jsonio import dumps
from summarize_experiment.judge.memo import Memo


def samples(values: list[float], answers: list[int] | None = None) -> LogSamples:
    n = len(values)
    return LogSamples(
        score="match",
        ids=tuple(f"s{i}" for i in range(n)),
        values=array("d", values),
        target_labels=array("b", [1, 0] * (n // 2)),
        answer_labels=array("b", answers if answers is not None else [1, 1] * (n // 2)),
        target_numbers=array("d", [1.0, 0.0] * (n // 2)),
        answer_numbers=array("d", [math.nan] * n),
    )


def test_the_digest_changes_with_any_input_and_not_otherwise() -> None:
    memo = Memo()
    base = memo.samples_digest(samples([1, 0, 1, 1]))
    assert memo.samples_digest(samples([1, 0, 1, 1])) == base  # equal content, new object
    assert memo.samples_digest(samples([1, 0, 1, 0])) != base  # a value
    assert memo.samples_digest(samples([1, 0, 1, 1], [1, 0, 1, 0])) != base  # an answer label
    renamed = samples([1, 0, 1, 1])
    renamed = LogSamples(**{**renamed.__dict__, "ids": ("s0", "s1", "s2", "x")})
    assert memo.samples_digest(renamed) != base  # an id


def test_a_stored_result_is_used_and_a_missing_one_computed() -> None:
    memo = Memo()
    key = memo.key("double", 21)
    assert memo.get_or_compute(key, lambda: 42, int, int) == 42
    assert memo.computed == 1 and memo.changed
    stored = json.loads(dumps(memo.entries()))

    again = Memo(stored)

    def never() -> int:
        raise AssertionError("computed although stored")

    assert again.get_or_compute(key, never, int, int) == 42
    assert again.computed == 0 and not again.changed


def test_a_stored_result_that_does_not_decode_is_computed_again() -> None:
    memo = Memo({Memo().key("double", 21): "not a number"})
    assert memo.get_or_compute(memo.key("double", 21), lambda: 42, int, int) == 42
    assert memo.computed == 1


def test_only_the_entries_a_run_used_are_kept() -> None:
    first = Memo()
    for n in (1, 2, 3):
        first.get_or_compute(first.key("n", n), lambda n=n: n, int, int)
    second = Memo(first.entries())
    second.get_or_compute(second.key("n", 2), lambda: 0, int, int)
    assert list(second.entries().values()) == [2]
    assert second.changed  # two entries dropped: the cache must be rewritten


def test_the_key_depends_on_the_kind_and_every_part() -> None:
    memo = Memo()
    keys = {memo.key("a", 1, 2), memo.key("b", 1, 2), memo.key("a", 2, 1), memo.key("a", 1)}
    assert len(keys) == 4


@pytest.mark.parametrize("compact", [False, True])
def test_sample_arrays_read_back_exactly(compact: bool) -> None:
    original = LogSamples(
        score="continuous_scorer",
        ids=("a", "b", "c"),
        values=array("d", [0.5, math.nan, 1e-300]),
        target_labels=array("b", [1, 0, -1]),
        answer_labels=array("b", [0, -1, 1]),
        target_numbers=array("d", [3.25, -0.0, math.inf]),
        answer_numbers=array("d", [math.nan, 2.0, -7.5]),
        errored=2,
    )
    encoded = json.loads(dumps(codec.encode(original, compact=compact)))
    assert isinstance(encoded["values"], dict) is compact  # deflated only in the cache
    assert isinstance(encoded["ids"], dict) is compact
    budget = codec.InflateBudget(1000)
    back = codec.decode(LogSamples, encoded, inflate=budget)
    # what was inflated: 3 ids as the JSON text '["a","b","c"]' (13 bytes), three arrays of
    # 3 doubles (3 x 24 bytes) and two of 3 one-byte labels (2 x 3 bytes)
    assert budget.remaining == (1000 - 13 - 72 - 6 if compact else 1000)
    for name in ("values", "target_numbers", "answer_numbers"):
        mine, theirs = getattr(original, name), getattr(back, name)
        if compact:  # every bit, NaN and -0.0 included
            assert mine.tobytes() == theirs.tobytes(), name
        else:
            assert [repr(v) for v in mine] == [repr(v) for v in theirs], name
    assert back.target_labels == original.target_labels
    assert back.answer_labels == original.answer_labels
    assert (back.ids, back.errored, back.score) == (original.ids, 2, "continuous_scorer")


def test_deflated_fields_are_read_only_within_their_budget() -> None:
    """A cache is a file anyone who can write the experiment can craft: 64 MiB of zeros deflate
    to ~290 KB (390 KB in base64); what they inflate to is refused past the budget, and so is
    everything after it."""
    bomb = LogSamples(
        score="match",
        ids=("a",),
        values=array("d", bytes(64 << 20)),
        target_labels=array("b", [1]),
        answer_labels=array("b", [1]),
        target_numbers=array("d", [1.0]),
        answer_numbers=array("d", [1.0]),
    )
    encoded = json.loads(dumps(codec.encode(bomb, compact=True)))
    assert len(encoded["values"]["deflate"]) < 400_000
    budget = codec.InflateBudget(1 << 20)
    with pytest.raises(ValidationError, match="inflates beyond the budget left"):
        codec.decode(LogSamples, encoded, inflate=budget)
    assert budget.remaining == 0
    small = json.loads(dumps(codec.encode(samples([1.0, 0.0]), compact=True)))
    with pytest.raises(ValidationError, match="beyond the budget"):
        codec.decode(LogSamples, small, inflate=budget)
    with pytest.raises(ValidationError, match="only within an inflate budget"):
        codec.decode(LogSamples, small)
    assert codec.decode(LogSamples, small, inflate=codec.InflateBudget(100)).ids == ("s0", "s1")


@pytest.mark.parametrize(
    "ids", [b'"not a list"', b"[1, 2]", b"[" * 100_000 + b"]" * 100_000, b"{not json"]
)
def test_deflated_ids_that_are_not_a_list_of_strings_are_refused(ids: bytes) -> None:
    encoded = json.loads(dumps(codec.encode(samples([1.0, 0.0]), compact=True)))
    encoded["ids"] = {"deflate": base64.b64encode(zlib.compress(ids)).decode("ascii")}
    with pytest.raises(ValidationError):
        codec.decode(LogSamples, encoded, inflate=codec.InflateBudget(1 << 20))
