"""Reading a user-named file: a regular file only (not a device, a FIFO or a directory; a symlink is
followed to what it names), and no more than a cap no real file of its kind reaches, so ``/dev/zero`` or
a pipe cannot be read until memory runs out. One ``SyopsError`` line per refusal."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import SyopsError

MIB = 1 << 20
# Caps by kind: a syops JSON report of 400,000 layers is about 300 MB; an energy or memory model file is
# a few lines.
REPORT_LIMIT = 1024 * MIB
TOML_LIMIT = 1 * MIB


def _size_text(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n} bytes"


def read_regular(path: Path, *, limit: int, what: str) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes (``what`` names it)."""
    try:
        info = os.stat(path)  # follows a symlink: what it names is what is read
    except FileNotFoundError:
        raise SyopsError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise SyopsError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, a pipe or a socket"
        raise SyopsError(f"{what} {path} is {kind}, not a regular file: syops reads only regular files")
    if info.st_size > limit:
        raise SyopsError(
            f"{what} {path} is {_size_text(info.st_size)}, more than the {_size_text(limit)} syops reads for "
            "such a file"
        )
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)  # a file that grew since: still no more than the cap
    except OSError as exc:
        raise SyopsError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SyopsError(f"{what} {path} is larger than the {_size_text(limit)} syops reads for such a file")
    return data
