"""The quick start's digits model in LiteRT: file sizes, accuracy and latency.

Run ``python benchmarks/litert.py`` (TensorFlow backend, with ``ai-edge-litert``
installed: ``pip install keras-spiking[litert]``); see ``benchmarks/README.md``.
It trains the model of ``examples/quickstart.py`` (by running that script), then
exports it:

- ``float``: ``model.export(path, format="litert")``, any number of steps and any
  batch size;
- ``int8``: `keras_spiking.export_litert` with a representative dataset (100
  training images), at the quick start's 50 steps: the Dense layers in int8, the
  neurons and the filter in float32;
- ``int8, weights only``: ``optimizations=[tf.lite.Optimize.DEFAULT]`` without a
  dataset (dynamic-range quantisation);
- ``int8, every op``: TensorFlow's own full-integer quantisation, with the same
  dataset, every op it can quantise in int8 (the voltages too; these two are
  exported in a process of their own, see `export_int8`);
- ``streaming``: the same layers with ``stateful=True``, one step per call,
  batch 1 (``model.export``; the size with `keras_spiking.export_litert`'s
  ``reset`` signature too).

Accuracy is that of the whole test set (450 images) after 50 steps, each exported
model run in the ``ai-edge-litert`` interpreter. Latency is per step for one image
(batch 1), on ``--threads`` threads: the median over ``--repeats`` timings of
``--calls`` calls each (``--calls`` times 50 for streaming), each call
``set_tensor``, ``invoke`` and ``get_tensor``.
"""

import argparse
import json
import os
import pathlib
import runpy
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

import keras_spiking  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(signature, x):
    (name,) = signature.get_input_details()
    (output,) = signature(**{name: x}).values()
    return output.copy()


def _latency(path, x, calls, repeats, threads):
    """Median seconds per call of a one-signature model on ``x``: ``set_tensor``,
    ``invoke`` and ``get_tensor`` (a signature runner adds its own Python work
    to every call). Wall-clock time and this thread's CPU time (which other
    processes on a busy machine do not inflate, as long as the interpreter runs on
    one thread)."""
    interpreter = Interpreter(model_path=path, num_threads=threads)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()

    def call():
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            call()
        cpu.append((time.thread_time() - start_cpu) / calls)
        wall.append((time.perf_counter() - start) / calls)
    return statistics.median(wall), statistics.median(cpu)


def _streaming_model(model):
    """The quick start's layers, stateful, one step per call, batch 1."""
    inp = keras.Input((1, 64), batch_size=1)
    x = keras.layers.Dense(128)(inp)
    x = keras_spiking.SpikingActivation(
        "relu", dt=0.01, seed=0, stateful=True, name="spikes"
    )(x)
    x = keras.layers.Dense(10)(x)
    x = keras_spiking.Lowpass(0.05, dt=0.01, stateful=True)(x)
    streaming = keras.Model(inp, x)
    streaming.set_weights(model.get_weights())
    return streaming


def export_int8(model_path, x_train_path, n_steps, directory):
    """Write ``int8.tflite`` and ``int8-every-op.tflite`` into ``directory``.

    Run in a process of its own (``--int8``): TensorFlow's quantiser fails on the
    layers' compiled loops once a process has run them on inputs of several shapes,
    as the quick start's ``predict`` does.
    """
    model = keras.saving.load_model(model_path)
    x_train = np.load(x_train_path)

    def representative_dataset():
        for i in range(0, 100, 10):
            yield [np.tile(x_train[i : i + 10, None], (1, n_steps, 1))]

    options = {
        # TensorFlow's calibrator needs a fixed number of steps.
        "input_signature": [
            keras.InputSpec(shape=(None, n_steps, 64), dtype="float32")
        ],
        "optimizations": [tf.lite.Optimize.DEFAULT],
        "representative_dataset": representative_dataset,
    }
    keras_spiking.export_litert(
        model, os.path.join(directory, "int8.tflite"), **options
    )
    model.export(
        os.path.join(directory, "int8-every-op.tflite"),
        format="litert",
        verbose=False,
        **options,
    )


def main(calls, repeats, threads):
    quickstart = runpy.run_path(str(ROOT / "examples" / "quickstart.py"))
    model = quickstart["spiking_model"]
    x, y = quickstart["spiking_input"], quickstart["y_test"]
    n_steps = quickstart["N_STEPS"]

    def accuracy(outputs):
        return float(np.mean(np.argmax(outputs[:, -1], axis=-1) == y))

    results = {
        "keras float": {"accuracy": accuracy(keras.ops.convert_to_numpy(model(x)))}
    }
    with tempfile.TemporaryDirectory() as directory:
        model.save(os.path.join(directory, "digits.keras"))
        np.save(os.path.join(directory, "x_train.npy"), quickstart["x_train"])
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--int8",
                os.path.join(directory, "digits.keras"),
                os.path.join(directory, "x_train.npy"),
                str(n_steps),
                directory,
            ],
            check=True,
        )
        paths = {
            "float": os.path.join(directory, "float.tflite"),
            "int8": os.path.join(directory, "int8.tflite"),
            "int8, weights only": os.path.join(directory, "weights.tflite"),
            "int8, every op": os.path.join(directory, "int8-every-op.tflite"),
        }
        model.export(paths["float"], format="litert", verbose=False)
        model.export(
            paths["int8, weights only"],
            format="litert",
            verbose=False,
            optimizations=[tf.lite.Optimize.DEFAULT],
        )
        for label, path in paths.items():
            interpreter = Interpreter(model_path=path, num_threads=threads)
            signature = interpreter.get_signature_runner("serving_default")
            wall, cpu = _latency(path, x[:1], calls, repeats, threads)
            results[label] = {
                "size (kB)": os.path.getsize(path) / 1000,
                "accuracy": accuracy(_run(signature, x)),
                "wall time per step (us)": 1e6 * wall / n_steps,
                "CPU time per step (us)": 1e6 * cpu / n_steps,
            }

        # Streaming: a new interpreter for each image starts from the exported state.
        path = os.path.join(directory, "streaming.tflite")
        _streaming_model(model).export(path, format="litert", verbose=False)
        outputs = []
        for image in x:
            step = Interpreter(model_path=path).get_signature_runner()
            steps = [_run(step, image[None, t : t + 1]) for t in range(n_steps)]
            outputs.append(np.concatenate(steps, axis=1))
        with_reset = os.path.join(directory, "streaming-reset.tflite")
        keras_spiking.export_litert(_streaming_model(model), with_reset)
        wall, cpu = _latency(path, x[:1, :1], calls * n_steps, repeats, threads)
        results["streaming"] = {
            "size (kB)": os.path.getsize(path) / 1000,
            "accuracy": accuracy(np.concatenate(outputs)),
            "wall time per step (us)": 1e6 * wall,
            "CPU time per step (us)": 1e6 * cpu,
        }
        results["streaming, export_litert (reset signature)"] = {
            "size (kB)": os.path.getsize(with_reset) / 1000
        }
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per figure")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--int8", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.int8:
        model_path, x_train_path, n_steps, directory = args.int8
        export_int8(model_path, x_train_path, int(n_steps), directory)
        sys.exit()
    results = main(args.calls, args.repeats, args.threads)
    columns = [
        "size (kB)",
        "accuracy",
        "wall time per step (us)",
        "CPU time per step (us)",
    ]
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, row in results.items():
        cells = [
            "" if column not in row else f"{row[column]:.4g}" for column in columns
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
