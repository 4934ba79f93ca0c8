"""Reading ``.nir`` files (HDF5, through ``nir.read``): never unpickled, every failure one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import SyopsError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_nir_file(path: str | os.PathLike) -> bool:
    """A path ending in ``.nir``, or an existing file that starts with the HDF5 signature."""
    p = Path(path)
    if p.suffix.lower() == ".nir":
        return True
    try:
        with p.open("rb") as f:
            return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except OSError:
        return False


def _node_types(group: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted node name, type) of every node stored under an HDF5 ``node`` group."""
    found = []
    nodes = group.get("nodes")
    for name in nodes.keys() if nodes is not None else ():
        child = nodes[name]
        raw = child["type"][()] if "type" in child else b"?"
        node_type = raw.decode() if isinstance(raw, bytes) else str(raw)
        found.append((prefix + name, node_type))
        if node_type == "NIRGraph":
            found += _node_types(child, f"{prefix}{name}.")
    return found


def read(path: str | os.PathLike) -> Any:
    """The ``nir.NIRGraph`` stored in ``path``."""
    try:
        import h5py
        import nir
    except ImportError:
        raise SyopsError("reading a .nir file needs the nir package: pip install 'syops[nir]'") from None

    from .convert import KNOWN

    p = Path(path)
    if not p.is_file():
        raise SyopsError(f"no NIR file {str(p)!r}")
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise SyopsError(f"{p} is an HDF5 file without a NIR graph (no 'node' group)")
            stored = _node_types(f["node"])
            unknown = [(name, t) for name, t in stored if t not in KNOWN]
    except SyopsError:
        raise
    except Exception as exc:
        raise SyopsError(f"cannot read NIR file {p}: not a readable HDF5 file ({_first_line(exc)})") from None
    if unknown:
        name, node_type = unknown[0]
        raise SyopsError(f"unknown NIR node type {node_type!r} (node {name!r}) in {p}")
    newer = [(name, t) for name, t in stored if not hasattr(nir, t)]
    if newer:
        name, node_type = newer[0]
        version = getattr(nir, "__version__", "?")
        raise SyopsError(f"node {name!r} of {p} is a {node_type}, which the installed nir {version} cannot read")
    try:
        graph = nir.read(p)
    except Exception as exc:
        version = getattr(nir, "__version__", "?")
        raise SyopsError(
            f"cannot read NIR file {p} with nir {version}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    if type(graph).__name__ != "NIRGraph":
        raise SyopsError(f"{p} holds a single {type(graph).__name__} node, not a NIR graph")
    return graph


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
