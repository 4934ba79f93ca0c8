"""Memory models: what moving a word costs, by the size of the memory that holds it.

A memory access costs what Horowitz (ISSCC 2014, 45 nm, Figure 1.1.9) gives for one 64-bit access to an
SRAM of that size: 10 pJ up to 8 KiB, then linearly 10 → 20 pJ up to 32 KiB and 20 → 100 pJ up to 1 MiB,
and 100 pJ above (on-chip, banked beyond 1 MiB). With ``dram_above`` set, memories larger than that many
bytes are DRAM at 1300 pJ (Horowitz's lower DRAM figure). A word of ``bits`` costs bits/64 of a 64-bit
access (Horowitz's figures are per 64 bits; spikingjelly's Lemaire estimator charges them per 32-bit
word, twice as much per bit).

A word is as wide as the energy model's operands (``EnergyModel.operand_bits``: 32 for fp32 and int32,
16 for fp16, 8 for int8) unless the memory model states ``bits``; ``with_word_bits`` settles it when a
profile starts.

``dense_reuse`` says how a dense operand is read (docs/contract.md, memory traffic): ``"ideal"`` (each
weight once per image and each input element once: the upper bound on a dense accelerator's reuse,
Dampfhoffer et al. 2023) or ``"none"`` (a weight and an input per MAC, Lemaire et al. 2022). Event
operands are read from an event queue of ``queue_words`` words (Lemaire's FIFO, 1000 entries).

The counting of accesses is in ``syops.traffic``; this module only prices them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import SyopsError
from .tomlfile import read_toml

if TYPE_CHECKING:
    from .energy import EnergyModel

DenseReuse = Literal["ideal", "none"]
DENSE_REUSE: tuple[str, ...] = ("ideal", "none")

# Horowitz 2014, 45 nm SRAM: (bytes, pJ per 64-bit access); DRAM 1300-2600 pJ per 64 bits.
SRAM_CURVE: tuple[tuple[int, float], ...] = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))
DRAM_PJ = 1300.0
HOROWITZ_MEMORY = (
    "Horowitz, ISSCC 2014 (45 nm): 64-bit SRAM access 10 pJ (8 KiB), 20 pJ (32 KiB), 100 pJ (1 MiB), "
    "DRAM 1300 pJ; linear between, per word bits/64 of that"
)


def sram_access_pj(size_bytes: float) -> float:
    """pJ of one 64-bit access to an SRAM of ``size_bytes`` (Horowitz's curve, flat below 8 KiB and above
    1 MiB, linear between the breakpoints)."""
    (c0, e0), *rest = SRAM_CURVE
    if size_bytes <= c0:
        return e0
    for c1, e1 in rest:
        if size_bytes <= c1:
            return e0 + (size_bytes - c0) / (c1 - c0) * (e1 - e0)
        c0, e0 = c1, e1
    return e0


@functools.lru_cache(maxsize=4096)  # a profile prices a few memory sizes many times over
def _access_pj(words: float, bits: int, dram_above: int | None) -> float:
    size = words * bits / 8
    per_64 = DRAM_PJ if dram_above is not None and size > dram_above else sram_access_pj(size)
    return per_64 * bits / 64


@dataclass(frozen=True)
class MemoryModel:
    """How memory accesses are counted (``dense_reuse``, ``queue_words``) and priced (``bits``,
    ``dram_above``). ``bits`` None: words as wide as the energy model's operands (32 until a profile
    settles it)."""

    name: str
    bits: int | None = None
    dense_reuse: DenseReuse = "ideal"
    dram_above: int | None = None  # bytes; larger memories are DRAM
    queue_words: int = 1000
    source: str = HOROWITZ_MEMORY

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def access_pj(self, words: float) -> float:
        """pJ of one access of one word to a memory holding ``words`` words."""
        return _access_pj(words, self.word_bits, self.dram_above)

    @property
    def word_bits(self) -> int:
        return DEFAULT_WORD_BITS if self.bits is None else self.bits


DEFAULT_WORD_BITS = 32


def with_word_bits(model: MemoryModel | None, operand_bits: int) -> MemoryModel | None:
    """``model`` with its word width settled: the width it states, else the energy model's operands'."""
    if model is None or model.bits is not None:
        return model
    return dataclasses.replace(model, bits=operand_bits)


MEMORY_PRESETS: dict[str, MemoryModel | None] = {
    "sram-45nm": MemoryModel("sram-45nm"),
    "sram-45nm-noreuse": MemoryModel(
        "sram-45nm-noreuse",
        dense_reuse="none",
        source=f"{HOROWITZ_MEMORY}; dense dataflow without reuse as in Lemaire et al., ICONIP 2022",
    ),
    "none": None,
}
DEFAULT_MEMORY = "sram-45nm"
_MEMORY_KEYS = ("name", "bits", "dense_reuse", "dram_above", "queue_words", "source")


# Bounds that keep every figure finite: a word of up to 4096 bits, memories of up to 2**62 words or bytes.
_INT_LIMITS = {"bits": 4096, "queue_words": 2**62, "dram_above": 2**62}


def _positive_int(key: str, value: Any) -> int:
    limit = _INT_LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SyopsError(f"memory model {key}={value!r} must be a positive integer")
    if isinstance(value, float) and not math.isfinite(value):
        raise SyopsError(f"memory model {key}={value!r} must be a positive integer, not {value}")
    if value != int(value) or value <= 0 or value > limit:
        shown = repr(value) if len(repr(value)) < 40 else f"a {len(str(int(value)))}-digit number"
        raise SyopsError(f"memory model {key}={shown} must be a positive integer of at most {limit}")
    return int(value)


def _memory_from_mapping(values: Mapping[str, Any], default_name: str) -> MemoryModel:
    unknown = [k for k in values if k not in _MEMORY_KEYS]
    if unknown:
        raise SyopsError(f"unknown memory model key {unknown[0]!r}; expected one of {', '.join(_MEMORY_KEYS[1:5])}")
    fields: dict[str, Any] = {"name": str(values.get("name", default_name))}
    if "source" in values:
        fields["source"] = str(values["source"])
    if "bits" in values:
        fields["bits"] = _positive_int("bits", values["bits"])
    if "queue_words" in values:
        fields["queue_words"] = _positive_int("queue_words", values["queue_words"])
    if values.get("dram_above") is not None:
        fields["dram_above"] = _positive_int("dram_above", values["dram_above"])
    if "dense_reuse" in values:
        reuse = values["dense_reuse"]
        if reuse not in DENSE_REUSE:
            raise SyopsError(f"memory model dense_reuse={reuse!r}; expected 'ideal' or 'none'")
        fields["dense_reuse"] = reuse
    return MemoryModel(**fields)


def resolve_memory(spec: str | Mapping[str, Any] | MemoryModel | Path | None) -> MemoryModel | None:
    """A memory model from a preset name (``sram-45nm``, ``sram-45nm-noreuse``, ``none``), a mapping, a
    TOML file (top-level keys or a ``[memory]`` table), or a ``MemoryModel``; None for ``"none"``."""
    if spec is None:
        return MEMORY_PRESETS[DEFAULT_MEMORY]
    if isinstance(spec, MemoryModel):
        return spec
    if isinstance(spec, Mapping):
        return _memory_from_mapping(spec, "custom")
    if not isinstance(spec, (str, Path)):
        raise SyopsError(f"memory must be a preset name, a dict, a .toml file or a MemoryModel, got {spec!r}")
    text = str(spec)
    if text in MEMORY_PRESETS:
        return MEMORY_PRESETS[text]
    if isinstance(spec, Path) or text.endswith(".toml"):
        path = Path(text)
        data = read_toml(path, "memory model file")
        table = data.get("memory", data)
        if not isinstance(table, Mapping):
            raise SyopsError(f"memory model file {text}: [memory] must be a table of bits, dense_reuse, ...")
        try:
            return _memory_from_mapping(table, path.stem)
        except SyopsError as exc:
            raise SyopsError(f"memory model file {text}: {exc}") from None
    raise SyopsError(
        f"unknown memory model {text!r}; presets: {', '.join(MEMORY_PRESETS)}, or a .toml file with bits, "
        "dense_reuse, dram_above, queue_words"
    )


def default_memory(energy_model: EnergyModel) -> MemoryModel | None:
    """The memory model when none is given: sram-45nm, or none for a device preset whose per-event and
    per-update (or per-MAC) costs were measured on the device and so already include its memory accesses
    (loihi, spinnaker, spinnaker2, cpu, gpu, arm)."""
    if energy_model.e_synop_pj is not None or energy_model.e_neuron_update_pj is not None:
        return None
    return resolve_memory(DEFAULT_MEMORY)


def memory_for(energy_model: EnergyModel, memory: Any) -> MemoryModel | None:
    """The memory model pricing a profile under ``energy_model``: ``memory`` as given (None: the energy
    model's default), its words as wide as the operands unless it states its own width."""
    model = default_memory(energy_model) if memory is None else resolve_memory(memory)
    return with_word_bits(model, energy_model.operand_bits)
