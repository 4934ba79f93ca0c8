"""``syops.profile``: choose inputs, run the counting engine, build the per-sample report."""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from . import distributed, frameworks, neurobench, nir, timing, validate
from .energy import EnergyModel, resolve_energy
from .engine import CountingSession, Row, paused_gc
from .errors import SyopsError
from .events import SPIKE_MODES, SpikeMode
from .inputs import Encoding, InputPlan, TimeLayout, describe_inputs
from .memory import MemoryModel, memory_for
from .pricing import UNTRACKED_NOTE, _parameters_of, build_report  # noqa: F401 (re-exported)
from .report import Report
from .rules import Rule, find_module_rule
from .unknown import warn_unsupported

RAW_INPUT_NOTE = (
    "the model input holds integers beyond {-1, 0, 1}; syops counts them as events (right for DVS event "
    "frames, surprising for unnormalised images). Use spike_mode='binary' (--spike-mode binary) to count "
    "only {0, 1} as events."
)


INEXACT_NOTE = (
    "a call put more than 2**24 events on one position (column) of a layer input; its float32 sum may have "
    "rounded (relative error below 1e-7)."
)


def _as_rule(value: Rule | Callable) -> Rule:
    if isinstance(value, Rule):
        return value
    if callable(value):
        return Rule(value, "post")
    raise SyopsError(f"custom rule {value!r} is neither a syops Rule nor a function")


def profile(
    model: nn.Module | Any,
    input_res: Sequence[int] | None = None,
    *,
    inputs: Any = None,
    input_constructor: Callable[[Any], Any] | None = None,
    dataloader: Iterable | None = None,
    timesteps: int | None = None,
    time_layout: TimeLayout | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    spike_mode: SpikeMode = "integer",
    skip_zero_weights: bool = False,
    count_neuron_updates: bool = True,
    energy: str | Mapping[str, Any] | EnergyModel = "45nm-fp32",
    memory: str | Mapping[str, Any] | MemoryModel | None = None,
    ignore_modules: Sequence[type] = (),
    custom_rules: Mapping[type, Rule | Callable] | None = None,
    seed: int = 0,
    progress: bool = False,
    input_encoding: Encoding | None = None,
    dt: float | None = None,
) -> Report:
    """Profile ``model`` and return a per-sample :class:`Report`.

    Inputs: ``input_res`` (one sample's shape: a seeded random-normal batch of one), ``inputs`` (a
    tensor, a tuple of positional inputs or a dict of keyword inputs), ``input_constructor(input_res)``
    or ``dataloader`` (tensors or (input, target) pairs). ``timesteps`` / ``time_layout`` ("TB" for
    [T, B, ...], "BT" for [B, T, ...], "loop" to call a single-step model T times) say how a sample is
    presented; a random or ``input_encoding``-encoded static input is repeated ("direct") or rate coded
    ("poisson") over T. The number of samples comes from the batch dimension unless ``batch_size``
    gives it (squeezed [B·T, ...] inputs, or a model repeating a [B, ...] input over T inside forward);
    ``timesteps`` without ``time_layout`` needs ``batch_size`` (or sinabs Squeeze layers that declare it).
    Inputs need a batch dimension: an unbatched call of a Linear or ConvNd is refused.

    ``spike_mode``: "integer" (every integer-valued tensor is events) or "binary" (only {0, 1}).
    ``energy``: the compute cost model (a preset, a dict, a TOML file). ``memory``: the memory model that
    counts and prices memory traffic: "sram-45nm" (the default), "sram-45nm-noreuse", "none" (compute
    only), a dict / TOML file (bits, dense_reuse, dram_above, queue_words) or a ``MemoryModel``; left
    unset with a device preset whose measured costs include its memories (loihi), it is "none".
    ``custom_rules`` maps module classes to rules (``syops.rules.Rule`` or a function
    ``rule(module, args, kwargs, output, ctx) -> terms``); ``ignore_modules`` lists classes not to count.
    The model comes back unchanged, also when its forward raises: mode, class, attributes, hooks,
    buffers, neuron state and parameter values (see ``syops.state`` for what is and is not restored).
    Bad arguments raise a one-line ``SyopsError`` naming the argument, before the model runs.

    ``model`` may also be a NIR graph (a ``nir.NIRGraph`` or a ``.nir`` path), run as ``[T, B, ...]`` by
    syops.nir with time step ``dt`` (required when a node has a time constant).
    """
    if not isinstance(model, nn.Module) and nir.is_nir_model(model):
        others = inputs is not None or input_constructor is not None or dataloader is not None
        model, input_res, time_layout = nir.for_profile(
            model, dt=dt, input_res=input_res, time_layout=time_layout, other_inputs=others
        )
    elif dt is not None:
        raise SyopsError("dt applies to a NIR graph (a nir.NIRGraph or a .nir file), not to a torch module")
    tree = validate.check_model(model)  # the one walk of its tree that the steps before the run share
    if not isinstance(spike_mode, str) or spike_mode not in SPIKE_MODES:
        raise SyopsError(f"unknown spike mode {spike_mode!r}; expected one of {', '.join(SPIKE_MODES)}")
    ignore = validate.check_ignore_modules(ignore_modules)
    custom_rules = validate.check_custom_rules(custom_rules)
    validate.check_seed(seed)
    validate.check_dataloader(dataloader)
    energy_model = resolve_energy(energy)
    memory_model = memory_for(energy_model, memory)
    plan = InputPlan(
        model,
        input_res=input_res,
        inputs=inputs,
        input_constructor=input_constructor,
        dataloader=dataloader,
        timesteps=timesteps,
        time_layout=time_layout,
        batch_size=batch_size,
        max_batches=max_batches,
        input_encoding=input_encoding,
        seed=seed,
        tree=tree,
    )
    rules = {cls: _as_rule(rule) for cls, rule in custom_rules.items()}
    _settle_layout(
        model, tree, plan, rules, ignore, static=inputs is None and dataloader is None and input_constructor is None
    )
    session = CountingSession(
        model,
        spike_mode=spike_mode,
        skip_zero_weights=skip_zero_weights,
        ignore_modules=ignore,
        custom_rules=rules,
        tree=tree,
    )
    group = distributed.active_group(plan.device) if dataloader is not None else None
    if group is not None:
        plan.dataloader = distributed.shard(dataloader, group)
        plan.allow_empty = True  # a rank may get no sample; the all-reduce below checks the total
    devices = [plan.device] if plan.device.type == "cuda" else []
    recorder = neurobench.ConnectionRecorder(model, tree)  # footprint as the model came; its layers' input shapes
    with paused_gc():  # see paused_gc; between batches the young objects are collected (a cycle a forward made)
        report = _run_and_report(
            model,
            plan,
            session,
            recorder,
            group,
            devices,
            progress,
            seed,
            spike_mode,
            skip_zero_weights,
            energy_model,
            memory_model,
            count_neuron_updates,
        )
        # Freed by reference counting while the collector is paused, not promoted by its next pass.
        del session, recorder, plan, tree
    return report


def _run_and_report(
    model,
    plan,
    session,
    recorder,
    group,
    devices,
    progress,
    seed,
    spike_mode,
    skip_zero_weights,
    energy_model,
    memory_model,
    count_neuron_updates,
) -> Report:
    samples = 0
    sample_shape: list[int] = []
    per_call = False
    try:
        with torch.random.fork_rng(devices=devices):
            _seed_forked(seed, devices)
            with (
                recorder,
                session,
                _progress(progress and (group is None or group.rank == 0), plan.total_batches) as advance,
            ):
                for index, batch in enumerate(plan):
                    if index and not gc.isenabled():
                        gc.collect(0)
                    if index == 0:
                        per_call = _first_batch(session, plan, batch)
                    else:
                        session.run(batch, plan.timesteps or 1)
                    samples += batch.samples
                    sample_shape = sample_shape or batch.sample_shape
                    advance()
                results, raw_input, inexact = session.collect(memory_model)
        local_samples = samples
        if group is not None:
            results, samples, (raw_input, inexact) = _all_reduce(group, session, results, samples, [raw_input, inexact])
    finally:
        if group is not None:
            group.close()
    notes = [timing.PER_CALL_NOTE] if per_call else []
    if session.nonfinite:
        notes.append(nonfinite_note(session.nonfinite))
        warnings.warn(notes[-1], stacklevel=3)
    if raw_input:
        notes.append(RAW_INPUT_NOTE)
        warnings.warn(RAW_INPUT_NOTE, stacklevel=3)  # the caller of syops.profile
    report = build_report(
        model,
        session,
        results,
        samples=samples,
        sample_shape=sample_shape,
        timesteps=plan.timesteps or 1,
        energy_model=energy_model,
        memory_model=memory_model,
        count_neuron_updates=count_neuron_updates,
        notes=notes,
    )
    finish_report(
        report,
        recorder,
        samples=max(local_samples, 1),
        inputs={**describe_inputs(plan), "seed": seed},
        spike_mode=spike_mode,
        skip_zero_weights=skip_zero_weights,
        inexact=inexact,
    )
    warn_unsupported(report, session, stacklevel=3)  # the caller of syops.profile
    return report


def nonfinite_note(modules: list[str]) -> str:
    shown = ", ".join(modules[:5]) + (f" and {len(modules) - 5} more" if len(modules) > 5 else "")
    return (
        f"the model has NaN or infinite parameters (in {shown}): its activations are NaN or infinite, a NaN "
        "membrane never crosses a threshold, so the spike rates and event counts after them say nothing about "
        "the trained model"
    )


def finish_report(
    report: Report,
    recorder: neurobench.ConnectionRecorder,
    *,
    samples: int,
    inputs: dict[str, Any],
    spike_mode: str,
    skip_zero_weights: bool,
    inexact: bool,
) -> None:
    """What every report carries beside its rows: NeuroBench's static figures, and what ``methods()``
    states about the inputs and the counting options."""
    if inexact:
        report.notes.insert(0, INEXACT_NOTE)
    report.neurobench_figures = recorder.figures(samples, skip_zero_weights)
    report.inputs = inputs
    report.counting = {"spike_mode": spike_mode, "skip_zero_weights": skip_zero_weights}


def _settle_layout(model: nn.Module, tree, plan: InputPlan, rules: dict, ignore: tuple, static: bool) -> None:
    """With no time layout, steps or batch size given and data that carries the time steps, read the data in
    the layout the model's neurons state, when they all state the same (a static input cannot carry T: it is
    read off the neurons after the first batch)."""
    frameworks.adapters_for(model, tree.modules)  # the frameworks' rules registered

    def rule_of(module: nn.Module) -> Rule | None:
        return None if ignore and isinstance(module, ignore) else find_module_rule(module, rules or None)

    declared = timing.declared_neurons(tree.named, rule_of)
    plan.declared = declared
    if plan.time_layout is None and plan.timesteps is None and plan.batch_size is None and not static:
        layout = timing.inferred_layout(declared)
        if layout is not None:
            plan.time_layout = layout  # the data's time dimension, where the neurons say it is


def _first_batch(session: CountingSession, plan: InputPlan, batch) -> bool:
    """Run the first batch, watching what the neurons see (see ``_check_first_batch``). A multi-step net
    given no time steps fails on a static input: the error then names the fix."""
    session.seen = []
    try:
        session.run(batch, plan.timesteps or 1)
        return _check_first_batch(session, plan, batch)
    except SyopsError as exc:
        multi = timing.multi_step(plan.declared)
        if multi is None or plan.timesteps is not None or plan.time_layout is not None:
            raise
        fix = "--timesteps 4 --time-layout TB" if multi.layout == "TB" else "--timesteps 4 --time-layout BT"
        raise type(exc)(
            f"{exc}; the model's neurons take whole sequences ({multi.type_name} {multi.name or '(model)'}: "
            f"{timing.LAYOUT_WORDS[multi.layout]}): give the time steps and their layout, e.g. timesteps=4, "
            f"time_layout={multi.layout!r} ({fix})"
        ) from None
    finally:
        session.seen = None


def _check_first_batch(session: CountingSession, plan: InputPlan, batch) -> bool:
    """The shapes the neurons saw in the first batch against the time steps and samples syops reads; T taken
    from them where none was given. True when the figures are per call (nothing tells the time steps)."""
    seen, session.seen = session.seen or [], None
    timing.check_seen(seen, timesteps=plan.timesteps, samples=batch.samples, layout=plan.time_layout)
    if plan.timesteps is not None:
        return False
    inner = plan.squeezed_steps or timing.seen_steps(seen) or timing.calls_per_step_neuron(seen)
    if inner is not None and inner > 1:
        plan.timesteps = inner
        return False
    return any(n.layout == "step" for n in seen)


def _seed_forked(seed: int, devices: list[torch.device]) -> None:
    """Seed the generators ``fork_rng`` forked: the CPU's and, on a GPU, CUDA's. ``torch.manual_seed`` would
    also reseed every other device type's generators, which ``fork_rng`` does not put back (for a type not
    initialised, it queues the seed with a stack trace: about 0.3 ms a profile on a CPU)."""
    if devices:
        torch.manual_seed(seed)  # a CUDA profile: as before, every CUDA device seeded
    else:
        torch.default_generator.manual_seed(seed)


def _all_reduce(group, session: CountingSession, results, samples: int, flags: list[bool]):
    """Every rank's rows summed (rows matched by name, type and kind); rows that ran only elsewhere
    are rebuilt from this rank's copy of the model."""
    keyed = {(row.name, row.type_name, row.is_op): counts for row, counts in results}
    rows = {(row.name, row.type_name, row.is_op): row for row, _ in results}
    merged, samples, flags = distributed.all_reduce_results(group, keyed, samples, flags)
    if samples == 0:
        raise SyopsError("the DataLoader is empty: no batch to profile")
    out = []
    for key, counts in merged.items():
        row = rows.get(key)
        if row is None:
            name, type_name, is_op = key
            row = Row(name, type_name, session.info_named(name), is_op, None)  # type: ignore[arg-type]
        out.append((row, counts))
    return out, samples, flags


class _NoProgress:
    def __enter__(self):
        return lambda: None

    def __exit__(self, *exc: Any) -> None:
        return None


def _progress(enabled: bool, total: int | None):
    if not enabled:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    class _Bar:
        def __enter__(self):
            self.progress = Progress(
                TextColumn("profiling"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=(console := Console(file=sys.stderr)),
                transient=True,
                disable=not console.is_terminal,  # in a pipe or a log a bar only leaves blank lines
            )
            self.progress.__enter__()
            self.task = self.progress.add_task("batches", total=total)
            return lambda: self.progress.advance(self.task)

        def __exit__(self, *exc: Any) -> None:
            self.progress.__exit__(*exc)

    return _Bar()
