"""Finding ``repeat:`` in an imported graph: consecutive runs of identical passes.

Two passes are identical when their layers have the same kinds and arguments, in the same order,
wired the same way relative to each other, each pass taking the output of the one before (the
pass's ``input``). A pass may only be read from outside through its last layer, since ``repeat``
gives each pass its own scope. Each node is reduced to one hashable signature (its kind,
arguments, and how far back each of its inputs is), so finding runs is comparing slices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from .graph import Graph, GraphNode, unique_name

MIN_LAYERS = 4  # shorter runs read better written out


@dataclass
class FoldedRepeat:
    """A run of identical passes in the graph, folded into one ``repeat:`` item."""

    count: int
    body: list[GraphNode]  # the first pass, with local ids; "-N" reaches what feeds the pass
    id: str  # the graph's id for the output of the last pass
    sources: list[str]  # what feeds the first pass


def find_repeats(graph: Graph, min_layers: int = MIN_LAYERS) -> list[GraphNode | FoldedRepeat]:
    """The graph's nodes with runs of identical passes folded into :class:`FoldedRepeat` items."""
    nodes = graph.nodes
    index = {node.id: position for position, node in enumerate(nodes)}
    consumers: dict[int, set[int]] = {position: set() for position in range(len(nodes))}
    for position, node in enumerate(nodes):
        for source in node.sources:
            if source in index:
                consumers[index[source]].add(position)
    outputs = {index[output] for output in graph.outputs if output in index}
    signatures = [_signature(position, node, index) for position, node in enumerate(nodes)]
    items: list[GraphNode | FoldedRepeat] = []
    position = 0
    while position < len(nodes):
        best = _best_run(position, signatures, nodes, index, consumers, outputs, min_layers)
        if best is None:
            items.append(nodes[position])
            position += 1
            continue
        length, count = best
        items.append(_repeat(nodes, position, length, count, index))
        position += length * count
    return items


def _signature(position: int, node: GraphNode, index: dict[str, int]) -> str:
    layer = node.layer
    if layer.kind is None or node.shares is not None:
        return f"unique:{node.id}"  # marked entries and shared calls are never folded
    back = [
        position - index[source] if source in index else f"outside:{source}"
        for source in node.sources
    ]
    return json.dumps([layer.kind, layer.args, back], sort_keys=True, default=str)


def _best_run(start: int, signatures: list[str], nodes: list[GraphNode], index: dict[str, int],
              consumers: dict[int, set[int]], outputs: set[int], min_layers: int) -> tuple[int, int] | None:  # fmt: skip
    if start == 0:
        return None  # a run's first pass needs a layer before it to take its input from
    best: tuple[int, int] | None = None
    total = len(nodes)
    for length in range(1, (total - start) // 2 + 1):
        if not _pass_is_closed(start, length, nodes, index):
            continue
        count = 1
        while (start + (count + 1) * length <= total
               and signatures[start + count * length : start + (count + 1) * length] == signatures[start : start + length]):  # fmt: skip
            count += 1
        if count < 2:
            continue  # a single pass is no run: nothing to seal
        count = _sealed(start, length, count, consumers, outputs)
        covered = length * count
        if count >= 2 and covered >= min_layers and (best is None or covered > best[0] * best[1]):
            best = (length, count)
    return best


def _pass_is_closed(start: int, length: int, nodes: list[GraphNode], index: dict[str, int]) -> bool:
    """Every layer of the pass reads only layers of the pass or the pass's input, and the pass
    reads its input somewhere."""
    reads_input = False
    for position in range(start, start + length):
        for source in nodes[position].sources:
            where = index.get(source)
            if where is None or where < start - 1:
                return False
            reads_input |= where == start - 1
    return reads_input


def _sealed(
    start: int, length: int, count: int, consumers: dict[int, set[int]], outputs: set[int]
) -> int:
    """How many of the ``count`` passes can be folded: inside a pass, only its last layer may be
    read from elsewhere, and then only by the next pass (the last pass's output is free)."""
    for done in range(count):
        first = start + done * length
        last = first + length - 1
        for position in range(first, last):
            if position in outputs or not all(first <= c <= last for c in consumers[position]):
                return done
        if done < count - 1 and (
            last in outputs or not all(last < c <= last + length for c in consumers[last])
        ):
            return done + 1
    return count


def _repeat(
    nodes: list[GraphNode], start: int, length: int, count: int, index: dict[str, int]
) -> FoldedRepeat:
    local: dict[int, str] = {}
    taken = {"input"}
    body = []
    for position in range(start, start + length):
        node = nodes[position]
        name = node.layer.kind or "layer"
        local_id = unique_name(name, taken)
        local[position] = local_id
        offset = position - start
        # the pass's input is written -N: N items back from here is the item before the pass
        sources = [f"-{offset + 1}" if index[source] == start - 1 else local[index[source]]
                   for source in node.sources]  # fmt: skip
        body.append(GraphNode(node.layer, local_id, sources))
    return FoldedRepeat(count, body, nodes[start + length * count - 1].id, [nodes[start - 1].id])


@dataclass
class Block:
    name: str
    params: list[str]
    layers: list[GraphNode]  # arguments that differ between uses are "${param}"


def find_blocks(
    items: list[GraphNode | FoldedRepeat],
) -> tuple[list[GraphNode | FoldedRepeat], list[Block]]:
    """Repeats whose passes have the same layers and wiring, differing at most in argument values
    (ResNet's stages: the same bottleneck with other widths), become uses of one block with those
    values as its params."""
    groups: dict[str, list[FoldedRepeat]] = {}
    for item in items:
        if isinstance(item, FoldedRepeat):
            groups.setdefault(_shape_key(item.body), []).append(item)
    blocks: list[Block] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        block = _block(f"block{len(blocks) + 1}", members)
        blocks.append(block)
    return items, blocks


def _shape_key(body: list[GraphNode]) -> str:
    return json.dumps(
        [[node.layer.kind, sorted(node.layer.args), node.sources] for node in body], default=str
    )


def _block(name: str, members: list[FoldedRepeat]) -> Block:
    first = members[0].body
    params: list[str] = []
    varying: dict[tuple[int, str], str] = {}
    columns: dict[str, str] = {}  # the values a param takes in each use → the param
    for position, node in enumerate(first):
        for key, value in node.layer.args.items():
            values = [member.body[position].layer.args[key] for member in members]
            column = json.dumps(values, default=str)
            if all(
                json.dumps(other, default=str) == json.dumps(value, default=str) for other in values
            ):
                continue
            if column not in columns:  # arguments that always agree share one param
                param = unique_name(key, set(params))
                params.append(param)
                columns[column] = param
            varying[(position, key)] = columns[column]
    layers = []
    for position, node in enumerate(first):
        args = {key: f"${{{varying[(position, key)]}}}" if (position, key) in varying else value
                for key, value in node.layer.args.items()}  # fmt: skip
        layers.append(GraphNode(replace(node.layer, args=args), node.id, node.sources))
    for member in members:
        values = {
            param: member.body[position].layer.args[key]
            for (position, key), param in varying.items()
        }
        values = {param: values[param] for param in params}
        use = replace(member.body[0].layer, kind=name, args=values, notes=[])
        member.body = [GraphNode(use, name, ["-1"])]
    return Block(name, params, layers)
