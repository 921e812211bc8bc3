"""requirements.lock pins the whole environment, agrees with the top-level pins, and holds only
releases that install on the oldest supported Python (what `make lock` makes sure of)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
OLDEST_PYTHON = "3.11.2"  # Debian 12's python3, the oldest release the README promises
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by canonical name (other lines skipped)."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            name = canonicalize_name(match[1])
            assert name not in found, f"{path.name}: {name} pinned twice"
            found[name] = match[2]
    return found


def test_every_lock_line_is_a_pin() -> None:
    lines = (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    assert body and all(PIN.match(line) for line in body), [x for x in body if not PIN.match(x)]


def test_top_level_pins_are_in_the_lock() -> None:
    lock = pins(REPO / "requirements.lock")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, version in pins(REPO / name).items():
            assert lock.get(package) == version, f"{name} pins {package}=={version}; run make lock"
    assert lock["matplotlib"] == "3.11.2" and lock["rich"] == "15.0.0"


def test_locked_releases_install_on_the_oldest_python() -> None:
    """Checked on the releases installed here at their locked version."""
    checked = 0
    for package, version in pins(REPO / "requirements.lock").items():
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        checked += 1
        requires = dist.metadata.get("Requires-Python")
        if requires:
            assert OLDEST_PYTHON in SpecifierSet(requires), f"{package}=={version}: {requires}"
    assert checked
