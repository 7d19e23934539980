"""Specs from Keras models: a saved ``.keras`` file, or ``keras:NAME`` for any
``keras.applications`` model (built with ``weights=None``).

Unlike a printed summary, a model's configuration holds every argument, so nothing is a
placeholder: each layer's arguments are those that differ from the layer's defaults, and the wiring
comes from the configuration's inbound nodes. Runs of identical layers (same arguments, same wiring
relative to each other) become ``repeat:`` items — see :mod:`.repeats`.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from ..catalog.layers import default_registry, to_snake_case
from ..errors import LayerkitError, did_you_mean
from ..keras_archive import keras_file_problem, load_failure, load_fix
from .graph import Graph, GraphInput, GraphNode, unique_name
from .imported_layer import ImportedLayer
from .model_operations import custom_scale_nodes, operation_nodes, read_tensors
from .summary import SummaryRow

BASE_KEYS = ("name", "trainable", "dtype", "build_config", "compile_config")


class ModelImportError(LayerkitError):
    """The model cannot be read."""


def load_model(source: str, safe_mode: bool = True) -> Any:
    """``keras:NAME`` (a keras.applications model) or a ``.keras`` file."""
    path = Path(source)
    if not source.startswith("keras:") and path.is_file():
        problem = keras_file_problem(path)  # before Keras, which would read it whole
        if problem is not None:
            raise ModelImportError(f"cannot load '{source}' as a Keras model: {problem}")
    import keras

    if source.startswith("keras:"):
        name = source.removeprefix("keras:")
        names = sorted(
            n
            for n in dir(keras.applications)
            if n[:1].isupper() and callable(getattr(keras.applications, n))
        )
        if name not in names:
            raise ModelImportError(
                f"keras.applications has no model '{name}'. "
                + (did_you_mean(name, names) or f"It has: {', '.join(names)}.")
            )
        return getattr(keras.applications, name)(weights=None)
    if not path.is_file():
        raise ModelImportError(
            f"'{source}' is not a file; give a .keras file or keras:NAME (e.g. keras:ResNet50)"
        )
    from ..model import extra_layers  # noqa: F401  (registers layerkit's layers, so files using them load)

    try:
        return _architecture(path, safe_mode)
    except Exception as error:  # Keras raises many kinds for a bad file
        fix = load_fix(path)
        raise ModelImportError(
            f"cannot load '{source}' as a Keras model: {load_failure(error)}"
            + (f"; {fix}" if fix else "")
        ) from None


def _architecture(path: Path, safe_mode: bool) -> Any:
    """The model a ``.keras`` file describes, rebuilt from its ``config.json`` alone, as
    ``keras.saving.load_model`` rebuilds it before reading the weights: an import needs the layers
    and their arguments, not the weights (a large model's are gigabytes; ConvNeXtXLarge's 1.4 GB
    took longer to read than the rest of its import)."""
    import keras

    with zipfile.ZipFile(path) as archive:  # its size checked by keras_file_problem
        config = json.loads(archive.read("config.json"))
    return keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)


def model_graph(model: Any) -> Graph:
    """The model's layers and operations as graph nodes, arguments reduced to those that differ
    from defaults."""
    config = model.get_config()
    layers = {layer.name: layer for layer in model.layers}
    if type(model).__name__ == "Sequential" or "input_layers" not in config:
        return _sequential(model, layers)
    input_names = [name for name, _, _ in _flat_history(config["input_layers"])]
    inputs = [
        GraphInput(
            "input" if len(input_names) == 1 else _identifier(name),
            _shape(layers[name].output.shape),
            name,
            _dtype(layers[name].output.dtype),
        )
        for name in input_names
    ]
    ids = {i.printed: i.name for i in inputs}
    taken = set(ids.values())
    calls: dict[tuple[str, int], str] = {}
    outputs = [(name, index) for name, index, _ in _flat_history(config["output_layers"])]
    entries = config.get("layers", [])
    read = {tensor for entry in entries for call in entry.get("inbound_nodes", [])
            for tensor in read_tensors(call)} | set(outputs)  # fmt: skip

    def reference(tensor: tuple[str, int]) -> str:
        return calls.get(tensor, ids.get(tensor[0], tensor[0]))

    operations = {operation.name: operation for operation in model.operations}
    nodes: list[GraphNode] = []
    for entry in entries:
        name = entry["name"]
        if entry["class_name"] == "InputLayer":
            continue
        if name not in layers and (name, 0) not in read:
            continue  # an operation only a mask reads (a padding mask's not_equal): no step
        if name in layers and entry["class_name"] != "CustomScaleLayer":
            found = _layer_nodes(layers[name], entry, reference, taken)
        else:
            shape = _output_shape(layers.get(name) or operations[name])
            make = custom_scale_nodes if name in layers else operation_nodes
            found = [make(entry, shape, reference, taken)]
        for call, call_nodes in enumerate(found):
            nodes += call_nodes
            calls[(name, call)] = call_nodes[-1].id
    return Graph(inputs, nodes, [reference(output) for output in outputs])


def _layer_nodes(layer: Any, entry: dict[str, Any], reference: Any,
                 taken: set[str]) -> list[list[GraphNode]]:  # fmt: skip
    """The nodes of each call of a layer: one node a call (further calls share the first's
    layer); a nested Sequential model's layers in a chain, when it is called once."""
    calls = entry.get("inbound_nodes", [])
    if type(layer).__name__ == "Sequential" and len(calls) == 1:
        previous = [reference(tensor) for tensor in read_tensors(calls[0])]
        chain = []
        for inner in layer.layers:
            node = GraphNode(
                _imported(inner), unique_name(_identifier(inner.name), taken), previous
            )
            chain.append(node)
            previous = [node.id]
        return [chain]
    imported = _imported(layer)
    found, first = [], None
    for call, node_config in enumerate(calls):
        sources = [reference(tensor) for tensor in read_tensors(node_config)]
        node_id = unique_name(
            _identifier(layer.name) if call == 0 else f"{first}_call{call + 1}", taken
        )
        first = first or node_id
        found.append([GraphNode(imported, node_id, sources, first if call else None)])
    return found


def _sequential(model: Any, layers: dict[str, Any]) -> Graph:
    shape = _shape(model.inputs[0].shape)
    graph_input = GraphInput("input", shape, "input", _dtype(model.inputs[0].dtype))
    nodes, previous, taken = [], "input", {"input"}
    for layer in model.layers:
        node = GraphNode(_imported(layer), unique_name(_identifier(layer.name), taken), [previous])
        nodes.append(node)
        previous = node.id
    return Graph([graph_input], nodes, [previous])


def _flat_history(value: Any) -> list[tuple[str, int, int]]:
    """Every (layer name, node index, tensor index) in a serialized structure, in order."""
    found: list[tuple[str, int, int]] = []
    if isinstance(value, dict):
        history = (
            value.get("config", {}).get("keras_history")
            if value.get("class_name") == "__keras_tensor__"
            else None
        )
        if history:
            found.append((history[0], int(history[1]), int(history[2])))
        else:
            for key in ("args", "kwargs"):
                if key in value:
                    found += _flat_history(value[key])
            if not {"args", "kwargs"} & set(value):
                for item in value.values():
                    found += _flat_history(item)
    elif isinstance(value, list | tuple):
        if (
            len(value) == 3
            and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:])
        ):
            found.append((value[0], value[1], value[2]))
        else:
            for item in value:
                found += _flat_history(item)
    return found


def _imported(layer: Any) -> ImportedLayer:
    class_name = type(layer).__name__
    row = SummaryRow(layer.name, class_name, (_output_shape(layer),), layer.count_params(), 0)
    registry = default_registry()
    try:
        resolved = registry.resolve(class_name)
    except LookupError:
        resolved = None
    if resolved is None or (
        registry.info(resolved).custom and registry.layer_class(resolved) is not type(layer)
    ):
        nested = hasattr(layer, "layers")
        problem = (
            f"a nested model ({class_name})"
            if nested
            else f"layerkit does not know the layer class '{class_name}'"
        )
        return ImportedLayer(None, {}, row, problem=problem, nested=nested)
    return ImportedLayer(to_snake_case(resolved), layer_args(layer), row)


def layer_args(layer: Any) -> dict[str, Any]:
    """The arguments of ``layer`` that differ from its class's defaults, as a spec writes them."""
    cls = type(layer)
    config = layer.get_config()
    info = default_registry().info(cls.__name__)
    nested = {
        key: config[key]
        for key in ("layer", "backward_layer", "cell")
        if isinstance(config.get(key), dict)
    }
    required = {
        name: config[name] for name, arg in info.args.items() if arg.required and name in config
    }
    try:
        if nested:
            key = "layer" if "layer" in nested else next(iter(nested))
            defaults = cls(**{key: _deserialized(nested[key])}).get_config()
        else:
            defaults = cls(**required).get_config()
    except Exception:  # a layer whose defaults cannot be built alone: keep every argument
        defaults = {}
    args: dict[str, Any] = {}
    for key, value in config.items():
        if key in BASE_KEYS or key in nested:
            continue
        if key in defaults and key not in required and _same(defaults[key], value):
            continue
        if key not in info.args and key != "trainable":
            continue
        args[key] = _spec_value(value)
    for key, value in nested.items():
        inner = _deserialized(value)
        if key == "backward_layer" and inner is not None:
            continue  # Keras rebuilds the backward layer from the forward one
        args[key] = (
            {to_snake_case(type(inner).__name__): layer_args(inner)} if inner is not None else value
        )
    if config.get("trainable") is False:
        args["trainable"] = False
    if not nested:
        _restore_dependent(cls, config, args, info)
    return args


def _restore_dependent(cls: type, config: dict[str, Any], args: dict[str, Any], info: Any) -> None:
    """Put back arguments whose default follows another one (MaxPooling2D's strides default to
    its pool_size): rebuild the layer from ``args`` and add what comes out different."""
    for _ in range(3):
        try:
            rebuilt = cls(**args).get_config()
        except Exception:
            return
        differing = [key for key in config if key in info.args and key not in BASE_KEYS
                     and not _same(rebuilt.get(key), config[key])]  # fmt: skip
        if not differing:
            return
        for key in differing:
            args[key] = _spec_value(config[key])


def _deserialized(value: dict[str, Any]) -> Any:
    import keras

    try:
        return keras.layers.deserialize(value)
    except Exception:
        return None


def _same(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True, default=str) == json.dumps(
        right, sort_keys=True, default=str
    )


def _spec_value(value: Any) -> Any:
    """A configuration value as YAML can hold it: tuples as lists, Keras objects as
    ``{class_name, config}`` mappings (what keras.initializers.get and friends accept)."""
    if isinstance(value, dict):
        if "class_name" in value and "config" in value:
            return {"class_name": value["class_name"], "config": _spec_value(value["config"])}
        return {key: _spec_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_spec_value(item) for item in value]
    return value


def _shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if size is None else int(size) for size in tuple(shape)[1:])


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    output = layer.output
    if isinstance(output, list | tuple):
        output = output[0]
    return _shape(output.shape)


def _dtype(dtype: Any) -> str | None:
    """The input's dtype where it is not the spec's default (float32): token ids, text, …"""
    text = str(dtype)
    return None if text == "float32" else text


def _identifier(name: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if re.match(r"[A-Za-z_]", text) else f"layer_{text}"
