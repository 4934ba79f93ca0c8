"""syops: exact synaptic-operation, AC/MAC and energy profiling for spiking and conventional networks."""

from ._version import __version__
from .compat.complexity import get_model_complexity_info
from .energy import PRESETS, EnergyModel, resolve_energy
from .errors import CountingError, SyopsError
from .fanout import fanout
from .profiler import profile
from .report import LayerStats, Report

__all__ = [
    "PRESETS",
    "CountingError",
    "EnergyModel",
    "LayerStats",
    "Report",
    "SyopsError",
    "__version__",
    "fanout",
    "get_model_complexity_info",
    "profile",
    "resolve_energy",
]
