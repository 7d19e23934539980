"""Who feeds whom: the inputs and the wiring of an imported summary.

A Sequential summary is a chain. A functional one names each layer's inputs in its "Connected to"
column, as ``name[node][tensor]``, or — in Keras 3's narrow printouts — as a name cut short with
"…". A cut name is matched by its prefix against the layers above it, preferring one whose output
fits the row (the shape an activation keeps, the channels a convolution's count needs), then one
whose output nothing has taken yet — for a single input the first such, since Keras prints
parallel branches level by level, else the nearest; where that still leaves a choice, the layer
gets a note. A layer printed with several connections that is not a merge is a shared layer,
applied once per connection; a recurrent layer given states as well (``encoder[0][1]``) takes its
sequence only, noted; InceptionResNetV2's ``CustomScaleLayer`` row becomes two op nodes. Nested
models without weights are left out first (:mod:`.nested_models`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..errors import Location, SpecError
from .imported_layer import ImportedLayer, unsolved
from .infer import RECURRENT, infer, resolve_class
from .modern_layers import NAMED_INPUTS
from .nested_models import without_empty_models
from .summary import ELLIPSIS, PrintedSummary, Shape, SummaryRow

MULTI_INPUT = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
               "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupedQueryAttention")  # fmt: skip


@dataclass
class GraphInput:
    name: str  # the spec's name for it
    shape: Shape
    printed: str  # the summary's name
    dtype: str | None = None
    note: str | None = None  # how the shape was found, when the summary did not show it


@dataclass
class GraphNode:
    """One call of one imported layer: what it is, its id in the spec and what feeds it."""

    layer: ImportedLayer
    id: str
    sources: list[str]  # spec references: input names or node ids
    shares: str | None = None  # a further call of a shared layer: the first call's id
    notes: list[str] = field(default_factory=list)
    # the call's parameter names the sources are passed under (query=, value=), one per source;
    # None: passed in order. An op: item is a node whose layer's kind is "op" and whose args are
    # {function name: constant}, written as 'op: {add: 3.0}'.
    input_names: list[str] | None = None


@dataclass
class Graph:
    inputs: list[GraphInput]
    nodes: list[GraphNode]
    outputs: list[str]


def wire(summary: PrintedSummary, input_shape: Shape | None) -> Graph:
    """The imported graph: inputs, one node per layer call, and the outputs."""
    summary, dropped, opening = without_empty_models(summary)
    inputs = _inputs(
        summary, input_shape if input_shape is not None or opening is None else opening
    )
    if opening is not None and input_shape is None:
        inputs[0].note = (f"the summary has no input row: the input shape {list(opening)} is the "
                          "output of the nested model that opens it; check it, or give --input")  # fmt: skip
    if not summary.functional:
        graph = _chain(summary, inputs)
    else:
        summary, masked = _without_masks(summary)
        graph = _functional(summary, inputs)
        for node in graph.nodes:  # an Embedding beside a NotEqual on the same input: mask_zero
            if node.layer.kind == "embedding" and set(node.sources) & masked:
                node.layer.args["mask_zero"] = True
    for node in graph.nodes:
        if node.layer.row.name in dropped and node.shares is None:
            node.notes.append(dropped[node.layer.row.name])
    return _without_unread_inputs(graph)


def _without_unread_inputs(graph: Graph) -> Graph:
    """Inputs no written layer reads (a recurrent layer's initial states, whose passing a spec
    cannot write; a second InputLayer row of a Sequential) are left out, as a spec's input must
    be used, and said in the report; one input left becomes the spec's ``input``."""
    read = {source for node in graph.nodes for source in node.sources}
    kept = [graph_input for graph_input in graph.inputs if graph_input.name in read]
    if not kept or len(kept) == len(graph.inputs):
        return graph
    if len(kept) == 1 and any(node.id == "input" for node in graph.nodes):
        return graph  # a layer holds the name a single input takes: left for validate to say
    left_out = ", ".join(f"'{graph_input.printed}'" for graph_input in graph.inputs
                         if graph_input not in kept)  # fmt: skip
    note = f"input {left_out} left out: no layer the spec writes reads it, and a spec's inputs must all be read"
    if len(kept) == 1 and kept[0].name != "input":
        old = kept[0].name
        kept[0].name = "input"
        for node in graph.nodes:
            node.sources = ["input" if source == old else source for source in node.sources]
    kept[0].note = f"{kept[0].note}; {note}" if kept[0].note else note
    return replace(graph, inputs=kept)


def _without_masks(summary: PrintedSummary) -> tuple[PrintedSummary, set[str]]:
    """Keras 3 prints the padding mask of ``Embedding(mask_zero=True)`` as a NotEqual operation
    feeding the layers after it. It is not a layer: drop it and its connections, and return the
    spec references of the inputs it read."""
    masks = {row.name for row in summary.rows if (row.type or "").rstrip(ELLIPSIS) and
             "NotEqual".startswith((row.type or "").rstrip(ELLIPSIS)) and len(row.type) >= 4}  # fmt: skip
    if not masks:
        return summary, set()
    if len(masks) == len(summary.rows):
        raise SpecError(
            "the summary has no layer rows besides masks (NotEqual rows, which Keras prints for "
            "an Embedding's padding mask)",
            Location(summary.file, summary.rows[0].line, 1),
            fix="Give the whole printout, with the layers the masks belong to.",
        )
    sources = {c.name for row in summary.rows if row.name in masks for c in row.connections}
    rows = tuple(
        replace(row, connections=tuple(c for c in row.connections if c.name not in masks))
        for row in summary.rows
        if row.name not in masks
    )
    names = {i.name: ("input" if len(summary.inputs) == 1 else i.name) for i in summary.inputs}
    return replace(summary, rows=rows), {names.get(source, source) for source in sources}


def _inputs(summary: PrintedSummary, override: Shape | None) -> list[GraphInput]:
    if summary.inputs:
        taken: set[str] = set()
        found = []
        for row in summary.inputs:
            shape = override if override is not None and len(summary.inputs) == 1 else row.shape
            if not shape:  # the printout cut it
                shape = override or _guess_input(summary)
            name = "input" if len(summary.inputs) == 1 else _identifier(row.name, "input")
            found.append(GraphInput(unique_name(name, taken), shape, row.name))
        return found
    if override is not None:
        return [GraphInput("input", override, "input")]
    shape = _guess_input(summary)
    guessed = GraphInput("input", shape, "input")
    guessed.note = (f"the summary has no input row: the input shape {list(shape)} was worked out "
                    "from the first layer; check it, or give --input")  # fmt: skip
    return [guessed]


def _chain(summary: PrintedSummary, inputs: list[GraphInput]) -> Graph:
    nodes: list[GraphNode] = []
    taken = {graph_input.name for graph_input in inputs}
    before, source = inputs[0].shape, inputs[0].name
    for row in summary.rows:
        layer = _with_tensor_count(infer(row, [before]), resolve_class(row, [before]), 1)
        node = GraphNode(
            layer, unique_name(_identifier(row.name, layer.kind or "layer"), taken), [source]
        )
        nodes.append(node)
        before, source = row.shape, node.id
    _input_dtypes(inputs, nodes)
    return Graph(inputs, nodes, [nodes[-1].id])


def _with_tensor_count(layer: ImportedLayer, class_name: str | None, count: int) -> ImportedLayer:
    """``layer``, marked if it cannot take ``count`` tensors: attention takes a query and a value
    (and a key) by name, so neither one tensor (a Sequential's) nor four."""
    named = NAMED_INPUTS.get(class_name or "", ())
    if named and not 2 <= count <= len(named) and layer.kind is not None:
        return unsolved(layer, f"it reads {count} tensor(s), and a spec gives it 2 or "
                        f"{len(named)} ({', '.join(named)})")  # fmt: skip
    return layer


def _functional(summary: PrintedSummary, inputs: list[GraphInput]) -> Graph:
    entries: list[tuple[str, str]] = [(i.printed, i.name) for i in inputs]  # (printed, first id)
    shapes: dict[str, Shape] = {i.name: i.shape for i in inputs}
    calls: dict[tuple[str, int], str] = {}  # (first call's id, node index) → that call's id
    used: dict[str, int] = {}
    taken = {i.name for i in inputs}
    nodes: list[GraphNode] = []
    states: set[str] = set()  # the rows whose states a recurrent layer took
    for row in summary.rows:
        resolved = _resolve_all(row, entries, used, summary.file, shapes)
        references = [calls.get((first, connection.node), first)
                      for (first, _), connection in zip(resolved, row.connections, strict=True)]  # fmt: skip
        notes = [note for _, note in resolved if note]
        if not references:
            raise SpecError(
                f"'{row.name}' has no 'Connected to' entry", Location(summary.file, row.line, 1),
                fix="Give the summary as Keras printed it, with each layer's inputs.",
            )  # fmt: skip
        before = [shapes[reference] for reference in references]
        class_name = resolve_class(row, before)
        if _takes_states(class_name, before):
            notes.append(_STATES_NOTE.format(", ".join(c.name + f"[{c.node}][{c.tensor}]"
                                                       for c in row.connections[1:])))  # fmt: skip
            references, before = references[:1], before[:1]
            states.update(c.name for c in row.connections[1:])
        scaled = _custom_scale(row, references, taken)
        if scaled is not None:  # x + y * scale: the product, then the sum as this row
            nodes.append(scaled)
            shapes[scaled.id] = row.shape
            used[references[1]] = used.get(references[1], 0) + 1
            references = [references[0], scaled.id]
        groups = [references] if class_name in MULTI_INPUT or class_name is None or len(references) == 1 \
            else [[reference] for reference in references]  # fmt: skip
        layer = infer(row, [before[0]] if len(groups) > 1 else before) if scaled is None \
            else ImportedLayer("op", {"add": None}, row)  # fmt: skip
        layer = _with_tensor_count(layer, class_name, len(references))
        first = unique_name(_identifier(row.name, layer.kind or "layer"), taken)
        for call, sources in enumerate(groups):
            node_id = first if call == 0 else unique_name(f"{first}_call{call + 1}", taken)
            node = GraphNode(
                layer, node_id, sources, first if call else None, notes if call == 0 else []
            )
            if class_name in NAMED_INPUTS and layer.kind is not None:
                node.input_names = list(NAMED_INPUTS[class_name][: len(sources)])
            nodes.append(node)
            calls[(first, call)] = node_id
            shapes[node_id] = row.shape
            for source in sources:
                used[source] = used.get(source, 0) + 1
        entries.append((row.name, first))
    _input_dtypes(inputs, nodes)
    # a layer whose only readers took its states (dropped above) is left an output of its own:
    # after the layers that read the rest, where Keras orders such an output too
    stateful = [node for node in nodes if not used.get(node.id) and node.layer.row.name in states]
    nodes = [node for node in nodes if node not in stateful] + stateful
    outputs = [node.id for node in nodes if not used.get(node.id)]
    return Graph(inputs, nodes, outputs)


def _custom_scale(row: SummaryRow, references: list[str], taken: set[str]) -> GraphNode | None:
    """InceptionResNetV2's ``CustomScaleLayer`` (0 params, two inputs) computes
    ``inputs[0] + inputs[1] * scale``: the product as an op node (its scale not in the summary);
    the caller makes the row the sum. Both nodes show the row's shape, so both expect it."""
    if not (row.type or "").startswith("CustomScaleL") or len(references) != 2 or row.params:
        return None
    layer = ImportedLayer("op", {"multiply": 1.0}, row)
    layer.notes.append("the scale of CustomScaleLayer (inputs[0] + inputs[1] * scale, as two ops)")
    return GraphNode(layer, unique_name(_identifier(row.name, "op") + "_scaled", taken),
                     [references[1]])  # fmt: skip


_STATES_NOTE = ("its initial state ({}) is not passed: a spec cannot take one output of a layer "
                "that gives several; the parameters are the same")  # fmt: skip


def _takes_states(class_name: str | None, before: list[Shape]) -> bool:
    """A recurrent layer called on a sequence and states (``initial_state=[h, c]``)."""
    return (class_name in RECURRENT and len(before) > 1 and len(before[0]) == 2
            and all(len(shape) == 1 for shape in before[1:]))  # fmt: skip


def _resolve_all(row: SummaryRow, entries: list[tuple[str, str]], used: dict[str, int],
                 file: str, shapes: dict[str, Shape]) -> list[tuple[str, str | None]]:  # fmt: skip
    """(id, note) of each connection's layer. A whole name is looked up; cut names with the same
    prefix take, together, the nearest layers above that nothing has used yet, in their order; a
    layer that keeps its input's shape (an activation, a normalization) takes one of that shape."""
    resolved: list[tuple[str, str | None] | None] = []
    by_prefix: dict[str, list[int]] = {}
    for index, connection in enumerate(row.connections):
        exact = [spec_id for printed, spec_id in entries if printed == connection.name]
        if exact and not connection.cut:
            resolved.append((exact[-1], None))
        else:
            resolved.append(None)
            by_prefix.setdefault(connection.name.rstrip(ELLIPSIS), []).append(index)
    for prefix, indices in by_prefix.items():
        candidates = [spec_id for printed, spec_id in entries
                      if printed.rstrip(ELLIPSIS).startswith(prefix)
                      or (printed.endswith(ELLIPSIS) and prefix.startswith(printed.rstrip(ELLIPSIS)))]  # fmt: skip
        if not candidates:  # tf.keras ≤ 2.8 cut long names at the column, without a mark
            candidates = [spec_id for printed, spec_id in entries
                          if len(printed) >= 8 and prefix.startswith(printed)]  # fmt: skip
        if not candidates:
            name = row.connections[indices[0]].name
            raise SpecError(
                f"'{name}' in the 'Connected to' column of '{row.name}' is no layer above it",
                Location(file, row.line, 1),
                fix="Give the whole summary, in the order Keras printed it.",
            )
        if len(row.connections) == 1:  # judged once per shape: the candidates can be every row
            verdicts: dict[Shape | None, bool] = {}
            for shape in {shapes.get(c) for c in candidates}:
                verdicts[shape] = _fits(row, shape)
            candidates = [c for c in candidates if verdicts[shapes.get(c)]] or candidates
        fresh = [spec_id for spec_id in candidates if not used.get(spec_id)]
        pool = fresh if len(fresh) >= len(indices) else candidates
        # Keras prints parallel branches level by level, so the first layers waiting for a
        # reader are this one's (NASNet's left and right separable convs and their adds)
        picks = pool[: len(indices)] if pool is fresh else pool[-len(indices) :]
        picks += [picks[-1]] * (len(indices) - len(picks))
        ambiguous = len(pool) > len(indices)
        for index, pick in zip(indices, picks, strict=True):
            note = None
            if ambiguous:
                note = f"input '{row.connections[index].name}' taken to be {pick} (the printout cuts the name)"
            resolved[index] = (pick, note)
    return [item for item in resolved if item is not None]


_SHAPE_KEEPING = ("Activation", "BatchNormalization", "LayerNormalization", "Dropout", "ReLU",
                  "LeakyReLU", "Softmax", "ELU", "PReLU")  # fmt: skip


def _fits(row: SummaryRow, shape: Shape | None) -> bool:
    """Whether a layer's output of ``shape`` can be the row's one input: a layer that keeps its
    input's shape must show it; another must be read off it cleanly (a convolution's count and
    strides fit those channels and sizes)."""
    if shape is None:
        return True
    kind = (row.type or "").rstrip(ELLIPSIS)
    if len(kind) >= 3 and any(name.startswith(kind) for name in _SHAPE_KEEPING):
        return shape == row.shape
    layer = infer(row, [shape])
    return layer.kind is not None and not any("no plain choice" in note for note in layer.notes)


def _input_dtypes(inputs: list[GraphInput], nodes: list[GraphNode]) -> None:
    """Inputs read by an Embedding hold token ids."""
    for graph_input in inputs:
        if any(
            node.layer.kind == "embedding" and graph_input.name in node.sources for node in nodes
        ):
            graph_input.dtype = "int32"


def _identifier(name: str, fallback: str) -> str:
    if name.endswith(ELLIPSIS):
        return fallback
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return text if re.match(r"[A-Za-z_]", text) else f"layer_{text}"


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, … : the first not in ``taken`` (which it joins)."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    taken.add(candidate)
    return candidate


def _guess_input(summary: PrintedSummary) -> Shape:
    """The input shape of a summary without an InputLayer row, from its first layer: a
    convolution with 'same' padding keeps the size and its params give the channels; an Embedding
    reads as many tokens as it outputs vectors; a Dense layer's params give its input width.
    Otherwise --input is needed."""
    first = summary.rows[0]
    class_name = resolve_class(first, [])
    out, params = first.shape, first.params
    dims = re.fullmatch(r"Conv([123])D", class_name or "")
    if dims and len(out) == int(dims.group(1)) + 1 and out[-1]:  # the filters, known
        filters, rank = out[-1], int(dims.group(1))
        for use_bias in (True, False):
            weights = params - (filters if use_bias else 0)
            for side in (3, 5, 7, 1):
                channels, left = divmod(weights, side**rank * filters)
                if not left and channels in (1, 3, 4):
                    return (*out[:-1], channels)
    if class_name == "Embedding" and len(out) == 2:
        return (out[0],)
    if class_name == "Dense" and len(out) == 1 and out[0] and params > out[0]:
        width, left = divmod(params - out[0], out[0])
        if not left:
            return (width,)
    raise SpecError(
        "cannot tell the model's input shape from the first row",
        Location(summary.file, first.line, 1),
        fix="Give it with --input, e.g. --input 32,32,3.",
    )
