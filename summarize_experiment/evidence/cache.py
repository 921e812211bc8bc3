"""What earlier runs read, kept in the experiment's `logs/` so a re-run reads only what changed.

An entry holds what was read from one log or job stdout under the file's path, and is used
only while the file's size, modification time (ns) and inode, and this tool's version, are the
ones it was read with. `derived` keeps the judge's costly computations (`judge.memo`) by the
digest of their inputs: the judge still decides every status afresh. A cache that is corrupt,
from another version or unreadable is ignored with a note, never trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from ..jsonio import dumps
from ..vocabulary import VERSION
from . import codec
from .model import JobStdoutFile, JobStdoutRead, LogFile, LogRead
from .safe_io import read_regular_bytes, resolve_inside

CACHE_FILE = Path("logs") / "summarize-cache.json"
CACHE_FORMAT = 4
"""Bumped when what an entry holds changes; with the package version it keys the cache."""
CACHE_READ_MAX_BYTES = 256 << 20
"""A larger cache is not read (every input is then read again): one of 10,000 logs with their
samples is well below this, and reading it stays a second."""
CACHE_INFLATE_MAX_BYTES = 512 << 20
"""What the entries of one cache may inflate to in all (their deflated sample ids and arrays);
entries past it are read again from their files."""

T = TypeVar("T")


def cache_version() -> str:
    return f"{VERSION}/{CACHE_FORMAT}"


def stamp(found: LogFile | JobStdoutFile) -> list[int]:
    """What must not have changed for an entry to hold: size, mtime (ns), inode."""
    return [found.size, found.mtime_ns, found.inode]


@dataclass
class ReadCache:
    """The entries of the cache file (`logs` and `stdouts` by path, each `{"stamp", "read",
    "samples"}`), and why the file was not used, if it was not."""

    logs: dict[str, dict] = field(default_factory=dict)
    stdouts: dict[str, dict] = field(default_factory=dict)
    derived: dict[str, object] = field(default_factory=dict)
    note: str | None = None
    inflate: codec.InflateBudget = field(
        default_factory=lambda: codec.InflateBudget(CACHE_INFLATE_MAX_BYTES)
    )

    def holds_exactly(
        self, logs: list[LogFile], stdouts: list[JobStdoutFile], with_samples: bool
    ) -> bool:
        """Whether these files, as they are, are all the cache holds (nothing to write)."""
        if self.note or len(logs) != len(self.logs) or len(stdouts) != len(self.stdouts):
            return False
        for found in logs:
            entry = self.logs.get(found.path)
            if entry is None or entry.get("stamp") != stamp(found):
                return False
            if bool(entry.get("samples")) != with_samples:
                return False
        return all(
            (entry := self.stdouts.get(found.path)) is not None
            and entry.get("stamp") == stamp(found)
            for found in stdouts
        )

    def log(self, found: LogFile, with_samples: bool) -> LogRead | None:
        """The cached read of a log, when the file is unchanged and the read has what is
        asked (a read with samples serves one without: its samples are dropped)."""
        entry = self.logs.get(found.path)
        if entry is None or entry.get("stamp") != stamp(found):
            return None
        if with_samples and not entry.get("samples"):
            return None
        read = _decode(LogRead, entry.get("read"), self.inflate)
        if read is not None and not with_samples and read.samples is not None:
            read = LogRead(read.path, read.header, None, read.error, read.notes)
        return read

    def stdout(self, found: JobStdoutFile) -> JobStdoutRead | None:
        entry = self.stdouts.get(found.path)
        if entry is None or entry.get("stamp") != stamp(found):
            return None
        return _decode(JobStdoutRead, entry.get("read"), self.inflate)


def _decode(kind: type[T], data: object, inflate: codec.InflateBudget) -> T | None:
    try:
        return codec.decode(kind, data, inflate=inflate)
    except (ValidationError, ValueError, TypeError):
        return None


def load_cache(experiment_dir: Path) -> ReadCache:
    """The cache of an experiment: empty when there is none, and with a note when there is one
    that cannot be trusted."""
    path = experiment_dir / CACHE_FILE
    try:
        if not path.exists() and not path.is_symlink():
            return ReadCache()
        resolved, note = resolve_inside(path, experiment_dir, allow_outside=False)
        if resolved is None:  # what it says is not trusted from outside the experiment
            return ReadCache(note=f"{note}; every input was read again")
        if not path.is_file():
            return ReadCache(note=f"{path}: not a file; every input was read again")
        data = read_regular_bytes(path, CACHE_READ_MAX_BYTES)
        if data.cut:
            return ReadCache(
                note=f"{path}: larger than {CACHE_READ_MAX_BYTES >> 20} MiB; every input was "
                "read again"
            )
        data = json.loads(bytes(data))
    except Exception as exc:  # unreadable, not JSON, nested too deep: the cache is not used
        return ReadCache(note=f"{path}: cannot be used ({exc}); every input was read again")
    if not isinstance(data, dict) or data.get("version") != cache_version():
        found = data.get("version") if isinstance(data, dict) else None
        return ReadCache(
            note=f"{path}: written by another version ({found}); every input was read again"
        )
    logs, stdouts, derived = data.get("logs"), data.get("stdouts"), data.get("derived", {})
    if not all(isinstance(part, dict) for part in (logs, stdouts, derived)):
        return ReadCache(note=f"{path}: not a cache of this tool; every input was read again")
    return ReadCache(logs=logs, stdouts=stdouts, derived=derived)


def reads_text(
    logs: list[tuple[LogFile, LogRead]],
    stdouts: list[tuple[JobStdoutFile, JobStdoutRead]],
    with_samples: bool,
) -> str:
    """The reads part of the cache file as JSON text (entries of files no longer there are
    gone). Made as text early, so that the large tree it is encoded from is not kept while
    the summary is judged and drawn; `cache_text` completes it."""
    return dumps(
        {
            "logs": {
                found.path: {
                    "stamp": stamp(found),
                    "samples": with_samples,
                    "read": codec.encode(read, compact=True),
                }
                for found, read in logs
            },
            "stdouts": {
                found.path: {"stamp": stamp(found), "read": codec.encode(read)}
                for found, read in stdouts
            },
        }
    )


def cache_text(reads: str, derived: dict[str, object]) -> str:
    """The cache file: its version, the judge's `derived` results and the `reads` text."""
    assert reads.startswith('{"logs": ')
    head = dumps({"version": cache_version(), "derived": derived})
    return f"{head[:-1]}, {reads[1:]}\n"
