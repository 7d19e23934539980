"""Wiring: the expanded nodes made into the plan's graph.

Takes the nodes :mod:`.expansion` made, the ports each takes, and what each port stands for;
gives the :class:`~.plan.Plan`: every node fed by node keys (or model inputs), in an order where
a node's inputs come before it. Reports layers that form a cycle, and layers or inputs whose
output nothing uses. When problems are already reported, the plan is left empty rather than
echo them.
"""

from __future__ import annotations

from dataclasses import replace

from .document import Spec
from .plan import Plan, PlanInput, ResolvedLayer
from .problems import Problems


class Wiring:
    """Turns the expanded nodes into a graph: resolves ports, orders nodes, finds cycles and
    outputs nothing uses."""

    def __init__(self, spec: Spec, problems: Problems, aliases: dict[str, str]) -> None:
        self.spec = spec
        self.problems = problems
        self.aliases = aliases  # port key → the key it stands for

    def resolve(self, key: str) -> str | None:
        seen = set()
        aliases = self.aliases
        while key in aliases:
            if key in seen:
                return None
            seen.add(key)
            key = aliases[key]
        return key if not key.startswith("port") else None

    def finish(
        self,
        expanded: list[ResolvedLayer],
        inputs: tuple[PlanInput, ...],
        output_ports: list[str],
    ) -> Plan:
        complete = not self.problems.found
        nodes: dict[str, ResolvedLayer] = {}
        for node in expanded:
            feeds = [self.resolve(port) for port in node.inputs]
            if any(feed is None for feed in feeds):
                complete = False  # fed by an item whose own error is already reported
                continue
            nodes[node.key] = replace(node, inputs=tuple(feeds))
        outputs = [self.resolve(port) for port in output_ports]
        order = self.order(nodes)
        if order is None or not complete or None in outputs:
            # with parts missing, "never used" would only echo the errors already reported
            return Plan(self.spec, (), inputs, ())
        self.check_unused(nodes, inputs, [key for key in outputs if key])
        return Plan(self.spec, tuple(nodes[key] for key in order), inputs, tuple(outputs))

    def order(self, nodes: dict[str, ResolvedLayer]) -> list[str] | None:
        """Node keys with every node after its inputs (the spec's order where it already is)."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for start in nodes:
            if state.get(start) == 2:
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = []
            while stack:
                key, index = stack.pop()
                if index == 0:
                    state[key] = 1
                    path.append(key)
                feeds = [feed for feed in nodes[key].inputs if feed in nodes]
                if index < len(feeds):
                    stack.append((key, index + 1))
                    feed = feeds[index]
                    if state.get(feed) == 1:
                        self.report_cycle(nodes, path[path.index(feed) :])
                        return None
                    if state.get(feed) != 2:
                        stack.append((feed, 0))
                    continue
                state[key] = 2
                path.pop()
                order.append(key)
        return order

    def report_cycle(self, nodes: dict[str, ResolvedLayer], cycle: list[str]) -> None:
        names = [f"{nodes[key].label} (line {nodes[key].location.line})" for key in cycle]
        first = nodes[cycle[0]]
        self.problems.error(
            f"the layers form a cycle: {' → '.join([*names, names[0]])}",
            first.location,
            first.path,
            "A layer can only take inputs that do not depend on its own output; check 'inputs:'.",
        )

    def check_unused(
        self, nodes: dict[str, ResolvedLayer], inputs: tuple[PlanInput, ...], outputs: list[str]
    ) -> None:
        used = set(outputs)
        for node in nodes.values():
            used.update(node.inputs)
        for node in nodes.values():
            if node.key not in used:
                self.problems.error(
                    f"the output of {node.label} is never used: nothing takes it as input and it "
                    "is not a model output",
                    node.location,
                    node.path,
                    "Feed it to a later layer with 'inputs:', list it in 'outputs:', or remove it.",
                )
        for plan_input in inputs:
            if plan_input.key not in used:
                self.problems.error(
                    f"input '{plan_input.spec.name}' is never used",
                    plan_input.spec.location,
                    "inputs",
                    "Feed it to a layer with 'inputs:', or remove it.",
                )
