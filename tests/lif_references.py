"""Independent numpy references for tests/test_lif.py.

- `step_rule`: the step rule of the LIF (and adaptive LIF) neurons, written from
  the definition in the docs (exact decay toward ``v_inf = v_leak + r I``, a
  threshold check per step, the reset), in float32.
- `event_counts`: the continuous-time neuron in float64, event by event: the
  crossing times in closed form, one spike at a time.
- The peers' per-step updates (snnTorch 1.0.0 ``Leaky``/``Synaptic``/``RLeaky``,
  Norse 1.1.0 ``LIFCell``/``LIFBoxCell``/``IAFCell``), in their float32 order of
  operations, as our team's notes (``peers.md``) record them from their source.
"""

import math

import numpy as np

F = np.float32


def heaviside(x):
    return (x > F(0)).astype(F)


# --- our step rule -----------------------------------------------------------------


def step_rule(
    x,
    tau,
    dt,
    threshold=1.0,
    v_reset=0.0,
    v_leak=0.0,
    r=1.0,
    reset="zero",
    reset_delay=False,
    tau_syn=None,
    tau_ref=0.0,
    recurrent=None,
    adaptation=None,
    v0=0.0,
):
    """The step rule with the exact integrator, float32. ``x`` is ``(time,
    batch, N)``; ``recurrent`` is ``(kernel, bias)``; ``adaptation`` is
    ``(tau_adapt, beta)``. Returns the spikes ``(time, batch, N)`` and the final
    states (a dict)."""
    x = x.astype(F)
    dt32 = F(dt)
    theta, vr, vl, r = F(threshold), F(v_reset), F(v_leak), F(r)
    shape = x.shape[1:]
    v = np.full(shape, v0, F)
    i = np.zeros(shape, F)
    ref = np.zeros(shape, F)
    a = np.zeros(shape, F)
    n = np.zeros(shape, F)
    decay = np.exp(F(-dt) / F(tau))  # in float32, as a float32 layer computes it
    spikes = []
    for x_t in x:
        th = theta
        if adaptation is not None:
            a = a * np.exp(F(-dt) / F(adaptation[0]))
            th = theta + F(adaptation[1]) * a
        current = x_t
        if recurrent is not None:
            current = current + (n @ recurrent[0] + recurrent[1]).astype(F)
        if tau_syn is not None:
            e = np.exp(F(-dt) / F(tau_syn))
            i = i * e + (F(1) - e) * current
            current = i
        previous = heaviside(v - theta)
        if reset_delay and reset == "zero":
            v = np.where(previous > 0, vr, v).astype(F)
        if tau_ref > 0:
            span = np.maximum(dt32 - ref, F(0))
            d = np.exp(-span / F(tau)).astype(F)
        else:
            d = decay
        v_inf = vl + r * current
        v = v_inf + (v - v_inf) * d
        if reset_delay and reset == "subtract":
            v = v - previous * (theta - vr)
        s = heaviside(v - th)
        if not reset_delay:
            if reset == "zero":
                v = np.where(s > 0, vr, v).astype(F)
            elif reset == "subtract":
                v = v - s * (th - vr)
        if tau_ref > 0:
            ref = np.where(s > 0, F(tau_ref), np.maximum(ref - dt32, F(0))).astype(F)
        a = a + s
        n = s
        spikes.append(s)
    states = {"v": v, "i": i, "ref": ref, "a": a, "n": n}
    return np.stack(spikes), states


# --- the exact rule: events in float64 -----------------------------------------------


def event_counts(
    x, tau, dt, threshold=1.0, v_reset=0.0, v_leak=0.0, r=1.0, tau_ref=0.0
):
    """Spike counts per step of the continuous-time neuron with each step's input
    held over the step, in float64, one crossing at a time (``tau=None``:
    integrate-and-fire). ``x`` is ``(time, N)``. Returns the counts and, per
    neuron, the crossing times (in seconds from the start)."""
    steps, neurons = x.shape
    counts = np.zeros((steps, neurons))
    times = [[] for _ in range(neurons)]
    for j in range(neurons):
        v, ref = 0.0, 0.0
        for t in range(steps):
            level = v_leak + r * float(x[t, j])
            if ref >= dt:
                ref -= dt
                continue
            now, ref = ref, 0.0
            while True:
                if tau is None:
                    climbs = level > 0
                    to_cross = (threshold - v) / level if climbs else math.inf
                else:
                    climbs = level > threshold
                    to_cross = (
                        tau * math.log((level - v) / (level - threshold))
                        if climbs
                        else math.inf
                    )
                if now + to_cross <= dt:
                    now += to_cross
                    counts[t, j] += 1
                    times[j].append(t * dt + now)
                    v = v_reset
                    if now + tau_ref >= dt:
                        ref = now + tau_ref - dt
                        break
                    now += tau_ref
                    continue
                rest = dt - now
                if tau is None:
                    v = v + level * rest
                else:
                    v = level + (v - level) * math.exp(-rest / tau)
                break
    return counts, times


def lif_rate(current, tau, threshold=1.0, v_reset=0.0, tau_ref=0.0):
    """The exact firing rate, float64."""
    excess = current - threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        period = tau_ref + tau * np.log1p((threshold - v_reset) / excess)
    return np.where(excess > 0, 1 / period, 0.0)


def soft_lif_rate_and_slope(
    current, tau, sigma, threshold=1.0, v_reset=0.0, tau_ref=0.0
):
    """The SoftLIF rate (Hunsberger and Eliasmith) and its derivative with respect
    to the current, float64."""
    gap = threshold - v_reset
    u = (current - threshold) / sigma
    z = sigma * np.logaddexp(0, u)
    log_term = np.log1p(gap / z)
    period = tau_ref + tau * log_term
    sigmoid = 1 / (1 + np.exp(-u))
    slope = tau * gap * sigmoid / (period**2 * z * (z + gap))
    return 1 / period, slope


# --- the peers (peers.md) ------------------------------------------------------------


def _late_reset(spk, reset, m, thr, mechanism):
    change = spk - reset
    if mechanism == "subtract":
        return m - change * thr
    if mechanism == "zero":
        return m - change * m
    return m


def snntorch_leaky(x, beta, threshold=1.0, mechanism="subtract", delay=True):
    beta, thr = np.clip(F(beta), F(0), F(1)), F(threshold)
    mem = np.zeros(x.shape[1:], F)
    out = []
    for x_t in x:
        reset = heaviside(mem - thr)
        if mechanism == "subtract":
            m = (beta * mem + x_t) - reset * thr
        elif mechanism == "zero":
            m = beta * ((F(1) - reset) * mem) + x_t
        else:
            m = beta * mem + x_t
        spk = heaviside(m - thr)
        if not delay:
            m = _late_reset(spk, reset, m, thr, mechanism)
        mem = m
        out.append(spk)
    return np.stack(out)


def snntorch_synaptic(x, alpha, beta, threshold=1.0, mechanism="subtract", delay=True):
    alpha, beta = np.clip(F(alpha), F(0), F(1)), np.clip(F(beta), F(0), F(1))
    thr = F(threshold)
    syn = np.zeros(x.shape[1:], F)
    mem = np.zeros(x.shape[1:], F)
    out = []
    for x_t in x:
        reset = heaviside(mem - thr)
        syn = alpha * syn + x_t
        m = beta * mem + syn
        if mechanism == "subtract":
            m = m - reset * thr
        elif mechanism == "zero":
            m = m - m * reset
        spk = heaviside(m - thr)
        if not delay:
            m = _late_reset(spk, reset, m, thr, mechanism)
        mem = m
        out.append(spk)
    return np.stack(out)


def snntorch_rleaky(
    x, beta, weight, bias, threshold=1.0, mechanism="subtract", delay=True
):
    beta, thr = np.clip(F(beta), F(0), F(1)), F(threshold)
    mem = np.zeros(x.shape[1:], F)
    spk = np.zeros(x.shape[1:], F)
    out = []
    for x_t in x:
        reset = heaviside(mem - thr)
        rec = (spk @ weight.T + bias).astype(F)  # exact for dyadic weights
        base = (beta * mem + x_t) + rec
        if mechanism == "subtract":
            m = base - reset * thr
        elif mechanism == "zero":
            m = base - reset * base
        else:
            m = base
        spk = heaviside(m - thr)
        if not delay:
            m = _late_reset(spk, reset, m, thr, mechanism)
        mem = m
        out.append(spk)
    return np.stack(out)


def norse_lif(
    x, dt=1e-3, tau_syn_inv=200.0, tau_mem_inv=100.0, v_leak=0.0, v_th=1.0, v_reset=0.0
):
    km = F(F(dt) * F(tau_mem_inv))
    ks = F(F(-dt) * F(tau_syn_inv))
    vl, th, vr = F(v_leak), F(v_th), F(v_reset)
    v = np.full(x.shape[1:], vl, F)
    i = np.zeros(x.shape[1:], F)
    out = []
    for x_t in x:
        j = i + x_t
        v_dec = v + km * ((vl - v) + j)
        i = j + ks * j
        z = heaviside(v_dec - th)
        v = (F(1) - z) * v_dec + z * vr
        out.append(z)
    return np.stack(out)


def norse_lif_box(
    x, dt=1e-3, tau_mem_inv=100.0, v_leak=0.0, v_th=1.0, v_reset=0.0, reset="value"
):
    km = F(F(dt) * F(tau_mem_inv))
    vl, th, vr = F(v_leak), F(v_th), F(v_reset)
    v = np.full(x.shape[1:], vl, F)
    out = []
    for x_t in x:
        v_dec = v + km * ((x_t + vl) - v)
        z = heaviside(v_dec - th)
        if reset == "value":
            v = (F(1) - z) * v_dec + z * vr
        else:
            v = (F(1) - z) * v_dec + z * (v_dec - th)
        out.append(z)
    return np.stack(out)


def norse_iaf(x, v_th=1.0, v_reset=0.0):
    th, vr = F(v_th), F(v_reset)
    v = np.full(x.shape[1:], vr, F)
    out = []
    for x_t in x:
        v = v + x_t
        z = heaviside(v - th)
        v = (F(1) - z) * v + z * vr
        out.append(z)
    return np.stack(out)
