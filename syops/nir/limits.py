"""What a NIR graph or ``.nir`` file may declare before syops builds and runs it: the sizes an HDF5 file
declares (read from its datasets' shapes and dtypes, before any data), the shapes of Input, Output and
Flatten nodes, and node parameters that are numbers a neuron can run. Each refusal is one line naming
the node (docs/nir.md, "What is refused")."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from ..errors import SyopsError
from ..validate import SIZE_LIMIT, check_bytes

# Copies while a file becomes modules: the dataset as read, the float32 tensor cloned from it and the
# module's own parameter (the graph read from a path is dropped once the modules are built).
TORCH_COPIES = 2
# A dataset declaring more than this while the file stores less than 1/STORED_RATIO of it is an
# unwritten (fill-value) or over-compressed dataset: a tiny file that would expand into memory.
SPARSE_MIN_BYTES = 16 << 20
STORED_RATIO = 256
MAX_DEPTH = 64  # nested graphs
CPU = torch.device("cpu")

# Node parameters that must be finite numbers, and those that must be > 0 (time constants) or >= 0.
PARAMETERS = ("weight", "bias", "tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
PARAMETERS += ("scale", "threshold", "delay")
POSITIVE = ("tau", "tau_syn", "tau_mem")
NON_NEGATIVE = ("delay",)


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB"


def _node_of(path: str) -> str:
    """The dotted node name of an HDF5 path under ``node`` (``nodes/g/nodes/fc/weight`` -> ``g.fc``)."""
    parts = path.split("/")
    names = [parts[i + 1] for i in range(len(parts) - 1) if parts[i] == "nodes"]
    return ".".join(names) or "(graph)"


def check_file(group: Any, path: str | os.PathLike) -> None:
    """Walk the ``node`` group of an open ``.nir`` file the way a reader does (every link followed by
    name) and refuse, before any data is read: soft and external links, an object reached twice (a
    hard-link cycle or fan-out that a reader would expand), external or virtual storage, graphs nested
    deeper than MAX_DEPTH, a dataset that stores almost nothing of what it declares, and declared data
    that this machine could not hold once loaded."""
    import h5py

    seen: set[Any] = set()
    total = elements = 0
    largest: tuple[int, str, Any] | None = None
    pending: list[tuple[Any, str, int]] = [(group, "", 0)]
    while pending:
        current, where, depth = pending.pop()
        if depth > 2 * MAX_DEPTH + 2:
            raise SyopsError(
                f"NIR file {path}: graphs nested more than {MAX_DEPTH} deep (at {_short(_node_of(where))})"
            )
        for key in current:
            link = current.get(key, getlink=True)
            inner = f"{where}/{key}" if where else key
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                kind = "an external link to another file" if isinstance(link, h5py.ExternalLink) else "a soft link"
                node = _node_of(inner)
                raise SyopsError(f"NIR file {path}: node {node!r} holds {kind} ({key!r}), which NIR never writes")
            item = current[key]
            address = h5py.h5o.get_info(item.id).addr
            if address in seen:
                raise SyopsError(f"NIR file {path}: {inner!r} links an object stored elsewhere in the file again")
            seen.add(address)
            if isinstance(item, h5py.Group):
                pending.append((item, inner, depth + 1))
                continue
            if item.external is not None or item.is_virtual:
                raise SyopsError(f"NIR file {path}: node {_node_of(inner)!r}: {key!r} keeps its data outside the file")
            size = (item.size or 0) * item.dtype.itemsize
            vlen = item.dtype.kind == "O" or h5py.check_vlen_dtype(item.dtype) is not None
            stored = item.id.get_storage_size()
            if not vlen and size > SPARSE_MIN_BYTES and stored * STORED_RATIO < size:
                raise SyopsError(
                    f"NIR file {path}: node {_node_of(inner)!r}: {key!r} declares {list(item.shape)} "
                    f"{item.dtype} ({_gib(size)}) but the file stores {stored} bytes of it (an unwritten or "
                    "over-compressed dataset)"
                )
            total += size
            elements += 0 if vlen else item.size or 0
            if largest is None or size > largest[0]:
                largest = (size, inner, item)
    if largest is not None:
        size, inner, item = largest
        need = total + TORCH_COPIES * 4 * elements
        field = inner.rsplit("/", 1)[-1]
        check_bytes(
            f"NIR file {path}: loading its {_gib(total)} of declared data (the largest: node {_node_of(inner)!r} "
            f"{field} {list(item.shape)} {item.dtype})",
            need,
            torch.device("cpu"),
        )


def shape(value: Any, what: str) -> tuple[int, ...]:
    """A declared shape (an Input's, a Flatten's, an Output's): whole numbers >= 1, each below SIZE_LIMIT."""
    try:
        array = np.asarray(value)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "iuf" or array.ndim > 1:
        raise SyopsError(f"{what}: the shape {_short(value)} is not a list of whole numbers")
    entries = array.reshape(-1).tolist()
    for entry in entries:
        if not (math.isfinite(entry) and entry == int(entry) and 1 <= entry < SIZE_LIMIT):
            shown = _short(entries)
            raise SyopsError(f"{what}: the shape {shown} has {entry!r}, not a whole number in [1, {SIZE_LIMIT})")
    return tuple(int(e) for e in entries)


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_parameters(node: Any, where: str) -> None:
    """Every numeric parameter of ``node`` finite; time constants > 0, delays >= 0."""
    for name in PARAMETERS:
        value = getattr(node, name, None)
        if value is None:
            continue
        try:
            array = np.asarray(value)
        except Exception:
            raise SyopsError(f"NIR node {where!r}: {name} is not an array of numbers") from None
        if array.dtype.kind not in "biuf":
            raise SyopsError(f"NIR node {where!r}: {name} is not an array of numbers ({array.dtype})")
        if array.dtype.kind == "f" and not math.isfinite(float(np.sum(array, dtype=np.float64))):
            bad = array[~np.isfinite(array)]
            if bad.size:
                raise SyopsError(
                    f"NIR node {where!r}: {name} holds {bad.size} non-finite value(s) ({float(bad.reshape(-1)[0])}); "
                    "a NaN or infinite parameter gives no meaningful count"
                )
        if array.dtype.kind == "f" and array.dtype.itemsize > 4 and array.size:
            largest = max(abs(float(array.max())), abs(float(array.min())))
            if largest > float(np.finfo(np.float32).max):
                raise SyopsError(f"NIR node {where!r}: {name} holds {largest:g}, beyond float32 (syops runs float32)")
        if name in POSITIVE and array.size and not (array > 0).all():
            raise SyopsError(f"NIR node {where!r}: {name} must be > 0 (a time constant), got {float(array.min()):g}")
        if name in NON_NEGATIVE and array.size and not (array >= 0).all():
            raise SyopsError(f"NIR node {where!r}: {name} must be >= 0, got {float(array.min()):g}")


def edges(value: Any, where: str) -> list[tuple[str, str]]:
    """A graph's edges as (source, target) names: pairs of strings (bytes as a file stores them)."""
    pairs = []
    for edge in value if isinstance(value, (list, tuple, np.ndarray)) else [value]:
        ends = list(edge) if isinstance(edge, (list, tuple, np.ndarray)) else None
        if ends is None or len(ends) != 2 or not all(isinstance(e, (str, bytes)) for e in ends):
            raise SyopsError(f"{where} has an edge {_short(edge)}, not a pair of node names")
        try:
            pairs.append(tuple(e.decode() if isinstance(e, bytes) else str(e) for e in ends))
        except UnicodeDecodeError:
            raise SyopsError(f"{where} has an edge {_short(edge)} whose names are not UTF-8") from None
    return pairs  # type: ignore[return-value]


def check_probe(input_shape: tuple[int, ...], what: str) -> None:
    """The zero-input probe (two steps, batch 1) must fit this machine; the nodes whose output can outgrow
    what the file declares (a padded conv, a long delay) check their own before they allocate it."""
    size = 2 * math.prod(input_shape) * 4
    check_bytes(f"{what}: the zero-input probe of shape {[2, 1, *input_shape]}", size, CPU)
