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
from summarize_experiment.evidence.cache import CACHE_FILE

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
    log_of,
    notes,
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
        str(exp / CACHE_FILE),
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


# --------------------------------------------------------------------------- reading


def secret_stdout(exp: Path, world: Path) -> tuple[Path, Path]:
    """r1 epoch 0's evaluation stdout made a link to a root-only file outside the experiment
    whose last traceback line holds a secret, and its log removed: the job's most telling line
    is what the summary shows for that cell."""
    stdout = exp / "r1" / "eval" / "slurm-2773002.out"
    head = stdout.read_text(encoding="utf-8").splitlines()[:19]  # up to inspect's Log: line
    traceback = ["Traceback (most recent call last):", '  File "x.py", line 1', SECRET_LINE]
    secret = outside_file(world, "secret.txt", "\n".join([*head, *traceback]) + "\n")
    secret.chmod(0o600)
    log_of(exp, "r1", 0).unlink()
    stdout.unlink()
    stdout.symlink_to(secret)
    return stdout, secret


SECRET_LINE = "SecretError: password=hunter2"


def test_a_stdout_linked_out_is_published_only_with_its_note(exp: Path, world: Path) -> None:
    stdout, secret = secret_stdout(exp, world)
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    note = f"{stdout}: a symbolic link to {secret}, outside the experiment; read anyway"
    assert note in notes(md)
    assert f"r1: {note}" in done.result["warnings"]
    assert SECRET_LINE in md  # read as the user could read it, and only beside its note
    assert outside_changes(before, tree_state(world), exp) == set()
    assert accuracy(md, "r1", 1) == 0.9


def test_a_stdout_linked_to_a_file_nobody_may_read_stays_unread(
    exp: Path, public_tmp: Path
) -> None:
    """The same attack run by an unprivileged user: the root-only file is not read, its line is
    nowhere, the link is named, and the rest is summarized."""
    uid, gid = nobody()
    tree = public_tmp / "tree"
    shutil.copytree(exp.parent, tree, symlinks=True)
    shared_exp = tree / exp.name
    stdout, secret = secret_stdout(shared_exp, public_tmp)
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)
    assert run_summary(exp)[0] == 0  # loads in this process what nobody's fork will run
    before = tree_state(public_tmp)

    def run() -> tuple[int, dict]:
        from summarize_experiment.pipeline import summarize

        return summarize(shared_exp, use_sacct=False)

    outcome, returned = as_user(uid, gid, run)
    assert outcome == "ok", returned
    code, result = returned
    assert code == 0, result
    md = (shared_exp / "summary.md").read_text(encoding="utf-8")
    assert "hunter2" not in md and "hunter2" not in json.dumps(result)
    assert any(f"{stdout}: a symbolic link to {secret}" in n for n in notes(md))
    assert any(f"{stdout}: cannot be read (permission denied)" in w for w in result["warnings"])
    assert accuracy(md, "r1", 1) == 0.9
    assert outside_changes(before, tree_state(public_tmp), shared_exp) == set()


def test_a_link_loop_between_two_logs_is_noted(exp: Path) -> None:
    logs = exp / "r1" / "eval" / "logs"
    (logs / "a.eval").symlink_to("b.eval")
    (logs / "b.eval").symlink_to("a.eval")
    (logs / "gone.eval").symlink_to("nowhere.eval")

    done = summarize_limited(exp)

    assert done.code == 0 and done.result["status"] == "partial"
    md = (exp / "summary.md").read_text(encoding="utf-8")
    for name in ("a.eval", "b.eval"):
        assert f"{logs / name}: a symbolic link loop; skipped" in notes(md)
    assert (
        f"{logs / 'gone.eval'}: a symbolic link to nowhere.eval, which does not exist; "
        "skipped" in notes(md)
    )
    assert accuracy(md, "r1", 0) == 0.8 and accuracy(md, "r1", 1) == 0.9


def test_fifos_named_like_inputs_are_noted_never_waited_for(exp: Path) -> None:
    """A FIFO at {run}/setup_finetune.yaml used to block the summarizer forever; FIFOs named
    like a log, a job stdout or a run log are each refused with a note naming the file."""
    fifos = [
        exp / "r1" / "setup_finetune.yaml",
        exp / "r1" / "eval" / "logs" / "fifo.eval",
        exp / "r1" / "eval" / "slurm-99.out",
        exp / "logs" / "run-torchtune.log",
    ]
    (exp / "logs").mkdir()
    for fifo in fifos:
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    shown = "\n".join(notes(md))
    for fifo in fifos:
        assert f"{fifo}: is a named pipe (FIFO), not a regular file; not read" in shown, fifo
    assert accuracy(md, "r1", 0) == 0.8 and accuracy(md, "base", None) == 0.55


def test_a_design_linked_out_is_read_with_a_note(exp: Path, world: Path) -> None:
    design = exp / "experiment_summary.yaml"
    elsewhere = world / "outside" / "design.yaml"
    elsewhere.parent.mkdir()
    design.replace(elsewhere)
    design.symlink_to(elsewhere)
    done = summarize_limited(exp)
    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    assert f"{design}: a symbolic link to {elsewhere}, outside the experiment; read anyway" in (
        notes(md)
    )
    assert accuracy(md, "r1", 1) == 0.9


def test_a_run_folder_linked_out_is_named_once(exp: Path, world: Path) -> None:
    elsewhere = world / "outside" / "base"
    elsewhere.parent.mkdir()
    (exp / "base").replace(elsewhere)
    (exp / "base").symlink_to(elsewhere)
    done = summarize_limited(exp)
    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    linked = [n for n in notes(md) if str(elsewhere) in n]
    assert linked == [
        f"{exp / 'base'}: a symbolic link to {elsewhere}, outside the experiment; read anyway"
    ]
    assert accuracy(md, "base", None) == 0.55  # read, with the note


def test_a_read_cache_linked_out_is_neither_trusted_nor_written_through(
    exp: Path, world: Path
) -> None:
    """A cache is what earlier runs read: one that lives outside the experiment could forge
    any number. It is not used (with a note), and the new one replaces the link, not its
    target."""
    assert summarize_limited(exp).code == 0
    cache = exp / CACHE_FILE
    forged = outside_file(world, "cache.json", cache.read_text(encoding="utf-8"))
    cache.unlink()
    cache.symlink_to(forged)
    before = tree_state(world)

    done = summarize_limited(exp)

    assert done.code == 0, done.stderr
    md = (exp / "summary.md").read_text(encoding="utf-8")
    note = (
        f"{cache}: a symbolic link to {forged}, outside the experiment; skipped; every input "
        "was read again"
    )
    assert note in notes(md)
    assert outside_changes(before, tree_state(world), exp) == set()
    assert cache.is_file() and not cache.is_symlink()
    assert_summary_written(exp)
