"""Atomic file writes: a reader of the file sees the old content or the new, never a torn one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import SyopsError


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it (fsynced, then renamed over it).

    A symlink is followed (the link stays, its target gets the new content); an existing file keeps its
    permission bits, a new one gets those the umask allows. A path that exists and is not a regular file
    (``/dev/null``, a FIFO) is written in place: a stream has nothing to tear. Missing directories are made.
    """
    target = Path(os.path.realpath(path))
    try:
        existing = target.stat()
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise SyopsError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            with open(target, "wb") as stream:
                stream.write(data)
            return Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(existing.st_mode) if existing is not None else _default_mode()
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temporary, mode)
            os.replace(temporary, target)
        except BaseException:  # an interrupt too: no temporary file is left behind
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(target.parent)
    except OSError as exc:
        raise SyopsError(f"cannot write {path}: {exc.strerror or exc}") from None
    return Path(path)


def _default_mode() -> int:
    """0o666 less the umask, as open() would create the file (mkstemp makes it 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_directory(directory: Path) -> None:
    """The rename itself survives a crash once its directory is synced (where the system allows it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
