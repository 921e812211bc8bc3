"""The package reads evidence -> judge -> report, with the scripts on top: each layer imports
only the layers below it, the evidence model is typed, and importing any of it loads none of
the heavy libraries (so the processes forked to read logs stay small)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "summarize_experiment"
# what each part of the package may import from the package (shared pieces: any layer)
SHARED = {"vocabulary", "text", "jsonio", "atomic", "progress"}
ALLOWED = {
    "evidence": {"evidence"} | SHARED,
    "judge": {"evidence", "judge"} | SHARED,
    "report": {"evidence", "judge", "report"} | SHARED,
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _package_imports(path: Path) -> set[str]:
    """The first component below `summarize_experiment` of every module `path` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = path.relative_to(PACKAGE).parts[:-1]
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = list(here[: len(here) - (node.level - 1)]) if node.level > 1 else list(here)
            parts = base + (node.module.split(".") if node.module else [])
            if not parts:
                found.update(alias.name for alias in node.names)
            else:
                found.add(parts[0])
        elif node.module and node.module.startswith("summarize_experiment."):
            found.add(node.module.split(".")[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below(layer: str) -> None:
    for path in sorted((PACKAGE / layer).glob("*.py")):
        imported = _package_imports(path)
        assert imported <= ALLOWED[layer], f"{path.name} imports {imported - ALLOWED[layer]}"


def test_no_dynamic_typing_in_the_evidence_or_the_results() -> None:
    for model in (PACKAGE / "evidence" / "model.py", PACKAGE / "judge" / "model.py"):
        tree = ast.parse(model.read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert "Any" not in names, f"{model.name} types a field as Any"


def test_the_judge_and_report_do_not_dispatch_on_read_types() -> None:
    """Telling a log read from a header or an error by isinstance belongs to the evidence layer
    (a `LogRead` carries all three); the judge reads its fields."""
    read_types = {"LogRead", "LogHeader", "LogSamples", "JobStdoutRead", "EvalRead"}
    for layer in ("judge", "report"):
        for path in (PACKAGE / layer).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                    named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                    assert not named & read_types, f"{path.name}:{node.lineno}"


IMPORTS = """
import json, sys
import summarize_experiment, summarize_experiment.pipeline
import summarize_experiment.judge.assess, summarize_experiment.report.tables
print(json.dumps(sorted(m for m in ("sklearn", "scipy", "inspect_ai", "matplotlib")
                        if m in sys.modules)))
"""


def test_importing_the_package_loads_no_heavy_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
