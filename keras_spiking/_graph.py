"""The graph of layers of a functional or ``Sequential`` Keras model.

This is the one module that reads Keras's private graph attributes (a symbolic
tensor's ``_keras_history`` and a layer's ``_inbound_nodes``): the converter,
`~keras_spiking.ModelEnergy` and the NIR exporter walk a model's graph through
the functions here. A *node* is one application of a layer (or of another Keras
operation) to symbolic tensors; its public attributes are ``operation``,
``input_tensors``, ``output_tensors``, ``arguments`` and ``is_input``.
"""


def model_ends(model, reader):
    """The input and output tensors of a model, as two lists.

    Parameters
    ----------
    model : ``keras.Model``
        A built functional or ``Sequential`` model.
    reader : str
        What reads the graph, for the error message (e.g. ``"ModelEnergy"``).

    Raises
    ------
    ValueError
        If the model has no graph of layers (a subclassed or unbuilt model).
    """
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not outputs:
        raise ValueError(
            f"Model '{model.name}' has no graph of layers that {reader} can read. "
            f"Use a built functional or Sequential model whose layers have been "
            f"called on symbolic inputs (e.g. starting from keras.Input), not a "
            f"subclassed or unbuilt model."
        )
    return list(inputs), list(outputs)


def producer(tensor):
    """The node that produced a symbolic tensor."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def applications(layer):
    """Every node of a layer: each time it was applied, in any model."""
    return list(layer._inbound_nodes)


def nodes_in_model(model, reader):
    """Map each layer of a model to its applications within that model.

    A layer may also have been applied outside the model (e.g. in another model
    that shares it), so this walks the model's graph back from its outputs to its
    inputs.

    Parameters
    ----------
    model : ``keras.Model``
        A built functional or ``Sequential`` model.
    reader : str
        What reads the graph, for the error message of `model_ends`.

    Returns
    -------
    dict
        ``{layer: [node, ...]}`` for every layer in ``model.layers``, in order.
    """
    inputs, outputs = model_ends(model, reader)
    input_ids = {id(tensor) for tensor in inputs}
    found, seen, stack = set(), set(), list(outputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        node = producer(tensor)
        found.add(id(node))
        if id(tensor) not in input_ids:  # the graph starts at the inputs
            stack.extend(node.input_tensors)
    return {
        layer: [node for node in applications(layer) if id(node) in found]
        for layer in model.layers
    }


def ordered_nodes(model, reader):
    """The nodes of a model's graph, each after the nodes that produce its inputs.

    Parameters
    ----------
    model : ``keras.Model``
        A built functional or ``Sequential`` model.
    reader : str
        What reads the graph, for the error message of `model_ends`.

    Returns
    -------
    inputs : list
        The model's input tensors.
    nodes : list
        The applications of layers between the inputs and the outputs (not the
        input layers' own nodes), in an order in which each node's inputs are
        model inputs or outputs of earlier nodes.
    outputs : list
        The model's output tensors.
    """
    inputs, outputs = model_ends(model, reader)
    input_ids = {id(tensor) for tensor in inputs}
    order, done = [], set()
    stack = [(tensor, False) for tensor in reversed(outputs)]
    while stack:
        tensor, expanded = stack.pop()
        if id(tensor) in input_ids:
            continue
        node = producer(tensor)
        if id(node) in done:
            continue
        if expanded:
            done.add(id(node))
            if not node.is_input:
                order.append(node)
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(node.input_tensors))
    return inputs, order, outputs
