"""Shared fixtures: synthetic experiments built with real inspect-ai logs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from testing.synthetic import ExperimentSpec, build_experiment


@pytest.fixture(scope="session")
def template_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory caching the mockllm template log (one inspect evaluation per session)."""
    return tmp_path_factory.mktemp("inspect-template")


@pytest.fixture
def build(tmp_path: Path, template_cache: Path) -> Callable[..., Path]:
    """``build(spec, layout="A", **kwargs)`` writes the experiment under ``tmp_path``."""

    def _build(spec: ExperimentSpec, layout: str = "A", **kwargs: object) -> Path:
        return build_experiment(
            tmp_path / f"layout{layout}", spec, layout=layout, cache_dir=template_cache, **kwargs
        )

    return _build
