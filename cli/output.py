"""Where results go: stdout or a file, rich renderables as plain text when not on a terminal; notes on
stderr as one line each."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from syops import SyopsError
from syops.safe_text import visible

TABLE_WIDTH = 160  # a table written to a file or a pipe is this wide, unless COLUMNS says otherwise

FORMAT_BY_SUFFIX = {
    ".json": "json",
    ".csv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".tex": "latex",
}


def format_for(fmt: str | None, output: Path | None, choices: tuple[str, ...]) -> str:
    """The chosen format, else the one --output's suffix names, else a table."""
    if fmt is not None:
        return fmt
    if output is not None:
        guessed = FORMAT_BY_SUFFIX.get(output.suffix.lower())
        if guessed in choices:
            return guessed
    return "table"


def text_width() -> int:
    """The width of a table written to a file or a pipe: COLUMNS when set, else TABLE_WIDTH."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else TABLE_WIDTH


def render_text(renderable: Any) -> str:
    """A rich renderable as plain text (no colour codes), for files and pipes."""
    buffer = io.StringIO()
    Console(file=buffer, width=text_width(), color_system=None, force_terminal=False, soft_wrap=False).print(renderable)
    return buffer.getvalue()


def emit(text: str, output: Path | None, quiet: bool = False) -> None:
    """Write ``text`` to ``output`` (saying so on stderr) or to stdout."""
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SyopsError(f"cannot write {output}: {exc.strerror or exc}") from None
    if not quiet:
        note(f"wrote {output}")


def emit_rich(renderable: Any, output: Path | None, quiet: bool = False) -> None:
    """A table: coloured on a terminal, plain text in a pipe or a file."""
    if output is not None:
        emit(render_text(renderable), output, quiet)
        return
    console = Console()
    if not console.is_terminal:
        click.echo(render_text(renderable), nl=False)
        return
    console.print(renderable)  # as wide as the terminal (or COLUMNS): the tables fit it


def note(message: str, kind: str = "note") -> None:
    click.echo(f"syops: {kind}: {visible(' '.join(message.split()))}", err=True)
