"""What the attack tests of the hardening primitives share: a memory- and time-bounded child
Python, a child running as an unprivileged user, and a tiny real file system."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import pwd
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# The promise under attack: no input makes the summarizer use more than this.
MEMORY_LIMIT_BYTES = 500 << 20
# A safety net, not a measurement: an attacked call that has not finished by then has hung.
SAFETY_TIMEOUT_S = 60.0


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_limited(code: str, *args: str) -> Any:
    """Run ``code`` in a child Python limited to MEMORY_LIMIT_BYTES of address space and
    SAFETY_TIMEOUT_S; the child prints one JSON value last, which is returned."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=SAFETY_TIMEOUT_S,
        preexec_fn=_limit_memory,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


SUMMARIZE_SCRIPT = REPO / "scripts" / "summarize.py"
# BLAS thread pools and glibc's per-thread malloc arenas reserve address space they never use
# (about 150 MB at the defaults on two cores); with one BLAS thread and two arenas the whole
# summarizer (inspect-ai, scikit-learn, matplotlib) maps ~425 MB, so RLIMIT_AS bounds what
# the summarizer allocates, not what libraries merely reserve.
LIMITED_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}


@dataclass
class Summarized:
    """How a summarizer run in a child ended: exit code, the JSON result, stderr, wall time."""

    code: int
    result: dict[str, Any]
    stderr: str
    seconds: float


def summarize_limited(
    exp: Path | str | None,
    *args: str,
    cwd: Path | None = None,
    umask: int | None = None,
    script: Path = SUMMARIZE_SCRIPT,
) -> Summarized:
    """``scripts/summarize.py exp --no-sacct --jobs 1 *args`` (no experiment argument when
    ``exp`` is None) in a child limited to MEMORY_LIMIT_BYTES of address space and
    SAFETY_TIMEOUT_S; its stdout must be one JSON object."""

    def limits() -> None:
        _limit_memory()
        if umask is not None:
            os.umask(umask)

    argv = [sys.executable, str(script), *([str(exp)] if exp is not None else [])]
    argv += ["--no-sacct", "--jobs", "1", *args] if script == SUMMARIZE_SCRIPT else list(args)
    started = time.monotonic()
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=SAFETY_TIMEOUT_S,
        preexec_fn=limits,
        cwd=cwd or REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **LIMITED_ENV},
    )
    seconds = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (done.stdout[-2000:], done.stderr[-3000:])
    return Summarized(done.returncode, json.loads(lines[0]), done.stderr, seconds)


def nobody() -> tuple[int, int]:
    """uid and gid of the unprivileged user ``nobody``; skips where there is none."""
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user named nobody on this machine")
    return entry.pw_uid, entry.pw_gid


def as_user(uid: int, gid: int, call: Callable[[], Any]) -> tuple[str, Any]:
    """``call()`` in a forked child that has dropped root for ``uid``/``gid``: ``("ok", result)``,
    or the name and message of the exception it raised. Skips unless running as root (no other
    way to act as someone else); the fork runs the already-loaded code, so the interpreter need
    not be readable by that user."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            outcome: tuple[str, Any] = ("ok", call())
        except BaseException as exc:
            outcome = (type(exc).__name__, str(exc))
        with os.fdopen(write_end, "wb") as out:
            out.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as incoming:
        payload = incoming.read()
    os.waitpid(pid, 0)
    return pickle.loads(payload)


@contextlib.contextmanager
def tiny_filesystem(where: Path, size: str = "64k") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where``; skips unless this machine lets us mount."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)
