"""Fixtures of the hostile-input tests: one standard experiment per session, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testing.synthetic import build_experiment

from .support import SPEC


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: takes more than 20 s (still runs by default; deselect with -m 'not slow')"
    )


@pytest.fixture(scope="session")
def hostile_base(tmp_path_factory: pytest.TempPathFactory, template_cache: Path) -> Path:
    """The standard experiment (SPEC) with relative paths, so copies of it are self-contained.

    Returns the folder holding ``hostile_exp/`` and ``ck-outputs/hostile_exp/``.
    """
    root = tmp_path_factory.mktemp("hostile-base")
    build_experiment(root, SPEC, relative_paths=True, cache_dir=template_cache)
    return root


@pytest.fixture
def exp(tmp_path: Path, hostile_base: Path) -> Path:
    """A fresh copy of the standard experiment folder (its output base beside it)."""
    tree = tmp_path / "tree"
    shutil.copytree(hostile_base, tree, symlinks=True)
    return tree / SPEC.name
