"""The imported graph as spec text: layers in the summary's order with ``id:``/``inputs:`` only
where the wiring is not a plain chain, placeholders commented, marked entries for what could not be
imported, and ``expect:`` with every row and the three totals, so ``layerkit build`` checks the
reconstruction."""

from __future__ import annotations

import re

from .graph import Graph, Node
from .repeats import Block, Repeat

HEADER = """\
# Imported by `layerkit import` from {source}.
# A summary does not show activations, dropout rates and other arguments that hold no weights:
# the values marked 'not in the summary' are placeholders to check (they change no parameter count).
"""
MARKED = """\
# Entries marked 'NOT IMPORTED' could not be rebuilt from the summary: replace them by hand
# (`layerkit build` reports each one at its line until then).
"""


def write_spec(graph: Graph, totals: dict[str, int], name: str, source: str,
               items: list[Node | Repeat] | None = None, header: str = HEADER,
               blocks: list[Block] | None = None) -> str:  # fmt: skip
    """The spec text; ``items`` is the graph's nodes with repeats folded in (default: none)."""
    lines = header.format(source=source).splitlines()
    marked = [node for node in graph.nodes if node.layer.kind is None]
    if marked:
        lines += MARKED.splitlines()
    lines += ["version: 1", f"name: {name}"]
    lines += _inputs(graph)
    nested = [node for node in marked if node.layer.nested and node.shares is None]
    if nested or blocks:
        lines.append("blocks:")
    for block in blocks or []:
        lines.append(f"  {block.name}:")
        if block.params:
            lines.append(f"    params: [{', '.join(block.params)}]")
        lines.append("    layers:")
        lines += _items(block.layers, "-1", set(), "      ")
    if nested:
        for node in nested:
            row = node.layer.row
            lines += [
                f"  {_block_name(node)}:   # NOT IMPORTED: {node.layer.problem}, {row.params:,} params, "
                f"output {_shape_text(row.shape)}",
                "    layers:",
                f"      - fill_in_the_layers_of_{_block_name(node)}",
            ]
    lines.append("layers:")
    items = items if items is not None else list(graph.nodes)
    previous = graph.inputs[0].name if len(graph.inputs) == 1 else None
    extra = set(graph.outputs) if graph.outputs != [graph.nodes[-1].id] else set()
    lines += _items(items, previous, extra, "  ")
    if graph.outputs != [graph.nodes[-1].id]:
        lines.append(f"outputs: [{', '.join(graph.outputs)}]")
    lines.append("expect:")
    for key in ("total_params", "trainable_params", "non_trainable_params"):
        if key in totals:
            lines.append(f"  {key}: {totals[key]}")
    if nested:
        lines.append(
            "  # no per-row expectations: a nested model's row stands for layers not yet written"
        )
    else:
        lines.append("  rows:")
        for row in [node.layer.row for node in graph.nodes if node.shares is None]:
            lines.append(
                f"    - {{name: {_scalar(row.name)}, shape: {_shape_text(row.shape, '[]')}, params: {row.params}}}"
            )
    return "\n".join(lines) + "\n"


def _inputs(graph: Graph) -> list[str]:
    def shape(graph_input) -> str:
        text = _shape_text(graph_input.shape, "[]")
        return f"{{shape: {text}, dtype: {graph_input.dtype}}}" if graph_input.dtype else text

    if len(graph.inputs) == 1:
        return [f"input: {shape(graph.inputs[0])}"]
    return [
        "inputs:",
        *(f"  {graph_input.name}: {shape(graph_input)}" for graph_input in graph.inputs),
    ]


def _items(
    items: list[Node | Repeat], previous: str | None, extra: set[str], indent: str
) -> list[str]:
    """One list of items (the spec's layers, or a repeat's body)."""
    referenced = set(extra)
    for position, item in enumerate(items):
        before = _output(items[position - 1]) if position else previous
        for source in item.sources:
            if source != before or len(item.sources) > 1:
                referenced.add(source)
        if isinstance(item, Node) and item.shares:
            referenced.add(item.shares)
    lines = []
    for item in items:
        if isinstance(item, Repeat):
            head = f"{indent}- repeat: {item.count}"
            options = []
            if item.id in referenced:
                options.append(f"id: {item.id}")
            if item.sources != [previous]:
                options.append(f"inputs: {item.sources[0]}")
            lines.append(head)
            lines += [f"{indent}  {option}" for option in options]
            lines.append(f"{indent}  layers:")
            lines += _items(item.body, "-1", set(), indent + "    ")
        else:
            lines.append(_item(item, previous, referenced, indent))
        previous = _output(item)
    return lines


def _output(item: Node | Repeat) -> str:
    return item.id


def _item(node: Node, previous: str | None, referenced: set[str], indent: str = "  ") -> str:
    layer = node.layer
    args = {} if node.shares else dict(layer.args)
    if node.id in referenced:
        args["id"] = node.id
    if node.sources != [previous]:
        sources = [
            int(source) if re.fullmatch(r"-\d+", source) else source for source in node.sources
        ]
        args["inputs"] = sources[0] if len(sources) == 1 else sources
    if node.shares:
        kind, args = "shared", {"layer": node.shares, **args}
    elif layer.kind is None:
        kind = _block_name(node) if layer.nested else _marker(node)
    else:
        kind = layer.kind
    text = f"{indent}- {kind}" + (f": {_flow(args)}" if args else "")
    comments = []
    if layer.kind is None and not node.shares:
        row = layer.row
        if layer.nested:
            comments.append("NOT IMPORTED: a nested model, fill in its block above")
        else:
            comments.append(f"NOT IMPORTED: {layer.problem} ({row.params:,} params, output "
                            f"{_shape_text(row.shape)}); replace this entry")  # fmt: skip
    elif layer.notes and not node.shares:
        comments.append(f"not in the summary: {', '.join(layer.notes)}")
    comments += node.notes
    return text + (f"  # {'; '.join(comments)}" if comments else "")


def _block_name(node: Node) -> str:
    return f"nested_{node.id}"


def _marker(node: Node) -> str:
    text = re.sub(r"\W", "_", (node.layer.row.type or node.layer.row.name).rstrip("…"))
    return f"not_imported_{text}"  # never a layer name, so validate and build stop here


def _flow(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _scalar(value)


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][\w.…-]*", text) and text not in (
        "true",
        "false",
        "null",
        "yes",
        "no",
        "on",
        "off",
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shape_text(shape: tuple, brackets: str = "()") -> str:
    inner = ", ".join("null" if size is None else str(size) for size in shape)
    if brackets == "()":
        inner = ", ".join("None" if size is None else str(size) for size in shape)
        return f"({inner}{',' if len(shape) == 1 else ''})"
    return f"[{inner}]"
