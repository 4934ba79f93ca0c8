"""syops' reference neuron modules for the NIR neuron primitives, one forward Euler step of ``dt`` per
call. NIR is continuous-time and carries no dt; this is the discretisation syops runs (and counts):

- I:        v ← v + r·x                                   (output v, no spikes)
- IF:       v ← v + r·x
- LI:       v ← v + (dt/τ)(v_leak − v + r·x)              (output v, no spikes)
- LIF:      v ← v + (dt/τ)(v_leak − v + r·x)
- CubaLI:   I ← I + (dt/τ_syn)(−I + w_in·x);  v ← v + (dt/τ_mem)(v_leak − v + r·I)   (output v)
- CubaLIF:  I ← I + (dt/τ_syn)(−I + w_in·x);  v ← v + (dt/τ_mem)(v_leak − v + r·I)

A spiking neuron (IF, LIF, CubaLIF) then emits z = (v > v_threshold) and sets v ← v_reset where it
spiked (v_reset is 0 when the node has none: nir ≤ 1.0.4 has no such field). Every state starts at 0.
The membrane update of CubaLIF uses the current of the same step (I_t, as Norse and snnTorch do).

Modules take ``(x, state)`` and return ``(output, state)``; state None starts a sequence. Constants
are buffers, not parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .modules import _tensor

# The discretisation in one paragraph, for a paper's methods section (Report.methods() can quote it).
REFERENCE_DISCRETISATION = (
    "NIR graphs were run with syops' reference modules, one forward-Euler step of dt per time step: "
    "IF and I: v ← v + r·x; LI and LIF: v ← v + (dt/τ)(v_leak − v + r·x); CubaLI and CubaLIF: "
    "I ← I + (dt/τ_syn)(−I + w_in·x), then v ← v + (dt/τ_mem)(v_leak − v + r·I); a spiking neuron emits "
    "z = (v > v_threshold) and sets v ← v_reset (0 when absent) where it spiked; states start at 0; "
    "recurrent edges deliver the previous step's output and several edges into one node are summed."
)


class _Neuron(nn.Module):
    stateful = True
    spiking = True
    leaky = True
    state_words = 1

    def __init__(self, **constants) -> None:
        super().__init__()
        shape: tuple[int, ...] = ()
        for name, value in constants.items():
            tensor = _tensor(value)
            self.register_buffer(name, tensor)
            shape = torch.broadcast_shapes(shape, tensor.shape)
        self.expects: tuple[int, ...] | None = tuple(shape) if shape else None

    def extra_repr(self) -> str:
        dt = getattr(self, "dt", None)
        return f"shape={list(self.expects or ())}" + (f", dt={dt:g}" if dt is not None else "")

    def _fire(self, v: Tensor) -> tuple[Tensor, Tensor]:
        z = v > self.v_threshold
        return z.to(v.dtype), torch.where(z, self.v_reset.to(v.dtype), v)


def _reset_value(v_reset, v_threshold):
    return v_reset if v_reset is not None else torch.zeros_like(_tensor(v_threshold))


class I(nn.Module):  # noqa: E742 (NIR's name)
    """Integrator: v ← v + r·x; the output is v."""

    stateful = True
    spiking = False
    leaky = False
    state_words = 1

    def __init__(self, r) -> None:
        super().__init__()
        self.register_buffer("r", _tensor(r))
        self.expects = tuple(self.r.shape) if self.r.dim() else None

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = x.new_zeros(x.shape) if state is None else state
        v = v + self.r * x
        return v, v


class IF(_Neuron):
    """Integrate-and-fire: v ← v + r·x; z = (v > v_threshold); v ← v_reset where z."""

    leaky = False

    def __init__(self, r, v_threshold, v_reset=None) -> None:
        super().__init__(r=r, v_threshold=v_threshold, v_reset=_reset_value(v_reset, v_threshold))

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = x.new_zeros(x.shape) if state is None else state
        return self._fire(v + self.r * x)


class LI(_Neuron):
    """Leaky integrator: v ← v + (dt/τ)(v_leak − v + r·x); the output is v."""

    spiking = False

    def __init__(self, tau, r, v_leak, dt: float) -> None:
        super().__init__(tau=tau, r=r, v_leak=v_leak)
        self.dt = float(dt)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = x.new_zeros(x.shape) if state is None else state
        v = v + (self.dt / self.tau) * (self.v_leak - v + self.r * x)
        return v, v


class LIF(_Neuron):
    """Leaky integrate-and-fire: LI's update, then z = (v > v_threshold); v ← v_reset where z."""

    def __init__(self, tau, r, v_leak, v_threshold, dt: float, v_reset=None) -> None:
        super().__init__(
            tau=tau, r=r, v_leak=v_leak, v_threshold=v_threshold, v_reset=_reset_value(v_reset, v_threshold)
        )
        self.dt = float(dt)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = x.new_zeros(x.shape) if state is None else state
        return self._fire(v + (self.dt / self.tau) * (self.v_leak - v + self.r * x))


class CubaLI(_Neuron):
    """Current-based leaky integrator: the synaptic current I, then the membrane v; the output is v."""

    spiking = False
    state_words = 2

    def __init__(self, tau_syn, tau_mem, r, v_leak, dt: float, w_in=1.0) -> None:
        super().__init__(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in)
        self.dt = float(dt)

    def _integrate(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        i, v = (x.new_zeros(x.shape), x.new_zeros(x.shape)) if state is None else state
        i = i + (self.dt / self.tau_syn) * (self.w_in * x - i)
        v = v + (self.dt / self.tau_mem) * (self.v_leak - v + self.r * i)
        return i, v

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        i, v = self._integrate(x, state)
        return v, (i, v)


class CubaLIF(CubaLI):
    """Current-based LIF: CubaLI's updates, then z = (v > v_threshold); v ← v_reset where z."""

    spiking = True

    def __init__(self, tau_syn, tau_mem, r, v_leak, v_threshold, dt: float, w_in=1.0, v_reset=None) -> None:
        super().__init__(tau_syn, tau_mem, r, v_leak, dt, w_in)
        for name, value in (("v_threshold", v_threshold), ("v_reset", _reset_value(v_reset, v_threshold))):
            tensor = _tensor(value)
            self.register_buffer(name, tensor)
            self.expects = tuple(torch.broadcast_shapes(self.expects or (), tensor.shape)) or None

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        i, v = self._integrate(x, state)
        z, v = self._fire(v)
        return z, (i, v)


NEURONS = (I, IF, LI, LIF, CubaLI, CubaLIF)
