"""summary.md and summary.json replaced as one, on a real experiment: a folder in the way, a
sticky shared folder, a read-only disk, a rename that fails half-way or a crash between the
two renames. Either both change or neither (or a reader can tell), no temporary file is left,
nothing outside changes, and the user's umask or the previous mode is kept."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from summarize_experiment import atomic
from summarize_experiment.atomic import (
    MD_DIGEST_KEY,
    ReplaceError,
    content_digest,
    pair_consistent,
    replace_together,
    write_all_atomically,
    write_atomically,
)

from .harness import REPO, SAFETY_TIMEOUT_S, as_user, nobody, remount_read_only, tiny_filesystem
from .support import changed_paths, run_summary, tree_state


def pair(exp: Path, text: str) -> dict[Path, str]:
    """New contents for the pair, summary.json recording the digest of summary.md."""
    md = f"# Summary\n\n{text}\n"
    document = {"experiment": {"name": exp.name}, MD_DIGEST_KEY: content_digest(md)}
    return {exp / "summary.md": md, exp / "summary.json": json.dumps(document, indent=2) + "\n"}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".summary."))


@pytest.fixture
def summarized(exp: Path) -> Path:
    """The standard experiment with a first summary written by the summarizer."""
    assert run_summary(exp)[0] == 0
    replace_together(pair(exp, "first"))
    return exp


def test_both_replaced_and_consistent(summarized: Path) -> None:
    exp = summarized
    assert pair_consistent(exp / "summary.md", exp / "summary.json")
    written = replace_together(pair(exp, "second"))
    assert written == [exp / "summary.md", exp / "summary.json"]
    assert "second" in (exp / "summary.md").read_text(encoding="utf-8")
    assert pair_consistent(exp / "summary.md", exp / "summary.json")
    assert leftovers(exp) == []


def test_summary_json_a_folder_changes_nothing(summarized: Path) -> None:
    exp = summarized
    (exp / "summary.json").unlink()
    (exp / "summary.json").mkdir()
    before = tree_state(exp.parent)
    with pytest.raises(ReplaceError) as failed:
        replace_together(pair(exp, "second"))
    assert str(failed.value) == (
        f"{exp / 'summary.json'} cannot be replaced (it is a folder): nothing was replaced "
        f"({exp / 'summary.md'}, {exp / 'summary.json'} kept as they were)"
    )
    assert failed.value.replaced == []
    # only the folder's own mtime moves (a temporary came and went); every file is as it was
    assert changed_paths(before, tree_state(exp.parent)) <= {str(exp)}
    assert leftovers(exp) == []


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp_path sits under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="atomic-pair-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_sticky_shared_folder_refuses_before_any_rename(public_tmp: Path) -> None:
    """As an unprivileged user in a 1777 folder where someone else owns summary.md (EPERM on
    rename): nothing replaced, and the user's own temporaries are gone."""
    uid, gid = nobody()
    shared = public_tmp / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "summary.md").write_text("someone else's\n", encoding="utf-8")
    before = tree_state(shared)
    contents = pair(shared, "mine")
    outcome = as_user(uid, gid, lambda: replace_together(contents))
    assert outcome[0] == "ReplaceError"
    assert outcome[1] == (
        f"{shared / 'summary.md'} cannot be replaced (it belongs to uid 0 in the sticky folder "
        f"{shared}, so only its owner can replace it): nothing was replaced "
        f"({shared / 'summary.md'}, {shared / 'summary.json'} kept as they were)"
    )
    assert changed_paths(before, tree_state(shared)) <= {str(shared)}
    assert leftovers(shared) == []


def test_an_unwritable_folder_refuses_as_that_user(public_tmp: Path) -> None:
    uid, gid = nobody()
    folder = public_tmp / "exp"
    folder.mkdir()
    (folder / "summary.md").write_text("old\n", encoding="utf-8")
    before = tree_state(folder)
    contents = pair(folder, "new")
    kind, message = as_user(uid, gid, lambda: replace_together(contents))
    assert kind == "ReplaceError"
    assert message.startswith(f"writing {folder / 'summary.md'} failed (Permission denied)")
    assert message.endswith("kept as they were)")
    assert changed_paths(before, tree_state(folder)) == set()


def test_a_read_only_disk_changes_nothing(tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "disk", "1m") as disk:
        replace_together(pair(disk, "first"))
        remount_read_only(disk)
        before = tree_state(disk)
        with pytest.raises(ReplaceError, match=r"Read-only file system.*nothing was replaced"):
            replace_together(pair(disk, "second"))
        assert changed_paths(before, tree_state(disk)) == set()


def test_a_rename_failing_half_way_puts_the_first_back(
    summarized: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure no check foresees (here injected on the second rename)."""
    exp = summarized
    before = tree_state(exp.parent)
    real_replace = os.replace

    def flaky(source: str, target: os.PathLike[str] | str) -> None:
        if str(target).endswith("summary.json") and str(source).endswith(".tmp"):
            raise PermissionError(1, "Operation not permitted")
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(ReplaceError) as failed:
        replace_together(pair(exp, "second"))
    assert str(failed.value) == (
        f"replacing {exp / 'summary.json'} failed (Operation not permitted): nothing was "
        f"replaced ({exp / 'summary.md'}, {exp / 'summary.json'} kept as they were; restored "
        f"{exp / 'summary.md'})"
    )
    after = tree_state(exp.parent)
    assert {p for p in changed_paths(before, after) if p != str(exp)} == set()
    assert pair_consistent(exp / "summary.md", exp / "summary.json")
    assert leftovers(exp) == []


def test_when_nothing_can_be_put_back_the_message_says_what_changed(
    summarized: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = summarized
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "link", lambda *a, **k: (_ for _ in ()).throw(OSError(1, "x")))

    def flaky(source: str, target: os.PathLike[str] | str) -> None:
        if str(target).endswith("summary.json"):
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(ReplaceError) as failed:
        replace_together(pair(exp, "second"))
    assert str(failed.value) == (
        f"replacing {exp / 'summary.json'} failed (No space left on device): "
        f"{exp / 'summary.md'} replaced and could not be restored; {exp / 'summary.json'} kept "
        "as they were"
    )
    assert failed.value.replaced == [exp / "summary.md"]
    assert not pair_consistent(exp / "summary.md", exp / "summary.json")
    assert leftovers(exp) == []


def test_a_crash_between_the_two_renames_is_detectable(summarized: Path) -> None:
    exp = summarized
    contents = {str(path): text for path, text in pair(exp, "second").items()}
    script = textwrap.dedent(
        """
        import json, os, sys
        from pathlib import Path
        from summarize_experiment import atomic
        real = os.replace
        def crash_after_first(source, target):
            real(source, target)
            os._exit(9)  # killed right after the first rename
        atomic.os.replace = crash_after_first
        atomic.replace_together({Path(k): v for k, v in json.loads(sys.argv[1]).items()})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(contents)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=SAFETY_TIMEOUT_S,
    )
    assert done.returncode == 9
    assert "second" in (exp / "summary.md").read_text(encoding="utf-8")
    assert not pair_consistent(exp / "summary.md", exp / "summary.json")


def test_pair_consistent_is_false_for_missing_or_foreign_files(summarized: Path) -> None:
    exp = summarized
    assert not pair_consistent(exp / "missing.md", exp / "summary.json")
    (exp / "other.json").write_text("[1, 2]\n", encoding="utf-8")
    assert not pair_consistent(exp / "summary.md", exp / "other.json")
    os.mkfifo(exp / "fifo.json")
    assert not pair_consistent(exp / "summary.md", exp / "fifo.json")  # and does not block


def test_the_previous_mode_and_the_umask_are_kept(exp: Path) -> None:
    old = os.umask(0o077)
    try:
        replace_together(pair(exp, "first"))
        assert stat.S_IMODE((exp / "summary.md").stat().st_mode) == 0o600
        (exp / "summary.md").chmod(0o640)
        replace_together(pair(exp, "second"))
        assert stat.S_IMODE((exp / "summary.md").stat().st_mode) == 0o640
        assert stat.S_IMODE((exp / "summary.json").stat().st_mode) == 0o600
    finally:
        os.umask(old)
    (exp / "new.md").unlink(missing_ok=True)
    os.umask(0o022)
    write_atomically(exp / "new.md", "x")
    assert stat.S_IMODE((exp / "new.md").stat().st_mode) == 0o644


def test_bytes_and_the_old_entry_points(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "summary.md"
    assert write_atomically(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode()
    paths = write_all_atomically({tmp_path / "x.md": "1", tmp_path / "y.json": "{}"})
    assert paths == [tmp_path / "x.md", tmp_path / "y.json"]
    replace_together({tmp_path / "raw.bin": b"\x00\xff"})
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\xff"
    assert content_digest("é") == content_digest("é".encode())
    assert content_digest("").startswith("sha256:e3b0c442")
