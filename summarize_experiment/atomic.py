"""Replace files atomically: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _write_temp(path: Path, text: str) -> str:
    """A fsynced temporary file beside `path` holding `text`; its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return temp_name


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_all_atomically(contents: dict[Path, str]) -> list[Path]:
    """Write every file to a temporary beside it first; only when all are written, rename each
    over its target. A failure while writing (disk full, permissions) changes no target."""
    temps: dict[Path, str] = {}
    try:
        for path, text in contents.items():
            temps[path] = _write_temp(path, text)
    except BaseException:
        for temp_name in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
        raise
    for path, temp_name in temps.items():
        os.replace(temp_name, path)
    for folder in {path.parent for path in contents}:
        _fsync_dir(folder)
    return list(contents)


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    return write_all_atomically({path: text})[0]
