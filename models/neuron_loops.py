"""Time loops for Norse's feed-forward LIF and leaky-integrator layers: one for inference, one for
training, both Norse's arithmetic.

Inference (``lif_sequence``, ``li_sequence``). Streaming calls the model on one or two steps at a
time, where Norse's generic ``SNN.forward`` wrapper (state fallback, autograd ``SuperSpike``
function, tensor conversions per step) costs more than the neuron maths itself; a batch job calls it
on hundreds of steps of many files, where ten tensor operations per step per layer cost more than
the convolutions. These loops perform *exactly* the arithmetic of
``norse.torch.functional.lif.lif_feed_forward_step`` and ``leaky_integrator.li_feed_forward_step``
(same float32 operations in the same order, Heaviside forward of SuperSpike), return Norse's own
state tuples, and are used only when no gradient is needed; ``tests/models/test_conv_snn.py`` and
``tests/models/test_neuron_loops.py`` check that outputs and states are bit-identical to the Norse
modules. One rewrite: the spike and reset ``z = H(v − v_th)``, ``v = (1 − z)·v + z·v_reset`` are
done as ``v > v_th`` and a select, which gives the same bits for every finite voltage.

Two implementations of the same loop: a compiled one (Numba, already a dependency of librosa: the
whole ``[T, N]`` loop in one call, each neuron's update a handful of float32 instructions, no
fused multiply-add, so the bits are those of the tensor operations) for float32 CPU tensors with
scalar parameters, and the tensor-operation loop for anything else (per-neuron parameters, other
dtypes or devices) and for one step at a time, where the conversions around the compiled call cost
more than the few tensor operations. A batch of 8 files × 150 steps of 96×20 neurons: 20.6 → 2.6 ms;
a streaming call of 8 steps of the shipped digits model: 2.15 → 1.45 ms.

Training (``unrolled``, through ``run_lif`` / ``run_li`` whenever autograd is on). Norse's module
indexes its input ``current[t]`` step by step; the backward of each index writes a zero tensor of
the whole ``[T, ...]`` input and adds into it, ``T²`` memory traffic that was 70–80 % of a classifier's
training step (160 steps of 64 canvases). ``unrolled`` calls Norse's own step function, initial
state and parameters over ``current.unbind(0)``, whose backward is one stack: the same outputs and
gradients (``tests/models/test_neuron_loops.py``).
"""

from __future__ import annotations

import norse.torch as norse
import numba
import numpy as np
import torch
from norse.torch.functional.leaky_integrator import LIState
from norse.torch.functional.lif import LIFFeedForwardState
from norse.torch.module.snn import SNNRecurrent


def initial_voltage_current(current: torch.Tensor, v_leak: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
    """``(v, i)`` from ``state``, or Norse's initial state (``v = v_leak``, ``i = 0``) for one step of
    ``current [T, ...]``."""
    if state is not None:
        return state.v, state.i
    return torch.full(current.shape[1:], float(v_leak), dtype=torch.float32), torch.zeros(
        current.shape[1:], dtype=torch.float32
    )


def compiled(function):
    """``function`` compiled by Numba, its machine code cached on disk (``__pycache__`` beside this file,
    else the user's cache); where neither can be written, compiled again in each process (≈1 s)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # "cannot cache function …: no locator available"
        return numba.njit(nogil=True)(function)


@compiled
def _lif_loop(current, v, i, mem_step, syn_step, v_leak, v_th, v_reset, spikes) -> None:  # pragma: no cover - compiled
    """``current [T, N]`` float32 → ``spikes [T, N]`` (0/1); ``v``, ``i`` ``[N]`` updated in place."""
    for t in range(current.shape[0]):
        for k in range(current.shape[1]):
            i_jump = i[k] + current[t, k]
            v_k = v[k]
            v_decayed = v_k + mem_step * ((v_leak - v_k) + i_jump)
            i[k] = i_jump + syn_step * i_jump
            fired = v_decayed > v_th
            spikes[t, k] = np.float32(fired)
            v[k] = v_reset if fired else v_decayed


@compiled
def _li_loop(current, v, i, mem_step, syn_step, v_leak, voltages) -> None:  # pragma: no cover - compiled
    """``current [T, N]`` float32 → membrane ``voltages [T, N]``; ``v``, ``i`` ``[N]`` updated in place."""
    for t in range(current.shape[0]):
        for k in range(current.shape[1]):
            i_jump = i[k] + current[t, k]
            v_k = v[k] + mem_step * ((v_leak - v[k]) + i_jump)
            i[k] = i_jump + syn_step * i_jump
            v[k] = v_k
            voltages[t, k] = v_k


MIN_COMPILED_STEPS = 2  # one step: the tensor loop's few operations cost less than the call's conversions


def _scalars(module: torch.nn.Module, names: tuple[str, ...]) -> tuple | None:
    """``(mem_step, syn_step, *parameters)`` as float32 NumPy scalars (the 0-dim float32 tensors the
    tensor loop multiplies by), kept on the module while its parameter tensors are the same objects,
    unchanged (same version), and ``dt`` the same; ``None`` when a parameter is not a scalar tensor."""
    p, dt = module.p, module.dt
    values = tuple(getattr(p, name) for name in ("tau_mem_inv", "tau_syn_inv") + names)
    if any(not isinstance(value, torch.Tensor) or value.numel() != 1 for value in values):
        return None
    versions = tuple(value._version for value in values)
    cached = module.__dict__.get("_compiled_scalars")
    if cached is not None:
        cached_values, cached_versions, cached_dt, scalars = cached
        if cached_dt == dt and cached_versions == versions and all(a is b for a, b in zip(values, cached_values)):
            return scalars
    f32 = np.float32
    tau_mem_inv, tau_syn_inv, *parameters = values
    scalars = (f32((dt * tau_mem_inv).item()), f32((-dt * tau_syn_inv).item()), *(f32(float(x)) for x in parameters))
    module.__dict__["_compiled_scalars"] = (values, versions, dt, scalars)  # holds the tensors: no id reuse
    return scalars


def _compiled_inputs(module: torch.nn.Module, current: torch.Tensor, state, names: tuple[str, ...]):
    """``(current [T, N], v [N], i [N], mem_step, syn_step, *parameters)`` as float32 NumPy for the
    compiled loops (``v``, ``i`` fresh copies: a caller's state is never written), or ``None`` when
    only the tensor loop applies (or is cheaper: fewer than :data:`MIN_COMPILED_STEPS` steps)."""
    if current.dim() < 1 or current.shape[0] < MIN_COMPILED_STEPS:
        return None
    if current.dtype != torch.float32 or current.device.type != "cpu":
        return None
    shape = current.shape[1:]
    if state is not None and any(
        t.shape != shape or t.dtype != torch.float32 or t.device.type != "cpu" for t in (state.v, state.i)
    ):
        return None
    scalars = _scalars(module, names)
    if scalars is None:
        return None
    flat = current.detach().contiguous().numpy().reshape(current.shape[0], -1)
    v, i = (t.detach().numpy().reshape(-1).copy() for t in initial_voltage_current(current, module.p.v_leak, state))
    return flat, v, i, *scalars


def lif_sequence(
    module: norse.LIF, current: torch.Tensor, state: LIFFeedForwardState | None
) -> tuple[torch.Tensor, LIFFeedForwardState]:
    """``current [T, ...]`` → spikes ``[T, ...]`` and the final state, as ``module(current, state)``."""
    p, dt = module.p, module.dt
    inputs = _compiled_inputs(module, current, state, ("v_leak", "v_th", "v_reset"))
    if inputs is not None:
        flat, v, i = inputs[:3]
        spikes = np.empty_like(flat)
        _lif_loop(*inputs, spikes)
        shape = current.shape[1:]
        final = LIFFeedForwardState(v=torch.from_numpy(v).reshape(shape), i=torch.from_numpy(i).reshape(shape))
        return torch.from_numpy(spikes).reshape(current.shape), final
    v, i = initial_voltage_current(current, p.v_leak, state)
    mem_step = dt * p.tau_mem_inv
    syn_step = -dt * p.tau_syn_inv
    spikes = torch.empty_like(current)
    for step in range(current.shape[0]):
        i = i + current[step]
        v_decayed = v + mem_step * ((p.v_leak - v) + i)
        i = i + syn_step * i
        fired = v_decayed > p.v_th  # Norse: z = heaviside(v_decayed − v_th); v = (1 − z)·v_decayed + z·v_reset
        v = torch.where(fired, p.v_reset, v_decayed)
        spikes[step] = fired
    return spikes, LIFFeedForwardState(v=v, i=i)


def li_sequence(module: norse.LI, current: torch.Tensor, state: LIState | None) -> tuple[torch.Tensor, LIState]:
    """``current [T, ...]`` → membrane voltages ``[T, ...]`` and the final state, as ``module(current, state)``."""
    p, dt = module.p, module.dt
    inputs = _compiled_inputs(module, current, state, ("v_leak",))
    if inputs is not None:
        flat = inputs[0]
        voltages = np.empty_like(flat)
        _li_loop(*inputs, voltages)
        shape = current.shape[1:]
        v, i = (torch.from_numpy(t).reshape(shape) for t in inputs[1:3])
        return torch.from_numpy(voltages).reshape(current.shape), LIState(v, i)
    v, i = initial_voltage_current(current, p.v_leak, state)
    mem_step = dt * p.tau_mem_inv
    syn_step = -dt * p.tau_syn_inv
    voltages = torch.empty_like(current)
    for step in range(current.shape[0]):
        i_jump = i + current[step]
        v = v + mem_step * ((p.v_leak - v) + i_jump)
        i = i_jump + syn_step * i_jump
        voltages[step] = v
    return voltages, LIState(v, i)


def run_lif(module: torch.nn.Module, current: torch.Tensor, state):
    """``current [T, ...]`` through a Norse LIF layer (feed-forward or recurrent): the exact compiled loop
    when autograd is off (feed-forward), else Norse's step function over unbound steps."""
    if not torch.is_grad_enabled() and isinstance(module, norse.LIF):
        return lif_sequence(module, current, state)
    return unrolled(module, current, state)


def run_li(module: norse.LI, current: torch.Tensor, state):
    """``current [T, ...]`` through a Norse leaky integrator (membrane voltages out)."""
    return li_sequence(module, current, state) if not torch.is_grad_enabled() else unrolled(module, current, state)


def unrolled(module: torch.nn.Module, current: torch.Tensor, state):
    """Norse's own time loop (``SNN.forward`` / ``SNNRecurrent.forward``: its step function, initial
    state, weights and parameters) over ``current.unbind(0)``. Norse indexes ``current[t]``, whose
    backward writes a full-size zero tensor per step (``T²`` work); unbinding costs one."""
    state = state if state is not None else module.state_fallback(current)
    weights = (module.input_weights, module.recurrent_weights) if isinstance(module, SNNRecurrent) else ()
    outputs = []
    for step_current in current.unbind(0):
        output, state = module.activation(step_current, state, *weights, module.p, module.dt)
        outputs.append(output)
    return torch.stack(outputs), state
