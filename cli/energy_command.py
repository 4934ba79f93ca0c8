"""``syops energy-models``: the energy presets, their costs and sources."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Group
from rich.table import Table

from syops import __version__

from .files import check_output, output_option, overwrite_option
from .output import emit, emit_rich, format_for
from .params import debug_option, quiet_option


@click.command("energy-models")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), help="Output format (default: table).")
@output_option()
@overwrite_option
@quiet_option
@debug_option
def energy_models_command(fmt: str | None, output: Path | None, overwrite: bool, quiet: bool) -> None:
    """The energy presets (--energy NAME): cost per AC and per MAC, device overrides, and sources.

    Spiking devices (loihi, spinnaker, spinnaker2) price each synaptic event and neuron update;
    conventional devices (cpu, gpu, arm) run the model as an ANN once per sample and price each MAC of
    that pass and each activation (one per neuron). Device costs include their memory: their default
    --memory is none.

    A custom model is --energy ac=PJ,mac=PJ[,synop=PJ,neuron=PJ] or a TOML file with those keys. The
    memory models (--memory NAME) follow; a custom one is a TOML file with bits, dense_reuse ("ideal" or
    "none"), dram_above (bytes) and queue_words.
    """
    from syops.energy import PRESETS  # with torch: at work, not for --help
    from syops.memory import MEMORY_PRESETS

    check_output(output, overwrite=overwrite)
    fmt = format_for(fmt, output, ("table", "json"))
    if fmt == "json":
        data = {
            "syops_version": __version__,
            "energy_models": [m.to_dict() for m in PRESETS.values()],
            "memory_models": [
                {"name": name, **(m.to_dict() if m is not None else {"source": "compute energy only"})}
                for name, m in MEMORY_PRESETS.items()
            ],
        }
        emit(json.dumps(data, indent=2) + "\n", output, quiet)
        return
    table = Table(title="Energy models (pJ per operation)", header_style="bold")
    for column, justify in (
        ("Preset", "left"),
        ("AC", "right"),
        ("MAC", "right"),
        ("Bits", "right"),
        ("Synaptic event", "right"),
        ("Neuron update", "right"),
        ("Source", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for model in PRESETS.values():
        if model.one_pass_ann:  # a conventional device: the one-pass ANN's MACs and activations
            table.add_row(
                model.name,
                "-",
                f"{model.e_mac_pj:g}",
                str(model.operand_bits),
                "- (runs as an ANN)",
                f"{model.e_neuron_update_pj:g} (activation)",
                model.source,
            )
            continue
        table.add_row(
            model.name,
            f"{model.e_ac_pj:g}",
            f"{model.e_mac_pj:g}",
            str(model.operand_bits),
            "AC" if model.e_synop_pj is None else f"{model.e_synop_pj:g}",
            "AC (IF) / MAC (leaky)" if model.e_neuron_update_pj is None else f"{model.e_neuron_update_pj:g}",
            model.source,
        )
    emit_rich(Group(table, _memory_table()), output, quiet)


def _memory_table() -> Table:
    from syops.memory import MEMORY_PRESETS

    table = Table(title="Memory models (--memory NAME; pJ per access by memory size)", header_style="bold")
    for column in ("Preset", "Word bits", "Dense reuse", "DRAM above", "Event queue", "Source"):
        table.add_column(column)
    for name, model in MEMORY_PRESETS.items():
        if model is None:
            table.add_row(name, "-", "-", "-", "-", "no memory traffic priced: compute energy only")
            continue
        dram = "-" if model.dram_above is None else f"{model.dram_above} B"
        bits = "operands'" if model.bits is None else str(model.bits)  # as wide as the energy model's operands
        table.add_row(name, bits, model.dense_reuse, dram, f"{model.queue_words} words", model.source)
    return table
