"""Names from a model (layers, nodes, the model, an energy or memory model from a file) are text: each
output format gets them escaped for it, so no name is read as markup, a formula or a control sequence.

- terminal: control characters (escape sequences, bidirectional overrides, newlines) shown escaped;
- Markdown: HTML special characters and the pipe as entities, Markdown punctuation backslash-escaped,
  newlines and other controls shown escaped, so a name stays in its cell;
- CSV: a text cell a spreadsheet would run as a formula (it begins with ``= + - @``, a tab or a carriage
  return) gets a leading single quote (OWASP's advice); numbers are written as numbers.
"""

from __future__ import annotations

import re
from typing import Any

# C0/C1 controls, DEL, bidirectional marks and overrides, line/paragraph separators and the BOM: what can
# move the cursor, recolour the terminal, open a hyperlink or reorder the text a reader sees.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(text: Any) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u202e``): safe to print."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group(0)
        code = ord(char)
        return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _CONTROL_RE.sub(escaped, str(text))


_MARKDOWN = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;"}
_MARKDOWN_RE = re.compile(r"[&<>|\\`*_\[\]#~!]")


def markdown_text(text: Any) -> str:
    """``text`` for a Markdown table cell or line: shown as written, never markup, always one line."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group(0)
        return _MARKDOWN.get(char) or "\\" + char

    return _MARKDOWN_RE.sub(escaped, visible(text))


def markdown_code(text: Any) -> str:
    """``text`` as a Markdown code span (shown literally; fenced by more backticks than it holds)."""
    shown = visible(text)
    longest = max((len(run) for run in re.findall("`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: Any) -> Any:
    """A CSV cell: a string a spreadsheet would run as a formula gets a leading ``'``; others as given."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
