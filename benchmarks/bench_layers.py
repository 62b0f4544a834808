"""Time the spiking and filter layers, symbolic loop against unrolled loop.

Run with ``python benchmarks/bench_layers.py``. Each configuration is timed in the
same process, interleaved, and the medians and their ratio are printed; these
machines are shared, so compare only numbers from one run.
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_spiking  # noqa: E402

BATCH, STEPS, UNITS, REPEATS = 32, 50, 256, 15


def make_model(unroll):
    inp = keras.Input((STEPS, UNITS))
    x = keras_spiking.SpikingActivation("relu", seed=0, unroll=unroll)(inp)
    x = keras_spiking.Lowpass(0.01, unroll=unroll)(x)
    return keras.Model(inp, x)


def main():
    data = np.random.default_rng(0).uniform(0, 500, (BATCH, STEPS, UNITS))
    data = data.astype("float32")
    models = {"loop": make_model(False), "unrolled": make_model(True)}
    outputs = {name: model.predict_on_batch(data) for name, model in models.items()}
    np.testing.assert_array_equal(outputs["loop"], outputs["unrolled"])
    times = {name: [] for name in models}
    for _ in range(REPEATS):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict_on_batch(data)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"batch {BATCH}, {STEPS} steps, {UNITS} units, {REPEATS} repeats")
    for name, median in medians.items():
        print(f"{name:>9}: median {median * 1e3:.2f} ms")
    print(f"unrolled / loop: {medians['unrolled'] / medians['loop']:.2f}")


if __name__ == "__main__":
    main()
