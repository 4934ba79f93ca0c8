"""``syops train-step MODEL``: one training step on the first batch, its forward, backward and update
counted side by side. Nothing is saved: the model is built here and dropped after the step."""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from syops import SyopsError

from .files import check_output, output_option, overwrite_option
from .output import emit, emit_rich, format_for, note
from .params import debug_option, parse_kwargs, parse_shape, quiet_option
from .profile_command import COUNT, SEED, _data, _device

if TYPE_CHECKING:  # torch loads when a step runs, not when --help is read
    import torch
    from rich.table import Table
    from torch import nn

    import syops

FORMATS = ("table", "json", "csv")
OPTIMIZERS = ("sgd", "adam", "adamw")


@click.command("train-step")
@click.argument("model_spec", metavar="MODEL")
@click.option("--arch", metavar="NAME|MODULE:FACTORY", help="Architecture of a state_dict checkpoint.")
@click.option("--kwarg", "kwargs", multiple=True, metavar="KEY=VALUE", help="Argument of the factory (repeatable).")
@click.option("--trust-checkpoint", is_flag=True, help="Allow a pickled whole module (runs code from the file).")
@click.option("--input-shape", metavar="C,H,W", help="Shape of one sample (default: the zoo model's).")
@click.option("--batch-size", type=COUNT, help="Samples of the random batch (or of a --data Dataset's batch).")
@click.option("--timesteps", "-T", type=COUNT, help="Time steps per sample (a static input repeated over them).")
@click.option("--time-layout", type=click.Choice(("TB", "BT")), help="[T,B,...] or [B,T,...].")
@click.option("--step-mode", type=click.Choice(("s", "m")), help="spikingjelly zoo: single- or multi-step.")
@click.option("--neuron", type=click.Choice(("IF", "LIF", "PLIF")), help="spikingjelly zoo: neuron type.")
@click.option("--data", metavar="MODULE:FACTORY", help="A DataLoader or Dataset: the step runs on its first batch.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--lr", type=float, default=0.01, show_default=True, help="Learning rate.")
@click.option("--momentum", type=float, default=0.0, show_default=True, help="SGD momentum.")
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--energy", default="45nm-fp32", show_default=True, help="PRESET, FILE.toml or ac=PJ,mac=PJ.")
@click.option("--memory", metavar="NAME|FILE", help="Memory model: sram-45nm (default), sram-45nm-noreuse, none, FILE.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table, or --output's).")
@output_option()
@overwrite_option
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the random init and input.")
@quiet_option
@debug_option
def train_step_command(
    model_spec: str,
    arch: str | None,
    kwargs: tuple[str, ...],
    trust_checkpoint: bool,
    input_shape: str | None,
    batch_size: int | None,
    timesteps: int | None,
    time_layout: str | None,
    step_mode: str | None,
    neuron: str | None,
    data: str | None,
    optimizer: str,
    lr: float,
    momentum: float,
    weight_decay: float,
    energy: str,
    memory: str | None,
    fmt: str | None,
    output: Path | None,
    overwrite: bool,
    device: str,
    seed: int,
    quiet: bool,
) -> None:
    """Count one training step of MODEL: forward, backward and optimizer update, per sample.

    The loss is the cross-entropy against the batch's targets when --data yields (input, target) pairs,
    else the mean square of the output (averaged over the time steps first). A random batch is seeded
    (--seed) and repeated over --timesteps.
    """
    import syops
    from syops import resolve_energy
    from syops.memory import memory_for

    from . import models

    energy_model = resolve_energy(energy)
    memory_model = memory_for(energy_model, memory)
    if data is not None and input_shape is not None:
        raise SyopsError("--input-shape is not used with --data (the data gives the shape); leave one out")
    inputs = [p for p in (model_spec, energy, memory) if p is not None and Path(p).exists()]
    check_output(output, inputs=inputs, overwrite=overwrite)
    fmt = format_for(fmt, output, FORMATS)
    target_device = _device(device)
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        loaded = models.load(
            model_spec,
            arch=arch,
            kwargs=parse_kwargs(kwargs),
            options={"neuron": neuron, "step_mode": step_mode},
            trust_checkpoint=trust_checkpoint,
            timesteps=timesteps,
            seed=seed,
        )
        model = loaded.model.to(target_device)
        entry = loaded.entry
        if loaded.layout and time_layout not in (None, loaded.layout):
            raise SyopsError(f"{loaded.label} runs --time-layout {loaded.layout} only")
        time_layout = time_layout or loaded.layout or (entry.layout_for(loaded.options) if entry else None)
        if time_layout == "loop":
            raise SyopsError(f"{loaded.label} runs one time step per call: train-step takes TB or BT models")
        timesteps = timesteps or (entry.timesteps if entry and time_layout else None)
        if timesteps is not None and time_layout is None:
            raise SyopsError("--timesteps needs --time-layout TB|BT to say how the steps reach the model")
        x, target = _first_batch(data, batch_size, parse_shape(input_shape), loaded, timesteps, time_layout, seed)
        x = x.to(target_device)
        opt = _optimizer(optimizer, model, lr, momentum, weight_decay)
        model.train()
        with syops.Profiler(
            model,
            timesteps=timesteps,
            time_layout=time_layout,  # type: ignore[arg-type]
            energy=energy_model,
            memory=memory_model if memory_model is not None else "none",
            backward=True,
            optimizer=opt,
        ) as prof:
            opt.zero_grad()
            out = model(x)
            _loss(out, target, time_layout).backward()
            opt.step()
        report = prof.report()
    report.model = loaded.label
    if fmt == "table":
        emit_rich(phase_table(report), output, quiet)
    else:
        emit(report.to_json() if fmt == "json" else report.to_csv(), output, quiet)
    if not quiet:
        for message in report.notes:
            note(message)


def _first_batch(data, batch_size, shape, loaded, timesteps, layout, seed) -> tuple[torch.Tensor, Any]:
    import torch

    if data is not None:
        loader, _ = _data(data, batch_size)
        batch = next(iter(loader), None)
        if batch is None:
            raise SyopsError(f"--data {data}: the DataLoader is empty")
        if isinstance(batch, (tuple, list)):
            return batch[0], (batch[1] if len(batch) > 1 else None)
        return batch, None
    shape = shape or loaded.input_shape or (loaded.entry.input_shape if loaded.entry else None)
    if shape is None:
        raise SyopsError("--input-shape C,H,W is required for a model outside the zoo (or give --data)")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch_size or 1, *shape), generator=generator)
    if layout == "TB":
        x = x.unsqueeze(0).repeat(timesteps or 1, *([1] * x.dim()))
    elif layout == "BT":
        x = x.unsqueeze(1).repeat(1, timesteps or 1, *([1] * (x.dim() - 1)))
    return x, None


def _optimizer(name: str, model: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise SyopsError("the model has no parameter that requires grad: nothing to train")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum:
        raise SyopsError("--momentum applies to --optimizer sgd")
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay)


def _loss(out: Any, target: Any, layout: str | None) -> torch.Tensor:
    import torch
    from torch import nn

    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise SyopsError(f"the model returned {type(out).__name__}, not a tensor: no loss to train on")
    if layout == "TB":
        out = out.mean(0)
    elif layout == "BT":
        out = out.mean(1)
    if isinstance(target, torch.Tensor) and out.dim() == 2 and target.dim() == 1 and not target.is_floating_point():
        return nn.functional.cross_entropy(out, target.to(out.device))
    return out.float().square().mean()


def phase_table(report: syops.Report) -> Table:
    """The three phases side by side, per sample."""
    from rich.table import Table

    phases = report.phases or {}
    table = Table(title=f"{report.model}: one training step, per sample ({report.samples} samples)")
    for column in ("phase", "ACs", "MACs", "compute (mJ)", "memory (mJ)", "energy (mJ)"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name in ("forward", "backward", "update"):
        row = phases[name]
        table.add_row(
            name,
            f"{row['acs']:.4g}",
            f"{row['macs']:.4g}",
            f"{row['compute_energy_mj']:.4g}",
            f"{row['memory_energy_mj']:.4g}",
            f"{row['energy_mj']:.4g}",
        )
    table.add_row("total", "", "", "", "", f"{report.training_energy_mj:.4g}", style="bold")
    table.caption = f"saved for backward: {report.saved_for_backward_bytes:,.0f} bytes per sample"
    return table
