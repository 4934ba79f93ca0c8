"""Samples and time steps: what the user says, what the model's neurons state, and the contradictions.

Each neuron rule states the layout its framework gives the neuron's input (``Rule.layout``): spikingjelly
multi-step ``[T, B, ...]`` ("TB"), sinabs ``[B, T, ...]`` ("BT") or squeezed ``[B·T, ...]`` ("squeezed"),
one step per call ``[B, ...]`` ("step": snnTorch, Norse cells, spikingjelly single-step, NIR). Where the
user gives ``timesteps`` / ``time_layout`` / ``batch_size``, they are checked against the shapes the neurons
saw in the first call (the time layout is the model input's: a model may transpose before its neurons);
where the user gives none, T and B come from the neurons where they state them; where nothing tells, the
figures are per call of the model and the report says so. No figure is divided by a T or a B that the
neurons contradict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import SyopsError

LAYOUT_WORDS = {
    "TB": "[T, B, ...] (time first)",
    "BT": "[B, T, ...] (batch first)",
    "loop": "[B, ...] per call, one call per time step",
    "step": "[B, ...] per call, one time step per call",
    "squeezed": "[B·T, ...] (steps folded into the batch)",
}
_FIX = {"TB": "time_layout='TB' (--time-layout TB)", "BT": "time_layout='BT' (--time-layout BT)"}

PER_CALL_NOTE = (
    "nothing told syops the time steps (no timesteps given, and the model's neurons run one step per call, "
    "once per call): the figures are per call of the model, i.e. per sample of one time step; for samples "
    "of T steps give timesteps=T with time_layout='loop' (an outer time loop) or 'TB' / 'BT'."
)


@dataclass(frozen=True)
class DeclaredNeuron:
    name: str
    type_name: str
    layout: str


@dataclass(frozen=True)
class SeenNeuron:
    """What one call of a neuron layer saw: its layout and its leading (step, sample) dimensions."""

    name: str
    type_name: str
    layout: str
    lead: tuple[int, ...]


def _where(n: DeclaredNeuron | SeenNeuron) -> str:
    return f"{n.type_name} {n.name or '(model)'}"


def inferred_layout(declared: Iterable[DeclaredNeuron]) -> str | None:
    """The time layout every neuron states, where they all state the same multi-step one (TB or BT)."""
    kinds = {n.layout for n in declared}
    if len(kinds) == 1 and kinds <= {"TB", "BT"}:
        return kinds.pop()
    return None


def multi_step(declared: Iterable[DeclaredNeuron]) -> DeclaredNeuron | None:
    """The first neuron taking a whole [T, B, ...] or [B, T, ...] sequence per call, if any."""
    return next((n for n in declared if n.layout in ("TB", "BT")), None)


def steps_and_samples(seen: SeenNeuron) -> tuple[int | None, int | None]:
    """(T, B) as one neuron call's leading dimensions state them (None where its layout does not)."""
    if seen.layout == "TB" and len(seen.lead) == 2:
        return seen.lead[0], seen.lead[1]
    if seen.layout == "BT" and len(seen.lead) == 2:
        return seen.lead[1], seen.lead[0]
    if seen.layout == "step" and seen.lead:
        return None, seen.lead[0]
    return None, None


def check_seen(seen: list[SeenNeuron], *, timesteps: int | None, samples: int | None, layout: str | None) -> None:
    """Refuse time steps or samples that the shapes the neurons saw in one call contradict, naming both.
    ``samples``: the samples the call holds as syops reads them (None: not known); ``layout``: the time
    layout of the model input; ``timesteps``: T of a sample (one call of the loop layout is one step)."""
    per_call = 1 if layout == "loop" else timesteps
    for neuron in seen:
        t, b = steps_and_samples(neuron)
        if neuron.layout in ("TB", "BT"):
            if per_call is not None and t is not None and t != per_call:
                given = "one step per call (time_layout='loop')" if layout == "loop" else f"timesteps={per_call}"
                raise SyopsError(
                    f"{given}{_read(layout)} contradicts the model's neurons: {_where(neuron)} saw {t} time steps "
                    f"per call (its input {list(neuron.lead)}... is {LAYOUT_WORDS[neuron.layout]}){_fix(neuron)}"
                )
            if samples is not None and b is not None and b != samples:
                raise SyopsError(
                    f"{samples} sample(s) per batch{_read(layout)} contradicts the model's neurons: {_where(neuron)} "
                    f"saw {b} samples per call (its input {list(neuron.lead)}... is {LAYOUT_WORDS[neuron.layout]})"
                    f"{_fix(neuron)}"
                )
        elif neuron.layout == "step" and layout in ("TB", "BT") and samples is not None and b is not None:
            steps = timesteps or 1
            if b not in (samples, samples * steps):
                raise SyopsError(
                    f"time layout {layout!r} ({LAYOUT_WORDS[layout]}) contradicts the model's neurons: "
                    f"{_where(neuron)} runs one step per call and saw a leading dimension of {b}, not the "
                    f"{samples} samples of the batch (the whole sequence passed to a single-step neuron? "
                    "use time_layout='loop' for an outer time loop)"
                )


def _read(layout: str | None) -> str:
    return f" (the input read as {LAYOUT_WORDS[layout]})" if layout in LAYOUT_WORDS else ""


def _fix(neuron: SeenNeuron) -> str:
    fix = _FIX.get(neuron.layout)
    return f"; for an input laid out as the neurons take it, use {fix} with its timesteps" if fix else ""


def calls_per_step_neuron(seen: list[SeenNeuron]) -> int | None:
    """How many times each single-step neuron layer ran in one call of the model, where they all agree
    (a net looping over T steps inside its forward runs each T times); None without such neurons or
    where they disagree."""
    counts: dict[tuple[str, str], int] = {}
    for neuron in seen:
        if neuron.layout == "step":
            key = (neuron.name, neuron.type_name)
            counts[key] = counts.get(key, 0) + 1
    values = set(counts.values())
    return values.pop() if len(values) == 1 else None


def declared_neurons(named: Iterable[tuple[str, object]], rule_of) -> list[DeclaredNeuron]:
    """The neuron layers among ``named`` (name, module) pairs and the layout each one's rule states;
    ``rule_of(module)`` gives a module's counting rule (None: none, or not counted)."""
    out = []
    for name, module in named:
        rule = rule_of(module)
        if rule is not None and rule.fn is not None and rule.layout is not None:
            layout = rule.layout(module) if callable(rule.layout) else rule.layout
            out.append(DeclaredNeuron(name, type(module).__name__, layout))
    return out


def seen_steps(seen: list[SeenNeuron]) -> int | None:
    """The time steps the multi-step neurons saw in one call, where they all agree."""
    steps = {t for t, _ in map(steps_and_samples, seen) if t is not None}
    return steps.pop() if len(steps) == 1 else None
