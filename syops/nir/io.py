"""Reading ``.nir`` files (HDF5, through ``nir.read``, or as stored where the installed nir cannot read
them): never unpickled, every failure one line."""

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


def _members(nodes: Any) -> list[tuple[str, Any]]:
    """(name, group) of every node in a ``nodes`` group. HDF5 stores a node named ``a/b`` as a group
    ``a`` (no ``type``) holding ``b``: its name comes back with the ``/``."""
    found = []
    for key in nodes:
        child = nodes[key]
        group = hasattr(child, "keys") and "type" not in child and len(child)
        if group and all(hasattr(c, "keys") for c in child.values()):
            found += [(f"{key}/{name}", group) for name, group in _members(child)]
        else:
            found.append((key, child))
    return found


def _node_types(group: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted node name, type) of every node stored under an HDF5 ``node`` group."""
    found = []
    nodes = group.get("nodes")
    for name, child in _members(nodes) if nodes is not None else ():
        raw = child["type"][()] if "type" in child else b"?"
        node_type = raw.decode() if isinstance(raw, bytes) else str(raw)
        found.append((prefix + name, node_type))
        if node_type == "NIRGraph":
            found += _node_types(child, f"{prefix}{name}.")
    return found


class StoredNode:
    """A node as a ``.nir`` file stores it — its type and its datasets as attributes (a graph: ``nodes``
    and ``edges``) — for files the installed nir cannot read (written by a later release: ``v_reset``,
    ``CubaLI``)."""

    def __init__(self, nir_type: str, fields: dict[str, Any]) -> None:
        self.nir_type = nir_type
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)


def _value(dataset: Any) -> Any:
    value = dataset[()]
    return value.decode() if isinstance(value, bytes) else value


def _stored(group: Any) -> StoredNode:
    node_type = _value(group["type"])
    if node_type == "NIRGraph":
        nodes = {name: _stored(child) for name, child in _members(group["nodes"])}
        edges = group["edges"][()]  # pairs of names, checked when the graph is built (limits.edges)
        return StoredNode(node_type, {"nodes": nodes, "edges": edges})
    return StoredNode(node_type, {k: _value(v) for k, v in group.items() if k not in ("type", "metadata")})


def read(path: str | os.PathLike) -> Any:
    """The graph stored in ``path``: a ``nir.NIRGraph`` (``nir.read``), or where the installed nir cannot
    read the file (a later release wrote it), a :class:`StoredNode` with the same attributes."""
    try:
        import h5py
        import nir
    except ImportError:
        raise SyopsError("reading a .nir file needs the nir package: pip install 'syops[nir]'") from None

    from .convert import KNOWN
    from .limits import check_file

    p = Path(path)
    if not p.is_file():
        raise SyopsError(f"no NIR file {str(p)!r}")
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise SyopsError(f"{p} is an HDF5 file without a NIR graph (no 'node' group)")
            check_file(f["node"], p)  # the declared sizes, before nir.read loads every dataset
            stored = _node_types(f["node"])
    except SyopsError:
        raise
    except Exception as exc:
        raise SyopsError(f"cannot read NIR file {p}: not a readable HDF5 file ({_first_line(exc)})") from None
    unknown = [(name, t) for name, t in stored if t not in KNOWN]
    if unknown:
        name, node_type = unknown[0]
        raise SyopsError(f"unknown NIR node type {node_type!r} (node {name!r}) in {p}")
    version = getattr(nir, "__version__", "?")
    failure = f"types the installed nir {version} does not have"
    # nir.read cannot read a name with "/" back (HDF5 made it a sub-group): those are read as stored.
    if all(hasattr(nir, t) for _, t in stored) and not any("/" in name for name, _ in stored):
        try:
            graph = nir.read(p)
        except Exception as exc:
            failure = f"nir {version}: {type(exc).__name__}: {_first_line(exc)}"
        else:
            if type(graph).__name__ != "NIRGraph":
                raise SyopsError(f"{p} holds a single {type(graph).__name__} node, not a NIR graph")
            return graph
    try:
        with h5py.File(p, "r") as f:
            graph = _stored(f["node"])
    except Exception as exc:
        raise SyopsError(f"cannot read NIR file {p} ({failure}; as stored: {_first_line(exc)})") from None
    if graph.nir_type != "NIRGraph":
        raise SyopsError(f"{p} holds a single {graph.nir_type} node, not a NIR graph")
    return graph


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
