"""The parts of a Keras model's configuration that are not plain layers, as graph nodes.

Takes one entry of a functional model's configuration (its class, its arguments, how it was
called) with the spec ids of what feeds it; gives the graph nodes that rebuild it:

* an operation written with ``keras.ops`` or a tensor operator (``x + 3.0``, ``x * (1 / 6)``,
  ``inputs + x`` in MobileNetV3 and ConvNeXt) becomes an ``op:`` item, ``op: {add: 3.0}``: the
  function of the operations catalog named like the operation's class, its tensors as inputs and
  its other arguments as constants;
* ``CustomScaleLayer(scale)`` of InceptionResNetV2 (``inputs[0] + inputs[1] * scale``) becomes the
  two ops it computes, a ``multiply`` by the scale then an ``add``, in that order;
* a nested ``Sequential`` model (ConvNeXt's stem and downsampling blocks) is a chain: its layers
  are written in its place, under their own names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..catalog.operations import UnknownOperationError, default_operations
from .graph import GraphNode, unique_name
from .imported_layer import ImportedLayer
from .summary import SummaryRow

TENSOR = "__keras_tensor__"
# keyword arguments of a layer's call that carry no tensor of the graph: a padding mask travels
# as an operation (not_equal) that is no step of the spec
NOT_INPUTS = ("mask", "training")


def is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == TENSOR


def tensor_history(value: dict[str, Any]) -> tuple[str, int]:
    """(layer or operation name, node index) of a serialized tensor."""
    history = value["config"]["keras_history"]
    return history[0], int(history[1])


def read_tensors(node_config: Any) -> list[tuple[str, int]]:
    """Every tensor a call reads, in order, but masks."""
    found: list[tuple[str, int]] = []
    if is_tensor(node_config):
        found.append(tensor_history(node_config))
    elif isinstance(node_config, dict):
        for key, value in node_config.items():
            if key not in NOT_INPUTS:
                found += read_tensors(value)
    elif isinstance(node_config, list | tuple):
        for value in node_config:
            found += read_tensors(value)
    return found


def operation_nodes(entry: dict[str, Any], shape: tuple[int | None, ...],
                    reference: Callable[[tuple[str, int]], str], taken: set[str]) -> list[GraphNode]:  # fmt: skip
    """The ``op:`` item of an operation's configuration entry (its first call), or a marked
    entry saying why it cannot be one."""
    class_name = entry["class_name"]
    row = SummaryRow(entry["name"], class_name, (shape,), 0, 0)
    node_id = unique_name(_identifier(entry["name"]), taken)
    call = (entry.get("inbound_nodes") or [{}])[0]
    try:
        function = default_operations().resolve(class_name)
    except UnknownOperationError:
        problem = f"keras.ops has no function for the operation '{class_name}'"
        sources = [reference(tensor) for tensor in read_tensors(call)]
        return [GraphNode(ImportedLayer(None, {}, row, problem=problem), node_id, sources)]
    info = default_operations().info(function)
    tensors, constants = _arguments(call, info.param_names, info.list_input, reference)
    constants.update({key: value for key, value in entry.get("config", {}).items()
                      if key not in ("name", "dtype", "trainable")})  # the operation's own (axis=…)  # fmt: skip
    unknown = [key for key in constants if key not in info.params]
    if unknown:
        problem = (f"the operation '{class_name}' has arguments that keras.ops.{function} does not "
                   f"take: {', '.join(unknown)}")  # fmt: skip
        sources = [source for _, source in tensors]
        return [GraphNode(ImportedLayer(None, {}, row, problem=problem), node_id, sources)]
    node = GraphNode(ImportedLayer("op", {function: None}, row), node_id, [s for _, s in tensors])
    names = [name for name, _ in tensors]
    positional = info.list_input or names == info.param_names[: len(names)]
    if not positional:
        node.input_names = names
    ordered = {key: constants[key] for key in info.param_names if key in constants}
    # one constant right after the tensors is written alone, {add: 3.0}; others by name
    after = info.param_names[1 if info.list_input else len(names) :][:1]
    if after and positional and list(ordered) == after and not isinstance(ordered[after[0]], dict):
        node.layer.args[function] = ordered[after[0]]
    elif ordered:
        node.layer.args[function] = ordered
    return [node]


def _arguments(call: dict[str, Any], params: list[str], list_input: bool,
               reference: Callable[[tuple[str, int]], str]) -> tuple[list[tuple[str, str]], dict[str, Any]]:  # fmt: skip
    """A call's tensors as (parameter, spec reference), in order, and its constants by
    parameter; a list-taking function's (``concatenate``) first argument is its list of tensors."""
    tensors: list[tuple[str, str]] = []
    constants: dict[str, Any] = {}
    named = [(params[i] if i < len(params) else f"argument {i + 1}", value)
             for i, value in enumerate(call.get("args", []))]  # fmt: skip
    for param, value in [*named, *call.get("kwargs", {}).items()]:
        if list_input and param == params[0] and isinstance(value, list | tuple):
            tensors += [(param, reference(tensor_history(item))) for item in value]
        elif is_tensor(value):
            tensors.append((param, reference(tensor_history(value))))
        else:
            constants[param] = _plain(value)
    return tensors, constants


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def custom_scale_nodes(entry: dict[str, Any], shape: tuple[int | None, ...],
                       reference: Callable[[tuple[str, int]], str], taken: set[str]) -> list[GraphNode]:  # fmt: skip
    """InceptionResNetV2's ``CustomScaleLayer``: ``inputs[0] + inputs[1] * scale`` as two ops."""
    name = entry["name"]
    first, second = (reference(tensor) for tensor in read_tensors(entry["inbound_nodes"][0]))
    scale = entry["config"]["scale"]
    scaled = GraphNode(
        ImportedLayer(
            "op", {"multiply": scale}, SummaryRow(f"{name}_multiply", "Multiply", (shape,), 0, 0)
        ),
        unique_name(f"{_identifier(name)}_scaled", taken),
        [second],
    )
    added = GraphNode(
        ImportedLayer("op", {"add": None}, SummaryRow(f"{name}_add", "Add", (shape,), 0, 0)),
        unique_name(_identifier(name), taken),
        [first, scaled.id],
    )
    return [scaled, added]


def _identifier(name: str) -> str:
    import re

    text = re.sub(r"\W", "_", name)
    return text if re.match(r"[A-Za-z_]", text) else f"layer_{text}"
