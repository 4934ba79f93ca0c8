"""What ``-o/--output`` (and ``--plot``) may write: never one of the command's inputs, never a file syops
did not write unless ``--overwrite`` says so, only a suffix that names the format; ``-o -`` is stdout.

syops recognises its own earlier output by a mark each format can carry without troubling its readers:
JSON's first key ``syops_version``, LaTeX's first line ``% syops …``, an HTML ``<title>syops report: …``,
a first line ``<!-- written by syops … -->`` in Markdown and ``# written by syops …`` in a text table,
the zoo's table markers, a PNG/SVG/PDF ``Creator`` of ``syops …``. CSV has no comment syntax its readers
agree on, so a CSV is syops' when its header row is the one syops writes (``name,type,params,calls,…``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import click

from syops import SyopsError

STDOUT = Path("-")  # `-o -`; a file named "-" is given as ./- and becomes an absolute path
MARK = "written by syops"
SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "table": (".txt", ""),
    "json": (".json",),
    "csv": (".csv",),
    "markdown": (".md", ".markdown"),
    "html": (".html", ".htm"),
    "latex": (".tex",),
}
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
_PEEK = 1 << 16  # bytes read from each end of an existing file to find syops' mark
_TEXT_MARKS = (
    re.compile(r'\A\{\s*"syops_version"\s*:'),  # JSON report (and every JSON output of the CLI)
    re.compile(r"\A% syops "),  # LaTeX
    re.compile(r"<title>syops report: "),  # HTML
    re.compile(rf"\A(<!-- {MARK} |# {MARK} )"),  # Markdown, text table
    re.compile(r"\A\*\*.*\*\*: .*, syops \d+\.\d+"),  # Markdown written before the mark
    re.compile(r"\Aname,type,params,calls,"),  # CSV: its header row
    re.compile(r"<!-- syops zoo: begin generated table -->"),  # the zoo document
)
_IMAGE_MARK = re.compile(rb"Creator\x00syops |/Creator \(syops |<dc:creator>\s*<cc:Agent>\s*<dc:title>syops ")


class OutputPath(click.ParamType):
    """A file path; ``-`` is stdout (STDOUT)."""

    name = "file"

    def convert(self, value, param, ctx) -> Path:
        if isinstance(value, Path):
            return value
        if value == "-":
            return STDOUT
        path = Path(value)
        if path == STDOUT:  # ./- names a file called "-"
            return Path.cwd() / "-"
        if path.is_dir():
            self.fail(f"{value!r} is a directory", param, ctx)
        return path


def output_option(text: str = "Write to FILE (- for stdout).") -> click.decorators.FC:
    return click.option("--output", "-o", type=OutputPath(), metavar="FILE", help=text)


overwrite_option = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an existing output file that syops did not write (an input file is never replaced).",
)


def is_stdout(path: Path | None) -> bool:
    return path is None or path == STDOUT


def check_output(
    path: Path | None,
    *,
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    suffixes: Iterable[str] | None = None,
    what: str = "--output",
    stdout_ok: bool = True,
) -> None:
    """Refuse, in one line, an output that is one of ``inputs``, whose suffix is not among ``suffixes``
    (lower case, "" for none; None: format_for checks it) or that replaces a file syops did not write
    (unless ``overwrite``). Checked before any work; a path that exists and is not a regular file
    (/dev/null) is written as is."""
    if path == STDOUT and not stdout_ok:
        raise SyopsError(f"{what} -: this output cannot go to stdout; give a file")
    if is_stdout(path):
        return
    assert path is not None
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            raise SyopsError(f"{what} {path} is an input of this command ({source}); refusing to replace it")
    if _is_stream(path):
        return
    accepted = None if suffixes is None else tuple(suffixes)
    if accepted is not None and path.suffix.lower() not in accepted:
        listed = ", ".join(s or "no suffix" for s in accepted)
        raise SyopsError(f"{what} {path}: syops writes no {path.suffix or 'file without a suffix'} here; use {listed}")
    _check_writable(path, what)
    if os.path.isfile(path) and not overwrite and not written_by_syops(path):
        raise SyopsError(
            f"{what} {path} exists and syops did not write it; refusing to replace it "
            "(add --overwrite to replace it, or choose another file)"
        )


def check_distinct(*paths: Path | None) -> None:
    """Two outputs of one command (--output, --plot) are two files."""
    files = [p for p in paths if not is_stdout(p)]
    for i, first in enumerate(files):
        for second in files[i + 1 :]:
            if _same_file(first, second):
                raise SyopsError(f"{first} and {second} are the same file; give each output its own")


def suffixes_for(formats: Iterable[str]) -> tuple[str, ...]:
    return tuple(s for f in formats for s in SUFFIXES[f])


def format_for(fmt: str | None, output: Path | None, choices: tuple[str, ...]) -> str:
    """The chosen format, else the one --output's suffix names (table for .txt or no suffix; a suffix that
    names no format of this command is refused); with --format a suffix of another format is refused."""
    if is_stdout(output) or _is_stream(output):  # type: ignore[arg-type]
        return fmt or "table"
    assert output is not None
    suffix = output.suffix.lower()
    named = next((f for f in choices if suffix in SUFFIXES[f]), None)
    if named is None:
        listed = ", ".join(f"{'/'.join(s or 'none' for s in SUFFIXES[f])} ({f})" for f in choices)
        raise SyopsError(
            f"--output {output}: {suffix or 'no suffix'} names no format this command writes; use {listed}"
        )
    if fmt is not None and fmt != named and suffix:
        raise SyopsError(f"--format {fmt} but --output {output} names {named}; make the two agree")
    return fmt or named


def written_by_syops(path: Path) -> bool:
    """Whether the file at ``path`` carries the mark of one of syops' outputs (read at both ends only)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(_PEEK)
            size = os.fstat(stream.fileno()).st_size
            tail = b""
            if size > _PEEK:
                stream.seek(max(_PEEK, size - _PEEK))
                tail = stream.read(_PEEK)
    except OSError:
        return False
    if _IMAGE_MARK.search(head) or _IMAGE_MARK.search(tail):
        return True
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return any(mark.search(text) for mark in _TEXT_MARKS)


def mark_text(text: str, fmt: str, version: str) -> str:
    """The output with syops' mark where the format does not carry one of its own (Markdown, text table)."""
    if fmt == "markdown":
        return f"<!-- {MARK} {version} -->\n{text}"
    if fmt == "table":
        return f"# {MARK} {version}\n{text}"
    return text


def _check_writable(path: Path, what: str) -> None:
    """Before the work, not after it: the directory that will hold the output (or its nearest existing
    ancestor, where the missing directories will be made) must be writable."""
    directory = Path(os.path.realpath(path)).parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
        raise SyopsError(f"{what} {path}: cannot write in {directory} (not a writable directory)")


def _is_stream(path: Path) -> bool:
    """/dev/null, /dev/stdout, a FIFO: written in place, whatever its name."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)
