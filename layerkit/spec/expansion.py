"""Expansion: a spec's lists of layers, blocks, repeats and shared layers unrolled into plan nodes.

Takes the spec's items and the :class:`~.substitution.Scope` each list is read in (every list,
a block use or a repeat pass, is a scope of its own for ids); gives the nodes of the plan, each a
:class:`~.plan.ResolvedLayer` with a key and the ports that feed it, and ``aliases``, which say
what node (or model input) each item's port stands for. Each layer itself is checked by
:class:`~.layer_calls.LayerCallChecker`; the nodes become a graph in :mod:`.wiring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import Location, listed
from .document import Item, LayerCall, Operation, Ref, Repeat, Shared, Spec
from .item_templates import condition_holds, fill_name, fill_ref, made_from
from .layer_calls import LayerCallChecker, layer_path
from .plan import ResolvedLayer
from .problems import Problems, suggest
from .substitution import AMBIGUOUS, Scope
from .unrolling import Unrolling
from .yaml_source import Node

if TYPE_CHECKING:
    from .operation_calls import OperationChecker

MAX_LAYERS = 10_000
MAX_EXPANDED_ITEMS = 100_000  # items unrolled, counted even when they fail and add no layer


class Expansion(Unrolling):
    """The nodes expanded so far, and what each port (an item's output) stands for."""

    def __init__(self, spec: Spec, problems: Problems, layers: LayerCallChecker) -> None:
        self.spec = spec
        self.problems = problems
        self.layers = layers
        self.nodes: list[ResolvedLayer] = []
        self.aliases: dict[str, str] = {}  # port key → the key it stands for
        self.port_origin: dict[str, tuple[str, Location]] = {}  # port key → (label, location)
        self.counter = 0
        self.node_by_key: dict[str, ResolvedLayer] = {}
        self.expanded = 0  # items expanded so far, blocks and repeats unrolled
        self._operations: OperationChecker | None = None

    def operations(self) -> OperationChecker:
        """The checker of ``op:`` items, made on the first one (most specs have none)."""
        if self._operations is None:
            from .operation_calls import OperationChecker

            self._operations = OperationChecker(self.problems)
        return self._operations

    def add_node(self, node: ResolvedLayer) -> None:
        self.nodes.append(node)
        self.node_by_key[node.key] = node

    def within_budget(self, item: Item) -> bool:
        """Count one item expanded; False (said once) past :data:`MAX_EXPANDED_ITEMS`."""
        self.expanded += 1
        if self.expanded == MAX_EXPANDED_ITEMS + 1:
            self.problems.error(
                f"the spec expands to more than {MAX_EXPANDED_ITEMS:,} items (blocks and repeats "
                "unrolled)",
                item.location,
                _item_path(item),
                "Lower the repeat counts or the uses of blocks inside blocks.",
            )
        return self.expanded <= MAX_EXPANDED_ITEMS

    def new_key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def expand(
        self,
        items: tuple[Item, ...],
        scope: Scope,
        default_input: str | None,
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...] = (),
    ) -> str | None:
        """Expand ``items`` fed by ``default_input``; return the port of the last item's output."""
        ports = [self.new_key("port") for _ in items]
        ids = [
            self.register_id(item, port, scope, trail)
            for item, port in zip(items, ports, strict=True)
        ]
        previous = default_input
        history = ([default_input] if default_input else []) + ports
        for index, (item, port) in enumerate(zip(items, ports, strict=True)):
            if len(self.nodes) > MAX_LAYERS or not self.within_budget(item):
                return None
            if item.condition is not None and not self.kept(item, port, scope, previous, trail):
                previous = port  # left out: its port stands for the item before
                continue
            before = _Earlier(history, len(history) - len(ports) + index)
            feeds = self.item_inputs(item, scope, before, previous, trail)
            if feeds is not None:
                output = self.expand_item(item, ids[index], scope, feeds, trail, active_blocks)
                if output is not None:
                    self.aliases[port] = output
            previous = port
        return ports[-1] if ports else default_input

    def register_id(
        self, item: Item, port: str, scope: Scope, trail: tuple[str, ...]
    ) -> str | None:
        """Name ``port`` by the item's id (its ``${...}`` filled in) in ``scope``; the id."""
        item_id = None
        if item.id is not None:
            path = _where(item, trail) + ".id"
            item_id = fill_name(self.problems, item.id, scope, path, "the id")
        self.port_origin[port] = (_item_label(item, item_id), item.location)
        if item_id is None:
            return None
        if item_id in scope.ids or item_id in scope.refs:
            first = self.port_origin[scope.ids.get(item_id) or scope.refs[item_id]][1]
            self.problems.error(
                f"id '{item_id}' is used twice in this list (first at line {first.line})",
                item.location,
                f"{item.path}.id",
                "Give each layer a different id.",
            )
            return None
        scope.ids[item_id] = port
        if scope.parent is not None:
            scope.export(item_id, port)
        return item_id

    def kept(
        self, item: Item, port: str, scope: Scope, previous: str | None, trail: tuple[str, ...]
    ) -> bool:
        """Whether the item's ``if:`` keeps it; a left-out item's port stands for ``previous``."""
        assert item.condition is not None
        holds = condition_holds(self.problems, item.condition, scope, _where(item, trail) + ".if")
        if holds is not False:
            return bool(holds)  # True, or None after an error (its uses then fail quietly)
        if previous is not None:
            self.aliases[port] = previous
        else:
            self.problems.error(
                "the first item is left out by 'if:', and the model has several inputs: nothing "
                "takes its place",
                item.condition.location,
                _where(item, trail) + ".if",
                "Start with an item that is always there, or give the next one 'inputs:'.",
            )
        return False

    def item_inputs(
        self,
        item: Item,
        scope: Scope,
        earlier: Sequence[str],
        previous: str | None,
        trail: tuple[str, ...] = (),
    ) -> list[str] | None:
        """The ports feeding ``item``: its ``inputs:``, or the previous item's output."""
        if item.inputs is None:
            if previous is None:
                names = ", ".join(plan_input.name for plan_input in self.spec.inputs)
                self.problems.error(
                    f"the first layer must say which input it takes: the model has several "
                    f"({names})",
                    item.location,
                    _where(item, trail),
                    "Add 'inputs: NAME' to this layer.",
                )
                return None
            return [previous]
        ports = []
        for ref in item.inputs:
            port = self.resolve_ref(ref, scope, earlier, item, f"{_where(item, trail)}.inputs")
            if port is None:
                return None
            ports.append(port)
        return ports

    def resolve_ref(
        self, written: Ref, scope: Scope, earlier: Sequence[str], item: Item | None, path: str
    ) -> str | None:
        ref = fill_ref(self.problems, written, scope, path)
        if ref is None:
            return None
        if isinstance(ref.target, int):
            if -ref.target > len(earlier):
                self.problems.error(
                    f"input {ref.target} reaches before the start of this list ("
                    + (
                        "here -1 is the list's own input)"
                        if len(earlier) == 1
                        else f"-1 is the item before, {-len(earlier)} the list's own input)"
                    ),
                    ref.location,
                    path,
                    "Refer to the layer by its id instead.",
                )
                return None
            return earlier[ref.target]
        port = scope.find(ref.target)
        if port == AMBIGUOUS:
            self.problems.error(
                f"'{ref.target}' names a layer in each pass of a repeat: which one is meant is "
                "not clear here",
                ref.location,
                path,
                f'Name them apart with the repeat\'s index, e.g. id: "{ref.target}${{i}}", and '
                "refer to the one you mean.",
            )
            return None
        if port is not None:
            return port
        where = f"block '{scope.block.name}'" if scope.block else "the spec's layers"
        self.problems.error(
            f"'{ref.target}'{made_from(written.target, scope)} is not an id or input in {where}",
            ref.location,
            path,
            lambda: _known_hint(str(ref.target), scope.known()),
        )
        return None

    def expand_item(
        self,
        item: Item,
        item_id: str | None,
        scope: Scope,
        feeds: list[str],
        trail: tuple[str, ...],
        active_blocks: tuple[str, ...],
    ) -> str | None:
        if isinstance(item, Repeat):
            return self.expand_repeat(item, scope, feeds, trail, active_blocks)
        if isinstance(item, Shared):
            return self.expand_shared(item, item_id, scope, feeds, trail)
        if isinstance(item, Operation):
            node = self.operations().resolve(item, scope, trail, len(feeds))
            label = f"'{item_id}'" if item_id else f"op {item.name}"
        else:
            if "${" in item.name:
                path = layer_path(item, trail)
                name = fill_name(
                    self.problems, Node(item.name, item.location), scope, path, "the layer"
                )
                if name is None:
                    return None
                item = replace(item, name=name)
            if item.name in self.spec.blocks:
                return self.expand_block(item, scope, feeds, trail, active_blocks)
            node = self.layers.resolve(item, scope, trail)
            label = f"'{item_id}'" if item_id else (node.class_name if node else "")
        if node is None:
            return None
        key = self.new_key("n")
        self.add_node(replace(node, key=key, inputs=tuple(feeds), label=label))
        self.port_origin[key] = (label, item.location)
        return key

    def expand_shared(
        self,
        item: Shared,
        item_id: str | None,
        scope: Scope,
        feeds: list[str],
        trail: tuple[str, ...],
    ) -> str | None:
        path = " → ".join((*trail, f"{item.path}.shared"))
        target = fill_ref(self.problems, item.target, scope, f"{path}.layer")
        if target is None:
            return None
        port = scope.find(str(target), ids_only=True)
        port = None if port == AMBIGUOUS else port
        node_key = self.aliases.get(port) if port else None
        node = self.node_by_key.get(node_key) if node_key else None
        if node is None:
            if port is not None:
                message = f"'{target}' is written after this item: share a layer after it"
                hint = "Move the shared item below the layer it shares."
            else:
                message = f"'{target}' is not the id of a layer in this list"
                hint = suggest(str(target), scope.known()) or (
                    "Share a layer written earlier in this list, by its id."
                )
            self.problems.error(message, item.target.location, f"{path}.layer", hint)
            return None
        if node.operation:
            self.problems.error(
                f"'{target}' is an op, which holds no weights to share",
                item.target.location,
                f"{path}.layer",
                f"Write the op again here ('op: {{{node.class_name}: ...}}').",
            )
            return None
        key = self.new_key("n")
        label = f"'{item_id}'" if item_id else f"shared {node.label}"
        self.add_node(
            replace(
                node,
                location=item.location,
                path=path,
                key=key,
                inputs=tuple(feeds),
                shares=node.shares or node.key,
                label=label,
                input_names=item.input_names,
            )
        )
        self.port_origin[key] = (label, item.location)
        return key


class _Earlier(Sequence[str]):
    """The ports before an item (what ``-1``, ``-2`` … reach): the first ``length`` of a list's
    ports, read in place rather than copied for every item."""

    def __init__(self, ports: list[str], length: int) -> None:
        self.ports = ports
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> str:  # type: ignore[override]  # no slices needed
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.ports[index]


def _known_hint(target: str, known: list[str]) -> str:
    """The fix for a reference to nothing: the nearest id, or the ids there are."""
    hint = suggest(target, known)
    if hint is not None:
        return hint
    return f"Known here: {listed(known)}." if known else "Give the layer you mean an 'id:'."


def _item_label(item: Item, item_id: str | None) -> str:
    if item_id:
        return f"'{item_id}'"
    if isinstance(item, Repeat):
        return "repeat"
    if isinstance(item, Shared):
        return f"shared '{item.target}'"
    if isinstance(item, Operation):
        return f"op {item.name}"
    return item.name


def _item_path(item: Item) -> str:
    if isinstance(item, LayerCall):
        return f"{item.path}.{item.name}"
    if isinstance(item, Operation):
        return f"{item.path}.op"
    return f"{item.path}.shared" if isinstance(item, Shared) else item.path


def _where(item: Item, trail: tuple[str, ...]) -> str:
    """Where messages say an item is: the block uses and repeat passes it is in, then its path."""
    return " → ".join((*trail, _item_path(item)))
