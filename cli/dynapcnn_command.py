"""``syops dynapcnn MODEL``: does the model fit the DYNAP-CNN chip? Exit 0 when it fits, 1 when not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from syops import SyopsError, __version__

from .files import check_output, output_option, overwrite_option
from .output import emit, emit_rich, format_for
from .params import debug_option, parse_kwargs, parse_shape, quiet_option


@click.command("dynapcnn")
@click.argument("model_spec", metavar="MODEL")
@click.option("--input-shape", metavar="C,H,W", help="Shape of one input frame (default: the zoo model's).")
@click.option("--arch", metavar="NAME|MODULE:FACTORY", help="Architecture of a state_dict checkpoint.")
@click.option("--kwarg", "kwargs", multiple=True, metavar="KEY=VALUE", help="Argument of the factory (repeatable).")
@click.option("--trust-checkpoint", is_flag=True, help="Allow a pickled whole module (runs code from the file).")
@click.option("--format", "fmt", type=click.Choice(("table", "json")), help="Output format (default: table).")
@output_option()
@overwrite_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random init.")
@quiet_option
@debug_option
def dynapcnn_command(
    model_spec: str,
    input_shape: str | None,
    arch: str | None,
    kwargs: tuple[str, ...],
    trust_checkpoint: bool,
    fmt: str | None,
    output: Path | None,
    overwrite: bool,
    seed: int,
    quiet: bool,
) -> None:
    """Memory per layer, the chip's checks and a layer-to-core assignment of MODEL on DYNAP-CNN.

    Exit status 0 when the model fits, 1 when it does not, 2 for a usage error.
    """
    from syops.dynapcnn import dynapcnn_report  # with torch: at work, not for --help

    from . import models

    shape = parse_shape(input_shape)
    check_output(output, inputs=[model_spec] if os.path.exists(model_spec) else [], overwrite=overwrite)
    fmt = format_for(fmt, output, ("table", "json"))
    loaded = models.load(
        model_spec, arch=arch, kwargs=parse_kwargs(kwargs), trust_checkpoint=trust_checkpoint, seed=seed
    )
    shape = shape or loaded.input_shape or (loaded.entry.input_shape if loaded.entry else None)
    if shape is None:
        raise SyopsError("--input-shape C,H,W is required for a model outside the zoo")
    with models.user_code("reading the model's layers (its forward pass)"):
        report = dynapcnn_report(loaded.model, shape, loaded.label)
    if fmt == "json":
        emit(json.dumps({"syops_version": __version__, **report.to_dict()}, indent=2) + "\n", output, quiet)
    else:
        emit_rich(report, output, quiet)
    if not report.fits:
        click.get_current_context().exit(1)
