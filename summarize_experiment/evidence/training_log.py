"""Streaming scanner for torchtune training stdout (SLURM ``slurm-*.out``).

torchtune reports progress through a tqdm bar whose description is
``{epoch}|{global_step}|Loss: {value}`` (epoch 1-indexed, step running on across
epochs, value a Python float ``repr`` such as ``0.2261``,
``6.0498432503663935e-06``, ``nan`` or ``inf``).  tqdm redraws the bar with
carriage returns, so one physical line may hold hundreds of updates, and a log
may lose its separators altogether (updates then follow each other directly).

The core, :func:`scan_training_chunks`, is pure: it consumes the stream as
arbitrary byte chunks and its result does not depend on where the stream is
split.  It works on a sliding window: every pattern it looks for has a bounded
length, so a region of the buffer is only examined once enough bytes follow it
to decide every match that starts inside it, and only a few KiB are carried
from one region to the next.  Memory is therefore bounded whatever the size
of the log or the absence of line breaks.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = [
    "CURVE_POINTS",
    "LOSS_PATTERN",
    "SCAN_MAX_BYTES",
    "SCAN_MAX_SECONDS",
    "LossPoint",
    "ScanTooSlow",
    "TrainingLogScan",
    "job_id_from_stdout_name",
    "pick_latest_stdout",
    "scan_training_chunks",
    "scan_training_file",
    "scan_training_log",
]

CURVE_BUCKETS = 166
"""Buckets of consecutive steps the loss curve is reduced to; each keeps at most three points
(its lowest and highest finite loss and its last update), so the curve holds at most
``CURVE_POINTS`` points: enough to draw it at full width, spikes included."""
CURVE_POINTS = 3 * CURVE_BUCKETS

SCAN_MAX_BYTES = 256 << 20
"""The most of one training stdout that is scanned: its last 256 MiB. torchtune prints ~100
bytes per loss update, so that is over 2.5 million updates: the stdout of a real run (13 MB for
130,000 updates) is read whole. Of a bigger file (a runaway log, a 4 GB sparse file) only the
end is scanned, which holds the final loss and the failure line, and the summary says so. At
~75 MB/s that end takes about 4 s."""
SCAN_MAX_SECONDS = 30.0
"""A scan still running after this long is abandoned and the loss is N/A, with a note: only a
file built to be slow gets there (updates packed without line breaks are ~15 times slower to
scan than torchtune's), and a loss read from part of it could be presented as final."""


class ScanTooSlow(Exception):
    """A training stdout whose scan took longer than SCAN_MAX_SECONDS: ``scanned`` of ``size``
    bytes were read."""

    def __init__(self, scanned: int, size: int, seconds: float) -> None:
        super().__init__(f"scanned {scanned:,} of {size:,} bytes in {seconds:g} s")
        self.scanned = scanned
        self.size = size
        self.seconds = seconds


FAILURE_LINE_CHARS = 300
"""Failure lines are cut to this many characters (an ellipsis marks the cut)."""

# Only plain repeats, alternations and look-arounds, no possessive repeats or atomic groups:
# those are new in Python 3.11 and `re` of early 3.11 releases gets them wrong (3.11.2 took
# `6.04e` for a number). Plain repeats give the same matches here: every shorter take of a
# run leaves a character (digit, `.`, `e`, space, a non-`|`) that the pattern's next item or
# the closing look-ahead refuses, so backtracking only retries what cannot succeed. An
# optional part is written `(?:part|)`, which `re` runs faster than `(?:part)?`.
_VALUE = (
    rb"(-?(?:nan|inf|[0-9]{1,40}(?:\.[0-9]{0,40}|)(?:[eE][-+]?[0-9]{1,4}|)))"
    rb"(?![0-9A-Za-z_.])"
)
# tqdm tail of the same bar, `:  16%|███▌   | 40/250 [00:19<01:44`, capturing the
# elapsed time; it never spans another `|Loss: `.
_TAIL = (
    rb"(?::[ ]{0,8}[0-9]{1,3}%\|(?!Loss: )[^|\r\n]{0,1200}\|(?!Loss: )[^|\[\r\n]{0,80}"
    rb"\[((?:[0-9]{1,6}:)?[0-9]{1,2}:[0-9]{2})<)?"
)
_TAIL_MAX_LEN = 1 + 8 + 3 + 2 + 1200 + 1 + 80 + 1 + 7 + 5 + 1

LOSS_PATTERN = re.compile(
    rb"(?<![0-9])([0-9]{1,9})\|([0-9]{1,12})\|Loss: (?=" + _VALUE + _TAIL + rb")"
)
"""Loss update of torchtune's tqdm description.

Groups: epoch, step, value, and the tqdm elapsed time of the same bar
(``b"01:55"`` or ``b"1:02:03"``; None when the bar is not there).  Stricter than
the seed's ``(\\d+)\\|(\\d+)\\|Loss: ([0-9.]+)`` on purpose: the value is taken
whole (``6.0498e-06`` is not ``6.0498``), ``nan``/``inf``/``-inf`` are
recognised, and a number cut inside its exponent (``6.04e-``) is no match.
The value and the bar are read in a look-ahead, so each ``|Loss: `` is judged
on its own even when a bar-less value runs into the next update
(``1|5|Loss: 1|6|Loss: 0.5`` holds two updates).  Every part has a bounded
length, which is what lets the scanner stream exactly.
"""

_LITERAL = b"|Loss: "
# The same matches, found from their literal (far faster than trying every digit):
# the values forwards, steps and epochs on the reversed bytes, and the elapsed
# time only where it is needed.
_FORWARD = re.compile(re.escape(_LITERAL) + _VALUE)
_BACKWARD = re.compile(re.escape(_LITERAL[::-1]) + rb"([0-9]{1,12}\|[0-9]{1,9})(?![0-9])")
_FORWARD_TIMED = re.compile(re.escape(_LITERAL) + _VALUE + _TAIL)
_LOSS_MAX_LEN = 9 + 1 + 12 + len(_LITERAL) + 1 + 40 + 1 + 40 + 6 + _TAIL_MAX_LEN

_FAILURE_NEEDLES = (
    # (needle found with bytes.find, tier, what the line must also contain)
    (b"emory", 3, re.compile(rb"OutOfMemoryError|CUDA out of memory|CUDA error: out of memory")),
    (b"kill event", 3, re.compile(rb"oom[-_]kill event")),
    (b"CANCELLED AT", 2, None),
    (b"DUE TO ", 2, re.compile(rb"\*\*\*.*DUE TO ")),
)
_TRACEBACK = b"Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(
    rb"(?<=[\r\n])(?:\[rank[0-9]{1,6}\]:[ ]?)?[A-Za-z_][A-Za-z0-9_.]{0,200}(?=[:\r\n]|\Z)"
)
_EXCEPTION_MAX_LEN = 240
_TIER_EXCEPTION = 1

_LINE_BACK = 200  # a failure line starts at most this many bytes before its marker
_LINE_FWD = 1400  # and is read at most this far (>= FAILURE_LINE_CHARS UTF-8 characters)
_MARGIN = _LOSS_MAX_LEN + _LINE_FWD + 512  # bytes that must follow a region before it is read
_CARRY_BACK = _LINE_BACK + 16  # bytes kept before the next region (look-behind context)
_SEPARATOR_SLACK = 4096  # how far back a region end may move to land on a line break
_MIN_STEP = 64 * 1024  # bytes gathered before a region is read (keeps tiny chunks cheap)
_SEPARATORS = b"\r\n"
_DIGITS = b"0123456789"


@dataclass(frozen=True)
class LossPoint:
    """One loss update: ``epoch`` as printed (1-indexed), global ``step``, ``loss``."""

    epoch: int
    step: int
    loss: float

    def to_dict(self) -> dict:
        """JSON-safe form: ``loss`` is null unless finite; ``loss_repr`` is always set."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "loss": self.loss if math.isfinite(self.loss) else None,
            "loss_repr": repr(self.loss),
        }


@dataclass
class TrainingLogScan:
    """What a training stdout says about the run (see the module docstring).

    ``final`` is the last loss update of the file (the spec's rule), even when it
    is ``nan``/``inf``; ``diverged`` is then True and no earlier finite value is
    substituted.  ``min_finite`` is the smallest finite loss and where it was
    seen.  ``curve`` is the loss by step reduced to at most :data:`CURVE_POINTS`
    points: consecutive steps are bucketed (buckets of a power-of-two width, the
    smallest giving at most :data:`CURVE_BUCKETS` buckets) and each bucket keeps
    its lowest and its highest finite loss (the earliest on a tie) and its last
    update (the highest step; on a repeated step, the later update), in step order.
    ``epoch_ends`` maps each epoch (as printed) to the last step it reached;
    ``first_non_finite`` is the first update whose loss is not finite.  ``elapsed_seconds`` sums,
    over epochs, the tqdm elapsed time of the last update of each epoch; note that
    the repeat of an epoch's last update printed after the checkpoint includes the
    checkpoint time.  ``failure_line`` is the most telling failure line: an
    out-of-memory line (CUDA ``OutOfMemoryError``/``out of memory``, SLURM
    ``oom_kill event``), else a SLURM cancellation (``*** JOB … CANCELLED AT …
    DUE TO TIME LIMIT ***``, preemption, plain ``CANCELLED AT``), else the
    exception line of the last Python traceback; the last one wins within a
    kind.  It is cut to :data:`FAILURE_LINE_CHARS` characters.
    """

    final: LossPoint | None = None
    diverged: bool = False
    min_finite: LossPoint | None = None
    curve: list[LossPoint] = field(default_factory=list)
    updates: int = 0
    elapsed_seconds: float | None = None
    failure_line: str | None = None
    bytes_read: int = 0
    epoch_ends: dict[int, int] = field(default_factory=dict)
    first_non_finite: LossPoint | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (``json.dumps(..., allow_nan=False)`` works).

        Loss points are ``{"epoch", "step", "loss", "loss_repr"}`` where ``loss`` is a
        number, or null when the value is not finite, and ``loss_repr`` is the
        Python ``repr`` of the value (``"0.2261"``, ``"6.0498e-06"``, ``"nan"``,
        ``"inf"``, ``"-inf"``).  Top-level keys: ``final``, ``diverged``,
        ``min_finite``, ``curve``, ``updates``, ``elapsed_seconds``,
        ``failure_line``, ``bytes_read``.
        """
        return {
            "final": self.final.to_dict() if self.final else None,
            "diverged": self.diverged,
            "min_finite": self.min_finite.to_dict() if self.min_finite else None,
            "curve": [point.to_dict() for point in self.curve],
            "updates": self.updates,
            "elapsed_seconds": self.elapsed_seconds,
            "failure_line": self.failure_line,
            "bytes_read": self.bytes_read,
            "epoch_ends": {str(epoch): step for epoch, step in self.epoch_ends.items()},
            "first_non_finite": self.first_non_finite.to_dict() if self.first_non_finite else None,
        }


def _line_text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) > FAILURE_LINE_CHARS:
        text = text[: FAILURE_LINE_CHARS - 1].rstrip() + "…"
    return text


class _Scanner:
    """Sliding-window state of :func:`scan_training_chunks`."""

    def __init__(self) -> None:
        self.buf = b""
        self.base = 0  # absolute stream offset of buf[0]
        self.pending: list[bytes] = []
        self.pending_len = 0
        self.next_loss = 0  # absolute offsets where each search resumes
        self.next_text = 0
        self.awaiting_exception = False
        self.bytes_read = 0
        self.updates = 0
        self.final: tuple[int, int, float] | None = None
        self.min_finite: tuple[int, int, float] | None = None
        self.width = 1
        self.buckets: dict[int, _Bucket] = {}
        self.epoch_ends: dict[int, int] = {}
        self.first_non_finite: _Point | None = None
        self.epoch_elapsed: dict[int, int] = {}
        self.failure: tuple[int, int, str] | None = None  # (tier, position, text)

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.bytes_read += len(chunk)
        self.pending.append(chunk)
        self.pending_len += len(chunk)
        if len(self.buf) + self.pending_len >= _MARGIN + _CARRY_BACK + _MIN_STEP:
            self._advance(final=False)

    def finish(self) -> TrainingLogScan:
        self._advance(final=True)
        return self._result()

    def _advance(self, final: bool) -> None:
        buf = b"".join([self.buf, *self.pending])
        self.pending = []
        self.pending_len = 0
        if final:
            cut = len(buf)
        else:
            cut = len(buf) - _MARGIN
            low = max(cut - _SEPARATOR_SLACK, 0)
            sep = max(buf.rfind(b"\n", low, cut), buf.rfind(b"\r", low, cut))
            if sep >= 0:
                cut = sep + 1
        self.buf = buf
        self._scan_losses(cut, final)
        self._scan_text(cut, final)
        if not final:
            keep = max(cut - _CARRY_BACK, 0)  # every search resumes at or after `cut`
            self.buf = buf[keep:]
            self.base += keep

    def _scan_losses(self, cut: int, final: bool) -> None:
        buf, base = self.buf, self.base
        pos = self.next_loss - base
        if pos >= cut:
            return
        self.next_loss = base + cut
        starts_clean = base + pos == 0 or buf[pos - 1] in _SEPARATORS
        if starts_clean and (final or buf[cut - 1] in _SEPARATORS):
            # no match contains a line break: the region holds whole matches only
            region = buf[pos:cut]
            count = region.count(_LITERAL)
            if not count:
                return
            values = _FORWARD.findall(region)
            if len(values) == count:
                backward = _BACKWARD.findall(region[::-1])
                losses = _losses(values)
                if len(backward) == count and losses is not None:
                    self._record_region(region, losses, backward)
                    return
        end = len(buf) if final else min(cut + _LOSS_MAX_LEN + 2, len(buf))
        if buf.find(_LITERAL, pos, end) < 0:
            return  # no `|Loss: ` at all (a region of NULs, say): nothing to try a match on
        found = []
        for match in LOSS_PATTERN.finditer(buf, pos, end):
            if match.start() >= cut:
                break
            self.next_loss = max(self.next_loss, base + match.end())
            epoch, step, value, timing = match.groups()
            loss = _loss(value)
            if loss is not None:
                found.append((epoch, step, loss, timing))
        if found:
            epochs_text, steps, losses, timings = zip(*found, strict=True)
            epochs = list(map(int, epochs_text))
            steps_array = np.array(list(map(int, steps)), dtype=np.int64)
            self._record(epochs, steps_array, list(losses))
            timed = dict(itertools.compress(zip(epochs, timings, strict=True), timings))
            for epoch, timing in timed.items():
                self.epoch_elapsed[epoch] = _seconds(timing)

    def _record_region(self, region: bytes, losses: list[float], backward: list[bytes]) -> None:
        """Record a region whose every ``|Loss: `` starts a match.

        ``losses`` come in stream order; ``backward`` holds ``{epoch}|{step}``
        reversed, last match first.
        """
        # reversing the joined text restores both the order and every number
        pairs = b",".join(backward)[::-1]
        numbers = np.fromstring(pairs.replace(b"|", b","), dtype=np.int64, sep=",")
        epochs = numbers[0::2].tolist()
        self._record(epochs, numbers[1::2], losses)
        self._record_region_elapsed(region, epochs, pairs.split(b","))

    def _record_region_elapsed(self, region: bytes, epochs: list[int], pairs: list[bytes]) -> None:
        """Elapsed time of the last timed update of each epoch of an aligned region."""
        missing = False
        last = dict(zip(epochs, range(len(epochs)), strict=True))
        limit = len(region)
        for epoch, at in sorted(last.items(), key=_second, reverse=True):
            # the last `{epoch}|{step}|Loss: ` before the updates already placed that
            # starts a match is update `at`, since no later update has this epoch
            needle = pairs[at] + _LITERAL
            found = region.rfind(needle, 0, limit)
            while found > 0 and region[found - 1] in _DIGITS:
                found = region.rfind(needle, 0, found)
            if found < 0:
                missing = True
                break
            limit = found
            timing = _timing(_FORWARD_TIMED.match(region, found + len(pairs[at])))
            if timing:
                self.epoch_elapsed[epoch] = _seconds(timing)
            else:
                missing = True
        if missing:
            self._walk_elapsed(region, epochs)

    def _walk_elapsed(self, region: bytes, epochs: list[int]) -> None:
        """Slower form of the above for regions where some last update has no timing."""
        wanted = len(set(epochs))
        done: set[int] = set()
        end = len(region)
        for at in range(len(epochs) - 1, -1, -1):
            end = region.rfind(_LITERAL, 0, end)
            epoch = epochs[at]
            if epoch in done:
                continue
            timing = _timing(_FORWARD_TIMED.match(region, end))
            if timing:
                done.add(epoch)
                self.epoch_elapsed[epoch] = _seconds(timing)
                if len(done) == wanted:
                    break

    def _record(self, epochs: list[int], steps: np.ndarray, values: list[float]) -> None:
        count = len(values)
        self.updates += count
        self.final = (epochs[-1], int(steps[-1]), values[-1])
        loss = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(loss)
        low = min(filter(math.isfinite, values), default=None)
        if low is not None and (self.min_finite is None or low < self.min_finite[2]):
            at = values.index(low)
            self.min_finite = (epochs[at], int(steps[at]), low)
        if self.first_non_finite is None and not finite.all():
            at = int(np.argmin(finite))
            self.first_non_finite = (epochs[at], int(steps[at]), values[at])
        epoch_array = np.asarray(epochs)
        for epoch in np.unique(epoch_array).tolist():
            last = int(steps[epoch_array == epoch].max())
            self.epoch_ends[epoch] = max(self.epoch_ends.get(epoch, last), last)

        def point(at: int) -> _Point:
            return (epochs[at], int(steps[at]), values[at])

        if count > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
            for at in range(count):
                one = point(at)
                self._merge(one[1], (one, one, one) if finite[at] else (None, None, one))
            return
        # steps in order: each bucket is a run of consecutive updates; widen the buckets first
        # to what these steps need, so a region is a few runs, not one per step
        self._fit_width(steps)
        keys = steps // self.width
        bounds = (np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()
        lowest = np.where(finite, loss, np.inf)
        highest = np.where(finite, loss, -np.inf)
        for start, stop in zip([0, *bounds], [*bounds, count], strict=True):
            lo = start + int(np.argmin(lowest[start:stop]))
            hi = start + int(np.argmax(highest[start:stop]))
            self._merge(
                int(steps[start]),
                (
                    point(lo) if finite[lo] else None,
                    point(hi) if finite[hi] else None,
                    point(stop - 1),
                ),
            )

    def _merge(self, step: int, bucket: _Bucket) -> None:
        key = step // self.width
        held = self.buckets.get(key)
        self.buckets[key] = bucket if held is None else _combine(held, bucket)
        if len(self.buckets) > CURVE_BUCKETS:
            self._coarsen()

    def _coarsen(self) -> None:
        width = self.width
        while len({key * self.width // width for key in self.buckets}) > CURVE_BUCKETS:
            width *= 2
        self._coarsen_to(width)

    def _fit_width(self, steps: np.ndarray) -> None:
        """Widen the buckets to the narrowest width at which the buckets held and those of
        `steps` are at most CURVE_BUCKETS (the width the stream reaches anyway)."""
        width = self.width
        while True:
            keys = set(np.unique(steps // width).tolist())
            keys.update(key * self.width // width for key in self.buckets)
            if len(keys) <= CURVE_BUCKETS:
                break
            width *= 2
        self._coarsen_to(width)

    def _coarsen_to(self, width: int) -> None:
        if width == self.width:
            return
        factor = width // self.width
        merged: dict[int, _Bucket] = {}
        for key in sorted(self.buckets):
            held = merged.get(key // factor)
            bucket = self.buckets[key]
            merged[key // factor] = bucket if held is None else _combine(held, bucket)
        self.buckets, self.width = merged, width

    def _scan_text(self, cut: int, final: bool) -> None:
        buf, base = self.buf, self.base
        pos = self.next_text - base
        if pos >= cut:
            return
        for needle, tier, confirm in _FAILURE_NEEDLES:
            stop = cut + len(needle) - 1
            at = buf.find(needle, pos, stop)
            while at >= 0:
                raw = self._line_around(at)
                if confirm is None or confirm.search(raw):
                    self._offer(tier, at, raw)
                at = buf.find(needle, at + 1, stop)
        while True:
            header = buf.find(_TRACEBACK, pos, cut + len(_TRACEBACK) - 1)
            limit = header if header >= 0 else cut
            if self.awaiting_exception and pos < limit:
                end = len(buf) if final else min(limit + _EXCEPTION_MAX_LEN, len(buf))
                match = _EXCEPTION_LINE.search(buf, pos, end)
                if match and match.start() < limit:
                    self.awaiting_exception = False
                    self._offer(_TIER_EXCEPTION, match.start(), self._line_from(match.start()))
            if header < 0:
                break
            self.awaiting_exception = True
            pos = header + len(_TRACEBACK)
        self.next_text = base + cut

    def _offer(self, tier: int, at: int, raw: bytes) -> None:
        position = self.base + at
        text = _line_text(raw)
        if text and (self.failure is None or (tier, position) >= self.failure[:2]):
            self.failure = (tier, position, text)

    def _line_around(self, at: int) -> bytes:
        low = max(at - _LINE_BACK, 0)
        start = max(self.buf.rfind(b"\n", low, at), self.buf.rfind(b"\r", low, at))
        return self._line_from(start + 1 if start >= 0 else low, at)

    def _line_from(self, start: int, at: int | None = None) -> bytes:
        buf = self.buf
        at = start if at is None else at
        stop = min(at + _LINE_FWD, len(buf))
        ends = [i for i in (buf.find(b"\n", at, stop), buf.find(b"\r", at, stop)) if i >= 0]
        return buf[start : min(ends) if ends else stop]

    def _result(self) -> TrainingLogScan:
        final = LossPoint(*self.final) if self.final else None
        best = LossPoint(*self.min_finite) if self.min_finite else None
        curve = [
            LossPoint(*found)
            for key in sorted(self.buckets)
            for found in _bucket_points(self.buckets[key])
        ]
        elapsed = float(sum(self.epoch_elapsed.values())) if self.epoch_elapsed else None
        return TrainingLogScan(
            final=final,
            diverged=final is not None and not math.isfinite(final.loss),
            min_finite=best,
            curve=curve,
            updates=self.updates,
            elapsed_seconds=elapsed,
            failure_line=self.failure[2] if self.failure else None,
            bytes_read=self.bytes_read,
            epoch_ends=dict(sorted(self.epoch_ends.items())),
            first_non_finite=LossPoint(*self.first_non_finite) if self.first_non_finite else None,
        )


def _loss(value: bytes) -> float | None:
    """The loss a matched value stands for; None (no match) when it is not a number."""
    try:
        return float(value)
    except ValueError:
        return None


def _losses(values: list[bytes]) -> list[float] | None:
    """Every value as a float, or None when one of them is not a number."""
    try:
        return list(map(float, values))
    except ValueError:
        return None


def _timing(match: re.Match[bytes] | None) -> bytes | None:
    """The elapsed time of a bar matched by ``_FORWARD_TIMED``; None without one."""
    return match.group(2) if match else None


_Point = tuple[int, int, float]
_Bucket = tuple[_Point | None, _Point | None, _Point]
"""A bucket of the curve: its lowest and highest finite loss (None when it has none) and its
last update, each as (epoch, step, loss)."""


def _combine(held: _Bucket, new: _Bucket) -> _Bucket:
    """Two buckets' points as one: `held` holds earlier updates than `new` (or, when
    coarsening, lower steps), so a tie keeps `held`'s point; the last update is the one of
    the highest step, the later one on a repeated step."""
    low, high = held[0], held[1]
    if new[0] is not None and (low is None or new[0][2] < low[2]):
        low = new[0]
    if new[1] is not None and (high is None or new[1][2] > high[2]):
        high = new[1]
    return (low, high, new[2] if new[2][1] >= held[2][1] else held[2])


def _bucket_points(bucket: _Bucket) -> list[_Point]:
    """A bucket's points, each once, in step order; on one step the last update comes last
    and the others by loss."""
    low, high, last = bucket
    others = [p for p in dict.fromkeys(filter(None, (low, high))) if p != last]
    return sorted([*others, last], key=lambda p: (p[1], p is last, p[2]))


def _seconds(timing: bytes) -> int:
    total = 0
    for part in timing.split(b":"):
        total = total * 60 + int(part)
    return total


def _second(pair: tuple) -> int:
    return pair[1]


def scan_training_chunks(chunks: Iterable[bytes]) -> TrainingLogScan:
    """Scan a training stdout given as byte chunks split anywhere.

    The result is the same for every way of splitting the same bytes; bytes
    that are not UTF-8 are tolerated.
    """
    scanner = _Scanner()
    for chunk in chunks:
        scanner.feed(bytes(chunk))
    return scanner.finish()


def _tail_chunks(
    handle: BinaryIO, start: int, chunk_size: int, size: int, max_seconds: float
) -> Iterator[bytes]:
    """The bytes of ``handle`` from ``start`` on; from ``start`` > 0, only from the first line
    break found within ``_SEPARATOR_SLACK`` bytes (an update cut in half is no update).
    ScanTooSlow once ``max_seconds`` have passed."""
    deadline = time.monotonic() + max_seconds
    handle.seek(start)
    first = handle.read(chunk_size)
    if start:
        found = (first.find(sep, 0, _SEPARATOR_SLACK) for sep in (b"\n", b"\r"))
        breaks = [i for i in found if i >= 0]
        first = first[min(breaks) + 1 :] if breaks else first
    yield first
    scanned = len(first)
    while chunk := handle.read(chunk_size):
        if time.monotonic() > deadline:
            raise ScanTooSlow(scanned, size, max_seconds)
        yield chunk
        scanned += len(chunk)


def scan_training_file(
    handle: BinaryIO,
    max_bytes: int | None = None,
    chunk_size: int = 1 << 20,
    max_seconds: float | None = None,
) -> tuple[TrainingLogScan, int]:
    """Scan an open training stdout, at most its last ``max_bytes`` (default SCAN_MAX_BYTES)
    from the first line break there; returns the scan and how many bytes before that were not
    scanned (0: all were). ScanTooSlow when it takes longer than ``max_seconds`` (default
    SCAN_MAX_SECONDS)."""
    max_bytes = SCAN_MAX_BYTES if max_bytes is None else max_bytes
    max_seconds = SCAN_MAX_SECONDS if max_seconds is None else max_seconds
    size = os.fstat(handle.fileno()).st_size
    start = max(size - max_bytes, 0)
    scan = scan_training_chunks(_tail_chunks(handle, start, chunk_size, size, max_seconds))
    return scan, (size - scan.bytes_read if start else 0)


def scan_training_log(
    path: Path, chunk_size: int = 1 << 20, max_bytes: int | None = None
) -> TrainingLogScan:
    """Scan the training stdout at ``path`` (a regular file: InputRefused otherwise),
    streaming it ``chunk_size`` bytes at a time, at most its last ``max_bytes``."""
    from .safe_io import open_regular

    with open_regular(path) as handle:
        return scan_training_file(handle, max_bytes, chunk_size)[0]


_STDOUT_NAME = re.compile(r"slurm-([0-9]+(?:_[0-9]+)?)\.out")


def job_id_from_stdout_name(name: str) -> str | None:
    """Job id of a SLURM stdout file name (``slurm-2773062.out`` -> ``"2773062"``,
    array task ``slurm-123_4.out`` -> ``"123_4"``); None for any other name."""
    match = _STDOUT_NAME.fullmatch(os.path.basename(name))
    return match.group(1) if match else None


def _job_key(path: Path) -> tuple[int, ...]:
    job_id = job_id_from_stdout_name(path.name)
    return tuple(int(part) for part in job_id.split("_")) if job_id else (-1,)


def pick_latest_stdout(paths: Sequence[Path]) -> Path | None:
    """Most recently modified file of ``paths``; equal times go to the larger job id.

    Files that cannot be stat'ed are skipped; None when none is left.
    """
    best: tuple[int, tuple[int, ...], str] | None = None
    chosen: Path | None = None
    for raw in paths:
        path = Path(raw)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            continue
        key = (mtime, _job_key(path), path.name)
        if best is None or key > best:
            best, chosen = key, path
    return chosen
