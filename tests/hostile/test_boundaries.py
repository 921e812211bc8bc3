"""The experiment folder is a boundary, attacked on a real experiment (testing.synthetic): the
summarizer, run as a command in a child limited to 500 MB and 60 s, never writes through a
symbolic link that leads out of the experiment (its log, the read cache, the steps' JSON, the
figures), writes summary.md and summary.json as one with the user's umask or their previous
mode, writes nothing where there is no experiment, and says what failed and where on a
read-only, full or shared disk. The tree around the experiment is hashed before and after:
nothing outside it changes."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from summarize_experiment.atomic import MD_DIGEST_KEY, content_digest, pair_consistent

from .harness import (
    REPO,
    as_user,
    nobody,
    remount_read_only,
    summarize_limited,
    tiny_filesystem,
)
from .support import (
    assert_complete_summary,
    changed_paths,
    eval_row,
    log_blocks,
    run_summary,
    summary_outputs,
    tree_state,
)

LOG = Path("logs") / "summarize-experiment.log"
SCHEMA = json.loads((REPO / "schemas" / "summary.schema.json").read_text(encoding="utf-8"))
REPORT_LINE = "Please report"


def accuracy(md: str, run: str, epoch: int | None) -> float:
    return float(eval_row(md, run, epoch)["Accuracy"].split()[0])


def assert_summary_written(exp: Path) -> str:
    """summary.md is complete, and summary.json records its digest and fits the schema."""
    md = (exp / "summary.md").read_text(encoding="utf-8")
    assert_complete_summary(md)
    assert accuracy(md, "r1", 1) == 0.9 and accuracy(md, "base", None) == 0.55
    document = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
    assert document[MD_DIGEST_KEY] == content_digest((exp / "summary.md").read_bytes())
    assert pair_consistent(exp / "summary.md", exp / "summary.json")
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)
    return md


def fill(path: Path) -> None:
    """Write ``path`` until its file system is full."""
    with path.open("wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError:
            pass


def outside_changes(before: dict, after: dict, exp: Path) -> set[str]:
    """What changed that the summarizer may not write (see support.summary_outputs)."""
    return changed_paths(before, after) - summary_outputs(exp)


@pytest.fixture
def world(exp: Path) -> Path:
    """The folder holding the experiment, its output base, and the outside targets."""
    return exp.parent.parent


def outside_file(world: Path, name: str, text: str) -> Path:
    """A root-owned file outside the experiment, as the report's rc file."""
    folder = world / "outside"
    folder.mkdir(exist_ok=True)
    target = folder / name
    target.write_text(text, encoding="utf-8")
    target.chmod(0o644)
    return target


# --------------------------------------------------------------------------- the log


def test_a_log_linked_to_a_file_elsewhere_is_never_appended_to(exp: Path, world: Path) -> None:
    target = outside_file(world, ".bashrc", "# 30 bytes of a shell rc file\n")
    (exp / "logs").mkdir()
    (exp / LOG).symlink_to(target)
    design = exp / "experiment_summary.yaml"
    design.write_text(
        design.read_text(encoding="utf-8").replace(
            "name: hostile_exp", "name: x $(touch /tmp/pwned)"
        ),
        encoding="utf-8",
    )
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    assert target.read_text(encoding="utf-8") == "# 30 bytes of a shell rc file\n"
    assert outside_changes(before, tree_state(world), exp) == set()
    assert (exp / LOG).is_symlink() and os.readlink(exp / LOG) == str(target)
    error = done.result["log_error"]
    assert error.startswith(f"{exp / LOG}: ") and "outside the experiment" in error
    assert str(target) in error and "nothing written" in error
    assert done.result["log"] is None and done.result["summary"] == str(exp / "summary.md")
    assert f"the process log was not written: {error}" in done.stderr
    assert_summary_written(exp)


def test_a_logs_folder_linked_elsewhere_gets_no_log_and_no_cache(exp: Path, world: Path) -> None:
    elsewhere = world / "outside" / "logs"
    elsewhere.mkdir(parents=True)
    (exp / "logs").symlink_to(elsewhere)
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    assert list(elsewhere.iterdir()) == []  # no log, no summarize-cache.json
    assert outside_changes(before, tree_state(world), exp) == set()
    assert "outside the experiment" in done.result["log_error"]
    assert "the read cache was not written" in done.stderr
    assert_summary_written(exp)


def test_a_full_disk_is_a_log_error_and_the_summary_is_kept(exp: Path, world: Path) -> None:
    """logs/ is a 64 KiB file system, full but for 100 bytes of the log's last page: the log
    block is cut there. The JSON result says so (exit 0: the summary was written)."""
    logs = exp / "logs"
    with tiny_filesystem(logs, "64k"):
        log = exp / LOG
        log.write_bytes(b"x" * (4096 - 100))
        fill(logs / "filler")
        done = summarize_limited(exp)
        written = log.stat().st_size - (4096 - 100)
    assert done.code == 0, done.stderr
    error = done.result["log_error"]
    assert error.startswith(f"{log}: only {written:,} of ") and "bytes written" in error
    assert "No space left on device" in error
    assert f"the process log was not written: {error}" in done.stderr
    assert done.result["log"] is None
    assert_summary_written(exp)


# --------------------------------------------------------------------------- other outputs


def test_figures_are_never_written_through_a_link_leading_out(exp: Path, world: Path) -> None:
    elsewhere = world / "outside" / "figures"
    elsewhere.mkdir(parents=True)
    (exp / "summary-figures").symlink_to(elsewhere)
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    assert list(elsewhere.iterdir()) == []
    assert outside_changes(before, tree_state(world), exp) == set()
    [warning] = [w for w in done.result["warnings"] if "summary-figures" in w]
    assert "no figures drawn" in warning and "outside the experiment" in warning
    md = assert_summary_written(exp)
    assert "](summary-figures/" not in md


def test_the_steps_folder_is_never_written_through_a_link_leading_out(
    exp: Path, world: Path
) -> None:
    elsewhere = world / "outside" / "steps"
    elsewhere.mkdir(parents=True)
    (exp / "logs").mkdir()
    (exp / "logs" / "summarize-steps").symlink_to(elsewhere)
    before = tree_state(world)

    done = summarize_limited(
        exp, "--no-sacct", "--steps-dir", script=REPO / "scripts" / "parse_status.py"
    )

    assert done.code == 0, done.stderr
    assert list(elsewhere.iterdir()) == []
    assert changed_paths(before, tree_state(world)) == set()
    assert "outside the experiment" in done.result["steps_error"]
    assert "steps_file" not in done.result
    assert f"not written: {done.result['steps_error']}" in done.stderr


# --------------------------------------------------------------------------- modes


def test_the_umask_is_kept_for_new_summaries(exp: Path) -> None:
    done = summarize_limited(exp, umask=0o077)
    assert done.code == 0, done.stderr
    for name in ("summary.md", "summary.json"):
        assert stat.S_IMODE((exp / name).stat().st_mode) == 0o600, name


def test_the_previous_mode_is_kept_when_replacing(exp: Path) -> None:
    for name, mode in (("summary.md", 0o600), ("summary.json", 0o640)):
        (exp / name).write_text("old\n", encoding="utf-8")
        (exp / name).chmod(mode)
    done = summarize_limited(exp, umask=0o022)
    assert done.code == 0, done.stderr
    assert stat.S_IMODE((exp / "summary.md").stat().st_mode) == 0o600
    assert stat.S_IMODE((exp / "summary.json").stat().st_mode) == 0o640
    assert_summary_written(exp)


# --------------------------------------------------------------------------- one replace


def leftovers(exp: Path) -> list[str]:
    return sorted(p.name for p in exp.rglob("*") if p.name.endswith(".tmp"))


def test_summary_json_a_folder_replaces_nothing_and_says_so(exp: Path, world: Path) -> None:
    assert summarize_limited(exp).code == 0
    (exp / "summary.json").unlink()
    (exp / "summary.json").mkdir()
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 2
    message = done.result["message"]
    assert message == (
        f"the summary was not written: {exp / 'summary.json'} cannot be replaced (it is a "
        f"folder): nothing was replaced ({exp / 'summary.md'}, {exp / 'summary.json'} kept as "
        "they were)"
    )
    assert REPORT_LINE not in message
    changed = changed_paths(before, tree_state(world))
    assert changed <= {
        str(exp / "logs"),
        str(exp / LOG),
        str(exp / "logs" / "summarize-cache.json"),
    }
    assert leftovers(exp) == []
    complete = log_blocks(exp)[-1][-1]
    assert (complete.action, complete.level) == ("COMPLETE", "ERROR")
    assert complete.result == message


def test_the_pair_records_its_digest(exp: Path) -> None:
    done = summarize_limited(exp)
    assert done.code == 0
    assert_summary_written(exp)
    (exp / "summary.md").write_text("# edited by hand\n", encoding="utf-8")
    assert not pair_consistent(exp / "summary.md", exp / "summary.json")


# --------------------------------------------------------------------------- no experiment


def test_a_mistyped_path_creates_nothing(tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    before = tree_state(tmp_path)
    done = summarize_limited("typo/sub/dir", cwd=here)
    assert done.code == 2
    assert done.result["message"].startswith(f"{here}/typo/sub/dir/experiment_summary.yaml: not")
    assert done.result["log"] is None and "log_error" not in done.result
    assert changed_paths(before, tree_state(tmp_path)) == set()


def test_a_folder_without_a_design_gets_nothing(tmp_path: Path) -> None:
    here = tmp_path / "here"
    (here / "r1").mkdir(parents=True)
    before = tree_state(tmp_path)
    done = summarize_limited(None, cwd=here)
    assert done.code == 2
    assert done.result["message"].startswith(f"{here}/experiment_summary.yaml: not found")
    assert changed_paths(before, tree_state(tmp_path)) == set()
    assert not (here / "logs").exists()


# --------------------------------------------------------------------------- failing disks


@pytest.fixture
def on_tmpfs(exp: Path, tmp_path: Path) -> Path:
    """The experiment and its output base on a tmpfs of their own (8 MiB)."""
    mount = tmp_path / "disk"
    with tiny_filesystem(mount, "8m"):
        shutil.copytree(exp.parent, mount / "tree", symlinks=True)
        yield mount / "tree" / exp.name


def test_a_read_only_disk_says_what_failed_and_where(on_tmpfs: Path) -> None:
    exp = on_tmpfs
    assert summarize_limited(exp).code == 0
    before_md = (exp / "summary.md").read_bytes()
    remount_read_only(exp.parent.parent)

    done = summarize_limited(exp)

    assert done.code == 2
    message = done.result["message"]
    assert f"{exp / 'summary.md'} cannot be replaced" in message
    assert "read-only file system" in message and "nothing was replaced" in message
    assert REPORT_LINE not in message
    assert done.result["log"] is None and "Read-only file system" in done.result["log_error"]
    assert (exp / "summary.md").read_bytes() == before_md


def test_a_full_disk_says_what_failed_and_where(on_tmpfs: Path) -> None:
    exp = on_tmpfs
    fill(exp.parent / "filler")

    done = summarize_limited(exp, "--no-figures")

    assert done.code == 2
    message = done.result["message"]
    assert "No space left on device" in message and "nothing was replaced" in message
    assert str(exp / "summary.md") in message
    assert REPORT_LINE not in message
    assert not (exp / "summary.md").exists()
    assert [p.name for p in exp.iterdir() if p.name.endswith(".tmp")] == []


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own tmp_path sits under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="boundaries-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_shared_sticky_folder_says_who_may_replace(exp: Path, public_tmp: Path) -> None:
    """EPERM: in a sticky shared folder (1777) the previous summary belongs to root; the
    summarizer runs as nobody. Nothing is replaced, the message names the file and why, and
    asks for no report (no log could be written)."""
    uid, gid = nobody()
    shared = public_tmp / "tree"
    shutil.copytree(exp.parent, shared, symlinks=True)
    shared_exp = shared / exp.name
    for path in [shared, *shared.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    # the previous summary, as root, in this process: what nobody's fork runs is loaded then
    # (the interpreter's own files may not be readable by nobody)
    assert run_summary(shared_exp)[0] == 0
    shared_exp.chmod(0o1777)
    before = tree_state(shared)

    def run() -> tuple[int, dict]:
        from summarize_experiment.pipeline import summarize

        return summarize(shared_exp, use_sacct=False)

    outcome, returned = as_user(uid, gid, run)
    assert outcome == "ok", returned
    code, result = returned
    assert code == 2
    message = result["message"]
    assert f"{shared_exp / 'summary.md'} cannot be replaced" in message
    assert "sticky folder" in message and "only its owner can replace it" in message
    assert REPORT_LINE not in message
    assert result["log"] is None and "Permission denied" in result["log_error"]
    assert changed_paths(before, tree_state(shared)) == set()
