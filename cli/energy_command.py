"""``syops energy-models``: the energy presets, their costs and sources."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from syops import PRESETS

from .output import emit, emit_rich, format_for
from .params import debug_option, quiet_option


@click.command("energy-models")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), help="Output format (default: table).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@quiet_option
@debug_option
def energy_models_command(fmt: str | None, output: Path | None, quiet: bool) -> None:
    """The energy presets (--energy NAME): cost per AC and per MAC, device overrides, and sources.

    A custom model is --energy ac=PJ,mac=PJ[,synop=PJ,neuron=PJ] or a TOML file with those keys.
    """
    if format_for(fmt, output, ("table", "json")) == "json":
        emit(json.dumps([m.to_dict() for m in PRESETS.values()], indent=2) + "\n", output, quiet)
        return
    table = Table(title="Energy models (pJ per operation)", header_style="bold")
    for column, justify in (
        ("Preset", "left"),
        ("AC", "right"),
        ("MAC", "right"),
        ("Synaptic event", "right"),
        ("Neuron update", "right"),
        ("Source", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for model in PRESETS.values():
        table.add_row(
            model.name,
            f"{model.e_ac_pj:g}",
            f"{model.e_mac_pj:g}",
            "AC" if model.e_synop_pj is None else f"{model.e_synop_pj:g}",
            "AC (IF) / MAC (leaky)" if model.e_neuron_update_pj is None else f"{model.e_neuron_update_pj:g}",
            model.source,
        )
    emit_rich(table, output, quiet)
