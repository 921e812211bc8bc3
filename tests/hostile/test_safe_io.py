"""The reading and appending primitives of summarize_experiment.evidence.safe_io, attacked on a
real experiment (built by testing.synthetic): links out of it, FIFOs and devices, YAML bombs,
inspect-ai archives that inflate to gigabytes, a full disk. Nothing outside changes, memory
stays under 500 MB, and nothing hangs."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import stat
import zipfile
import zlib
from pathlib import Path

import pytest
import yaml
import zstandard
from inspect_ai.log import read_eval_log

from summarize_experiment.evidence import safe_io
from summarize_experiment.evidence.safe_io import (
    EVAL_MEMBER_MAX_BYTES,
    YAML_MAX_ALIASES,
    IncompleteWrite,
    InputRefused,
    UnsafeOutput,
    append_all,
    check_eval_archive,
    load_yaml_bounded,
    read_regular_bytes,
    resolve_inside,
)

from .harness import run_limited, tiny_filesystem
from .support import changed_paths, log_of, training_stdout, tree_state

GIB = 1 << 30


# --------------------------------------------------------------------------- boundary


def test_a_link_out_of_the_experiment_is_read_only_with_a_note(exp: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SecretError: password=hunter2\n", encoding="utf-8")
    secret.chmod(0o600)
    stdout = exp / "r1" / "eval" / "slurm-2773002.out"
    stdout.unlink()
    stdout.symlink_to(secret)
    before = tree_state(tmp_path)

    resolved, note = resolve_inside(stdout, exp)
    assert resolved == secret
    assert note == f"{stdout}: a symbolic link to {secret}, outside the experiment; read anyway"
    assert resolve_inside(stdout, exp, allow_outside=False) == (
        None,
        f"{stdout}: a symbolic link to {secret}, outside the experiment; skipped",
    )
    assert changed_paths(before, tree_state(tmp_path)) == set()


def test_links_inside_the_experiment_or_its_output_root_need_no_note(exp: Path) -> None:
    output_root = exp.parent / "ck-outputs"
    link = exp / "r1" / "train.out"
    link.symlink_to(training_stdout(exp, "r1"))
    assert resolve_inside(link, [exp, output_root]) == (training_stdout(exp, "r1"), None)
    inner = exp / "r1" / "design-link.yaml"
    inner.symlink_to(exp / "experiment_summary.yaml")
    assert resolve_inside(inner, exp) == (exp / "experiment_summary.yaml", None)
    # the output root is outside the experiment folder alone
    resolved, note = resolve_inside(link, exp)
    assert resolved == training_stdout(exp, "r1") and note is not None


def test_a_folder_link_out_of_the_experiment_is_named(exp: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.eval").write_bytes(b"PK")
    (exp / "r1" / "eval" / "out").symlink_to(elsewhere)
    path = exp / "r1" / "eval" / "out" / "x.eval"
    resolved, note = resolve_inside(path, exp, allow_outside=False)
    assert resolved is None
    assert note == (
        f"{path}: inside the symbolic link {exp / 'r1' / 'eval' / 'out'} to {elsewhere}, "
        "outside the experiment; skipped"
    )


def test_a_symlink_loop_between_two_logs_gets_a_note(exp: Path) -> None:
    logs = exp / "r1" / "eval" / "logs"
    (logs / "a.eval").symlink_to("b.eval")
    (logs / "b.eval").symlink_to("a.eval")
    assert resolve_inside(logs / "a.eval", exp) == (
        None,
        f"{logs / 'a.eval'}: a symbolic link loop; skipped",
    )


def test_a_link_to_nothing_gets_a_note_and_a_missing_file_raises(exp: Path) -> None:
    dangling = exp / "r1" / "gone.eval"
    dangling.symlink_to("nowhere.eval")
    assert resolve_inside(dangling, exp) == (
        None,
        f"{dangling}: a symbolic link to nowhere.eval, which does not exist; skipped",
    )
    with pytest.raises(FileNotFoundError):
        resolve_inside(exp / "r1" / "absent.eval", exp)


# --------------------------------------------------------------------------- regular files only


def test_a_fifo_named_like_a_design_is_refused_without_blocking(exp: Path) -> None:
    fifo = exp / "r1" / "setup_finetune.yaml"
    fifo.unlink()
    os.mkfifo(fifo)
    before = tree_state(exp.parent)
    # in a child with a safety timeout: a regression would block forever on open()
    outcome = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.safe_io import InputRefused, load_yaml_bounded
        try:
            load_yaml_bounded(sys.argv[1])
        except InputRefused as exc:
            print(json.dumps(str(exc)))
        """,
        str(fifo),
    )
    assert outcome == f"{fifo}: is a named pipe (FIFO), not a regular file; not read"
    assert changed_paths(before, tree_state(exp.parent)) == set()


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
        (lambda p: p.mkdir(), "a folder"),
    ],
    ids=["device", "folder"],
)
def test_devices_and_folders_are_refused(exp: Path, make, kind: str) -> None:
    path = exp / "r1" / "eval" / "slurm-9.out"
    make(path)
    with pytest.raises(InputRefused) as refused:
        read_regular_bytes(path, 1 << 20)
    assert str(refused.value) == f"{path}: is {kind}, not a regular file; not read"


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slurm-1.out"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        with pytest.raises(InputRefused, match="is a socket, not a regular file"):
            read_regular_bytes(path, 100)


def test_reading_stops_at_the_limit_and_says_so(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    whole = stdout.read_bytes()
    head = read_regular_bytes(stdout, 1000)
    assert bytes(head) == whole[:1000] and head.cut and head.size == len(whole)
    full = read_regular_bytes(stdout, len(whole))
    assert bytes(full) == whole and not full.cut
    assert not read_regular_bytes(stdout, len(whole) + 1).cut


def test_a_4_gb_sparse_stdout_is_read_only_up_to_the_limit(exp: Path) -> None:
    stdout = training_stdout(exp, "r1")
    with stdout.open("r+b") as handle:
        handle.truncate(4 * GIB)
    outcome = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.safe_io import read_regular_bytes
        data = read_regular_bytes(sys.argv[1], 64 << 20)
        print(json.dumps([len(data), data.cut, data.size]))
        """,
        str(stdout),
    )
    assert outcome == [64 << 20, True, 4 * GIB]


# --------------------------------------------------------------------------- YAML

LAUGHS = 9  # 9 levels of 9 aliases: 9**9 (387 million) references once expanded


def billion_laughs(prefix: str = "") -> str:
    """The classic alias bomb: ten anchors, each a list of nine aliases of the one before."""
    names = "abcdefghij"
    lines = [f'{prefix}{names[0]}: &{names[0]} ["lol"]']
    for level in range(1, LAUGHS + 1):
        refs = ",".join([f"*{names[level - 1]}"] * LAUGHS)
        lines.append(f"{prefix}{names[level]}: &{names[level]} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_design_is_refused_at_once(exp: Path) -> None:
    design = exp / "experiment_summary.yaml"
    text = design.read_text(encoding="utf-8")
    design.write_text(text + "variables_cache:\n" + billion_laughs("  "), encoding="utf-8")
    assert design.stat().st_size < 3_000  # as small as the 2.8 KB design of the report
    before = tree_state(exp.parent)
    message = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.safe_io import InputRefused, load_yaml_bounded
        try:
            load_yaml_bounded(sys.argv[1])
        except InputRefused as exc:
            print(json.dumps(str(exc)))
        """,
        str(design),
    )
    # anchors b..f expand to 9, 90, 819, 7,380 and 66,429 references (74,727 in all); the
    # first alias of g (66,430 more) passes the budget, on the line after variables_cache + 6
    line = text.count("\n") + 1 + 7
    assert message == (
        f"{design}: its aliases expand to more than {YAML_MAX_ALIASES:,} references (an alias "
        f"bomb such as billion laughs) at line {line}; refused"
    )
    assert changed_paths(before, tree_state(exp.parent)) == set()


def test_a_small_bomb_in_one_runs_setup_is_refused(exp: Path) -> None:
    setup = exp / "r1" / "setup_finetune.yaml"
    setup.write_text(billion_laughs(), encoding="utf-8")
    assert setup.stat().st_size < 600  # the 535-byte one of the report
    with pytest.raises(InputRefused, match=r"setup_finetune\.yaml: its aliases expand"):
        load_yaml_bounded(setup)


def test_aliases_that_expand_to_too_many_values_are_refused(tmp_path: Path) -> None:
    """Few references, each to a big block: the value count is what grows."""
    path = tmp_path / "wide.yaml"
    block = ", ".join(str(i) for i in range(2_000))
    path.write_text(f"a: &a [{block}]\nb: [{', '.join(['*a'] * 600)}]\n", encoding="utf-8")
    with pytest.raises(InputRefused, match=r"expands to more than 1,000,000 values at line 2"):
        load_yaml_bounded(path)


@pytest.mark.parametrize(
    "document",
    [
        "x: " + "[" * 2000 + "]" * 2000 + "\n",
        "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v\n",
    ],
    ids=["flow", "block"],
)
def test_nesting_2000_deep_is_a_clean_error_naming_file_and_line(
    tmp_path: Path, document: str
) -> None:
    path = tmp_path / "experiment_summary.yaml"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(InputRefused) as refused:
        load_yaml_bounded(path)
    assert str(refused.value).startswith(f"{path}: it nests deeper than 64 levels at line ")
    assert not isinstance(refused.value.__context__, RecursionError)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("runs: &r [1, *r]\n", encoding="utf-8")
    with pytest.raises(InputRefused, match=r"the alias \*r refers to a node holding it at line 1"):
        load_yaml_bounded(path)


def test_an_oversized_design_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "experiment_summary.yaml"
    path.write_text("runs: []\n" + "# padding\n" * 200, encoding="utf-8")
    with pytest.raises(InputRefused, match=r"is larger than 1,000 bytes \(2,009\)"):
        load_yaml_bounded(path, max_bytes=1_000)


def test_a_real_design_loads_as_safe_load_does(exp: Path) -> None:
    design = exp / "experiment_summary.yaml"
    assert load_yaml_bounded(design) == yaml.safe_load(design.read_text(encoding="utf-8"))


def test_anchors_and_merge_keys_within_the_budget_load(tmp_path: Path) -> None:
    path = tmp_path / "design.yaml"
    path.write_text(
        "defaults: &d {lr: 0.001, rank: 8}\nruns:\n"
        + "".join(f"- <<: *d\n  name: r{i}\n" for i in range(50)),
        encoding="utf-8",
    )
    runs = load_yaml_bounded(path)["runs"]
    assert len(runs) == 50 and runs[7] == {"lr": 0.001, "rank": 8, "name": "r7"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "could not determine"),
        ("a: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
        ("a: 2026-13-01\n", "month must be in 1..12"),
    ],
    ids=["python-tag", "huge-integer", "bad-date"],
)
def test_malformed_values_are_yaml_errors_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "experiment_summary.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as error:
        load_yaml_bounded(path)
    assert problem in str(error.value)
    assert f'in "{path}", line 1' in str(error.value)


# --------------------------------------------------------------------------- inspect archives


def _copy_member(source: zipfile.ZipFile, info: zipfile.ZipInfo, dst: zipfile.ZipFile) -> None:
    """Copy a member as stored (still compressed, whatever the method)."""
    assert source.fp is not None
    source.fp.seek(info.header_offset)
    header = source.fp.read(30)
    name_length, extra_length = (
        int.from_bytes(header[26:28], "little"),
        int.from_bytes(header[28:30], "little"),
    )
    source.fp.seek(info.header_offset + 30 + name_length + extra_length)
    _write_raw(dst, info.filename, source.fp.read(info.compress_size), info.compress_type, info)


def _write_raw(
    dst: zipfile.ZipFile,
    name: str,
    payload: bytes,
    method: int,
    like: zipfile.ZipInfo | None = None,
    *,
    file_size: int | None = None,
    crc: int | None = None,
) -> None:
    """Append an already-compressed member, declaring ``file_size`` and ``crc``."""
    info = zipfile.ZipInfo(name, date_time=like.date_time if like else (2026, 1, 5, 12, 0, 0))
    info.compress_type = method
    info.file_size = like.file_size if file_size is None else file_size
    info.CRC = like.CRC if crc is None else crc
    info.compress_size = len(payload)
    info.create_system = 3
    info.external_attr = 0o644 << 16
    assert dst.fp is not None
    info.header_offset = dst.fp.tell()
    zip64 = info.file_size > zipfile.ZIP64_LIMIT or info.compress_size > zipfile.ZIP64_LIMIT
    dst.fp.write(info.FileHeader(zip64))
    dst.fp.write(payload)
    dst.filelist.append(info)
    dst.NameToInfo[name] = info
    dst.start_dir = dst.fp.tell()
    dst._didModify = True


def _zeros_crc(size: int) -> int:
    crc = 0
    block = bytes(1 << 20)
    for _ in range(size // len(block)):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(bytes(size % len(block)), crc)


def bomb_payload(method: int, size: int) -> bytes:
    """``size`` zero bytes compressed with zstd (93) or deflate (8), built in 1 MiB pieces."""
    block = bytes(1 << 20)
    pieces: list[bytes] = []
    if method == 93:
        compressor = zstandard.ZstdCompressor().compressobj(size=size)
    else:
        compressor = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    for _ in range(size // len(block)):
        pieces.append(compressor.compress(block))
    pieces.append(compressor.flush())
    return b"".join(pieces)


@pytest.fixture(scope="session")
def zstd_bomb_3gib() -> tuple[bytes, int]:
    """summaries.json as 3 GiB of zeros, zstd-compressed, and its CRC (made once)."""
    return bomb_payload(93, 3 * GIB), _zeros_crc(3 * GIB)


def rewrite_member(
    log: Path,
    out: Path,
    member: str,
    payload: bytes,
    method: int,
    *,
    file_size: int,
    crc: int = 0,
) -> Path:
    """A copy of the real inspect log ``log`` with ``member`` replaced by ``payload``, written
    to ``out`` (which may be ``log`` itself)."""
    building = out.with_name(out.name + ".building")
    with zipfile.ZipFile(log) as source, zipfile.ZipFile(building, "w") as dst:
        for info in source.infolist():
            if info.filename == member:
                _write_raw(dst, member, payload, method, info, file_size=file_size, crc=crc)
            else:
                _copy_member(source, info, dst)
    return building.replace(out)


def test_a_real_log_passes_and_still_reads(exp: Path) -> None:
    log = log_of(exp, "r1", 0)
    checked = check_eval_archive(log)
    assert checked.read_members >= 2 and checked.members > checked.read_members
    copy = rewrite_member(
        log, exp / "copy.eval", "none", b"", 0, file_size=0
    )  # every member copied as stored: the copier itself is faithful
    assert read_eval_log(str(copy), header_only=True).eval.model == "hf/r1_epoch_0"
    assert check_eval_archive(copy) == checked


def test_a_294_kb_eval_that_inflates_to_3_gib_is_refused(
    exp: Path, zstd_bomb_3gib: tuple[bytes, int]
) -> None:
    payload, crc = zstd_bomb_3gib
    log = log_of(exp, "r1", 0)
    bomb = rewrite_member(log, log, "summaries.json", payload, 93, file_size=3 * GIB, crc=crc)
    assert bomb.stat().st_size < 400_000
    before = tree_state(exp.parent)
    message = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.safe_io import InputRefused, check_eval_archive
        try:
            check_eval_archive(sys.argv[1])
        except InputRefused as exc:
            print(json.dumps(str(exc)))
        """,
        str(bomb),
    )
    assert message == (
        f"{bomb}: its member summaries.json would inflate to {3 * GIB:,} bytes, more than the "
        f"{EVAL_MEMBER_MAX_BYTES:,} allowed; not read"
    )
    assert changed_paths(before, tree_state(exp.parent)) == set()


@pytest.mark.parametrize("method", [93, 8], ids=["zstd", "deflate"])
def test_a_member_lying_about_its_size_is_refused(exp: Path, method: int) -> None:
    """The directory says 1 KB, the data inflates to GiBs: measured, and stopped early."""
    log = log_of(exp, "r1", 0)
    size = GIB if method == 93 else GIB // 4  # deflate is slower to build
    bomb = rewrite_member(
        log, exp / "liar.eval", "header.json", bomb_payload(method, size), method, file_size=1024
    )
    message = run_limited(
        """
        import json, sys
        from summarize_experiment.evidence.safe_io import InputRefused, check_eval_archive
        try:
            check_eval_archive(sys.argv[1])
        except InputRefused as exc:
            print(json.dumps(str(exc)))
        """,
        str(bomb),
    )
    assert message == (
        f"{bomb}: its member header.json inflates past the 1,024 bytes its zip directory "
        "declares; not read"
    )


def test_the_total_of_the_members_read_is_bounded(exp: Path) -> None:
    log = log_of(exp, "r1", 0)
    with pytest.raises(InputRefused, match=r"its members would inflate to more than 10,000 bytes"):
        check_eval_archive(log, max_total_bytes=10_000)


def test_transcripts_are_not_inflated_so_not_limited(exp: Path) -> None:
    log = log_of(exp, "r1", 0)
    bomb = rewrite_member(
        log, exp / "big-sample.eval", "samples/1_epoch_1.json", b"", 0, file_size=5 * GIB
    )
    assert check_eval_archive(bomb).read_bytes == check_eval_archive(log).read_bytes


def test_an_unknown_compression_method_is_refused(exp: Path) -> None:
    log = log_of(exp, "r1", 0)
    odd = rewrite_member(log, exp / "odd.eval", "header.json", b"BZh9", 12, file_size=10)
    with pytest.raises(InputRefused, match=r"header\.json cannot be inflated"):
        check_eval_archive(odd)


def test_not_a_zip_is_left_to_inspect(exp: Path) -> None:
    path = exp / "r1" / "eval" / "logs" / "text.eval"
    path.write_text("not a zip\n", encoding="utf-8")
    with pytest.raises(zipfile.BadZipFile):
        check_eval_archive(path)


# --------------------------------------------------------------------------- appending


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_append_creates_logs_below_the_experiment_with_the_umask(exp: Path) -> None:
    log = exp / "logs" / "summarize-experiment.log"
    old = os.umask(0o077)
    try:
        assert append_all(log, b"first\n", exp) == 6
        assert append_all(log, b"second\n", exp) == 7
    finally:
        os.umask(old)
    assert log.read_bytes() == b"first\nsecond\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE((exp / "logs").stat().st_mode) == 0o700


def test_a_log_linked_to_a_file_elsewhere_is_refused(exp: Path, tmp_path: Path) -> None:
    target = tmp_path / "root-owned.txt"
    target.write_bytes(b"x" * 30)
    (exp / "logs").mkdir()
    log = exp / "logs" / "summarize-experiment.log"
    log.symlink_to(target)
    before = tree_state(tmp_path)
    with pytest.raises(UnsafeOutput) as refused:
        append_all(log, b"block\n" * 1000, exp)
    assert str(refused.value) == (
        f"{log}: {exp.resolve() / 'logs' / 'summarize-experiment.log'} is a symbolic link to "
        f"{target}, outside the experiment; nothing written"
    )
    assert refused.value.errno == errno.EPERM
    assert changed_paths(before, tree_state(tmp_path)) == set()


def test_a_logs_folder_linked_elsewhere_is_refused(exp: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (exp / "logs").symlink_to(elsewhere)
    before = tree_state(tmp_path)
    with pytest.raises(UnsafeOutput, match="outside the experiment; nothing written"):
        append_all(exp / "logs" / "summarize-experiment.log", b"block\n", exp)
    assert changed_paths(before, tree_state(tmp_path)) == set()
    assert list(elsewhere.iterdir()) == []


def test_links_that_stay_inside_are_followed(exp: Path) -> None:
    (exp / "archive").mkdir()
    (exp / "logs").symlink_to("archive")
    append_all(exp / "logs" / "summarize-experiment.log", b"in\n", exp)
    assert (exp / "archive" / "summarize-experiment.log").read_bytes() == b"in\n"


def test_nothing_is_created_where_there_is_no_experiment(tmp_path: Path) -> None:
    before = tree_state(tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing is created where there is no experiment"):
        append_all(tmp_path / "typo" / "sub" / "dir" / "logs" / "x.log", b"x", tmp_path / "typo")
    assert changed_paths(before, tree_state(tmp_path)) == set()


def test_a_path_outside_the_root_is_refused(exp: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsafeOutput, match="not below"):
        append_all(exp / ".." / "escape.log", b"x", exp)
    assert not (exp.parent / "escape.log").exists()


def test_a_fifo_or_a_hard_link_as_the_log_is_refused(exp: Path, tmp_path: Path) -> None:
    (exp / "logs").mkdir()
    fifo = exp / "logs" / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeOutput, match="is a named pipe"):
        append_all(fifo, b"x", exp)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    os.link(outside, exp / "logs" / "linked.log")
    with pytest.raises(UnsafeOutput, match="has 2 hard links"):
        append_all(exp / "logs" / "linked.log", b"x", exp)
    assert outside.read_bytes() == b"keep"


def test_a_long_block_is_written_whole(exp: Path) -> None:
    data = os.urandom(3 << 20)
    log = exp / "logs" / "summarize-experiment.log"
    assert append_all(log, data, exp) == len(data)
    assert log.read_bytes() == data


def test_a_full_disk_says_how_much_was_written(tmp_path: Path) -> None:
    with tiny_filesystem(tmp_path / "tiny", "64k") as disk:
        experiment = disk / "exp"
        experiment.mkdir()
        log = experiment / "logs" / "summarize-experiment.log"
        data = b"a log line that will not fit\n" * 10_000
        with pytest.raises(IncompleteWrite) as full:
            append_all(log, data, experiment)
        error = full.value
        assert error.errno == errno.ENOSPC and 0 < error.written < len(data)
        assert error.expected == len(data)
        assert str(error) == (
            f"{log}: only {error.written:,} of {len(data):,} bytes written "
            "(No space left on device)"
        )
        assert log.stat().st_size == error.written


def test_limits_are_named_constants() -> None:
    for name in safe_io.__all__:
        if name.isupper():
            assert isinstance(getattr(safe_io, name), int) and getattr(safe_io, name) > 0
