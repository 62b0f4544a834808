"""Export to LiteRT (formerly TensorFlow Lite) with the signatures of a stream.

Keras's own ``model.export(path, format="litert")`` exports every layer of this
package (see the "Deploying" page of the documentation). `export_litert` writes the
same model with two more signatures, for a model that runs one step per call:
``reset``, which puts the state of every stateful layer back to its initial value
between two streams, and ``set_dt``, which keeps a ``dt`` variable a variable
(``model.export`` freezes it at its value at export).
"""

import tempfile

import keras
from keras import ops

from keras_spiking import backends
from keras_spiking.layers import KerasSpikingCell, KerasSpikingLayer

SERVING = "serving_default"
"""str: The signature that runs the model (the one ``model.export`` writes)."""


def _all_layers(model):
    """Every layer of ``model``, nested models and wrappers' layers included."""
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if any(layer is other for other in found):
            continue
        found.append(layer)
        stack.extend(getattr(layer, "layers", []) or [])
        for attribute in ("layer", "cell"):
            inner = getattr(layer, attribute, None)
            if isinstance(inner, keras.layers.Layer):
                stack.append(inner)
    return found


def _unique(values):
    unique = []
    for value in values:
        if not any(value is other for other in unique):
            unique.append(value)
    return unique


def _input_signature(model):
    """One ``keras.InputSpec`` per model input, with its name and the batch size
    left free (as ``model.export`` makes them)."""
    specs = [
        keras.InputSpec(
            shape=(None, *tensor.shape[1:]), dtype=tensor.dtype, name=tensor.name
        )
        for tensor in model.inputs
    ]
    return [specs[0] if len(specs) == 1 else specs]


def export_litert(model, filepath, input_signature=None, **converter_options):
    """Export ``model`` to a LiteRT file, with ``reset`` and ``set_dt`` signatures.

    The file holds up to three signatures, each run with the ``ai-edge-litert``
    interpreter's ``get_signature_runner(name)``:

    - ``"serving_default"``: the model, as ``model.export(filepath,
      format="litert")`` writes it (``training=False``);
    - ``"reset"`` (when the model has stateful layers of this package): puts the
      state of each back to its initial state, as ``layer.reset_states()`` does
      (the seeded initial voltage; a fresh one without a seed). It takes no input
      and returns ``{"reset": 1}``.
    - ``"set_dt"`` (when a layer's ``dt`` is a variable): assigns its input ``dt``
      (a float32 scalar, in seconds) to every ``dt`` variable of the model, so
      later calls step by the new ``dt``; returns ``{"dt": dt}``.

    The state of a stateful layer lives in the exported model's variables: it
    starts from the state the layers are in at export (reset them first to start
    from their initial state), and carries over from one call to the next.

    Parameters
    ----------
    model : ``keras.Model``
        A built model. The layers' exported path is the one they take in a
        TensorFlow graph (see the "Deploying" page).
    filepath : str or path
        Where to write the model; must end with ``.tflite``.
    input_signature : list, optional
        The input signature, as for ``model.export``: by default one
        ``keras.InputSpec`` per model input, with the batch size left free.
    converter_options : dict
        Set on the ``tf.lite.TFLiteConverter``, as ``model.export`` does (e.g.
        ``optimizations=[tf.lite.Optimize.DEFAULT]``; ``target_spec`` as a dict).
        By default the converter may use LiteRT's builtin ops only, so an op that
        would need the Flex delegate is an error here rather than at run time.

    Raises
    ------
    ValueError
        On a backend other than TensorFlow (the export traces the model with
        TensorFlow), if ``filepath`` does not end with ``.tflite``, or for a
        ``representative_dataset`` with a stateful model (TensorFlow's calibrator
        cannot run it; quantise its weights only).
    RuntimeError
        If TensorFlow's int8 quantiser fails, as it does once the process has run
        the layers' compiled loops on inputs of several shapes: quantise in a new
        process (see the "Deploying" page).

    Notes
    -----
    The numbers are those of ``model.export``'s file, except that a ``dt``
    variable is read when the model runs rather than folded into its
    coefficients (a filter's ``exp(-dt / tau)`` is then computed at every call).
    """
    filepath = str(filepath)
    if not filepath.endswith(".tflite"):
        raise ValueError(
            f"The LiteRT file name must end with '.tflite'; got '{filepath}'."
        )
    backends.check_litert_export()
    layers = _all_layers(model)
    stateful = [
        layer
        for layer in layers
        if isinstance(layer, KerasSpikingLayer) and layer.stateful
    ]
    dts = _unique(
        layer.dt
        for layer in layers
        if isinstance(layer, (KerasSpikingLayer, KerasSpikingCell))
        and backends.is_variable(layer.dt)
    )

    if stateful and converter_options.get("representative_dataset") is not None:
        raise ValueError(
            "int8 quantisation with a representative dataset is for models of whole "
            "sequences: TensorFlow's calibrator cannot run a model whose state "
            "lives in variables, with a `reset` signature. For a streaming model, "
            "quantise the weights only: pass `optimizations` without a "
            "`representative_dataset`."
        )
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SERVING,
        lambda inputs: model(inputs, training=False),
        input_signature=input_signature or _input_signature(model),
    )
    endpoints = [SERVING]
    if stateful:

        def reset():
            for layer in stateful:
                layer.reset_states()
            return {"reset": ops.ones((), dtype="int32")}

        archive.add_endpoint("reset", reset, input_signature=[])
        endpoints.append("reset")
    if dts:

        def set_dt(dt):
            for variable in dts:
                variable.assign(ops.cast(dt, variable.dtype))
            return {"dt": ops.convert_to_tensor(dt)}

        archive.add_endpoint(
            "set_dt",
            set_dt,
            input_signature=[keras.InputSpec(shape=(), dtype="float32")],
        )
        endpoints.append("set_dt")

    with tempfile.TemporaryDirectory() as saved_model:
        archive.write_out(saved_model, verbose=False)
        content = backends.litert_from_saved_model(
            saved_model, endpoints, converter_options
        )
    with open(filepath, "wb") as file:
        file.write(content)
