"""The imported graph as spec text: layers in the summary's order with ``id:``/``inputs:`` only
where the wiring is not a plain chain, placeholders commented, marked entries for what could not be
imported, and ``expect:`` with every row and the three totals, so ``layerkit build`` checks the
reconstruction.

Every line that holds a value is emitted by PyYAML's safe emitter (:func:`yaml_line`): a one-entry
mapping or a one-item list, its value in flow style on the same line. The writer only indents those
lines and appends the comments PyYAML cannot write, so whatever a value is (``1e-06``, the text
``yes``, ``a: b`` or ``.inf``) it reads back as itself.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from ..errors import LayerkitError
from .graph import Graph, GraphNode
from .repeats import Block, FoldedRepeat

HEADER = """\
# Imported by `layerkit import` from {source}.
# A summary does not show activations, dropout rates and other arguments that hold no weights:
# the values marked 'not in the summary' are placeholders to check (they change no parameter count).
"""
MARKED = """\
# Entries marked 'NOT IMPORTED' could not be rebuilt from the summary: replace them by hand
# (`layerkit build` reports each one at its line until then).
"""


class UnwritableValueError(LayerkitError):
    """An argument value that a spec cannot hold (not text, a number, a boolean, null, a list or
    a mapping of those)."""


@dataclass(frozen=True)
class Flow:
    """A value to write in flow style on one line: ``{filters: 64, kernel_size: [3, 3]}``."""

    value: Any


class SpecDumper(yaml.SafeDumper):
    """PyYAML's safe emitter, restricted to the values a spec holds and kept to one line per
    value: text with a line break is double-quoted (its breaks escaped, not folded), text that a
    YAML 1.2 reader or a person would take for a number is quoted too (PyYAML alone would write
    ``1e5`` plain, which it reads back as text), and a shared list is written again rather than
    as an ``&anchor``."""

    # nothing from SafeDumper's tables: sets, dates and bytes are no spec values
    yaml_representers: ClassVar[dict] = {}
    yaml_multi_representers: ClassVar[dict] = {}

    def ignore_aliases(self, data: Any) -> bool:
        return True


_LINE_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
_NOT_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_NUMBER_LIKE = re.compile(
    r"[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][-+]?\d+)?|[-+]?\.?(inf|nan)|0[xob][\da-fA-F_]+",
    re.IGNORECASE,
)


def _represent_text(dumper: SpecDumper, text: str) -> yaml.ScalarNode:
    style = None
    if _LINE_BREAK.search(text):
        style = '"'
    elif _NUMBER_LIKE.fullmatch(text):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(text), style=style)


def _represent_flow(dumper: SpecDumper, flow: Flow) -> yaml.Node:
    node = dumper.represent_data(flow.value)
    _set_flow_style(node)
    return node


def _set_flow_style(node: yaml.Node) -> None:
    if isinstance(node, yaml.SequenceNode | yaml.MappingNode):
        node.flow_style = True
        children = (
            node.value
            if isinstance(node, yaml.SequenceNode)
            else [child for pair in node.value for child in pair]
        )
        for child in children:
            _set_flow_style(child)


def _represent_unwritable(dumper: SpecDumper, value: Any) -> yaml.Node:
    raise UnwritableValueError(
        f"cannot write {value!r} (a {type(value).__name__}) into a spec: a spec holds text, "
        "numbers, booleans, null, and lists and mappings of those"
    )


SpecDumper.add_representer(type(None), yaml.SafeDumper.represent_none)
SpecDumper.add_representer(bool, yaml.SafeDumper.represent_bool)
SpecDumper.add_representer(list, yaml.SafeDumper.represent_list)
SpecDumper.add_representer(tuple, yaml.SafeDumper.represent_list)
SpecDumper.add_representer(dict, yaml.SafeDumper.represent_dict)
SpecDumper.add_representer(Flow, _represent_flow)
# numpy's and other numbers that subclass Python's are written as the plain number they are
SpecDumper.add_multi_representer(str, _represent_text)
SpecDumper.add_multi_representer(int, lambda dumper, value: dumper.represent_int(int(value)))
SpecDumper.add_multi_representer(float, lambda dumper, value: dumper.represent_float(float(value)))
SpecDumper.add_representer(None, _represent_unwritable)


def yaml_line(data: dict[str, Any] | list[Any], indent: str = "", comment: str = "") -> str:
    """One line of a spec, emitted by PyYAML: ``data`` is a one-entry mapping (``key: value``) or
    a one-item list (``- item``); wrap a collection in :class:`Flow` to keep it on the line.

    Raises:
        UnwritableValueError: a value that is not plain spec data.
    """
    text = yaml.dump(
        data, Dumper=SpecDumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
        width=sys.maxsize,
    )  # fmt: skip
    # one line, except a key too long for PyYAML's simple keys ("? key" then ": value")
    text = "\n".join(indent + line for line in text.removesuffix("\n").split("\n"))
    return text + (f"  # {_comment(comment)}" if comment else "")


def yaml_key(key: str, indent: str = "", comment: str = "") -> str:
    """The line ``key:`` that opens a block (a mapping or list on the lines below)."""
    text = yaml.dump(key, Dumper=SpecDumper, allow_unicode=True, width=sys.maxsize)
    text = text.removesuffix("\n...\n").removesuffix("\n")  # a plain scalar ends its document
    return f"{indent}{text}:" + (f"  # {_comment(comment)}" if comment else "")


def _comment(text: str) -> str:
    """Text as one comment: a line break would end it (and start YAML); a character YAML does
    not allow anywhere in a file (a NUL, a control character) is replaced."""
    return _NOT_PRINTABLE.sub("\ufffd", _LINE_BREAK.sub(" ", text))


def write_spec(graph: Graph, totals: dict[str, int], name: str, source: str,
               items: list[GraphNode | FoldedRepeat] | None = None, header: str = HEADER,
               blocks: list[Block] | None = None) -> str:  # fmt: skip
    """The spec text; ``items`` is the graph's nodes with repeats folded in (default: none)."""
    lines = header.format(source=_comment(source)).splitlines()
    marked = [node for node in graph.nodes if node.layer.kind is None]
    if marked:
        lines += MARKED.splitlines()
    lines += [yaml_line({"version": 1}), yaml_line({"name": name})]
    lines += _inputs(graph)
    nested = [node for node in marked if node.layer.nested and node.shares is None]
    if nested or blocks:
        lines.append(yaml_key("blocks"))
    for block in blocks or []:
        lines.append(yaml_key(block.name, "  "))
        if block.params:
            lines.append(yaml_line({"params": Flow(block.params)}, "    "))
        lines.append(yaml_key("layers", "    "))
        lines += _items(block.layers, "-1", set(), "      ")
    for node in nested:
        row = node.layer.row
        problem = f"{node.layer.problem}, {row.params:,} params, output {_shape_text(row.shape)}"
        lines += [
            yaml_key(_block_name(node), "  ", f"NOT IMPORTED: {problem}"),
            yaml_key("layers", "    "),
            yaml_line([f"fill_in_the_layers_of_{_block_name(node)}"], "      "),
        ]
    lines.append(yaml_key("layers"))
    items = items if items is not None else list(graph.nodes)
    previous = graph.inputs[0].name if len(graph.inputs) == 1 else None
    extra = set(graph.outputs) if graph.outputs != [graph.nodes[-1].id] else set()
    lines += _items(items, previous, extra, "  ")
    if graph.outputs != [graph.nodes[-1].id]:
        lines.append(yaml_line({"outputs": Flow(graph.outputs)}))
    lines.append(yaml_key("expect"))
    for key in ("total_params", "trainable_params", "non_trainable_params"):
        if key in totals:
            lines.append(yaml_line({key: totals[key]}, "  "))
    if nested:
        lines.append(
            "  # no per-row expectations: a nested model's row stands for layers not yet written"
        )
    else:
        lines.append(yaml_key("rows", "  "))
        for row in [node.layer.row for node in graph.nodes if node.shares is None]:
            expected = {"name": row.name, "shape": list(row.shape), "params": row.params}
            lines.append(yaml_line([Flow(expected)], "    "))
    return "\n".join(lines) + "\n"


def _inputs(graph: Graph) -> list[str]:
    def shape(graph_input) -> Flow:
        if graph_input.dtype:
            return Flow({"shape": list(graph_input.shape), "dtype": graph_input.dtype})
        return Flow(list(graph_input.shape))

    if len(graph.inputs) == 1:
        return [yaml_line({"input": shape(graph.inputs[0])})]
    return [
        yaml_key("inputs"),
        *(yaml_line({graph_input.name: shape(graph_input)}, "  ") for graph_input in graph.inputs),
    ]


def _items(
    items: list[GraphNode | FoldedRepeat], previous: str | None, extra: set[str], indent: str
) -> list[str]:
    """One list of items (the spec's layers, or a repeat's body)."""
    referenced = set(extra)
    for position, item in enumerate(items):
        before = items[position - 1].id if position else previous
        named = isinstance(item, GraphNode) and bool(item.input_names)  # inputs: {query: x}
        for source in item.sources:
            if source != before or len(item.sources) > 1 or named:
                referenced.add(source)
        if isinstance(item, GraphNode) and item.shares:
            referenced.add(item.shares)
    lines = []
    for item in items:
        if isinstance(item, FoldedRepeat):
            lines.append(yaml_line([{"repeat": item.count}], indent))
            if item.id in referenced:
                lines.append(yaml_line({"id": item.id}, indent + "  "))
            if item.sources != [previous]:
                lines.append(yaml_line({"inputs": item.sources[0]}, indent + "  "))
            lines.append(yaml_key("layers", indent + "  "))
            lines += _items(item.body, "-1", set(), indent + "    ")
        else:
            lines.append(_item(item, previous, referenced, indent))
        previous = item.id
    return lines


def _item(node: GraphNode, previous: str | None, referenced: set[str], indent: str) -> str:
    layer = node.layer
    args = {} if node.shares else dict(layer.args)
    if node.id in referenced:
        args["id"] = node.id
    if node.sources != [previous] or node.input_names:
        sources = [
            int(source) if re.fullmatch(r"-\d+", source) else source for source in node.sources
        ]
        if node.input_names:
            args["inputs"] = dict(zip(node.input_names, sources, strict=True))
        else:
            args["inputs"] = sources[0] if len(sources) == 1 else sources
    if node.shares:
        kind, args = "shared", {"layer": node.shares, **args}
    elif layer.kind is None:
        kind = _block_name(node) if layer.nested else _marker(node)
    else:
        kind = layer.kind
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
    try:
        return yaml_line([{kind: Flow(args)} if args else kind], indent, "; ".join(comments))
    except UnwritableValueError as error:
        raise UnwritableValueError(f"layer '{layer.row.name}' ({kind}): {error}") from None


def _block_name(node: GraphNode) -> str:
    return f"nested_{node.id}"


def _marker(node: GraphNode) -> str:
    text = re.sub(r"\W", "_", (node.layer.row.type or node.layer.row.name).rstrip("…"))
    return f"not_imported_{text}"  # never a layer name, so validate and build stop here


def _shape_text(shape: tuple) -> str:
    """A shape as Keras prints it, ``(None, 32)``, for comments."""
    inner = ", ".join("None" if size is None else str(size) for size in shape)
    return f"({inner}{',' if len(shape) == 1 else ''})"
