"""The loss scanner on every Python 3.11.x: no regex construct early 3.11 releases get wrong,
the same matches as the possessive patterns it replaced, and a value that does not convert to a
float is no match instead of an exception (what 3.11.2 did with `6.04e`)."""

from __future__ import annotations

import re
from pathlib import Path
from re import _constants as sre_constants  # the parser behind re.compile (3.11+)
from re import _parser as sre_parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summarize_experiment.evidence import training_log
from summarize_experiment.evidence.training_log import LossPoint, scan_training_log

# The patterns as they were before this fix (possessive repeats): the reference for what must
# match, on a Python whose `re` handles possessive repeats correctly.
_OLD_VALUE = (
    rb"(-?(?:nan|inf|[0-9]{1,40}+(?:\.[0-9]{0,40}+)?+(?:[eE][-+]?[0-9]{1,4}+)?+))"
    rb"(?![0-9A-Za-z_.])"
)
_OLD_TAIL = (
    rb"(?::[ ]{0,8}+[0-9]{1,3}+%\|(?!Loss: )[^|\r\n]{0,1200}+\|(?!Loss: )[^|\[\r\n]{0,80}+"
    rb"\[((?:[0-9]{1,6}:)?[0-9]{1,2}:[0-9]{2})<)?"
)
_OLD_LOSS = re.compile(
    rb"(?<![0-9])([0-9]{1,9})\|([0-9]{1,12})\|Loss: (?=" + _OLD_VALUE + _OLD_TAIL + rb")"
)
_OLD_BACKWARD = re.compile(rb" :ssoL\|([0-9]{1,12}+\|[0-9]{1,9}+)(?![0-9])")

POSSESSIVE_OK = re.match(_OLD_VALUE, b"6.04e-") is None


def _opcodes(tree: object) -> set[str]:
    """Names of every opcode in a parsed pattern, nested ones included."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, sre_constants._NamedIntConstant):
            found.add(str(item))
        elif isinstance(item, list | tuple | sre_parse.SubPattern):
            stack.extend(item)
    return found


def test_no_construct_that_early_311_gets_wrong() -> None:
    patterns = [
        value
        for value in vars(training_log).values()
        if isinstance(value, re.Pattern) and isinstance(value.pattern, bytes)
    ]
    assert len(patterns) >= 5
    assert "POSSESSIVE_REPEAT" in _opcodes(sre_parse.parse(_OLD_VALUE))
    for pattern in patterns:
        opcodes = _opcodes(sre_parse.parse(pattern.pattern, pattern.flags))
        assert not opcodes & {"POSSESSIVE_REPEAT", "ATOMIC_GROUP"}, pattern.pattern


def test_stdout_cut_inside_an_exponent(tmp_path: Path) -> None:
    """What a job killed mid-write leaves: the last, cut update is no match, on any Python."""
    stdout = tmp_path / "slurm-1.out"
    stdout.write_bytes(b"\r2|250|Loss: 0.5\r2|251|Loss: 6.04e-")
    scan = scan_training_log(stdout)
    assert scan.final == LossPoint(2, 250, 0.5)
    stdout.write_bytes(b"\r2|250|Loss: 0.5\r2|251|Loss: 6.04e")
    assert scan_training_log(stdout).final == LossPoint(2, 250, 0.5)


@pytest.mark.parametrize("extra", [b"", b"9|9|Loss: x\r"], ids=["all-values", "not-a-value"])
def test_a_value_that_does_not_convert_is_no_match(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, extra: bytes
) -> None:
    """An engine that takes `6.04e` for a number (3.11.2) no longer sinks the scan."""
    loose = rb"(-?[0-9][0-9.eE+-]{0,40})(?![0-9A-Za-z_.])"
    literal = re.escape(b"|Loss: ")
    monkeypatch.setattr(training_log, "_FORWARD", re.compile(literal + loose))
    monkeypatch.setattr(
        training_log,
        "LOSS_PATTERN",
        re.compile(rb"(?<![0-9])([0-9]{1,9})\|([0-9]{1,12})\|Loss: (?=" + loose + rb"()" + rb")"),
    )
    stdout = tmp_path / "slurm-1.out"
    stdout.write_bytes(extra + b"2|250|Loss: 0.5\r2|251|Loss: 6.04e-\r2|252|Loss: 1.e+\r")
    scan = scan_training_log(stdout)
    assert scan.final == LossPoint(2, 250, 0.5)
    assert scan.updates == 1
    assert training_log._loss(b"6.04e") is None
    assert training_log._losses([b"1", b"6.04e"]) is None


_PIECES = st.sampled_from(
    [
        "1|5|Loss: ",
        "12|345|Loss: ",
        "|Loss: ",
        "0.5",
        "6.04e-",
        "e",
        "E",
        "-",
        "+",
        ".",
        "nan",
        "inf",
        "7",
        "0123456789" * 5,
        ":  16%|",
        "███▌   ",
        "| 40/250 ",
        "[00:19<01:44,  2.17it/s]",
        "[1:02:03<",
        "\r",
        "\n",
        " ",
        "x",
        "_",
        "|",
    ]
)


@pytest.mark.skipif(not POSSESSIVE_OK, reason="this Python's re gets possessive repeats wrong")
@settings(max_examples=400, deadline=None)
@given(text=st.lists(_PIECES, max_size=30).map("".join))
def test_same_matches_as_the_possessive_patterns(text: str) -> None:
    data = text.encode()
    assert [m.groups() for m in training_log.LOSS_PATTERN.finditer(data)] == [
        m.groups() for m in _OLD_LOSS.finditer(data)
    ]
    reverse = data[::-1]
    assert training_log._BACKWARD.findall(reverse) == _OLD_BACKWARD.findall(reverse)
