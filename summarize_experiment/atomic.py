"""Replace files atomically: a reader sees the old file or the new one, never half of one.

:func:`replace_together` replaces several files (summary.md and summary.json) as one: every new
file is written and fsynced beside its target, every way a final rename can fail is checked
before the first one, a rename that fails all the same puts back what was already replaced, and
no temporary file is left behind. Only a crash between two renames can still leave a pair out of
step; :func:`content_digest` and :func:`pair_consistent` let a reader tell.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .evidence.safe_io import InputRefused, folder_inside, read_regular_bytes

# The key of summary.json that holds content_digest() of its summary.md.
MD_DIGEST_KEY = "summary_md_sha256"
# Largest summary.json pair_consistent reads: one of 10,000 runs is a few MB.
PAIR_JSON_MAX_BYTES = 64 << 20
# Mode of a new file before the umask, as open() and touch use.
NEW_FILE_MODE = 0o666


class ReplaceError(OSError):
    """Replacing files together failed. ``replaced`` lists the targets that now hold new
    content, ``kept`` those left as they were; the message says which is which."""

    def __init__(self, code: int, message: str, *, replaced: list[Path], kept: list[Path]) -> None:
        super().__init__(code, message)
        self.replaced = replaced
        self.kept = kept

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass
class _Pending:
    target: Path
    temp: str | None = None
    backup: str | None = None
    existed: bool = False


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it (/proc/self/status)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_temp(target: Path, data: bytes) -> str:
    """A fsynced temporary file beside ``target`` holding ``data``, with the mode (and, where
    allowed, the owner) of the file it replaces, or the umask's mode for a new file."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            previous = os.lstat(target)
        except FileNotFoundError:
            previous = None
        if previous is not None and stat.S_ISREG(previous.st_mode):
            mode = stat.S_IMODE(previous.st_mode)
            owner = previous.st_uid if os.geteuid() == 0 else -1
            with contextlib.suppress(PermissionError):
                os.fchown(fd, owner, previous.st_gid)
        else:
            mode = NEW_FILE_MODE & ~current_umask()
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    return temp


def _check_replaceable(target: Path) -> None:
    """Raise the OSError a rename onto ``target`` would meet, before any rename is made."""
    folder = target.parent
    folder_stat = os.stat(folder)
    try:
        previous = os.lstat(target)
    except FileNotFoundError:
        previous = None
    if previous is not None and stat.S_ISDIR(previous.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder")
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, f"its folder {folder} is on a read-only file system")
    effective = os.access in os.supports_effective_ids
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=effective):
        raise PermissionError(errno.EACCES, f"its folder {folder} is not writable")
    euid = os.geteuid()
    if (
        previous is not None
        and folder_stat.st_mode & stat.S_ISVTX
        and euid != 0
        and euid not in (previous.st_uid, folder_stat.st_uid)
    ):
        raise PermissionError(
            errno.EPERM,
            f"it belongs to uid {previous.st_uid} in the sticky folder {folder}, so only its "
            "owner can replace it",
        )
    if previous is not None and previous.st_dev != folder_stat.st_dev:
        raise OSError(errno.EBUSY, "it is a mount point")


def _names(paths: list[Path]) -> str:
    return ", ".join(str(path) for path in paths) or "nothing"


def _nothing_replaced(what: str, exc: OSError, targets: list[Path]) -> ReplaceError:
    return ReplaceError(
        exc.errno or errno.EIO,
        f"{what} ({exc.strerror or exc}): nothing was replaced ({_names(targets)} kept as they "
        "were)",
        replaced=[],
        kept=targets,
    )


def _undo(done: list[_Pending]) -> list[Path]:
    """Put back what ``done`` replaced, last first; the targets that could not be put back."""
    lost: list[Path] = []
    for item in reversed(done):
        try:
            if item.backup is not None:
                os.replace(item.backup, item.target)
                item.backup = None
            elif not item.existed:
                os.unlink(item.target)
            else:
                lost.append(item.target)
        except OSError:
            lost.append(item.target)
    return lost


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _rename_all(pending: list[_Pending]) -> None:
    """Rename every temporary over its target; on a failure undo the renames already made."""
    done: list[_Pending] = []
    for item in pending:
        item.existed = os.path.lexists(item.target)
        if item.existed:
            backup = f"{item.temp}.old"
            with contextlib.suppress(OSError):
                os.link(item.target, backup, follow_symlinks=False)
                item.backup = backup
        try:
            os.replace(str(item.temp), item.target)
        except OSError as exc:
            lost = _undo(done)
            targets = [p.target for p in pending]
            restored = [p.target for p in done if p.target not in lost]
            message = f"replacing {item.target} failed ({exc.strerror or exc})"
            if not lost:
                detail = f"; restored {_names(restored)}" if restored else ""
                raise ReplaceError(
                    exc.errno or errno.EIO,
                    f"{message}: nothing was replaced ({_names(targets)} kept as they were"
                    f"{detail})",
                    replaced=[],
                    kept=targets,
                ) from exc
            kept = [t for t in targets if t not in lost]
            raise ReplaceError(
                exc.errno or errno.EIO,
                f"{message}: {_names(lost)} replaced and could not be restored; "
                f"{_names(kept)} kept as they were",
                replaced=lost,
                kept=kept,
            ) from exc
        item.temp = None
        done.append(item)


def check_replaceable(targets: list[Path]) -> None:
    """Raise the ReplaceError :func:`replace_together` would meet before its first rename (a
    folder in a target's place, a read-only or unwritable folder, a sticky folder where someone
    else owns a target, a mount point), so that nothing else is written first."""
    for target in targets:
        try:
            _check_replaceable(Path(target))
        except OSError as exc:
            raise _nothing_replaced(f"{target} cannot be replaced", exc, targets) from exc


def replace_together(contents: dict[Path, bytes | str]) -> list[Path]:
    """Replace every file of ``contents`` (str is written as UTF-8) or none of them.

    All new files are written to temporaries beside their targets first; then every target
    is checked (a folder in its place, a read-only or unwritable folder, a sticky folder where
    someone else owns it, a mount point) before the first rename. A failure raises OSError
    (ReplaceError once renaming began) saying what was and was not replaced; temporaries are
    always removed. New files get the umask's mode, replaced ones keep their previous mode.
    Folders are not created. Returns the targets.
    """
    pending = [_Pending(Path(path)) for path in contents]
    targets = [item.target for item in pending]
    try:
        for item, data in zip(pending, contents.values(), strict=True):
            raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
            try:
                item.temp = _write_temp(item.target, raw)
            except OSError as exc:
                raise _nothing_replaced(f"writing {item.target} failed", exc, targets) from exc
        for item in pending:
            try:
                _check_replaceable(item.target)
            except OSError as exc:
                raise _nothing_replaced(f"{item.target} cannot be replaced", exc, targets) from exc
        _rename_all(pending)
    finally:
        for item in pending:
            for leftover in (item.temp, item.backup):
                if leftover is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
    for folder in dict.fromkeys(target.parent for target in targets):
        _fsync_dir(folder)
    return targets


def write_all_atomically(
    contents: dict[Path, str], *, root: os.PathLike[str] | str | None = None
) -> list[Path]:
    """Create the targets' folders, then :func:`replace_together`: all files or none.

    With ``root`` (the experiment folder), the folders are created only below it, and never
    through a symbolic link that leads out of it (UnsafeOutput, nothing written)."""
    for path in contents:
        if root is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            folder_inside(Path(path).parent, root)
    return replace_together(dict(contents))


def write_atomically(path: Path, text: str, *, root: os.PathLike[str] | str | None = None) -> Path:
    """Write ``text`` to a temporary beside ``path``, fsync it, then rename it over ``path``
    (below ``root`` only, when it is given: see :func:`write_all_atomically`)."""
    return write_all_atomically({path: text}, root=root)[0]


def content_digest(text: str | bytes) -> str:
    """``sha256:<hex>`` of ``text`` (UTF-8): what summary.json records of its summary.md."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def pair_consistent(md_path: Path, json_path: Path, *, key: str = MD_DIGEST_KEY) -> bool:
    """True when ``json_path`` records (under ``key``) the digest of ``md_path`` as it is now;
    False when either is missing or unreadable, or a crash left them out of step."""
    try:
        document = json.loads(read_regular_bytes(json_path, PAIR_JSON_MAX_BYTES))
        markdown = read_regular_bytes(md_path, PAIR_JSON_MAX_BYTES)
    except (OSError, InputRefused, ValueError):
        return False
    if not isinstance(document, dict) or markdown.cut:
        return False
    return document.get(key) == content_digest(bytes(markdown))
