"""Time the KerasSpiking layers: the step loop against the whole-sequence path.

Run ``python benchmarks/run.py`` (see ``--help`` and ``benchmarks/README.md``).
Each measurement runs in its own process, which also times a bandwidth floor on
the same array, so that figures from machines under different load compare as
ratios. Workloads (inputs batch-major, float32, 1000 Hz-scale rates):

- ``W1``: wide, ``(32, 1000, 1024)``, inference;
- ``W2``: narrow and long, ``(1, 10000, 128)``, inference;
- ``W3``: one training step (``train_on_batch``) of ``Dense(256)`` then the layer,
  on ``(32, 100, 256)``.

Paths: ``step`` is the ``keras.layers.RNN`` step loop (``step_loop=True``),
``sequence`` the whole-sequence path (``step_loop=False``).

Neurons: ``LIF`` is the discrete LIF (``spike_rule="step"``, ``tau`` 20 ms, spikes
of 1, trained with the surrogate gradient on W3) and ``LIF-exact`` the default
LIF (exact spike rule, rate gradient), on input currents from -1 to 2 (the
threshold is 1). In the same run, ``snntorch.Leaky`` (``beta = exp(-dt/tau)``,
its input scaled by ``1 - beta`` so that its voltage matches) and
``norse.LIFBoxCell`` (``tau_mem_inv = 1/tau``) run the same shapes in a Python
loop over the steps, as their users do (under ``torch.no_grad()`` for
inference; W3 is ``Linear(256)`` then the neuron, an MSE loss and an SGD step,
with their default surrogates). They need an interpreter with torch, snntorch
and norse (``--python peers=PATH``); without one their rows say so.

``--stress`` instead counts, for the spiking function, the spikes that move
against a float32 numpy step loop and against a float64 computation of the same
sums, per 10**6 elements, and the neurons whose spike totals differ from them
(not part of CI: it takes minutes). ``--compile-time`` times ``fit`` of a small
model with and without ``jit_compile``.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {"W1": (32, 1000, 1024), "W2": (1, 10000, 128), "W3": (32, 100, 256)}
LAYERS = ("SpikingActivation", "Lowpass", "Alpha", "LIF", "LIF-exact")
PEERS = ("snntorch.Leaky", "norse.LIFBoxCell")
BACKENDS = ("tensorflow", "jax", "torch")
TAU, DT = 0.01, 0.001


def _rss_bytes():
    """Peak resident memory of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _median_time(run, repeats, sync):
    sync(run())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(run())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _inputs(shape, seed=0):
    # Rates of 0-1000 Hz after relu (about half the steps spike at dt = 1 ms).
    rng = np.random.default_rng(seed)
    return rng.uniform(-500, 1000, shape).astype("float32")


class _Backend:
    """What differs between backends: device, sync, compilation."""

    def __init__(self):
        import keras

        self.keras = keras
        self.name = keras.backend.backend()
        self.gpu = self._has_gpu()

    def _has_gpu(self):
        if self.name == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if self.name == "jax":
            import jax

            return jax.default_backend() == "gpu"
        import torch

        return torch.cuda.is_available()

    def sync(self, value):
        """Wait until ``value`` (a tensor or list of tensors) is computed."""
        value = value[0] if isinstance(value, (list, tuple)) else value
        if self.name == "jax":
            value.block_until_ready()
        elif self.name == "torch":
            if self.gpu:
                import torch

                torch.cuda.synchronize()
        elif self.gpu:
            # TensorFlow-only: fetching one number waits for the computation.
            self.keras.ops.convert_to_numpy(self.keras.ops.ravel(value)[:1])

    def tensor(self, array):
        return self.keras.ops.convert_to_tensor(array)

    def compile(self, fn, example):
        """``fn`` compiled as a layer would run: any number of steps on TF."""
        if self.name == "tensorflow":
            import tensorflow as tf

            shape = (None, None, *example.shape[2:])
            return tf.function(fn, input_signature=[tf.TensorSpec(shape, "float32")])
        if self.name == "jax":
            import jax

            return jax.jit(fn)
        import torch

        def no_grad(x):
            with torch.no_grad():
                return fn(x)

        return no_grad

    def device_floor(self, x):
        """Time ``x * 2`` on the device (the GPU's bandwidth floor)."""
        double = self.compile(lambda x: x * 2, x)
        return _median_time(lambda: double(x), 20, self.sync)

    def peak_device_bytes(self):
        if not self.gpu:
            return None
        if self.name == "jax":
            import jax

            return jax.devices()[0].memory_stats().get("peak_bytes_in_use")
        if self.name == "torch":
            import torch

            return torch.cuda.max_memory_allocated()
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def _layer(keras_spiking, name, step_loop):
    kwargs = {"dt": DT, "step_loop": step_loop}
    if name == "LIF":
        return keras_spiking.LIF(
            TAU, spike_rule="step", gradient="surrogate", amplitude=DT, **kwargs
        )
    if name == "LIF-exact":
        return keras_spiking.LIF(TAU, amplitude=DT, **kwargs)
    cls = getattr(keras_spiking, name)
    if name == "SpikingActivation":
        return cls("relu", seed=0, **kwargs)
    return cls(TAU, **kwargs)


def measure(name, workload, path, repeats):
    """Time one layer, workload and path in this process; return a dict."""
    backend = _Backend()
    keras = backend.keras
    import keras_spiking

    shape = WORKLOADS[workload]
    data = _inputs(shape)
    if name.startswith("LIF"):
        data = data / 500  # currents from -1 to 2
    out = np.empty_like(data)
    floor = _median_time(lambda: np.multiply(data, 2, out=out), 20, lambda _: None)
    result = {
        "backend": backend.name,
        "device": "gpu" if backend.gpu else "cpu",
        "layer": name,
        "workload": workload,
        "path": path,
        "numpy_floor_s": floor,
    }
    x = backend.tensor(data)
    if workload == "W3":
        inp = keras.Input(shape[1:], batch_size=shape[0])
        hidden = keras.layers.Dense(shape[-1])(inp)
        model = keras.Model(inp, _layer(keras_spiking, name, path == "step")(hidden))
        model.compile(optimizer="sgd", loss="mse")
        target = np.zeros_like(data)
        before = _rss_bytes()
        seconds = _median_time(
            lambda: model.train_on_batch(data, target), repeats, lambda _: None
        )
    else:
        layer = _layer(keras_spiking, name, path == "step")
        layer.build(shape)
        if backend.name == "jax":
            variables = (layer.trainable_variables, layer.non_trainable_variables)

            def fn(x, layer=layer, variables=variables):
                return layer.stateless_call(*variables, x)[0]

        else:
            fn = layer
        fn = backend.compile(fn, data)
        before = _rss_bytes()
        seconds = _median_time(lambda: fn(x), repeats, backend.sync)
    result.update(
        seconds=seconds,
        ratio_to_floor=seconds / floor,
        peak_extra_bytes=_rss_bytes() - before,
        input_bytes=data.nbytes,
    )
    if backend.gpu:
        result["device_floor_s"] = backend.device_floor(x)
        result["peak_device_bytes"] = backend.peak_device_bytes()
    return result


def measure_peer(name, workload, repeats):
    """Time snnTorch's ``Leaky`` or Norse's ``LIFBoxCell`` on a workload, in a
    Python loop over the steps (CPU); return a dict."""
    import torch

    shape = WORKLOADS[workload]
    data = _inputs(shape) / 500
    out = np.empty_like(data)
    floor = _median_time(lambda: np.multiply(data, 2, out=out), 20, lambda _: None)
    beta = float(np.exp(-DT / TAU))
    if name == "snntorch.Leaky":
        import snntorch

        def make():
            return snntorch.Leaky(beta=beta)

        def run(cell, x):
            mem, spikes = cell.init_leaky(), []
            for t in range(x.shape[1]):
                spike, mem = cell(x[:, t], mem)
                spikes.append(spike)
            return torch.stack(spikes, 1)

        data = data * (1 - beta)
    else:
        from norse.torch import LIFBoxCell
        from norse.torch.functional.lif_box import LIFBoxParameters

        def make():
            parameters = LIFBoxParameters(tau_mem_inv=torch.as_tensor(1 / TAU))
            return LIFBoxCell(parameters, dt=DT)

        def run(cell, x):
            state, spikes = None, []
            for t in range(x.shape[1]):
                spike, state = cell(x[:, t], state)
                spikes.append(spike)
            return torch.stack(spikes, 1)

    x = torch.from_numpy(data)
    cell = make()
    before = _rss_bytes()
    if workload == "W3":
        linear = torch.nn.Linear(shape[-1], shape[-1])
        optimizer = torch.optim.SGD(
            list(linear.parameters()) + list(cell.parameters()), lr=0.01
        )
        target = torch.zeros_like(x)

        def train_step():
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(run(cell, linear(x)), target)
            loss.backward()
            optimizer.step()
            return loss

        seconds = _median_time(train_step, repeats, lambda _: None)
    else:

        def infer():
            with torch.no_grad():
                return run(cell, x)

        seconds = _median_time(infer, repeats, lambda _: None)
    return {
        "backend": "torch",
        "device": "cpu",
        "layer": name,
        "workload": workload,
        "path": "step",
        "numpy_floor_s": floor,
        "seconds": seconds,
        "ratio_to_floor": seconds / floor,
        "peak_extra_bytes": _rss_bytes() - before,
        "input_bytes": data.nbytes,
    }


def _step_loop32(increments, voltage):
    """The cell's steps in float32 numpy: the spike counts, and the voltage before
    the last floor."""
    v = voltage.copy()
    counts = np.empty_like(increments)
    for t in range(increments.shape[0]):
        v = v + increments[t]
        counts[t] = np.floor(v)
        v = v - counts[t]
    return counts, v + counts[-1]


def _round_rates():
    """Constant round rates from a zero voltage, 10,000 steps: 10, 12.5, 20, 25, 50
    and 100 Hz and ``rate * dt = 1/k``, where a block boundary often falls on a
    float32 near-tie."""
    dt = 0.001
    rates = [10, 12.5, 20, 25, 50, 100] + [1 / (k * dt) for k in range(2, 130)]
    return np.broadcast_to(np.array(rates), (10000, 4, len(rates))), dt


def stress():
    """Count displaced spikes and differing per-neuron totals of
    `spiking_sequence`."""
    from keras import ops

    from keras_spiking import sequence

    rng = np.random.default_rng(0)
    cases = {
        "W1 rates 0-1000 Hz": (rng.uniform(0, 1000, (1000, 32, 1024)), 0.001),
        "W2 rates 0-1000 Hz": (rng.uniform(0, 1000, (10000, 1, 128)), 0.001),
        "-3..5 spikes/step": (rng.uniform(-3000, 5000, (10000, 4, 128)), 0.001),
        "dt 0.0137, 0-300 Hz": (rng.uniform(0, 300, (10000, 4, 128)), 0.0137),
        "constant rates": (
            np.broadcast_to(rng.uniform(0, 1000, (1, 4, 128)), (10000, 4, 128)),
            0.001,
        ),
        "round rates from 0": _round_rates(),
    }
    forms = ["blocks"]
    if sequence.time_loop_kernels() is not None:
        forms.insert(0, "time loop")
    rows = []
    for label, (rates, dt) in cases.items():
        rates = np.ascontiguousarray(rates, dtype="float32")
        voltage = rng.uniform(0, 1, rates.shape[1:]).astype("float32")
        if label.endswith("from 0"):
            voltage[:] = 0
        dt32 = np.float32(dt)
        loop, last = _step_loop32(rates * dt32, voltage)
        # The float32 step loop's voltage is within 2**-24 a step of the exact sum:
        # closer than that to a whole number at the end, its total is a near-tie.
        near_tie = np.abs(last - np.round(last)) < len(rates) * 2.0**-24
        exact = voltage + np.cumsum((rates * dt32).astype("float64"), axis=0)
        exact = np.diff(np.floor(exact), axis=0, prepend=0)
        per_million = 1e6 / rates.size
        for form in forms:
            with sequence.use_kernels(form != "blocks"):
                spikes, _ = sequence.spiking_sequence(rates, voltage, dt32)
            ours = np.round(ops.convert_to_numpy(spikes) * dt32)
            rows.append(
                {
                    "case": label,
                    "form": form,
                    "ours_vs_step_loop": int((ours != loop).sum()) * per_million,
                    "ours_vs_float64": int((ours != exact).sum()) * per_million,
                    "step_loop_vs_float64": int((loop != exact).sum()) * per_million,
                    "neurons": int(np.prod(rates.shape[1:])),
                    "totals_vs_step_loop": int(
                        (ours.sum(axis=0) != loop.sum(axis=0)).sum()
                    ),
                    "totals_vs_float64": int(
                        (ours.sum(axis=0) != exact.sum(axis=0)).sum()
                    ),
                    "step_loop_totals_vs_float64": int(
                        (loop.sum(axis=0) != exact.sum(axis=0)).sum()
                    ),
                    "totals_vs_step_loop_away_from_near_ties": int(
                        ((ours.sum(axis=0) != loop.sum(axis=0)) & ~near_tie).sum()
                    ),
                    "largest_total_difference": int(
                        np.abs(ours.sum(axis=0) - loop.sum(axis=0)).max()
                    ),
                }
            )
    return rows


def compile_time(parts):
    """Time two epochs of ``fit`` with ``jit_compile=True`` and without."""
    import keras

    import keras_spiking

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 20, 4)).astype("float32")
    y = rng.uniform(size=(64, 20, 2)).astype("float32")
    result = {"backend": keras.backend.backend(), "parts": parts}
    for jit_compile in (False, True):
        inputs = keras.Input((20, 4))
        hidden = keras.layers.Dense(8)(inputs)
        if parts == "spiking":
            hidden = keras_spiking.SpikingActivation("relu")(hidden)
            hidden = keras_spiking.Alpha(0.01)(hidden)
        model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit_compile)
        start = time.perf_counter()
        model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        result[f"jit_compile={jit_compile}"] = time.perf_counter() - start
    return result


def _child(args):
    # time the checkout this file is in, whatever version is installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.stress:
        print(json.dumps({"backend": os.environ["KERAS_BACKEND"], "stress": stress()}))
    elif args.compile_time:
        print(json.dumps(compile_time(args.compile_time)))
    elif args.layer in PEERS:
        print(json.dumps(measure_peer(args.layer, args.workload, args.repeats)))
    else:
        print(json.dumps(measure(args.layer, args.workload, args.path, args.repeats)))


def _spawn(backend, extra, python=None):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [python or sys.executable, __file__, "--child", *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        error = done.stderr.strip().splitlines()[-1:]
        return {"backend": backend, "error": error, "arguments": extra}
    return json.loads(lines[-1])


def _print_table(results):
    print(
        "| backend | device | workload | layer | step loop (ms) | sequence (ms) "
        "| speed-up | step / floor | sequence / floor | sequence peak extra / input |"
    )
    print("|" + "---|" * 10)
    for r in results:
        if "error" in r:
            print(f"error: {r}")
    results = [r for r in results if "seconds" in r]
    keys = sorted({(r["backend"], r["workload"], r["layer"]) for r in results})
    for key in keys:
        by_path = {
            r["path"]: r
            for r in results
            if (r["backend"], r["workload"], r["layer"]) == key
        }
        step, seq = by_path.get("step", {}), by_path.get("sequence", {})
        if key[2] in PEERS and "seconds" in step:
            cells = [
                f"{step['seconds'] * 1e3:.2f}",
                "(one path)",
                "",
                f"{step['ratio_to_floor']:.0f}",
                "",
                "",
            ]
        elif "seconds" not in step or "seconds" not in seq:
            cells = [f"{step.get('seconds', float('nan')) * 1e3:.2f}", "n/a"] + [""] * 4
        else:
            cells = [
                f"{step['seconds'] * 1e3:.2f}",
                f"{seq['seconds'] * 1e3:.2f}",
                f"{step['seconds'] / seq['seconds']:.1f}x",
                f"{step['ratio_to_floor']:.0f}",
                f"{seq['ratio_to_floor']:.1f}",
                f"{seq['peak_extra_bytes'] / seq['input_bytes']:.2f}",
            ]
        device = step.get("device", seq.get("device", "?"))
        print(
            f"| {key[0]} | {device} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |"
        )
    floors = {(r["backend"], r["workload"]): r for r in results if "numpy_floor_s" in r}
    for (backend, workload), r in sorted(floors.items()):
        line = f"floor {backend} {workload}: numpy {r['numpy_floor_s'] * 1e3:.3f} ms"
        if "device_floor_s" in r:
            line += f", device x * 2 {r['device_floor_s'] * 1e3:.3f} ms"
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", nargs="+", default=list(BACKENDS))
    parser.add_argument("--workload", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--layer", nargs="+", default=list(LAYERS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stress", action="store_true", help=stress.__doc__)
    parser.add_argument(
        "--compile-time",
        nargs="?",
        const="spiking",
        choices=["spiking", "dense"],
        help="time fit of Dense -> SpikingActivation -> Alpha -> Dense (or of the "
        "Dense layers alone) with and without jit_compile",
    )
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument(
        "--python",
        nargs="+",
        default=[],
        metavar="NAME=PATH",
        help="the interpreter for a backend (tensorflow, jax, torch) or for the "
        "peers (peers); default: this one",
    )
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time snnTorch's Leaky and Norse's LIFBoxCell (when a LIF "
        "layer is timed)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.layer = args.layer[0]
        args.workload = args.workload[0]
        _child(args)
        return
    pythons = dict(item.split("=", 1) for item in args.python)
    results = []
    for backend in args.backend:
        if args.stress:
            results.append(_spawn(backend, ["--stress"], pythons.get(backend)))
            print(json.dumps(results[-1], indent=1), flush=True)
            continue
        if args.compile_time:
            results.append(
                _spawn(
                    backend, ["--compile-time", args.compile_time], pythons.get(backend)
                )
            )
            print(json.dumps(results[-1]), flush=True)
            continue
        for workload in args.workload:
            for layer in args.layer:
                for path in ("step", "sequence"):
                    extra = ["--layer", layer, "--workload", workload, "--path", path]
                    extra += ["--repeats", str(args.repeats)]
                    results.append(_spawn(backend, extra, pythons.get(backend)))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.peers and not args.stress and any(n.startswith("LIF") for n in args.layer):
        for workload in args.workload:
            for peer in PEERS:
                extra = ["--layer", peer, "--workload", workload]
                extra += ["--repeats", str(args.repeats)]
                python = pythons.get("peers", pythons.get("torch"))
                results.append(_spawn("torch", extra, python))
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)
    if not (args.stress or args.compile_time):
        _print_table(results)


if __name__ == "__main__":
    main()
