"""A progress bar on stderr while logs are read, only when stderr is a terminal.

The bar is redrawn from the callback (no refresh thread), so the process pool that reads the
logs never forks while another thread holds a lock, and stdout/stderr are not redirected, so
forked workers and the JSON result on stdout are left alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

REDRAW_EVERY_S = 0.1


@contextmanager
def progress_reporter(
    stream: TextIO | None = None,
) -> Iterator[Callable[[int, int], None] | None]:
    """Yield an on_progress(done, total) callback drawing a rich bar on ``stream`` (default:
    stderr), or None when it is not a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "reading logs",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=stream),
        transient=True,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        task = progress.add_task("read", total=None)
        progress.refresh()
        drawn = 0.0

        def on_progress(done: int, total: int) -> None:
            nonlocal drawn
            progress.update(task, completed=done, total=total)
            now = time.monotonic()
            if done >= total or now - drawn >= REDRAW_EVERY_S:
                drawn = now
                progress.refresh()

        yield on_progress
