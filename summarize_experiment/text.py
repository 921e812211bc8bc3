"""Text from the inputs made safe to show: every character visible, one line."""

from __future__ import annotations

import unicodedata

# format characters that change how text reads without showing: zero-width spaces and joiners,
# bidirectional overrides and isolates, the BOM
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# control and format characters, line and paragraph separators, lone surrogates (bytes of a
# file name that are not UTF-8)
_ESCAPED = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object) -> str:
    """`text` with control characters, newlines and invisible or direction-changing
    characters written as escapes (`\\n`, `\\x1b`, `\\u200b`, `\\u202e`), so what is shown is
    what is there, on one line."""
    value = str(text)
    if value.isprintable() and not any(c in _INVISIBLE for c in value):
        return value
    return "".join(
        _escape(c) if c in _INVISIBLE or unicodedata.category(c) in _ESCAPED else c for c in value
    )


def one_line(text: object) -> str:
    """`visible(text)` with runs of spaces collapsed."""
    return " ".join(visible(text).split(" ")).strip()


def invisible_key(text: str) -> str:
    """`text` without the characters `visible` would write as escapes: two names with the same
    key differ only by characters a reader cannot see."""
    return "".join(
        c for c in text if c not in _INVISIBLE and unicodedata.category(c) not in _ESCAPED
    )
