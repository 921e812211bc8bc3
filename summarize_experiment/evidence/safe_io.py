"""Reading and writing that an experiment folder cannot turn against the summarizer.

Every input is bounded: regular files only (a FIFO or a device never blocks a read), at most a
known number of bytes, YAML without alias bombs or runaway nesting, inspect-ai archives whose
members would not inflate past a limit, SLURM commands within one time budget and a byte cap.
Every write stays inside the experiment: the log is appended only below the experiment folder,
never through a symbolic link that leads out of it, in full or with a clear error.

Each limit is a named constant below, with the reason for its value.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import selectors
import signal
import stat
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml

__all__ = [
    "COMMAND_OUTPUT_MAX_BYTES",
    "EVAL_DIRECTORY_MAX_BYTES",
    "EVAL_MEMBER_MAX_BYTES",
    "EVAL_READ_MAX_BYTES",
    "YAML_MAX_ALIASES",
    "YAML_MAX_BYTES",
    "YAML_MAX_DEPTH",
    "YAML_MAX_NODES",
    "BoundedBytes",
    "CommandResult",
    "EvalArchive",
    "IncompleteWrite",
    "InputRefused",
    "UnsafeOutput",
    "append_all",
    "check_eval_archive",
    "folder_inside",
    "kind_of",
    "load_yaml_bounded",
    "open_regular",
    "read_regular_bytes",
    "resolve_inside",
    "run_bounded",
    "yaml_text",
]

# --------------------------------------------------------------------------- limits

# Largest single os.read: a read allowed 1 GiB still never asks for a 1 GiB buffer at once.
READ_CHUNK_BYTES = 1 << 20
# A design (experiment_summary.yaml, setup_finetune.yaml) of 10,000 runs is about 2 MB, and
# PyYAML's pure-Python loader reads roughly 1 MB a second; 8 MiB bounds the load at seconds.
YAML_MAX_BYTES = 8 << 20
# A design nests about 5 levels. The composer recurses twice per level, so 64 levels stay far
# below Python's recursion limit (1,000), where a 2,000-deep document used to end in
# RecursionError.
YAML_MAX_DEPTH = 64
# Alias references as expanded (an alias inside an anchor used ten times counts ten times).
# A generated design may alias one shared block per run (PyYAML's dumper writes &id001/*id001
# for shared objects), so 100,000 covers a 10,000-run sweep ten times over; a billion-laughs
# document needs about 10^9, and is refused at the first alias past the limit.
YAML_MAX_ALIASES = 100_000
# Values in the design once its aliases are expanded: a 10,000-run design holds ~200,000, and a
# million keeps anything that walks the loaded design (JSON, copies) under ~100 MB.
YAML_MAX_NODES = 1_000_000
# inspect-ai stores about 500 bytes of summaries.json per sample, so 256 MiB is over 500,000
# samples (far beyond a classification eval); a 3 GiB bomb is refused before inflating.
EVAL_MEMBER_MAX_BYTES = 256 << 20
# Everything the summarizer may inflate from one log (header, summaries, reductions and their
# journal copies, which repeat the summaries): twice the member limit.
EVAL_READ_MAX_BYTES = 512 << 20
# The central directory is read whole before any check can run: ~70 bytes per member, so
# 64 MiB is about 900,000 members (a 100,000-sample log has ~100,000).
EVAL_DIRECTORY_MAX_BYTES = 64 << 20
# Members under this prefix hold the sample transcripts, which the summarizer never inflates.
EVAL_UNREAD_PREFIX = "samples/"
# Output asked of a decompressor at once while measuring a member.
INFLATE_CHUNK_BYTES = 1 << 20
# sacct's answer for 10,000 jobs is about 1.5 MB; 16 MiB is ten times that, and holding it is
# cheap, while a command that prints without end is stopped there.
COMMAND_OUTPUT_MAX_BYTES = 16 << 20
# Bytes taken from a command's pipe per read (the Linux pipe buffer is 64 KiB).
COMMAND_READ_BYTES = 1 << 16
# Without pidfd (Linux < 5.3) the exit of a command is polled this often.
EXIT_POLL_S = 0.05
# After SIGKILL, how long to wait for the killed command to be reaped.
KILL_GRACE_S = 2.0
# Symbolic links followed inside the experiment while opening one log (Linux's own MAXSYMLINKS).
LINK_HOPS_MAX = 40

_ZIP_STORED, _ZIP_DEFLATED, _ZIP_ZSTD = 0, 8, 93
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"


class InputRefused(Exception):
    """An input the summarizer will not read; the message names the file and why."""

    def __init__(self, path: os.PathLike[str] | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UnsafeOutput(OSError):
    """A write refused because it would land outside the experiment or in a non-regular file."""

    def __str__(self) -> str:
        return str(self.strerror)


class IncompleteWrite(OSError):
    """A write that stopped short (disk full, quota): ``written`` of ``expected`` bytes landed."""

    def __init__(self, code: int, message: str, *, written: int, expected: int) -> None:
        super().__init__(code, message)
        self.written = written
        self.expected = expected

    def __str__(self) -> str:
        return str(self.strerror)


# --------------------------------------------------------------------------- boundary


def _roots(root: os.PathLike[str] | str | Sequence[os.PathLike[str] | str]) -> list[Path]:
    items = [root] if isinstance(root, str | os.PathLike) else list(root)
    return [Path(os.path.realpath(item)) for item in items]


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def resolve_inside(
    path: os.PathLike[str] | str,
    root: os.PathLike[str] | str | Sequence[os.PathLike[str] | str],
    *,
    allow_outside: bool = True,
) -> tuple[Path | None, str | None]:
    """Where ``path`` really is (symbolic links followed), checked against ``root``.

    ``root`` is the experiment folder, or several folders (its output root too). Returns
    ``(resolved, None)`` inside; ``(resolved, note)`` for a link leading outside, which may be
    read with the note naming it, or ``(None, note)`` when ``allow_outside`` is False; and
    ``(None, note)`` for a symbolic link loop or a link to nothing. A path that does not exist
    (and is no link) raises FileNotFoundError.
    """
    path = Path(path)
    roots = _roots(root)
    try:
        resolved = Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"{path}: a symbolic link loop; skipped"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return (
                None,
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; skipped",
            )
        raise
    if _inside(resolved, roots):
        return resolved, None
    verdict = "read anyway" if allow_outside else "skipped"
    if path.is_symlink():
        note = f"{path}: a symbolic link to {resolved}, outside the experiment; {verdict}"
    else:
        link = next((p for p in path.parents if p.is_symlink()), None)
        if link is None:
            note = f"{path}: outside the experiment ({roots[0]}); {verdict}"
        else:
            target = os.path.realpath(link)
            note = (
                f"{path}: inside the symbolic link {link} to {target}, outside the experiment; "
                f"{verdict}"
            )
    return (resolved if allow_outside else None), note


# --------------------------------------------------------------------------- reading


def kind_of(mode: int) -> str:
    """What a file that is not a regular file is, for a message ("a named pipe (FIFO)")."""
    return _kind(mode)


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, for a message."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _open_regular_fd(path: os.PathLike[str] | str) -> int:
    """A read-only descriptor of a regular file; InputRefused for anything else.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer; the
    ``fstat`` of what was opened (not of the name, which may change) decides.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: a socket
            raise
        mode = os.stat(path).st_mode
        raise InputRefused(path, f"is {_kind(mode)}, not a regular file; not read") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputRefused(path, f"is {_kind(mode)}, not a regular file; not read")
    os.set_blocking(fd, True)
    return fd


def open_regular(path: os.PathLike[str] | str) -> BinaryIO:
    """Open a regular file for reading (buffered binary); InputRefused for a FIFO, device,
    socket or folder, without blocking on it."""
    return os.fdopen(_open_regular_fd(path), "rb")


class BoundedBytes(bytes):
    """Bytes read from a file: ``cut`` tells whether the limit stopped the read, ``size`` is
    the file's size when it was opened."""

    cut: bool
    size: int

    def __new__(cls, data: bytes, *, cut: bool, size: int) -> BoundedBytes:
        self = super().__new__(cls, data)
        self.cut = cut
        self.size = size
        return self


def read_regular_bytes(path: os.PathLike[str] | str, limit: int) -> BoundedBytes:
    """At most ``limit`` bytes of the regular file ``path`` (InputRefused for anything else)."""
    fd = _open_regular_fd(path)
    try:
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        got = 0
        while got < limit:
            chunk = os.read(fd, min(READ_CHUNK_BYTES, limit - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        cut = got >= limit and bool(os.read(fd, 1))
    finally:
        os.close(fd)
    return BoundedBytes(b"".join(chunks), cut=cut, size=max(size, got))


# --------------------------------------------------------------------------- YAML


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts, while composing, the nesting and what the aliases expand to."""

    def __init__(
        self, stream: str, *, path: Path, max_aliases: int, max_depth: int, max_nodes: int
    ) -> None:
        super().__init__(stream)
        self.name = str(path)  # YAML errors name the file, not "<byte string>"
        self._path = path
        self._max_aliases = max_aliases
        self._max_depth = max_depth
        self._max_nodes = max_nodes
        self._depth = 0
        self._nodes = 0
        self._aliases = 0
        # id of each finished node -> (nodes, alias references) it expands to
        self._weights: dict[int, tuple[int, int]] = {}

    def _refuse(self, event: yaml.Event, reason: str) -> InputRefused:
        return InputRefused(self._path, f"{reason} at line {event.start_mark.line + 1}; refused")

    def _count(self, nodes: int, aliases: int, event: yaml.Event) -> None:
        self._nodes += nodes
        self._aliases += aliases
        if self._aliases > self._max_aliases:
            raise self._refuse(
                event,
                f"its aliases expand to more than {self._max_aliases:,} references "
                "(an alias bomb such as billion laughs)",
            )
        if self._nodes > self._max_nodes:
            raise self._refuse(event, f"it expands to more than {self._max_nodes:,} values")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            weight = self._weights.get(id(node))
            if weight is None:
                raise self._refuse(event, f"the alias *{event.anchor} refers to a node holding it")
            self._count(weight[0], weight[1] + 1, event)
            return node
        if self._depth >= self._max_depth:
            raise self._refuse(event, f"it nests deeper than {self._max_depth} levels")
        nodes, aliases = self._nodes, self._aliases
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._count(1, 0, event)
        self._weights[id(node)] = (self._nodes - nodes, self._aliases - aliases)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value Python cannot hold (a 5,000-digit integer, month 13) is a YAML error at its
        line, like any other malformed value, instead of a bare ValueError."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot be read as a value: {exc}", node.start_mark
            ) from exc


def yaml_text(data: bytes) -> str:
    """The text :func:`load_yaml_bounded` parses from a file's bytes (a UTF-8 BOM dropped)."""
    return data.decode("utf-8-sig", errors="replace")


def load_yaml_bounded(
    path: os.PathLike[str] | str,
    *,
    max_bytes: int = YAML_MAX_BYTES,
    max_aliases: int = YAML_MAX_ALIASES,
    max_depth: int = YAML_MAX_DEPTH,
    max_nodes: int = YAML_MAX_NODES,
) -> Any:
    """The YAML document at ``path``, loaded safely within bounds.

    InputRefused (naming the file, and the line where it applies) for a file that is not
    regular, larger than ``max_bytes``, nested deeper than ``max_depth``, or whose aliases
    expand to more than ``max_aliases`` references or ``max_nodes`` values; yaml.YAMLError for
    malformed YAML, as ``yaml.safe_load`` would raise it. Bytes that are not UTF-8 are read as
    U+FFFD (as a text editor shows them), so a stray byte in a comment does not sink a file.
    """
    path = Path(path)
    data = read_regular_bytes(path, max_bytes)
    if data.cut:
        raise InputRefused(path, f"is larger than {max_bytes:,} bytes ({data.size:,}); not read")
    loader = _BoundedLoader(
        yaml_text(data),
        path=path,
        max_aliases=max_aliases,
        max_depth=max_depth,
        max_nodes=max_nodes,
    )
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- inspect archives


@dataclass(frozen=True)
class EvalArchive:
    """What :func:`check_eval_archive` found: members in all, members the summarizer may
    inflate, and the bytes those inflate to."""

    members: int
    read_members: int
    read_bytes: int


class _Window(io.RawIOBase):
    """Read-only view of ``length`` bytes of ``handle`` from ``offset``."""

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._handle = handle
        self._position = offset
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        self._handle.seek(self._position)
        data = self._handle.read(want)
        buffer[: len(data)] = data
        self._position += len(data)
        self._left -= len(data)
        return len(data)


def _inflated_chunks(handle: BinaryIO, info: zipfile.ZipInfo) -> Iterator[int]:
    """Sizes of the successive pieces ``info`` inflates to, each at most INFLATE_CHUNK_BYTES."""
    handle.seek(info.header_offset)
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
    if signature != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile(f"member {info.filename}: bad local header")
    start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
    raw = _Window(handle, start, info.compress_size)
    if info.compress_type == _ZIP_STORED:
        yield info.compress_size
    elif info.compress_type == _ZIP_DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        while chunk := raw.read(INFLATE_CHUNK_BYTES):
            while chunk:
                yield len(inflater.decompress(chunk, INFLATE_CHUNK_BYTES))
                chunk = inflater.unconsumed_tail
            if inflater.eof:
                break
    elif info.compress_type == _ZIP_ZSTD:
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        while piece := reader.read(INFLATE_CHUNK_BYTES):
            yield len(piece)
    else:
        raise ValueError(f"compression method {info.compress_type}")


def check_eval_archive(
    path: os.PathLike[str] | str,
    *,
    max_member_bytes: int = EVAL_MEMBER_MAX_BYTES,
    max_total_bytes: int = EVAL_READ_MAX_BYTES,
) -> EvalArchive:
    """Refuse an inspect-ai ``.eval`` that would inflate past the limits, before inspect reads it.

    The members the summarizer may inflate (all but the ``samples/`` transcripts) are checked
    twice: their sizes declared in the zip's central directory against ``max_member_bytes``
    each and ``max_total_bytes`` together, then their real inflated size, measured by
    streaming decompression that stops past the declared size (a member lying about its
    size is refused too). Memory stays at a few MiB. inspect-ai 0.3.285 has no public reader
    of member sizes (only the private ``inspect_ai._util.async_zip``), so the central
    directory is read with ``zipfile``. Raises InputRefused; zipfile.BadZipFile when the file
    is not a zip at all, which is left to inspect-ai's own error.
    """
    path = Path(path)
    with open_regular(path) as handle:
        # the end record, found as zipfile finds it, gives the directory's size before reading it
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]
        if end is None:
            raise zipfile.BadZipFile(f"{path}: not a zip archive")
        directory_bytes = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
        if directory_bytes > EVAL_DIRECTORY_MAX_BYTES:
            raise InputRefused(
                path,
                f"its zip directory takes {directory_bytes:,} bytes, more than the "
                f"{EVAL_DIRECTORY_MAX_BYTES:,} allowed; not read",
            )
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
        read = [
            i for i in infos if not i.filename.startswith(EVAL_UNREAD_PREFIX) and not i.is_dir()
        ]
        total = 0
        for info in read:
            if info.file_size > max_member_bytes:
                raise InputRefused(
                    path,
                    f"its member {info.filename} would inflate to {info.file_size:,} bytes, "
                    f"more than the {max_member_bytes:,} allowed; not read",
                )
            total += info.file_size
            if total > max_total_bytes:
                raise InputRefused(
                    path,
                    f"its members would inflate to more than {max_total_bytes:,} bytes "
                    f"({info.filename} passes the limit); not read",
                )
        for info in read:
            produced = 0
            try:
                for size in _inflated_chunks(handle, info):
                    produced += size
                    if produced > info.file_size:
                        raise InputRefused(
                            path,
                            f"its member {info.filename} inflates past the {info.file_size:,} "
                            "bytes its zip directory declares; not read",
                        )
            except ValueError as exc:
                raise InputRefused(
                    path, f"its member {info.filename} cannot be inflated ({exc}); not read"
                ) from exc
    return EvalArchive(members=len(infos), read_members=len(read), read_bytes=total)


# --------------------------------------------------------------------------- appending


def _relative_parts(path: Path, root: Path) -> list[str]:
    """The components of ``path`` below ``root`` (both made absolute, `..` resolved lexically)."""
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root))
    try:
        parts = list(absolute.relative_to(base).parts)
    except ValueError:
        raise UnsafeOutput(
            errno.EPERM, f"{path}: not below {root}; nothing written outside the experiment"
        ) from None
    if not parts:
        raise IsADirectoryError(errno.EISDIR, f"{path}: is the experiment folder itself")
    return parts


def _follow(root_real: str, parts: list[str], upto: int, path: Path) -> list[str]:
    """The parts after the symbolic link ``parts[:upto]`` is followed; UnsafeOutput when it
    leads outside the experiment."""
    link = os.path.join(root_real, *parts[:upto])
    target = os.path.realpath(link)
    if not _inside(Path(target), [Path(root_real)]):
        raise UnsafeOutput(
            errno.EPERM,
            f"{path}: {link} is a symbolic link to {target}, outside the experiment; "
            "nothing written",
        )
    return [*Path(target).relative_to(root_real).parts, *parts[upto:]]


def _open_for_append(root_real: str, parts: list[str], path: Path) -> int:
    """A descriptor appending to ``parts`` below ``root_real``, creating missing folders and
    following symbolic links only where they stay inside."""
    for _hop in range(LINK_HOPS_MAX):
        dir_fd = os.open(root_real, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for depth, name in enumerate(parts[:-1]):
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    child = os.open(name, flags, dir_fd=dir_fd)
                except FileNotFoundError:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=dir_fd)
                    child = os.open(name, flags, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not stat.S_ISLNK(
                        os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
                    ):
                        raise
                    parts = _follow(root_real, parts, depth + 1, path)
                    break
                os.close(dir_fd)
                dir_fd = child
            else:
                flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC) | (
                    os.O_NONBLOCK | os.O_NOCTTY
                )
                try:
                    return os.open(parts[-1], flags, 0o666, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # a FIFO nobody reads, or a socket
                        mode = os.stat(parts[-1], dir_fd=dir_fd).st_mode
                        raise UnsafeOutput(
                            errno.EPERM,
                            f"{path}: is {_kind(mode)}, not a regular file; nothing written",
                        ) from exc
                    if exc.errno != errno.ELOOP:
                        raise
                parts = _follow(root_real, parts, len(parts), path)
        finally:
            os.close(dir_fd)
    raise OSError(errno.ELOOP, f"{path}: too many symbolic links on the way")


def folder_inside(
    path: os.PathLike[str] | str, root: os.PathLike[str] | str, *, create: bool = True
) -> Path:
    """The folder ``path`` below the existing folder ``root``, made ready for writing into.

    Every part of it that exists must be a folder, reached through symbolic links only where
    they stay inside ``root``; otherwise UnsafeOutput (a link leading out, a file or a link to
    nothing on the way) and nothing is created. Missing parts are created when ``create`` is
    True (``root`` itself never is: FileNotFoundError). Returns ``path``.
    """
    path = Path(path)
    if not os.path.isdir(root):
        raise FileNotFoundError(
            errno.ENOENT, f"{root}: no such folder; nothing is created where there is no experiment"
        )
    root_real = os.path.realpath(root)
    if Path(os.path.abspath(path)) == Path(os.path.abspath(root)):
        return path
    current = root_real
    for name in _relative_parts(path, Path(root)):
        candidate = os.path.join(current, name)
        try:
            mode = os.lstat(candidate).st_mode
        except FileNotFoundError:
            if not create:
                return path
            with contextlib.suppress(FileExistsError):
                os.mkdir(candidate, 0o777)
            mode = os.lstat(candidate).st_mode
        if stat.S_ISLNK(mode):
            target = os.path.realpath(candidate)
            if not _inside(Path(target), [Path(root_real)]):
                raise UnsafeOutput(
                    errno.EPERM,
                    f"{path}: {candidate} is a symbolic link to {target}, outside the "
                    "experiment; nothing written",
                )
            if not os.path.isdir(target):
                raise UnsafeOutput(
                    errno.ENOTDIR,
                    f"{path}: {candidate} is a symbolic link to {target}, which is not a "
                    "folder; nothing written",
                )
            candidate = target
        elif not stat.S_ISDIR(mode):
            what = "a file" if stat.S_ISREG(mode) else _kind(mode)
            raise UnsafeOutput(
                errno.ENOTDIR, f"{path}: {candidate} is {what}, not a folder; nothing written"
            )
        current = candidate
    return path


def append_all(path: os.PathLike[str] | str, data: bytes, root: os.PathLike[str] | str) -> int:
    """Append all of ``data`` to the regular file ``path`` below the existing folder ``root``.

    Missing folders between ``root`` and ``path`` are created; ``root`` itself never is. A
    symbolic link on the way (a folder or the file) is followed only when it stays inside
    ``root``; otherwise, and for a FIFO, device or a file with other hard links, UnsafeOutput
    and nothing is written. Short writes are continued and the file is fsynced; when the disk
    fills, IncompleteWrite says how many bytes were written. Returns ``len(data)``.
    """
    path = Path(path)
    if not os.path.isdir(root):
        raise FileNotFoundError(
            errno.ENOENT, f"{root}: no such folder; nothing is created where there is no experiment"
        )
    root_real = os.path.realpath(root)
    parts = _relative_parts(path, Path(root))
    fd = _open_for_append(root_real, parts, path)
    written = 0
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeOutput(
                errno.EPERM, f"{path}: is {_kind(st.st_mode)}, not a regular file; nothing written"
            )
        if st.st_nlink > 1:
            raise UnsafeOutput(
                errno.EPERM,
                f"{path}: has {st.st_nlink} hard links, so it may be a file outside the "
                "experiment; nothing written",
            )
        os.set_blocking(fd, True)
        view = memoryview(data)
        while written < len(view):
            try:
                count = os.write(fd, view[written:])
            except OSError as exc:
                raise IncompleteWrite(
                    exc.errno or errno.EIO,
                    f"{path}: only {written:,} of {len(view):,} bytes written ({exc.strerror})",
                    written=written,
                    expected=len(view),
                ) from exc
            if count == 0:
                raise IncompleteWrite(
                    errno.EIO,
                    f"{path}: only {written:,} of {len(view):,} bytes written (no progress)",
                    written=written,
                    expected=len(view),
                )
            written += count
        try:
            os.fsync(fd)
        except OSError as exc:
            raise IncompleteWrite(
                exc.errno or errno.EIO,
                f"{path}: {written:,} bytes written but not flushed to disk ({exc.strerror})",
                written=written,
                expected=len(view),
            ) from exc
    finally:
        os.close(fd)
    return written


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class CommandResult:
    """How a command ran. ``returncode`` is None when it did not exit by itself (never
    started, killed); ``failure`` says why, and is None whenever it exited within the limits,
    whatever its exit code. ``stdout``/``stderr`` hold what it printed before it exited or was
    stopped."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    failure: str | None = None
    timed_out: bool = False
    overflowed: bool = False


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits; None where Linux has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


class _Collector:
    """Output of one command's two pipes, read without blocking and capped in total."""

    def __init__(self, proc: subprocess.Popen[bytes], cap: int) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.buffers = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}
        self.stdout_fd = proc.stdout.fileno()
        self.open = set(self.buffers)
        self.cap = cap
        self.total = 0
        for fd in self.buffers:
            os.set_blocking(fd, False)

    def read(self, fd: int) -> bool:
        """Take what ``fd`` holds now; False once past the cap."""
        while fd in self.open:
            try:
                chunk = os.read(fd, COMMAND_READ_BYTES)
            except BlockingIOError:
                return True
            if not chunk:
                self.open.discard(fd)
                return True
            self.buffers[fd] += chunk
            self.total += len(chunk)
            if self.total > self.cap:
                return False
        return True

    def output(self) -> tuple[bytes, bytes]:
        stderr_fd = next(fd for fd in self.buffers if fd != self.stdout_fd)
        return bytes(self.buffers[self.stdout_fd]), bytes(self.buffers[stderr_fd])


def _wait_and_collect(proc: subprocess.Popen[bytes], collector: _Collector, deadline: float) -> str:
    """Read until the command exits ("exited"), the deadline ("timeout"), or the cap
    ("overflow"). An exit ends the wait even while a child it left holds the pipes open."""
    exit_fd = _pidfd(proc.pid)
    with selectors.DefaultSelector() as selector:
        for fd in collector.open:
            selector.register(fd, selectors.EVENT_READ)
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "timeout"
                wait = left if exit_fd is not None else min(left, EXIT_POLL_S)
                for key, _events in selector.select(wait):
                    fd = key.fd
                    if fd == exit_fd:
                        continue
                    if not collector.read(fd):
                        return "overflow"
                    if fd not in collector.open:
                        selector.unregister(fd)
                if proc.poll() is not None:
                    # all it wrote is in the pipes now: take that, not what a child may add
                    for fd in list(collector.open):
                        if not collector.read(fd):
                            return "overflow"
                    return "exited"
        finally:
            if exit_fd is not None:
                os.close(exit_fd)


def run_bounded(
    argv: Sequence[str],
    *,
    deadline: float,
    max_output_bytes: int = COMMAND_OUTPUT_MAX_BYTES,
    label: str | None = None,
) -> CommandResult:
    """Run ``argv`` (no shell, stdin closed, its own process group) until ``deadline``
    (``time.monotonic()``), keeping at most ``max_output_bytes`` of stdout and stderr together.

    Returns as soon as the command exits, with what it printed, even if a child it left keeps
    the pipes open (that child is left alone). At the deadline or past the cap the process
    group is killed and ``failure`` says so; a deadline already passed runs nothing.
    """
    name = label or argv[0]
    allotted = deadline - time.monotonic()
    if allotted <= 0:
        return CommandResult(None, b"", b"", f"{name} was not run: no time was left for it")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        return CommandResult(None, b"", b"", f"{argv[0]} not found on PATH: {exc}")
    except OSError as exc:
        return CommandResult(None, b"", b"", f"{argv[0]} cannot be run: {exc}")
    try:
        collector = _Collector(proc, max_output_bytes)
        outcome = _wait_and_collect(proc, collector, deadline)
    finally:
        if proc.returncode is None:
            _kill_group(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILL_GRACE_S)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    stdout, stderr = collector.output()
    if outcome == "timeout":
        return CommandResult(
            None,
            stdout,
            stderr,
            f"{name} timed out after {round(allotted, 1):g} s and was killed",
            timed_out=True,
        )
    if outcome == "overflow":
        return CommandResult(
            None,
            stdout,
            stderr,
            f"{name} printed more than {max_output_bytes:,} bytes and was killed",
            overflowed=True,
        )
    return CommandResult(proc.returncode, stdout, stderr)
