"""syops: exact synaptic-operation, AC/MAC and energy profiling for spiking and conventional networks.

``import syops`` is light: the version and the error classes load at once; the rest (torch with it) on
the first use of any other public name, all together, as an eager import would have (so `syops --help`
starts without torch).
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import CountingError, SyopsError

__all__ = [
    "MEMORY_PRESETS",
    "PRESETS",
    "CountingError",
    "EnergyModel",
    "LayerStats",
    "MemoryModel",
    "Profiler",
    "Report",
    "SNNAnalyzer",
    "SynOpCounter",
    "SyopsError",
    "UnsupportedModuleWarning",
    "__version__",
    "fanout",
    "get_model_complexity_info",
    "hooks",
    "layers",
    "metrics",
    "profile",
    "register_neuron",
    "resolve_energy",
    "resolve_memory",
    "unregister_neuron",
]


def _load_library() -> dict[str, Any]:
    """Every public name that needs torch, imported the way ``import syops`` used to import them."""
    from importlib import import_module

    # the submodules by import_module: `from . import hooks` would ask this module's __getattr__ first
    hooks, layers = import_module(".hooks", __name__), import_module(".layers", __name__)
    from .compat.complexity import get_model_complexity_info
    from .compat.sinabs_api import SNNAnalyzer, SynOpCounter
    from .custom import register_neuron, unregister_neuron
    from .energy import PRESETS, EnergyModel, resolve_energy
    from .fanout import fanout
    from .memory import MEMORY_PRESETS, MemoryModel, resolve_memory
    from .profiler import profile
    from .report import LayerStats, Report
    from .session import Profiler
    from .unknown import UnsupportedModuleWarning

    return {
        "Profiler": Profiler,
        "register_neuron": register_neuron,
        "unregister_neuron": unregister_neuron,
        "UnsupportedModuleWarning": UnsupportedModuleWarning,
        "hooks": hooks,
        "layers": layers,
        "get_model_complexity_info": get_model_complexity_info,
        "SNNAnalyzer": SNNAnalyzer,
        "SynOpCounter": SynOpCounter,
        "PRESETS": PRESETS,
        "EnergyModel": EnergyModel,
        "resolve_energy": resolve_energy,
        "fanout": fanout,
        "MEMORY_PRESETS": MEMORY_PRESETS,
        "MemoryModel": MemoryModel,
        "resolve_memory": resolve_memory,
        "profile": profile,
        "LayerStats": LayerStats,
        "Report": Report,
    }


def __getattr__(name: str) -> Any:
    # syops.metrics needs torchmetrics (seconds to import): loaded on first use only, apart from the rest.
    if name == "metrics":
        import importlib

        return importlib.import_module(".metrics", __name__)
    if name in __all__:
        globals().update(_load_library())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
