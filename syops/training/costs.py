"""The backward pass's rules, one small pure function per layer family, and the container they fill.

What one call's backward costs follows from what its forward did (the forward rule's terms, see
``syops.terms``) and from which of its tensors autograd computes a gradient for:

- a synaptic layer's weight-and-bias gradient costs what its forward cost in kind and number: on an event
  input one AC per (event, output, weight) pair (δ added into the weight's gradient: the forward's exact
  fan-out) and one AC per output element for the bias; on a dense input one MAC per pair (and per bias
  add), as the forward;
- its input's gradient, when the input requires grad, one MAC per (input, output, weight) pair (δ is dense);
- a neuron layer, per neuron per step: the surrogate derivative times the incoming gradient (a MAC), the
  membrane recurrence backwards (a MAC for a leaky neuron, an AC for an integrator) and the reset path (a
  MAC) unless the framework detaches it (:func:`reset_path`);
- every other op: its forward's dense convention, as MACs (gradients are dense).

Memory, in words: the incoming gradient is read once per element (``input_reads``), the weights an input
gradient uses are read (``weight_reads``: by the memory model's ``dense_reuse``, as a dense forward reads
them), each gradient accumulator is read and written once per AC/MAC that adds into it (``state_reads`` /
``state_writes``, as the forward's accumulators), each computed input gradient is written once
(``output_writes``); the tensors autograd saved are read once each as backward unpacks them (the recorder
adds those ``input_reads`` from torch's saved-tensor hooks).

Counts may be 0-d device tensors (the event-driven ones, decided per call on device without a host sync);
they are read once, when the report is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

Num = float | Tensor


@dataclass(frozen=True, slots=True)
class Access:
    """``count`` accesses of ``kind`` to a memory of ``words`` words; ``count_noreuse`` where a dense
    dataflow without reuse (``dense_reuse="none"``) makes another number."""

    kind: str
    count: Num
    words: float
    count_noreuse: Num | None = None


@dataclass
class Cost:
    """The backward (or update) work of one call: ops and memory accesses. ``dense_macs``: the same work
    run densely (every pair a MAC); ``synops``: the event-driven weight-gradient accumulates;
    ``neuron_steps``: neuron backward steps (neurons × time steps)."""

    acs: Num = 0.0
    macs: Num = 0.0
    dense_macs: float = 0.0
    synops: Num = 0.0
    neuron_steps: float = 0.0
    accesses: list[Access] = field(default_factory=list)

    def add(self, other: Cost) -> None:
        self.acs = self.acs + other.acs
        self.macs = self.macs + other.macs
        self.dense_macs += other.dense_macs
        self.synops = self.synops + other.synops
        self.neuron_steps += other.neuron_steps
        self.accesses.extend(other.accesses)


def synaptic_backward(
    *,
    pairs: int,
    bias_adds: int,
    events: Num,
    synops: Num,
    weight_grad: bool,
    bias_grad: bool,
    input_grad: bool,
    params: int,
    operand: int,
    outputs: int,
    weights: int,
    images: float,
    in_per_image: float,
    out_per_image: float,
) -> Cost:
    """One call of a synaptic layer. ``pairs``: its dense (input, output, weight) pairs (the dense MACs
    without the bias adds); ``events``: 1 when the forward operand was an event tensor, else 0 (a 0-d
    tensor on device, or a float); ``synops``: Σ|x|·fan-out of that operand (the event pairs)."""
    cost = Cost()
    rmw: Num = 0.0  # accumulates into the weight and bias gradients
    if weight_grad:
        cost.acs = cost.acs + events * synops
        cost.macs = cost.macs + (1 - events) * pairs
        cost.synops = events * synops
        cost.dense_macs += pairs
        rmw = rmw + events * synops + (1 - events) * pairs
    if bias_grad and bias_adds:
        cost.acs = cost.acs + events * bias_adds
        cost.macs = cost.macs + (1 - events) * bias_adds
        cost.dense_macs += bias_adds
        rmw = rmw + bias_adds
    if weight_grad or bias_grad:
        cost.accesses += [Access("state_reads", rmw, params), Access("state_writes", rmw, params)]
    if input_grad:
        cost.macs = cost.macs + pairs
        cost.dense_macs += pairs
        # The weights the input gradient uses: once per image (ideal reuse) or once per MAC (no reuse).
        cost.accesses.append(Access("weight_reads", weights * images, params, count_noreuse=pairs))
        cost.accesses.append(Access("output_writes", operand, in_per_image))
    if weight_grad or bias_grad or input_grad:
        cost.accesses.append(Access("input_reads", outputs, out_per_image))  # δ, once per element
    return cost


def product_backward(
    *, pairs: int, bias_adds: int, grads: tuple[bool, bool], operands: tuple[int, int], outputs: int
) -> Cost:
    """A product of two activations (matmul, attention): each operand that requires grad gets a dense
    gradient, one MAC per pair; the bias (when there is one) one MAC per output element."""
    cost = Cost()
    for needs, elements in zip(grads, operands, strict=True):
        if needs:
            cost.macs = cost.macs + pairs
            cost.dense_macs += pairs
            cost.accesses.append(Access("output_writes", elements, max(elements, 1)))
    if bias_adds:
        cost.macs = cost.macs + bias_adds
        cost.dense_macs += bias_adds
    cost.accesses.append(Access("input_reads", outputs, max(outputs, 1)))
    return cost


def neuron_backward(
    *, updates: int, neurons: int, leaky: bool, reset: bool, state_words: int, input_grad: bool
) -> Cost:
    """One call of a neuron layer of ``updates`` neuron steps: per step the surrogate derivative times the
    incoming gradient (a MAC), the membrane recurrence backwards (a MAC if leaky, else an AC) and the reset
    path (a MAC) unless detached. Memory: the incoming gradient read, the carried membrane gradient
    read-modify-written (``state_words`` per neuron, as the forward's state), the input gradient written."""
    per_step_macs = 1 + (1 if leaky else 0) + (1 if reset else 0)
    cost = Cost(
        acs=0.0 if leaky else float(updates),
        macs=float(updates * per_step_macs),
        dense_macs=float(updates * (per_step_macs + (0 if leaky else 1))),
        neuron_steps=float(updates),
    )
    state = neurons * state_words
    cost.accesses += [
        Access("input_reads", updates, neurons),
        Access("state_reads", updates * state_words, state),
        Access("state_writes", updates * state_words, state),
    ]
    if input_grad:
        cost.accesses.append(Access("output_writes", updates, neurons))
    return cost


def elementwise_backward(*, ops: int, outputs: int, grad_elements: int, per_image: float) -> Cost:
    """Norms, pooling, activations, upsampling, elementwise ops: the forward's dense convention (``ops``)
    as MACs; the incoming gradient read once per output element, the gradients of the operands that need
    one written (``grad_elements``)."""
    cost = Cost(macs=float(ops), dense_macs=float(ops))
    cost.accesses.append(Access("input_reads", outputs, per_image))
    if grad_elements:
        cost.accesses.append(Access("output_writes", grad_elements, per_image))
    return cost


def reset_path(module: nn.Module) -> bool:
    """Does this neuron's backward carry a gradient through its reset? Each framework as its code does:

    - spikingjelly (``BaseNode``): yes unless ``detach_reset=True`` (the reset uses the spike tensor, or its
      ``detach()`` when ``detach_reset`` is set);
    - sinabs (IAF, LIF, ExpLeak...): yes: its ``reset_fn`` (``MembraneSubtract`` / ``MembraneReset``) takes
      the spikes the surrogate function returned, not detached;
    - snnTorch (Leaky, Synaptic, ...): no with the default ``reset_delay=True``: ``SpikingNeuron.mem_reset``
      returns ``spike_grad(mem_shift).clone().detach()``; with ``reset_delay=False`` the immediate reset
      subtracts the (differentiable) spike itself; none with ``reset_mechanism="none"``;
    - Norse (LIF cells): no: ``lif_feed_forward_step`` resets with ``z_new.detach()``;
    - others (syops' NIR reference neurons, registered custom neurons): yes (a reset written without a
      ``detach``).
    """
    package = type(module).__module__.split(".")[0]
    if package == "spikingjelly":
        return not bool(getattr(module, "detach_reset", False))
    if package == "snntorch":
        if getattr(module, "reset_mechanism", "subtract") == "none":
            return False
        return getattr(module, "reset_delay", True) is False
    return package != "norse"


def event_flag(x: Tensor, spike_mode: str) -> Tensor:
    """1.0 when ``x`` is an event tensor (integer-valued; ``binary``: only {0, 1}), else 0.0, on device."""
    if x.dtype == torch.bool or not (x.is_floating_point() or x.is_complex()):
        return torch.ones((), dtype=torch.float64, device=x.device)
    if x.numel() == 0:
        return torch.zeros((), dtype=torch.float64, device=x.device)
    if spike_mode == "binary":
        flag = ((x == 0) | (x == 1)).all()
    else:
        flag = (x == torch.round(x)).all()
    return flag.to(torch.float64)


def event_pairs(x: Tensor, fanout: Tensor | float) -> Tensor:
    """Σ|x|·fan-out: the (event, output, weight) pairs of an event operand, on device (float64)."""
    magnitude = x.abs() if x.dtype != torch.bool else x
    if isinstance(fanout, Tensor):
        width = fanout.numel()
        column = magnitude.reshape(-1, width).sum(0, dtype=torch.float64)
        return (column * fanout.reshape(-1).to(torch.float64)).sum()
    return magnitude.sum(dtype=torch.float64) * float(fanout)
