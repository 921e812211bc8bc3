"""The `live_slurm` fixture: a real single-node SLURM with accounting for the tests marked `slurm`.

It starts only as root and when asked: env `SLURM_TESTBED=1`, or `CI` set (CI machines are
disposable). Otherwise the tests are skipped with the reason. A cluster that should start but
does not fails the session under CI and skips it elsewhere. The cluster is stopped at the end
of the session unless `SLURM_TESTBED_KEEP=1`.

    SLURM_TESTBED=1 .venv/bin/python -m pytest tests/integration -x
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTBED = Path(__file__).resolve().parents[1] / "slurm_testbed"
DEFAULT_DIR = "/tmp/slurm-testbed"
# From nothing, start_slurm.sh runs apt-get update + install (about 20 s here, minutes on a slow
# mirror) and then waits up to 60 s per daemon; 15 minutes fails a broken setup without hanging CI.
START_TIMEOUT_S = 900
# stop_slurm.sh waits up to 20 s per daemon, and 10 s for jobs to be cancelled.
STOP_TIMEOUT_S = 180


@dataclass(frozen=True)
class LiveSlurm:
    """A running testbed: where its state lives and the slurm.conf its commands use."""

    directory: Path
    slurm_conf: Path


def _stop(env: dict[str, str]) -> None:
    try:
        subprocess.run(
            [str(TESTBED / "stop_slurm.sh")], env=env, timeout=STOP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"tests/slurm_testbed/stop_slurm.sh did not finish in {STOP_TIMEOUT_S} s; "
            "stop the daemons by the pid files in $SLURM_TESTBED_DIR/run",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def live_slurm() -> Iterator[LiveSlurm]:
    in_ci = bool(os.environ.get("CI"))
    if os.geteuid() != 0:
        pytest.skip("live SLURM tests need root (they start munged, MariaDB and SLURM daemons)")
    if not in_ci and os.environ.get("SLURM_TESTBED") != "1":
        pytest.skip("live SLURM tests start a local cluster: set SLURM_TESTBED=1 (as root) to run")
    directory = Path(os.environ.get("SLURM_TESTBED_DIR", DEFAULT_DIR))
    env = {**os.environ, "SLURM_TESTBED_DIR": str(directory)}
    try:
        started = subprocess.run(
            [str(TESTBED / "start_slurm.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        failure = (
            None
            if started.returncode == 0
            else f"exit {started.returncode}:\n{started.stderr[-4000:]}"
        )
    except subprocess.TimeoutExpired:
        failure = f"no answer after {START_TIMEOUT_S} s"
    if failure is not None:
        _stop(env)
        message = f"tests/slurm_testbed/start_slurm.sh failed ({failure})"
        if in_ci:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    slurm_conf = directory / "etc" / "slurm.conf"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(slurm_conf))
        try:
            yield LiveSlurm(directory=directory, slurm_conf=slurm_conf)
        finally:
            if os.environ.get("SLURM_TESTBED_KEEP") != "1":
                _stop(env)
