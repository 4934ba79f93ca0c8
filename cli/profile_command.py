"""``syops profile MODEL``: per-layer costs of a zoo model, a factory or a checkpoint."""

from __future__ import annotations

import contextlib
import difflib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from syops import SyopsError
from syops.report_table import REPORT_COLUMNS

from .choices import ENCODINGS, SEED_LIMIT, SIZE_LIMIT, SPIKE_MODES, TIME_LAYOUTS
from .files import IMAGE_SUFFIXES, OutputPath, check_distinct, check_output, output_option, overwrite_option
from .output import emit, emit_rich, format_for, note
from .params import DEBUG, debug_option, parse_columns, parse_kwargs, parse_shape, quiet_option

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMATS = ("table", "json", "csv", "markdown", "html", "latex")
COUNT = click.IntRange(min=1, max=SIZE_LIMIT - 1)  # time steps, batches: beyond it no tensor is allocatable
SEED = click.IntRange(0, SEED_LIMIT - 1)
# Third-party warnings worth nothing to someone reading a profile (shown with --debug).
_NOISE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def profile(model: nn.Module, **kwargs: Any):
    """syops.profile, imported (torch with it) when a profile runs, not when --help is read."""
    from syops import profile as run_profile

    return run_profile(model, **kwargs)


@click.command("profile")
@click.argument("model_spec", metavar="MODEL")
@click.option("--arch", metavar="NAME|MODULE:FACTORY", help="Architecture of a state_dict checkpoint.")
@click.option("--kwarg", "kwargs", multiple=True, metavar="KEY=VALUE", help="Argument of the factory (repeatable).")
@click.option("--trust-checkpoint", is_flag=True, help="Allow a pickled whole module (runs code from the file).")
@click.option("--input-shape", metavar="C,H,W", help="Shape of one sample (default: the zoo model's).")
@click.option(
    "--batch-size",
    type=COUNT,
    help="Samples per batch (random input or a --data Dataset).",
)
@click.option("--timesteps", "-T", type=COUNT, help="Time steps per sample.")
@click.option("--time-layout", type=click.Choice(TIME_LAYOUTS), help="[T,B,...], [B,T,...] or T single-step calls.")
@click.option("--step-mode", type=click.Choice(("s", "m")), help="spikingjelly zoo: single- or multi-step.")
@click.option("--neuron", type=click.Choice(("IF", "LIF", "PLIF")), help="spikingjelly zoo: neuron type.")
@click.option("--data", metavar="MODULE:FACTORY", help="A function returning a DataLoader or Dataset to profile on.")
@click.option("--max-batches", type=COUNT, help="Profile at most this many batches of --data.")
@click.option("--encoding", type=click.Choice(ENCODINGS), help="Present a static input repeated or rate coded.")
@click.option("--dt", type=float, help="NIR graph: the time step, in the unit of its time constants.")
@click.option(
    "--energy",
    multiple=True,
    default=("45nm-fp32",),
    show_default=True,
    help="PRESET, FILE.toml or ac=PJ,mac=PJ; repeat for several targets side by side (one energy column each).",
)
@click.option(
    "--memory",
    metavar="NAME|FILE",
    help="Memory model: sram-45nm (default; none with loihi), sram-45nm-noreuse, none, or FILE.toml.",
)
@click.option("--spike-mode", type=click.Choice(SPIKE_MODES), default="integer", show_default=True)
@click.option("--skip-zero-weights", is_flag=True, help="Count only synapses with a non-zero weight.")
@click.option("--no-neuron-updates", is_flag=True, help="Leave neuron updates out of the totals.")
@click.option("--ignore", "ignore", multiple=True, metavar="TYPE", help="A module type not to count (repeatable).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Output format (default: table, or --output's).")
@output_option()
@overwrite_option
@click.option(
    "--columns",
    metavar="KEY,...",
    help="Table columns, in this order: " + ",".join(key for key, _, _ in REPORT_COLUMNS) + ".",
)
@click.option("--latex-blocks", type=click.IntRange(min=1), metavar="DEPTH", help="LaTeX: one row per block of layers.")
@click.option("--methods", is_flag=True, help="Print the methods paragraph (the report goes only to --output).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option(
    "--seed",
    type=SEED,
    default=0,
    show_default=True,
    help="Seed of the random init and input.",
)
@click.option("--plot", type=OutputPath(), metavar="FILE", help="Per-layer energy chart (FILE.png, .svg or .pdf).")
@quiet_option
@debug_option
def profile_command(
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
    max_batches: int | None,
    encoding: str | None,
    dt: float | None,
    energy: tuple[str, ...],
    memory: str | None,
    spike_mode: str,
    skip_zero_weights: bool,
    no_neuron_updates: bool,
    ignore: tuple[str, ...],
    fmt: str | None,
    output: Path | None,
    overwrite: bool,
    columns: str | None,
    latex_blocks: int | None,
    methods: bool,
    device: str,
    seed: int,
    plot: Path | None,
    quiet: bool,
) -> None:
    """Profile MODEL and print its per-layer costs.

    MODEL is a zoo name (see `syops zoo --list`), package.module:factory, a checkpoint file (a
    state_dict with --arch, or a pickled module with --trust-checkpoint), or a NIR graph (net.nir, run
    over --timesteps steps of --dt).
    """
    # torch and the library load here, not at import: `syops profile --help` needs neither
    import torch

    from syops import resolve_energy
    from syops.distributed import is_secondary_rank
    from syops.inputs import random_input_distribution
    from syops.memory import memory_for
    from syops.validate import check_allocation, dataloader_length

    from . import models

    debug = DEBUG.get()
    table_columns = parse_columns(columns, REPORT_COLUMNS)  # a typo fails before the work
    energy_models = [resolve_energy(e) for e in energy]  # a bad preset fails before a model is built
    energy_model = energy_models[0]
    memory_model = memory_for(energy_model, memory)  # a bad spec fails before a model is built
    shape = parse_shape(input_shape)
    if shape is not None and data is not None:
        raise SyopsError("--input-shape is not used with --data (the data gives the shape); leave one out")
    if max_batches is not None and data is None:
        raise SyopsError("--max-batches limits the batches of --data; without --data there is one batch")
    factory_kwargs = parse_kwargs(kwargs)
    target = _device(device)
    inputs = [p for p in (model_spec, *energy, memory) if p is not None and Path(p).exists()]
    check_output(output, inputs=inputs, overwrite=overwrite)
    fmt = format_for(fmt, output, FORMATS)
    if table_columns is not None and fmt != "table":
        raise SyopsError(f"--columns picks the columns of the table; --format {fmt} has every field")
    if plot is not None:
        check_output(plot, inputs=inputs, overwrite=overwrite, suffixes=IMAGE_SUFFIXES, what="--plot", stdout_ok=False)
        check_distinct(output, plot)
        _plot_directory(plot)  # before the work, as a table printed and then an error would be
    # What factories and models print goes to stderr: stdout carries the report alone (--format json).
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("always")
        loaded = models.load(
            model_spec,
            arch=arch,
            kwargs=factory_kwargs,
            options={"neuron": neuron, "step_mode": step_mode},
            trust_checkpoint=trust_checkpoint,
            timesteps=timesteps,
            seed=seed,
            dt=dt,
        )
        model = loaded.model.to(target)
        entry = loaded.entry
        if loaded.layout and time_layout not in (None, loaded.layout):
            raise SyopsError(f"{loaded.label} runs --time-layout {loaded.layout} only")
        layout = time_layout or loaded.layout or (entry.layout_for(loaded.options) if entry else None)
        steps = timesteps or (entry.timesteps if entry and layout else None)
        if entry is not None and encoding is None and layout is not None:
            encoding = entry.encoding or "direct"  # the zoo presents static frames over T steps
        if steps is not None and layout is None:
            raise SyopsError("--timesteps needs --time-layout TB|BT|loop to say how the steps reach the model")
        if encoding == "poisson" and layout is None:
            raise SyopsError("--encoding poisson needs --time-layout TB|BT|loop (and --timesteps) for the spike trains")
        loader, batched_here = _data(data, batch_size) if data is not None else (None, False)
        if loader is not None and max_batches is None and not quiet and dataloader_length(loader) is None:
            # An iterable without a length may be endless: say so before the run, not never.
            note(
                f"--data {data} has no length, so syops profiles every batch until it ends (an endless "
                "iterable never does); --max-batches N bounds it"
            )
        if loader is None:
            shape = shape or loaded.input_shape or (entry.input_shape if entry else None)
            if shape is None:
                raise SyopsError("--input-shape C,H,W is required for a model outside the zoo (or give --data)")
        inputs: dict[str, Any]
        if loader is not None:
            # --batch-size batches a Dataset; for the user's own DataLoader it says how many samples a
            # batch holds where the layout cannot tell (sinabs' squeezed [B·T, ...]).
            inputs = {"dataloader": loader, "batch_size": None if batched_here else batch_size}
        elif batch_size and batch_size > 1:
            check_allocation("--batch-size / --input-shape", (batch_size, *shape), torch.float32, target)
            inputs = {"dataloader": [_random_batch(shape, batch_size, encoding, seed)]}
            encoding = encoding or ("direct" if layout else None)
        else:
            inputs = {"input_res": shape}
        with models.user_code("running the model over its input (its forward pass or its --data)"):
            report = profile(
                model,
                timesteps=steps,
                time_layout=layout,  # type: ignore[arg-type]
                max_batches=max_batches,
                spike_mode=spike_mode,  # type: ignore[arg-type]
                skip_zero_weights=skip_zero_weights,
                count_neuron_updates=not no_neuron_updates,
                energy=energy_model,
                memory=memory_model if memory_model is not None else "none",
                ignore_modules=_ignore_types(model, ignore),
                seed=seed,
                progress=loader is not None and not quiet and _stderr_is_terminal(),
                input_encoding=encoding,  # type: ignore[arg-type]
                **inputs,
            )
    report.model = loaded.label
    if "dataloader" in inputs and loader is None:  # the seeded random batch made above
        report.inputs.update(kind="random", distribution=random_input_distribution(encoding))  # type: ignore[arg-type]
    if len(energy_models) > 1:  # the same counts priced on every target, without running the model again
        report = report.with_targets(energy_models, memory=memory)  # each its own memory model unless --memory
    if is_secondary_rank():
        return  # under torchrun every rank holds the all-reduced totals; rank 0 reports them
    if methods:
        emit(report.methods() + "\n", None)  # with --methods the report itself goes only to --output
    if output is not None or not methods:
        _emit_report(report, fmt, output, quiet, latex_blocks, table_columns)
    if not quiet:
        _notes(report, model, caught, fmt, debug)
    if plot is not None:
        from syops.plot import plot_energy

        plot_energy(report, plot)
        if not quiet:
            note(f"wrote {plot}")


def _emit_report(
    report, fmt: str, output: Path | None, quiet: bool, latex_blocks: int | None, columns: list[str] | None
) -> None:
    if fmt == "table":
        from rich.console import Group

        emit_rich(Group(report.table(columns), report.summary_text()), output, quiet)
        return
    exports = {
        "json": report.to_json,
        "csv": report.to_csv,
        "markdown": report.to_markdown,
        "html": report.to_html,
        "latex": lambda: report.to_latex("block" if latex_blocks else "layer", latex_blocks or 1),
    }
    emit(exports[fmt](), output, quiet, fmt=fmt)


def _plot_directory(plot: Path) -> None:
    """Create the directory of --plot FILE (as --output does), or fail before any work."""
    try:
        plot.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SyopsError(f"--plot {plot}: cannot create its directory: {exc.strerror or exc}") from None


def _stderr_is_terminal() -> bool:
    """The progress bar is drawn on a terminal only (in a pipe or a log it would leave blank lines)."""
    from rich.console import Console

    return Console(stderr=True).is_terminal


def _device(name: str) -> torch.device:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise SyopsError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SyopsError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SyopsError(f"unknown device {name!r}; expected cpu, cuda or cuda:N")
    return device


def _is_dataset(value: Any) -> bool:
    import torch

    return isinstance(value, torch.utils.data.Dataset) and not isinstance(value, torch.utils.data.DataLoader)


def _data(spec: str, batch_size: int | None) -> tuple[Any, bool]:
    """The DataLoader --data names, and whether it was made here from a Dataset (batched by
    --batch-size, default 1)."""
    import torch

    from . import models

    if not models.is_factory(spec):
        raise SyopsError(f"--data {spec!r} is not module:factory")
    value = models.call_factory(spec, {}, what="data")
    if _is_dataset(value):
        if not hasattr(value, "__len__") and not isinstance(value, torch.utils.data.IterableDataset):
            raise SyopsError(f"--data {spec} returned a Dataset without a length")
        return torch.utils.data.DataLoader(value, batch_size=batch_size or 1, shuffle=False), True
    if isinstance(value, torch.utils.data.DataLoader) or hasattr(value, "__iter__"):
        return value, False
    raise SyopsError(f"--data {spec} returned a {type(value).__name__}; expected a DataLoader or a Dataset")


def _random_batch(shape: tuple[int, ...], batch_size: int, encoding: str | None, seed: int) -> torch.Tensor:
    """A seeded random batch (the library's single random sample, with more samples beside it)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    size = (batch_size, *shape)
    return torch.rand(size, generator=generator) if encoding == "poisson" else torch.randn(size, generator=generator)


def _ignore_types(model: nn.Module, names: tuple[str, ...]) -> list[type]:
    """Module classes from --ignore: a class name found in the model, or an importable dotted path."""
    if not names:
        return []
    from torch import nn

    from . import models

    present = {}
    for module in model.modules():
        for cls in type(module).__mro__:
            if issubclass(cls, nn.Module):
                present.setdefault(cls.__name__, cls)
                present.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    types = []
    for name in names:
        cls = present.get(name)
        if cls is None and "." in name:
            module_name, _, attr = name.rpartition(".")
            try:
                cls = models.import_attribute(f"{module_name}:{attr}", "--ignore")
            except SyopsError:
                cls = None
        if not isinstance(cls, type) or not issubclass(cls, nn.Module):
            short = sorted(n for n in present if "." not in n)
            close = difflib.get_close_matches(name, short, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SyopsError(f"--ignore {name}: no module type of that name in the model{hint}")
        types.append(cls)
    return types


def _notes(report, model: nn.Module, caught: list[warnings.WarningMessage], fmt: str, debug: bool) -> None:
    """Notes on stderr, one line each: the report's (already under a table), the leaf modules nothing
    counted, and warnings raised while building and profiling."""
    uncounted = report.unsupported
    if fmt != "table":
        for message in report.notes:
            note(message)
    if uncounted:
        note(
            f"no counting rule for {', '.join(uncounted)}, which called torch functions syops does not count: "
            "their arithmetic may be missing"
        )
    from syops.unknown import UnsupportedModuleWarning

    seen = set(report.notes)
    for warning in caught:
        text = str(warning.message).strip()
        if text in seen or (issubclass(warning.category, _NOISE) and not debug):
            continue
        if issubclass(warning.category, UnsupportedModuleWarning) and "spiking neuron" not in text:
            continue  # the line above says it (a likely neuron is named on its own line)
        seen.add(text)
        note(text.splitlines()[0] if text else warning.category.__name__, kind="warning")
