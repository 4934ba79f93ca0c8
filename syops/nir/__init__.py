"""NIR graphs (the Neuromorphic Intermediate Representation, package ``nir``): run with syops' own
reference module for every primitive and counted with the usual rules.

- ``to_torch(graph, dt=None)``: the runnable module of a ``nir.NIRGraph`` or a ``.nir`` file
  (``[T, B, *shape]`` in and out); ``read(path)``: the graph in a ``.nir`` file.
- ``syops.profile(graph_or_path, ..., dt=...)`` profiles a graph directly.
- The reference modules: ``Affine``, ``Linear``, ``Conv1d``, ``Conv2d``, ``SumPool2d``, ``AvgPool2d``,
  ``Flatten``, ``Scale``, ``Threshold``, ``Delay`` (syops.nir.modules) and the neurons ``I``, ``IF``,
  ``LI``, ``LIF``, ``CubaLI``, ``CubaLIF`` (syops.nir.neurons, which states the discretisation).

Nothing here imports ``nir`` until a graph is read or converted, so ``import syops`` stays light.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

_LAZY = {
    "to_torch": "convert",
    "read": "io",
    "is_nir_file": "io",
    "StoredNode": "io",
    "NIRGraphModule": "graph",
    "GraphStep": "graph",
    **dict.fromkeys(("Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"), "modules"),
    **dict.fromkeys(("Flatten", "Scale", "Threshold", "Delay"), "modules"),
    **dict.fromkeys(("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF", "REFERENCE_DISCRETISATION"), "neurons"),
}

__all__ = [*_LAZY, "is_nir_model", "for_profile"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        importlib.import_module(".rules", __name__)  # the modules count as soon as they exist
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_nir_model(value: Any) -> bool:
    """Is ``value`` a NIR graph (a node class of the ``nir`` package) or the path of a NIR file (one ending
    in ``.nir``, or an HDF5 file)?"""
    from .io import StoredNode, is_nir_file

    if isinstance(value, (str, os.PathLike)):
        return is_nir_file(value)
    return isinstance(value, StoredNode) or type(value).__module__.split(".")[0] == "nir"


def for_profile(
    model: Any, *, dt: float | None, input_res: Any, time_layout: str | None, other_inputs: bool
) -> tuple[Any, Any, str]:
    """What ``syops.profile`` runs for a NIR graph or ``.nir`` path: the module, the sample shape (the
    graph's Input shape when no input is given) and the time layout (``[T, B, ...]``, "TB")."""
    from ..errors import SyopsError

    if time_layout not in (None, "TB"):
        raise SyopsError(f"a NIR graph runs [T, B, ...] inputs: time_layout='TB', got {time_layout!r}")
    try:
        importlib.import_module("nir")
    except ImportError:
        raise SyopsError("profiling a NIR graph needs the nir package: pip install 'syops[nir]'") from None
    module = __getattr__("to_torch")(model, dt=dt)
    if input_res is None and not other_inputs:
        input_res = module.input_shape
    return module, input_res, "TB"
