"""Print a Keras 3 model as tf.keras 2.x's ``model.summary()`` did, to test importing from it.

Two styles, following tf.keras's ``print_summary``:

* ``"cut"`` (tf.keras up to 2.8): each cell cut at its column's width; a functional model's extra
  inputs on lines of their own under the row; ``_`` rules between rows;
* ``"wrap"`` (tf.keras 2.9 and later): a space before each row, long cells wrapped onto further
  lines (the "Connected to" list broken after each ``',``), blank lines between functional rows.

A ``keras.ops`` call in the model (``x + 3.0``) is printed as tf.keras printed a TensorFlow
function, a ``TFOpLambda`` row named after it: ``tf.__operators__.add (TFOpLambda)``,
``tf.math.multiply_1 (TFOpLambda)``.
"""

from __future__ import annotations

LINE = 98  # tf.keras's line_length for functional models; 65 for sequential ones


def inbound(model, layer) -> list[str]:
    """'name[node][tensor]' of every input of every call of ``layer`` inside ``model``."""
    found = []
    layers = {id(other) for other in _operations(model)}
    for node in layer._inbound_nodes:
        for tensor in node.input_tensors:
            operation, node_index, tensor_index = tensor._keras_history
            if id(operation) in layers and not _is_mask(operation):  # tf.keras showed no mask
                found.append(f"{_name(operation)}[{node_index}][{tensor_index}]")
    return found


def _is_mask(operation) -> bool:
    return type(operation).__name__ == "NotEqual"


def _is_op(operation) -> bool:
    """A keras.ops call, not a layer."""
    return ".ops." in type(operation).__module__


def _name(operation) -> str:
    if not _is_op(operation):
        return operation.name
    module = "tf.__operators__" if type(operation).__name__ == "Add" else "tf.math"
    return f"{module}.{operation.name}"


def _operations(model) -> list:
    operations = getattr(model, "operations", model.layers)  # a Sequential has layers only
    return [operation for operation in operations if not _is_mask(operation)]


def is_chain(model) -> bool:
    layers = _operations(model)
    return all(
        inbound(model, layer) == [f"{_name(layers[i - 1])}[0][0]"]
        for i, layer in enumerate(layers)
        if i
    )


def printout(model, style: str = "cut", show_input: bool | None = None) -> str:
    functional = not is_chain(model)
    line_length = LINE if functional else 65
    fractions = (0.33, 0.55, 0.67, 1.0) if functional else (0.45, 0.85, 1.0)
    positions = [int(line_length * fraction) for fraction in fractions]
    titles = ["Layer (type)", "Output Shape", "Param #", "Connected to"][: len(positions)]
    lines = [f'Model: "{model.name}"', "_" * line_length]
    lines += _row(titles, positions, style)
    lines.append("=" * line_length)
    show = functional if show_input is None else show_input
    layers = [layer for layer in _operations(model) if show or type(layer).__name__ != "InputLayer"]
    for index, layer in enumerate(layers):
        shape = tuple(layer.output.shape)
        shape_text = f"[{shape}]" if type(layer).__name__ == "InputLayer" else str(shape)
        kind = "TFOpLambda" if _is_op(layer) else type(layer).__name__
        params = 0 if _is_op(layer) else layer.count_params()
        fields = [f"{_name(layer)} ({kind})", shape_text, str(params)]
        connections = inbound(model, layer) if type(layer).__name__ != "InputLayer" else []
        if functional:
            if style == "wrap":
                fields.append(str(connections))
                lines += _row(fields, positions, style)
            else:
                lines += _row([*fields, connections[0] if connections else ""], positions, style)
                for extra in connections[1:]:
                    lines += _row(["", "", "", extra], positions, style)
        else:
            lines += _row(fields, positions, style)
        last = index == len(layers) - 1
        if last:
            lines.append("=" * line_length)
        elif functional and style == "wrap":
            lines.append(" " * line_length)
        else:
            lines.append("_" * line_length)
    trainable = sum(int(weight.numpy().size) for weight in model.trainable_weights)
    total = model.count_params()
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * line_length]  # fmt: skip
    return "\n".join(lines) + "\n"


def _row(fields: list[str], positions: list[int], style: str) -> list[str]:
    if style == "cut":
        line = ""
        for value, end in zip(fields, positions, strict=True):
            line = (line + value)[:end]
            line += " " * (end - len(line))
        return [line]
    left = list(fields)
    lines = []
    while any(left):
        line = ""
        for column, end in enumerate(positions):
            start = positions[column - 1] if column else 0
            space = 2 if column != len(positions) - 1 else 0
            cutoff = end - start - space
            fit = left[column][:cutoff]
            breaks = [
                fit.find(mark) + len(mark)
                for mark in ("),", "},", "],", "',")
                if fit.find(mark) >= 0
            ]
            if breaks:
                cutoff = min(breaks)
                fit = fit[:cutoff]
            if column == 0:
                line += " "
            line += fit + " " * space
            left[column] = left[column][cutoff:]
            line += " " * (end - len(line))
        lines.append(line)
    return lines
