"""``syops.Profiler``: count every call of a model that the user's own code makes inside a ``with`` block.

The session attaches once on entry (the tree walk, the rules, the hooks: the fixed cost is paid once for
all the batches of the block) and detaches on exit, also on an exception. Nothing of the user's is touched:
no snapshot, no eval mode, no reset, no ``no_grad`` (their loop, encoder, resets, optimizer steps and neuron
states are theirs); counting itself runs outside autograd. ``report()`` collects and prices what was seen
so far, as often as asked.

What a sample is: each top-level call of the model counts the samples of its input. ``time_layout="TB"``
(``[T, B, ...]``) or ``"BT"``: B samples of T steps per call; ``"loop"`` (an outer time loop over a
single-step model, ``timesteps`` required): B samples per ``timesteps`` calls; none given: T and B from
the model's neurons where they state them (multi-step neurons; sinabs' Squeeze layers; single-step neurons
that run N times in one call, a net looping over time inside its forward), else per call (one step).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from . import neurobench, timing, validate
from .energy import EnergyModel, resolve_energy
from .engine import CountingSession
from .errors import SyopsError
from .events import SPIKE_MODES, SpikeMode
from .inputs import TIME_LAYOUTS, TimeLayout, _is_squeeze_layer, _squeeze_batch
from .memory import MemoryModel, memory_for
from .report import Report
from .rules import Rule
from .rules._util import first_tensor
from .unknown import warn_unsupported

NOT_WHOLE_NOTE = (
    "the calls seen ({calls} rows of single steps) are not a whole number of samples of {t} time steps: "
    "the figures are per {t} calls of a batch row"
)
RAISED_NOTE = "{n} call(s) of the model raised inside the Profiler; what they ran before raising is counted"


class Profiler:
    """Counts the model's calls made inside ``with syops.Profiler(model, ...) as prof:``; ``prof.report()``
    gives the per-sample :class:`Report` of everything seen so far (inside the block or after it).

    ``timesteps`` / ``time_layout`` ("TB", "BT", "loop") / ``batch_size`` say how a call holds samples and
    time steps (checked against what the model's neurons state and see: a contradiction raises a
    one-line ``SyopsError``); ``energy``, ``memory``, ``spike_mode``, ``skip_zero_weights``,
    ``count_neuron_updates``, ``ignore_modules`` and ``custom_rules`` mean what they mean to
    ``syops.profile``. Leaving the block removes every hook, mode and flag syops set, and undoes nothing
    the user's code did.

    ``backward=True`` also counts the backward passes the user's code runs in the block, and with
    ``optimizer=`` (SGD, Adam, AdamW) its ``step()`` calls (syops.training): the report then carries
    ``phases`` (forward, backward, update), ``training_energy_mj`` and ``saved_for_backward_bytes``. No
    gradient and no parameter changes."""

    def __init__(
        self,
        model: nn.Module,
        *,
        timesteps: int | None = None,
        time_layout: TimeLayout | None = None,
        batch_size: int | None = None,
        energy: str | Mapping[str, Any] | EnergyModel = "45nm-fp32",
        memory: str | Mapping[str, Any] | MemoryModel | None = None,
        spike_mode: SpikeMode = "integer",
        skip_zero_weights: bool = False,
        count_neuron_updates: bool = True,
        ignore_modules: Sequence[type] = (),
        custom_rules: Mapping[type, Rule | Callable] | None = None,
        backward: bool = False,
        optimizer: Any = None,
    ) -> None:
        from .profiler import _as_rule

        if not isinstance(model, nn.Module):
            raise SyopsError(
                f"syops.Profiler follows a torch module's calls, got {type(model).__name__}; a NIR graph runs "
                "through syops.profile(graph, ...)"
            )
        if not isinstance(spike_mode, str) or spike_mode not in SPIKE_MODES:
            raise SyopsError(f"unknown spike mode {spike_mode!r}; expected one of {', '.join(SPIKE_MODES)}")
        if time_layout is not None and time_layout not in TIME_LAYOUTS:
            raise SyopsError(f"unknown time layout {time_layout!r}; expected one of {', '.join(TIME_LAYOUTS)}")
        validate.check_int("timesteps", timesteps)
        validate.check_int("batch_size", batch_size)
        if time_layout == "loop" and timesteps is None:
            raise SyopsError("time_layout='loop' needs timesteps=T: the number of calls that make one sample")
        self.model = model
        self.timesteps = timesteps
        self.time_layout = time_layout
        self.batch_size = batch_size
        self.spike_mode = spike_mode
        self.skip_zero_weights = skip_zero_weights
        self.count_neuron_updates = count_neuron_updates
        self.ignore = validate.check_ignore_modules(ignore_modules)
        self.rules = {cls: _as_rule(rule) for cls, rule in validate.check_custom_rules(custom_rules).items()}
        self.energy_model = resolve_energy(energy)
        self.memory_model = memory_for(self.energy_model, memory)  # as syops.profile settles it
        # A training step (syops.training): the backward passes and optimizer steps of the block, counted.
        if optimizer is not None and not backward:
            raise SyopsError("optimizer= counts a training step's updates: it needs backward=True")
        if backward:
            from .training.optimizers import check_optimizer

            if optimizer is not None:
                check_optimizer(optimizer)
        self.backward, self.optimizer = bool(backward), optimizer
        self._training: Any = None
        self._session: CountingSession | None = None
        self._recorder: neurobench.ConnectionRecorder | None = None
        self._squeeze: list[nn.Module] = []
        self._rows = 0  # batch rows seen by top-level calls (samples; single steps for the loop layout)
        self._steps: int | None = timesteps  # T as given, or as the neurons told
        self._calls = 0
        self._raised = 0
        self._per_call = False
        self._call: tuple[int, int] = (1, 1)
        self._shape: list[int] = []
        self._active = False

    # -- the block ------------------------------------------------------------------------------------
    def __enter__(self) -> Profiler:
        if self._active:
            raise SyopsError("this Profiler is already running: a with block cannot be entered twice at once")
        tree = validate.check_model(self.model)
        session = CountingSession(
            self.model,
            spike_mode=self.spike_mode,
            skip_zero_weights=self.skip_zero_weights,
            ignore_modules=self.ignore,
            custom_rules=self.rules,
            tree=tree,
            follow=True,
        )
        self._squeeze = [m for m in tree.modules if _is_squeeze_layer(m)]
        recorder = neurobench.ConnectionRecorder(self.model, tree)
        session.on_call = self._on_call
        session.after_call = self._after_call
        session.__enter__()
        training = None
        try:
            recorder.__enter__()
            if self.backward:
                from .training import TrainingRecorder

                training = TrainingRecorder(
                    self.model,
                    self.optimizer,
                    spike_mode=self.spike_mode,
                    skip_zero_weights=self.skip_zero_weights,
                    ignore_modules=self.ignore,
                    custom_rules=self.rules,
                )
                training.attach()
        except BaseException:
            try:
                recorder.__exit__(None, None, None)
            finally:
                session.__exit__(None, None, None)
            raise
        self._training = training
        self._session, self._recorder, self._active = session, recorder, True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False
        try:
            if self._training is not None:
                self._training.detach()  # counts kept for report()
            if self._recorder is not None:
                self._recorder.__exit__(*exc)
        finally:
            if self._session is not None:
                self._session.__exit__(*exc)

    # -- each call ----------------------------------------------------------------------------------
    def _on_call(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        session = self._session
        assert session is not None
        if module is not self.model:
            session.evaluator.new_batch(*self._call)  # a submodule called directly: no samples of its own
            return
        primary = first_tensor((args, kwargs))
        samples, steps = self._geometry(primary)
        self._call = (samples, steps)
        session.evaluator.new_batch(samples, steps)
        if (self.time_layout or self._inferred_layout()) == "loop":  # one call per step, in order
            session.evaluator.step = self._calls % steps  # where a single-step neuron's spikes go
        session.check_model_input(primary)
        if self._calls == 0:
            session.seen = []  # the first call's neurons: checked against the geometry, T read off them
            self._shape = self._sample_shape(primary)

    def _geometry(self, primary: Tensor | None) -> tuple[int, int]:
        """(samples, time steps) of one call, as the time layout reads its first tensor input."""
        layout, t = self.time_layout or self._inferred_layout(), self._steps
        if primary is None or primary.dim() == 0:
            return self.batch_size or 1, t or 1
        shape = list(primary.shape)
        if layout in ("TB", "BT"):
            if primary.dim() < 2:
                raise SyopsError(
                    f"time layout {layout!r} ({timing.LAYOUT_WORDS[layout]}) expects inputs with time and batch "
                    f"dimensions, got shape {shape}"
                )
            seen_t, b = (shape[0], shape[1]) if layout == "TB" else (shape[1], shape[0])
            if t is not None and seen_t != t:
                raise SyopsError(
                    f"timesteps={t} contradicts the input of shape {shape} ({timing.LAYOUT_WORDS[layout]})"
                )
            if self.batch_size is not None and self.batch_size != b:
                raise SyopsError(
                    f"batch_size={self.batch_size} contradicts the input of shape {shape} "
                    f"({timing.LAYOUT_WORDS[layout]}: {b} samples)"
                )
            self._steps = seen_t
            return b, seen_t
        if layout == "loop":
            return shape[0], t or 1
        squeezed = _squeeze_batch(self._squeeze, shape[0])
        b = self.batch_size or squeezed or shape[0]
        if shape[0] % b:
            raise SyopsError(f"batch_size={b} does not divide the leading dimension of the input {shape}")
        if squeezed is not None or (self.batch_size is not None and shape[0] != b):
            self._steps = self._steps or shape[0] // b  # [B·T, ...]: the steps folded into the rows
        return b, self._steps or 1

    def _inferred_layout(self) -> str | None:
        return timing.inferred_layout(self._session.declared) if self._session is not None else None

    def _sample_shape(self, primary: Tensor | None) -> list[int]:
        if primary is None:
            return []
        lead = 2 if (self.time_layout or self._inferred_layout()) in ("TB", "BT") else 1
        return list(primary.shape[lead:])

    def _after_call(self, module: nn.Module, raised: bool) -> None:
        if module is not self.model:
            return
        session = self._session
        assert session is not None
        samples, _ = self._call
        self._calls += 1
        self._rows += samples
        self._raised += raised
        seen, session.seen = session.seen, None
        if seen is None or raised:
            return
        layout = self.time_layout or self._inferred_layout()
        timing.check_seen(seen, timesteps=self._steps, samples=samples, layout=layout)
        if self._steps is None:
            inner = timing.seen_steps(seen) or timing.calls_per_step_neuron(seen)
            if inner is not None and inner > 1:
                self._steps = inner  # the neurons' own time steps (or a loop over time inside forward)
            elif any(n.layout == "step" for n in seen):
                self._per_call = True

    # -- results ------------------------------------------------------------------------------------
    def report(self) -> Report:
        """The per-sample report of every call seen so far (callable again, inside the block or after)."""
        from .profiler import RAW_INPUT_NOTE, build_report, finish_report, nonfinite_note

        session = self._session
        if session is None or self._calls == 0:
            raise SyopsError("the model was not called inside the Profiler: nothing to report")
        results, raw_input, inexact = session.collect(self.memory_model)
        t = self._steps or 1
        samples: float = self._rows
        notes: list[str] = []
        if self.time_layout == "loop":
            samples = self._rows / t
            if self._rows % t:
                notes.append(NOT_WHOLE_NOTE.format(calls=self._rows, t=t))
            else:
                samples = self._rows // t
        if self._per_call and self._steps is None:
            notes.append(timing.PER_CALL_NOTE)
        if self._raised:
            notes.append(RAISED_NOTE.format(n=self._raised))
        if session.nonfinite:
            notes.append(nonfinite_note(session.nonfinite))
            warnings.warn(notes[-1], stacklevel=2)
        if raw_input:
            notes.append(RAW_INPUT_NOTE)
        report = build_report(
            self.model,
            session,
            results,
            samples=samples,  # type: ignore[arg-type]
            sample_shape=self._shape,
            timesteps=t,
            energy_model=self.energy_model,
            memory_model=self.memory_model,
            count_neuron_updates=self.count_neuron_updates,
            notes=notes,
        )
        assert self._recorder is not None
        finish_report(
            report,
            self._recorder,
            samples=max(int(samples), 1),
            inputs={
                "kind": "profiler",
                "time_layout": self.time_layout or self._inferred_layout(),
                "calls": self._calls,
            },
            spike_mode=self.spike_mode,
            skip_zero_weights=self.skip_zero_weights,
            inexact=inexact,
        )
        if self._training is not None:
            from .training.phases import attach_to_report, training_figures

            params = {(layer.name, layer.type): layer.params for layer in report.layers}
            figures = training_figures(
                self._training, max(int(samples), 1), self.energy_model, self.memory_model, params
            )
            attach_to_report(report, figures, self.optimizer)
        warn_unsupported(report, session, stacklevel=2)
        if raw_input:
            warnings.warn(RAW_INPUT_NOTE, stacklevel=2)
        return report
