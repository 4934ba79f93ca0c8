"""Energy models: the cost of one accumulate (AC) and one multiply-accumulate (MAC), and for device
presets the cost of a synaptic event and of a neuron update.

Presets and their sources:
- ``45nm-fp32`` (default), ``45nm-fp16``, ``45nm-int32``, ``45nm-int8``: M. Horowitz, "Computing's
  energy problem (and what we can do about it)", ISSCC 2014, Figure 1.1.9 (45 nm, 0.9 V): an AC is
  one add, a MAC one multiply plus one add (fp32 0.9 + 3.7 = 4.6 pJ, fp16 0.4 + 1.1 = 1.5 pJ,
  int32 0.1 + 3.1 = 3.2 pJ, int8 0.03 + 0.2 = 0.23 pJ).
- ``loihi``: M. Davies et al., "Loihi: a neuromorphic manycore processor with on-chip learning",
  IEEE Micro 38(1), 2018, Table 1: a synaptic spike operation costs 23.6 pJ plus 3.5 pJ to carry the
  spike across a tile (27.1 pJ per synaptic event); a neuron update costs 81 pJ. Operations Loihi does
  not perform as synaptic events or neuron updates (a dense first layer, norms) are costed with the
  45 nm fp32 figures.
- ``spinnaker``, ``spinnaker2``: S. Höppner et al., "Dynamic power management for neuromorphic many-core
  systems", IEEE TCAS-I 66(8), 2019 (the figures keras-spiking's ModelEnergy uses): 13.3 nJ per
  synaptic event and 26 nJ per neuron update on the first SpiNNaker, 450 pJ and 2.19 nJ on the
  SpiNNaker 2 prototype; other operations as ``loihi``.
- ``cpu``, ``gpu``, ``arm``: B. Degnan, B. Marr and J. Hasler, "Assessing trends in performance per
  watt for signal processing applications", IEEE TVLSI 24(1):58-66, 2016 (via keras-spiking): 8.6 nJ,
  0.3 nJ and 0.9 nJ per MAC. A conventional device (``one_pass_ann``) runs the architecture as an ANN
  once per sample: it pays each MAC of that one-pass ANN (the dense MACs ÷ T) and each activation (one
  per neuron, the neuron updates ÷ T) at that one cost, whatever the spikes were.

``operand_bits`` is how wide the model's operands are (fp32 and int32 32, fp16 16, int8 8; a custom
model 32 unless it says ``bits``): memory words are that wide unless the memory model states its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import SyopsError
from .tomlfile import read_toml


@dataclass(frozen=True)
class EnergyModel:
    name: str
    e_ac_pj: float
    e_mac_pj: float
    e_synop_pj: float | None = None  # cost of a synaptic event; None: an AC
    e_neuron_update_pj: float | None = None  # None: an AC (IF) or a MAC (leaky)
    source: str = ""
    # A conventional device: the model runs as an ANN once per sample; every MAC of that pass costs
    # e_mac_pj and every activation (one per neuron) e_neuron_update_pj, the spiking counts aside.
    one_pass_ann: bool = False
    operand_bits: int = 32  # width of an operand; memory words are as wide unless the memory model says

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def layer_energy_mj(
        self,
        acs: float,
        macs: float,
        synops: float,
        nu_acs: float,
        nu_macs: float,
        *,
        dense_macs: float = 0.0,
        timesteps: int = 1,
    ) -> float:
        """Energy of counts where ``acs`` includes ``synops`` and ``nu_acs`` and ``macs`` includes
        ``nu_macs`` (neuron updates already added to the totals, or zero when they are not counted).
        A conventional device (``one_pass_ann``) prices the one-pass ANN instead: ``dense_macs`` ÷ T MACs
        and the counted neuron updates ÷ T activations."""
        if self.one_pass_ann:
            e_act = self.e_mac_pj if self.e_neuron_update_pj is None else self.e_neuron_update_pj
            return (dense_macs / timesteps * self.e_mac_pj + (nu_acs + nu_macs) / timesteps * e_act) * 1e-9
        e_syn = self.e_ac_pj if self.e_synop_pj is None else self.e_synop_pj
        e_nu_ac = self.e_ac_pj if self.e_neuron_update_pj is None else self.e_neuron_update_pj
        e_nu_mac = self.e_mac_pj if self.e_neuron_update_pj is None else self.e_neuron_update_pj
        pj = (
            synops * e_syn
            + (acs - synops - nu_acs) * self.e_ac_pj
            + (macs - nu_macs) * self.e_mac_pj
            + nu_acs * e_nu_ac
            + nu_macs * e_nu_mac
        )
        return pj * 1e-9


_HOROWITZ = "Horowitz, ISSCC 2014 (45 nm)"
_HOPPNER = "Höppner et al., IEEE TCAS-I 66(8), 2019"
_DEGNAN = "Degnan, Marr and Hasler, IEEE TVLSI 24(1), 2016"
PRESETS: dict[str, EnergyModel] = {
    m.name: m
    for m in (
        EnergyModel("45nm-fp32", 0.9, 4.6, source=f"{_HOROWITZ}: fp32 add 0.9 pJ, mult 3.7 pJ"),
        EnergyModel("45nm-fp16", 0.4, 1.5, source=f"{_HOROWITZ}: fp16 add 0.4 pJ, mult 1.1 pJ", operand_bits=16),
        EnergyModel("45nm-int32", 0.1, 3.2, source=f"{_HOROWITZ}: int32 add 0.1 pJ, mult 3.1 pJ"),
        EnergyModel("45nm-int8", 0.03, 0.23, source=f"{_HOROWITZ}: int8 add 0.03 pJ, mult 0.2 pJ", operand_bits=8),
        EnergyModel(
            "loihi",
            0.9,
            4.6,
            e_synop_pj=27.1,
            e_neuron_update_pj=81.0,
            source="Davies et al., IEEE Micro 2018, Table 1: synaptic op 23.6 pJ + tile hop 3.5 pJ; "
            "neuron update 81 pJ; other ops at 45nm-fp32",
        ),
        EnergyModel(
            "spinnaker",
            0.9,
            4.6,
            e_synop_pj=13300.0,
            e_neuron_update_pj=26000.0,
            source=f"{_HOPPNER}: SpiNNaker 13.3 nJ per synaptic event, 26 nJ per neuron update; other ops at 45nm-fp32",
        ),
        EnergyModel(
            "spinnaker2",
            0.9,
            4.6,
            e_synop_pj=450.0,
            e_neuron_update_pj=2190.0,
            source=f"{_HOPPNER}: SpiNNaker 2 450 pJ per synaptic event, 2.19 nJ per neuron update; other ops "
            "at 45nm-fp32",
        ),
        *(
            EnergyModel(
                name,
                pj,
                pj,
                e_neuron_update_pj=pj,
                one_pass_ann=True,
                source=f"{_DEGNAN}: {chip} {pj / 1000:g} nJ per MAC; run as an ANN once per sample, each MAC "
                "and each activation at that cost",
            )
            for name, pj, chip in (
                ("cpu", 8600.0, "CPU (Intel i7-4960X)"),
                ("gpu", 300.0, "GPU (Nvidia GTX Titan Black)"),
                ("arm", 900.0, "ARM Cortex-A"),
            )
        ),
    )
}
SPIKING_DEVICES: tuple[str, ...] = ("loihi", "spinnaker", "spinnaker2")
CONVENTIONAL_DEVICES: tuple[str, ...] = ("cpu", "gpu", "arm")
DEFAULT_ENERGY = "45nm-fp32"

_KEYS = {
    "ac": "e_ac_pj",
    "e_ac_pj": "e_ac_pj",
    "mac": "e_mac_pj",
    "e_mac_pj": "e_mac_pj",
    "synop": "e_synop_pj",
    "e_synop_pj": "e_synop_pj",
    "neuron": "e_neuron_update_pj",
    "neuron_update": "e_neuron_update_pj",
    "e_neuron_update_pj": "e_neuron_update_pj",
}


_WIDTH_KEYS = ("bits", "operand_bits")


def _operand_bits(key: str, value: Any) -> int:
    if isinstance(value, str):  # from ac=0.9,mac=4.6,bits=8
        value = int(value) if value.strip().isdigit() else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value <= 0:
        raise SyopsError(f"energy model {key}={value!r} must be a positive integer (bits of an operand)")
    return int(value)


def _flag(key: str, value: Any) -> bool:
    """A true/false key: a bool (TOML, a dict) or the text true / false (``--energy ac=..,one_pass_ann=true``)."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise SyopsError(f"energy model {key}={value!r} must be true or false")
    return value


def _from_mapping(values: Mapping[str, Any], default_name: str) -> EnergyModel:
    fields: dict[str, Any] = {"name": str(values.get("name", default_name)), "source": str(values.get("source", ""))}
    for key, value in values.items():
        if key in ("name", "source"):
            continue
        if key == "one_pass_ann":  # a conventional device: the model priced as a one-pass ANN
            fields[key] = _flag(key, value)
            continue
        if key in _WIDTH_KEYS:
            fields["operand_bits"] = _operand_bits(key, value)
            continue
        if key not in _KEYS:
            raise SyopsError(
                f"unknown energy model key {key!r}; expected ac, mac, synop, neuron (costs in pJ), bits, one_pass_ann"
            )
        if _KEYS[key] in fields:
            raise SyopsError(f"energy cost {key} is given twice (as {key} and under another name)")
        if isinstance(value, bool):
            raise SyopsError(f"energy cost {key}={value!r} is not a number (pJ)")
        try:
            cost = float(value)
        except (TypeError, ValueError):
            raise SyopsError(f"energy cost {key}={value!r} is not a number (pJ)") from None
        except OverflowError:
            digits = len(str(value))
            raise SyopsError(f"energy cost {key} is too large to be a number of pJ ({digits} digits)") from None
        if not math.isfinite(cost) or cost < 0:
            raise SyopsError(f"energy cost {key}={value!r} must be a finite, non-negative number of pJ")
        fields[_KEYS[key]] = cost
    if "e_ac_pj" not in fields or "e_mac_pj" not in fields:
        raise SyopsError("a custom energy model needs both ac and mac costs (pJ), e.g. ac=0.9,mac=4.6")
    return EnergyModel(**fields)


def _energy_table(data: dict[str, Any], file: str) -> Mapping[str, Any]:
    """The costs of a TOML energy file: its top-level keys or its [energy] table, not both."""
    if "energy" not in data:
        return data
    table = data["energy"]
    if not isinstance(table, dict):
        raise SyopsError(f"energy model file {file}: 'energy' must be a table ([energy]), got {table!r}")
    if len(data) > 1:
        others = ", ".join(sorted(k for k in data if k != "energy"))
        raise SyopsError(f"energy model file {file} has both an [energy] table and top-level keys ({others}); keep one")
    return table


def resolve_energy(spec: str | Mapping[str, Any] | EnergyModel | Path | None) -> EnergyModel:
    """An energy model from a preset name, a mapping, a TOML file, or a string ``ac=0.9,mac=4.6``."""
    if spec is None:
        return PRESETS[DEFAULT_ENERGY]
    if isinstance(spec, EnergyModel):
        return spec
    if isinstance(spec, Mapping):
        return _from_mapping(spec, "custom")
    text = str(spec)
    if text in PRESETS:
        return PRESETS[text]
    if isinstance(spec, Path) or text.endswith(".toml"):
        path = Path(text)
        data = read_toml(path, "energy model file")
        table = _energy_table(data, text)
        try:
            return _from_mapping(table, path.stem)
        except SyopsError as exc:
            raise SyopsError(f"energy model file {text}: {exc}") from None
    if "=" in text:
        pairs = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise SyopsError(f"cannot read energy model {text!r}; expected ac=PJ,mac=PJ")
            if key.strip() in pairs:
                raise SyopsError(f"energy model {text!r} gives {key.strip()} twice")
            pairs[key.strip()] = value.strip()
        return _from_mapping(pairs, "custom")
    raise SyopsError(f"unknown energy model {text!r}; presets: {', '.join(PRESETS)}, or a .toml file, or ac=PJ,mac=PJ")
