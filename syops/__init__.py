"""syops: exact synaptic-operation, AC/MAC and energy profiling for spiking and conventional networks."""

from . import hooks, layers
from ._version import __version__
from .compat.complexity import get_model_complexity_info
from .compat.sinabs_api import SNNAnalyzer, SynOpCounter
from .custom import register_neuron, unregister_neuron
from .energy import PRESETS, EnergyModel, resolve_energy
from .errors import CountingError, SyopsError
from .fanout import fanout
from .memory import MEMORY_PRESETS, MemoryModel, resolve_memory
from .profiler import profile
from .report import LayerStats, Report
from .session import Profiler
from .unknown import UnsupportedModuleWarning

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


def __getattr__(name: str):
    # syops.metrics needs torchmetrics (seconds to import): loaded on first use only.
    if name == "metrics":
        import importlib

        return importlib.import_module(".metrics", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
