"""Where results go: stdout or a file, rich renderables as plain text when not on a terminal; notes on
stderr as one line each."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from syops import __version__
from syops.atomic import write_atomic
from syops.safe_text import visible

from .files import format_for, is_stdout, mark_text

__all__ = ["emit", "emit_rich", "format_for", "note", "render_text"]

TABLE_WIDTH = 160  # a table written to a file or a pipe is this wide, unless COLUMNS says otherwise


def text_width() -> int:
    """The width of a table written to a file or a pipe: COLUMNS when set, else TABLE_WIDTH."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else TABLE_WIDTH


def render_text(renderable: Any) -> str:
    """A rich renderable as plain text (no colour codes), for files and pipes."""
    buffer = io.StringIO()
    Console(file=buffer, width=text_width(), color_system=None, force_terminal=False, soft_wrap=False).print(renderable)
    return buffer.getvalue()


def emit(text: str, output: Path | None, quiet: bool = False, fmt: str | None = None) -> None:
    """Write ``text`` to ``output`` (atomically, saying so on stderr) or to stdout (None or -), with syops'
    mark where the format ``fmt`` has none of its own."""
    text = mark_text(text, fmt, __version__) if fmt == "markdown" else text
    if is_stdout(output):
        click.echo(text, nl=not text.endswith("\n"))
        return
    assert output is not None
    write_atomic(output, text.encode("utf-8"))
    if not quiet:
        note(f"wrote {output}")


def emit_rich(renderable: Any, output: Path | None, quiet: bool = False) -> None:
    """A table: coloured on a terminal, plain text in a pipe or a file."""
    if not is_stdout(output):
        emit(mark_text(render_text(renderable), "table", __version__), output, quiet)
        return
    console = Console()
    if not console.is_terminal:
        click.echo(render_text(renderable), nl=False)
        return
    console.print(renderable)  # as wide as the terminal (or COLUMNS): the tables fit it


def note(message: str, kind: str = "note") -> None:
    click.echo(f"syops: {kind}: {visible(' '.join(message.split()))}", err=True)
